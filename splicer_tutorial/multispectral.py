"""Synthetic multispectral satellite tiles (13 Sentinel-2 bands), and a EuroSAT-MS loader.

No multispectral data set can be had offline, so this module draws one, with every
generative choice written down here. Each tile is a ``size x size`` patch of vegetated
land seen in the 13 Sentinel-2 L1C bands :data:`BANDS` (the order of EuroSAT-MS), in top-of-
atmosphere **reflectance**, stored as uint8 by the linear map reflectance 0..0.5 ->
0..255 (clipped; one step is about 0.002 of reflectance). The same map turns EuroSAT-MS's
uint16 digital numbers (reflectance x 10,000) into uint8 in :func:`load_eurosat_ms`, so
the synthetic tiles and the real ones share one scale.

Every tile (label-free part):

* a **vegetation spectrum** (:data:`VEGETATION`): low blue (B2 0.045), a green bump (B3
  0.08), low red (B4 0.04), a steep red edge (B5 0.12, B6 0.25, B7 0.30) up to a high NIR
  plateau (B8 0.32, B8A 0.33), and moderate SWIR (B11 0.18, B12 0.09);
* a per-tile **illumination** scale ``U(0.85, 1.15)`` on every band, and a per-tile
  **vigour** ``v ~ U(-1, 1)`` that scales the red edge and NIR (B5-B8A) by ``1 + 0.08 v``
  and the red (B4) by ``1 - 0.1 v``;
* a per-tile **red-edge jitter**: Gaussian, sd 0.008 (:data:`RED_EDGE_JITTER`), added to
  each of B5, B6, B7, B8A (label-free spectral variability between fields);
* a smooth **spatial variation** of vegetation density, a factor ``1 + 0.1 (s - 0.5)``
  shared by the surface bands, ``s`` a bicubic upsampling of a 3x3 lattice of uniform noise;
* the **atmospheric bands** B1 (aerosol, 0.12 x ``U(0.8, 1.2)``), B9 (water vapour, 0.10 x
  ``U(0.7, 1.3)``) and B10 (cirrus, 0.003 + 0.01 x ``U(0, 1)``), each times its own smooth
  field ``0.8 + 0.4 s``: independent of both labels, and of the surface;
* Gaussian pixel noise, sd 0.004, on every band.

**Land use** (:data:`LAND_USE`, four vegetation classes that look alike in the visible) is
subtle and lives in the infrared only:

* a small class **offset in the red edge** (:data:`RED_EDGE_OFFSET`, 0.004-0.012 on B5, B6,
  B7, B8A), below the tile-to-tile spread of those bands (illumination, vigour and jitter
  move B6 by about 0.025 sd), so it is a dim cue: it shows in the *shape* of the red edge
  relative to B8 (which carries no label), not in any one band's brightness;
* a low-contrast **texture in the SWIR** (B11, B12): both bands are multiplied by
  ``1 + c t``, ``c ~ U(0.06, 0.1)`` and ``t`` a texture map normalised to mean 0 and sd 1
  per tile (about 0.015 of reflectance in B11, 0.007 in B12), so the texture does not move
  the band's mean. ``AnnualCrop``: parallel stripes (field rows), ``Pasture``: none
  (uniform), ``HerbaceousVegetation``: blobs (smoothed noise), ``PermanentCrop``: a grid of
  dots (orchard rows). Stripes and dots have a period of ``size / 4`` pixels (x
  ``U(0.85, 1.15)``), a random orientation and a random phase; blobs are about ``size / 4``
  across, so a tile looks the same at every size.

The **easy cue**, ``visible_cue`` (4 classes), lives in the visible bands B2, B3, B4 only:
a bright, large **colour cast** (:data:`VISIBLE_CASTS`, +0.10 to +0.15 of reflectance:
blue haze, green, red-brown, white), added to the spectrum of the whole tile, about ten
times the land use's red-edge offsets. B8 carries no label. With probability ``correlation`` the cue
equals the land use, otherwise it is drawn on its own. A self-supervised network should
pick up the bright visible cue first (simplicity bias) and the dim infrared cues late or
never; SpliCER can register the band groups (:data:`BAND_GROUPS`) to chunks of their own
(:data:`DATASET` is this data set for :func:`splicer_tutorial.channels.run`).

Augmentation note: a per-channel intensity jitter (``SSLAugment("channels")``) changes each
band's level by up to +-0.2 of the 0..1 range per view, which blurs the colour casts and,
much more, the red-edge offsets; the SWIR textures are what survives it.

Everything is drawn from one seeded generator, batched in torch, in chunks of about 4
million pixel values written straight into uint8 (so memory stays at the output plus
about 50 MB); 2,000 tiles at 16x16 take a fraction of a second, 8,000 at 64x64 a few
seconds (the pixel noise is most of it).

EuroSAT-MS (Helber et al. 2019, MIT licence: 27,000 Sentinel-2 tiles of 64x64 pixels, 13
bands, 10 classes :data:`EUROSAT_CLASSES`) is for readers online: :func:`load_eurosat_ms`
reads the ``.tif`` tiles (with ``tifffile``) from :func:`splicer_tutorial.datasets.data_dir`,
downloading and unzipping :data:`EUROSAT_URL` there when allowed.
"""

from __future__ import annotations

import math
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import config as config_module
from . import datasets
from .factorsets import (ChannelDataset, FactorSet, correlated_and_independent, correlated_labels, smooth_field,
                       standardise)

#: Sentinel-2 L1C bands in the order of EuroSAT-MS.
BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
#: Band groups for SpliCER's components; the atmospheric bands B1, B9, B10 are in none.
BAND_GROUPS: dict[str, tuple[str, ...]] = {
    "visible": ("B2", "B3", "B4", "B8"),
    "red_edge": ("B5", "B6", "B7", "B8A"),
    "swir": ("B11", "B12"),
}
ATMOSPHERIC = ("B1", "B9", "B10")
#: The default SpliCER components: the band groups, in order.
GROUPS = tuple(BAND_GROUPS.values())
#: Four vegetation classes of EuroSAT that look alike in the visible.
LAND_USE = ("AnnualCrop", "Pasture", "HerbaceousVegetation", "PermanentCrop")
FACTORS = ("land_use", "visible_cue")
VARIANTS = ("correlated", "independent")
NUM_CLASSES = 4

PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"size": 16, "n_train": 2000, "n_test": 1000},
    "full": {"size": 64, "n_train": 8000, "n_test": 2000},
}

#: Reflectance mapped to 255 (and above, clipped); 0 maps to 0.
REFLECTANCE_MAX = 0.5
#: EuroSAT-MS stores reflectance x 10,000 as uint16.
DN_PER_REFLECTANCE = 10_000

#: Vegetation top-of-atmosphere reflectance per band (B1, B9, B10: typical levels; they are drawn
#: on their own, see the module docstring).
VEGETATION: dict[str, float] = {
    "B1": 0.12, "B2": 0.045, "B3": 0.08, "B4": 0.04, "B5": 0.12, "B6": 0.25, "B7": 0.30,
    "B8": 0.32, "B8A": 0.33, "B9": 0.10, "B10": 0.008, "B11": 0.18, "B12": 0.09,
}
RED_EDGE = ("B5", "B6", "B7", "B8A")
SWIR = ("B11", "B12")
VISIBLE = ("B2", "B3", "B4")
#: Reflectance added to (B5, B6, B7, B8A) per land use: the shape of the red edge.
RED_EDGE_OFFSET: dict[str, tuple[float, float, float, float]] = {
    "AnnualCrop": (-0.010, +0.008, +0.012, +0.006),  # a steep edge: vigorous, irrigated rows
    "Pasture": (+0.010, +0.006, -0.006, -0.010),  # an early, shallow edge: grazed grass
    "HerbaceousVegetation": (+0.005, -0.012, -0.004, +0.008),
    "PermanentCrop": (-0.006, -0.004, +0.008, -0.010),
}
#: SWIR texture per land use.
TEXTURES: dict[str, str] = {
    "AnnualCrop": "stripes", "Pasture": "none", "HerbaceousVegetation": "blobs", "PermanentCrop": "dots",
}
#: Reflectance added to (B2, B3, B4) per visible_cue class.
VISIBLE_CASTS: tuple[tuple[float, float, float], ...] = (
    (0.15, 0.05, 0.00),  # blue haze
    (0.00, 0.15, 0.02),  # green
    (0.00, 0.04, 0.15),  # red-brown
    (0.10, 0.10, 0.10),  # white
)
NOISE_SD = 0.004
#: sd of the label-free per-tile offset of each red-edge band.
RED_EDGE_JITTER = 0.008
#: Pixel values drawn at once (16 MB of float32): small chunks reuse memory instead of
#: faulting in fresh pages. The draws depend on the chunking, which is fixed per size.
CHUNK_VALUES = 1 << 22

#: EuroSAT-MS: classes in the official (alphabetical) order, and the archive.
EUROSAT_CLASSES = ("AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
                   "PermanentCrop", "Residential", "River", "SeaLake")
EUROSAT_URL = "https://zenodo.org/records/7711810/files/EuroSAT_MS.zip"
EUROSAT_ARCHIVE = "EuroSAT_MS.zip"
EUROSAT_DIR = "EuroSAT_MS"
_TIF_SUFFIXES = (".tif", ".tiff")
_SEARCH_DEPTH = 6


# ------------------------------------------------------------------------ generator


def to_uint8(reflectance: torch.Tensor) -> torch.Tensor:
    """Reflectance (any shape, float) -> uint8 by 0..:data:`REFLECTANCE_MAX` -> 0..255, clipped."""
    return (reflectance * (255 / REFLECTANCE_MAX)).clamp_(0, 255).round_().to(torch.uint8)


def _texture(land_use: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """The SWIR texture map of each tile's land use, (n, size, size), mean 0 and sd 1 (Pasture: 0).

    Every tile's parameters are drawn (so the draws do not depend on the labels' order);
    each map is computed only for the tiles of its land use.
    """
    n = len(land_use)
    angle = math.pi * torch.rand(n, 1, 1, generator=generator)
    period = (0.85 + 0.3 * torch.rand(n, 1, 1, generator=generator)) * size / 4
    phase = torch.rand(n, 2, 1, 1, generator=generator)
    lattice = torch.rand(n, 5, 5, generator=generator)  # blobs about size / 4 across
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def rows(i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Coordinates across and along the rows, in periods, plus the phases."""
        c, s = torch.cos(angle[i]), torch.sin(angle[i])
        return ((xx * c + yy * s) / period[i] + phase[i, 0], (-xx * s + yy * c) / period[i] + phase[i, 1])

    texture = torch.zeros(n, size, size)
    for k, use in enumerate(LAND_USE):
        i = torch.nonzero(land_use == k)[:, 0]
        if len(i) == 0 or TEXTURES[use] == "none":
            continue
        if TEXTURES[use] == "stripes":
            u, _ = rows(i)
            texture[i] = standardise(torch.sin(2 * math.pi * u))
        elif TEXTURES[use] == "dots":  # a tree at each lattice point, sd = period / 6
            u, v = rows(i)
            du, dv = torch.remainder(u, 1.0) - 0.5, torch.remainder(v, 1.0) - 0.5
            texture[i] = standardise(torch.exp(-(du**2 + dv**2) * 18))
        else:
            texture[i] = standardise(smooth_field(lattice[i], size))
    return texture


def _draw_tiles(land_use: torch.Tensor, cue: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """Tiles (n, 13, size, size) uint8 with the given labels (module docstring).

    Written straight in digital numbers, on top of the pixel noise, in as few passes over
    the tiles as can be: at size 64 the random noise and memory traffic are what cost.
    """
    n = len(land_use)
    index = {b: i for i, b in enumerate(BANDS)}
    uniform = lambda low, high: low + (high - low) * torch.rand(n, 1, 1, generator=g)  # noqa: E731
    scale = 255 / REFLECTANCE_MAX  # digital numbers per unit of reflectance

    spectrum = torch.tensor([VEGETATION[b] for b in BANDS]).repeat(n, 1)  # (n, 13)
    red_edge = [index[b] for b in RED_EDGE]
    spectrum[:, red_edge] += torch.tensor([RED_EDGE_OFFSET[c] for c in LAND_USE])[land_use]
    spectrum[:, red_edge] += RED_EDGE_JITTER * torch.randn(n, len(RED_EDGE), generator=g)
    spectrum[:, [index[b] for b in VISIBLE]] += torch.tensor(VISIBLE_CASTS)[cue]
    vigour = 2 * torch.rand(n, generator=g) - 1
    spectrum[:, [index[b] for b in ("B5", "B6", "B7", "B8", "B8A")]] *= (1 + 0.08 * vigour)[:, None]
    spectrum[:, index["B4"]] *= 1 - 0.1 * vigour
    illumination = uniform(0.85, 1.15)
    density = 1 + 0.1 * (smooth_field(torch.rand(n, 3, 3, generator=g), size) - 0.5)
    field = illumination * density * scale  # (n, size, size)
    texture = 1 + uniform(0.06, 0.10) * _texture(land_use, size, g)
    levels = {"B1": 0.12 * uniform(0.8, 1.2), "B9": 0.10 * uniform(0.7, 1.3), "B10": 0.003 + 0.01 * uniform(0, 1)}
    haze = smooth_field(torch.rand(n * len(levels), 3, 3, generator=g), size).unflatten(0, (n, len(levels)))

    # noise (mean 0.5: the rounding below truncates), then each band group's signal on top
    tiles = torch.empty(n, len(BANDS), size, size).normal_(0.5, NOISE_SD * scale, generator=g)
    surface = slice(index["B2"], index["B8A"] + 1)  # B2 ... B8A, no texture
    swir = slice(index["B11"], index["B12"] + 1)
    tiles[:, surface].addcmul_(spectrum[:, surface, None, None], field[:, None])
    tiles[:, swir].addcmul_(spectrum[:, swir, None, None], (field * texture)[:, None])
    for k, (band, level) in enumerate(levels.items()):
        tiles[:, index[band]].addcmul_(level * illumination * scale, 0.8 + 0.4 * haze[:, k])
    return tiles.clamp_(0, 255.999).to(torch.uint8)  # = round(reflectance * scale), clipped to 0..255


def make_multispectral(
    n: int, correlation: float, size: int = 16, seed: int = 0, name: str = ""
) -> FactorSet:
    """``n`` synthetic Sentinel-2 tiles (module docstring), as a :class:`FactorSet`.

    Factors: ``land_use`` (4 classes, :data:`LAND_USE` in order, uniform) and
    ``visible_cue`` (4 colour casts); with probability ``correlation`` the cue equals the
    land use, otherwise it is drawn uniformly on its own. Images: (n, 13, size, size)
    uint8, bands :data:`BANDS`, reflectance 0..0.5 mapped to 0..255 (:func:`to_uint8`).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (the number of tiles), got {n!r}.")
    if not 0 <= correlation <= 1:
        raise ValueError(f"correlation must be in [0, 1], got {correlation}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 12:
        raise ValueError(
            f"size must be an int of at least 12 pixels, so the SWIR textures (period size / 4) "
            f"are resolved, got {size!r}."
        )
    g = torch.Generator().manual_seed(seed)
    land_use, cue = correlated_labels(n, NUM_CLASSES, NUM_CLASSES, correlation, g)
    images = torch.empty(n, len(BANDS), size, size, dtype=torch.uint8)
    chunk = max(1, CHUNK_VALUES // (len(BANDS) * size * size))
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        images[part] = _draw_tiles(land_use[part], cue[part], size, g)
    return FactorSet(images, {"land_use": land_use.long(), "visible_cue": cue.long()}, BANDS, name)


def load_multispectral(
    mode: str | None = None, correlation: float = 1.0, seed: int = 0, **overrides: Any
) -> dict[str, dict[str, FactorSet]]:
    """Synthetic tiles of a mode's preset: ``{"train"|"test": {variant: set}}``.

    Variants: ``correlated`` (visible cue = land use with probability ``correlation``) and
    ``independent``. Every set has its own seed, so no tile is repeated.
    """
    return correlated_and_independent(make_multispectral, {**PRESETS[config_module.mode(mode)], **overrides},
                                      correlation, seed)


#: The synthetic tiles for :func:`splicer_tutorial.channels.run` and ``run --dataset multispectral``.
DATASET = ChannelDataset(
    target="land_use",
    name="multispectral", channels=BANDS, factors=FACTORS, num_classes=NUM_CLASSES, groups=GROUPS,
    load=load_multispectral, presets=PRESETS,
)


# ------------------------------------------------------------------------- EuroSAT-MS


def _tifffile() -> Any:
    """The tifffile module, imported when first needed."""
    try:
        import tifffile
    except ImportError as err:
        raise ImportError(
            "Reading EuroSAT-MS's .tif tiles needs the tifffile package, which is not installed; "
            "install it with: pip install tifffile"
        ) from err
    return tifffile


def _tifs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _TIF_SUFFIXES)


def _find_class_root(root: Path) -> Path | None:
    """The shallowest folder at or under ``root`` holding EuroSAT class folders of .tif files."""
    level = [root] if root.is_dir() else []
    for _ in range(_SEARCH_DEPTH):
        below = []
        for folder in level:
            subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
            if any(p.name in EUROSAT_CLASSES and _tifs(p) for p in subdirs):
                return folder
            below.extend(subdirs)
        level = below
    return None


def dn_to_uint8(dn: np.ndarray) -> np.ndarray:
    """EuroSAT digital numbers (reflectance x 10,000) -> uint8 with :func:`to_uint8`'s map."""
    scale = 255 / (DN_PER_REFLECTANCE * REFLECTANCE_MAX)
    return np.clip(np.rint(dn.astype(np.float32) * scale), 0, 255).astype(np.uint8)


def _read_tile(path: Path, tifffile: Any) -> np.ndarray:
    """One EuroSAT-MS tile as (13, H, W) uint8, from (13, H, W) or (H, W, 13) on disk."""
    tile = np.asarray(tifffile.imread(path))
    if tile.ndim == 3 and tile.shape[0] == len(BANDS):
        pass
    elif tile.ndim == 3 and tile.shape[-1] == len(BANDS):
        tile = tile.transpose(2, 0, 1)
    else:
        raise ValueError(
            f"{path} has shape {tile.shape}, but a EuroSAT-MS tile has {len(BANDS)} bands, (13, H, W) or "
            "(H, W, 13); remove the file or replace it with a good copy."
        )
    return dn_to_uint8(tile)


def _extract(archive: Path, root: Path) -> None:
    """Unzip ``archive`` into ``root`` (through a temporary folder, so a failure leaves no half tree)."""
    if not zipfile.is_zipfile(archive):
        raise datasets.DataNotFoundError(
            f"{archive} is not a zip archive (an interrupted download?); delete it and call "
            "load_eurosat_ms again."
        )
    tmp = root.with_name(root.name + ".extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp)
    root.mkdir(parents=True, exist_ok=True)
    for child in tmp.iterdir():
        try:
            os.replace(child, root / child.name)
        except OSError as err:
            raise datasets.DataNotFoundError(
                f"{archive} was unzipped into {tmp}, but {child.name} could not be moved into {root} ({err}); "
                f"move {root / child.name} out of the way and call load_eurosat_ms again."
            ) from err
    tmp.rmdir()


def _locate_eurosat(root: Path, download: bool | None) -> Path:
    """The folder holding the class folders, unzipping or downloading the archive if needed."""
    found = _find_class_root(root)
    if found is not None:
        return found
    archive = datasets.data_dir() / EUROSAT_ARCHIVE
    looked = (f"folders named after the classes ({', '.join(EUROSAT_CLASSES)}) holding .tif tiles at or "
              f"under {root}, and the archive {archive}")
    if not archive.is_file():
        allowed, why_not = datasets._downloads_allowed(download)
        if not allowed:
            raise datasets.DataNotFoundError(
                f"No EuroSAT-MS tiles found: looked for {looked}; {why_not}. To fix it, download "
                f"{EUROSAT_URL} (about 2 GB) and unzip it into {root} (any nesting works), or put the zip at "
                f"{archive}, or allow downloads (pass download=True, or unset {datasets.OFFLINE_ENV})."
            )
        _tifffile()  # fail before a 2 GB download, not after
        archive.parent.mkdir(parents=True, exist_ok=True)
        part = archive.with_name(archive.name + ".part")
        try:
            datasets._fetch_url(EUROSAT_URL, part)
        except Exception as err:  # any network error
            part.unlink(missing_ok=True)
            raise datasets.DataNotFoundError(
                f"No EuroSAT-MS tiles found ({looked}), and the download of {EUROSAT_URL} failed: "
                f"{type(err).__name__}: {err}. Download it by hand and unzip it into {root}."
            ) from err
        os.replace(part, archive)
    _extract(archive, root)
    found = _find_class_root(root)
    if found is None:
        raise datasets.DataNotFoundError(
            f"{archive} was unzipped into {root}, but no EuroSAT class folders of .tif tiles are there; "
            f"delete {archive} and {root} and download {EUROSAT_URL} again."
        )
    return found


def load_eurosat_ms(
    root: str | Path | None = None,
    download: bool | None = None,
    max_per_class: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, dict[str, FactorSet]]:
    """EuroSAT-MS tiles, split per class into train and test: ``{"train"|"test": {"all": set}}``.

    Looks for class folders (:data:`EUROSAT_CLASSES`) of ``.tif`` tiles at or under
    ``root`` (default ``data_dir() / "EuroSAT_MS"``, searched a few levels down since the
    zip nests them); else unzips ``data_dir() / "EuroSAT_MS.zip"`` into ``root``; else,
    when downloads are allowed (``download``, ``$SPLICER_OFFLINE``), downloads
    :data:`EUROSAT_URL` (about 2 GB) there first. Classes that are absent are simply
    missing from the sets.

    Each class's tiles (sorted by name) are shuffled with ``seed``, cut to ``max_per_class``,
    and ``round(test_fraction * n)`` of them (at least 1 and at most n - 1 when n >= 2) go
    to test; only the chosen tiles are read. Each split is then shuffled, so its first
    tiles mix the classes.

    Returns:
        Sets with images (N, 13, H, W) uint8 (64x64 for EuroSAT; digital numbers / 10,000 =
        reflectance, mapped 0..0.5 -> 0..255 as :func:`make_multispectral`), bands
        :data:`BANDS`, and factor ``land_use``: (N,) int64 indices into
        :data:`EUROSAT_CLASSES` (10 classes).

    Raises:
        DataNotFoundError: no tiles, and no archive could be had; the message says how to fix it.
        ImportError: tifffile is not installed.
    """
    if max_per_class is not None and (isinstance(max_per_class, bool) or not isinstance(max_per_class, int)
                                      or max_per_class < 1):
        raise ValueError(f"max_per_class must be None (every tile) or a positive int, got {max_per_class!r}.")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), e.g. 0.2, got {test_fraction}.")
    root = Path(root).expanduser() if root is not None else datasets.data_dir() / EUROSAT_DIR
    found = _locate_eurosat(root, download)
    tifffile = _tifffile()

    rng = np.random.default_rng(seed)
    chosen: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for label, cls in enumerate(EUROSAT_CLASSES):
        folder = found / cls
        files = _tifs(folder) if folder.is_dir() else []
        files = [files[i] for i in rng.permutation(len(files))][:max_per_class]
        n_test = min(max(round(test_fraction * len(files)), 1), len(files) - 1) if len(files) >= 2 else 0
        chosen["test"] += [(f, label) for f in files[:n_test]]
        chosen["train"] += [(f, label) for f in files[n_test:]]

    out: dict[str, dict[str, FactorSet]] = {}
    first: tuple[Path, tuple[int, ...]] | None = None  # every tile must have the first one's shape
    for split, items in chosen.items():
        items = [items[i] for i in rng.permutation(len(items))]
        images = None  # filled in place: all of EuroSAT-MS is 1.4 GB as uint8
        for k, (path, _) in enumerate(items):
            tile = _read_tile(path, tifffile)
            first = first or (path, tile.shape)
            if tile.shape != first[1]:
                raise ValueError(f"{path} has shape {tile.shape} but {first[0]} has {first[1]}; every "
                                 "EuroSAT-MS tile must have the same size: remove the odd one.")
            if images is None:
                images = np.empty((len(items), *tile.shape), np.uint8)
            images[k] = tile
        if images is None:
            images = np.zeros((0, *(first[1] if first else (len(BANDS), 64, 64))), np.uint8)
        labels = torch.tensor([label for _, label in items], dtype=torch.int64)
        out[split] = {"all": FactorSet(torch.from_numpy(images), {"land_use": labels}, BANDS, f"{split}/all")}
    return out


#: Tiles per class of each mode when EuroSAT-MS is used for runs (None: all 27,000).
EUROSAT_PRESETS: dict[str, dict[str, Any]] = {"fast": {"max_per_class": 200}, "full": {"max_per_class": None}}


def load_eurosat_for_runs(mode: str | None = None, correlation: float = 1.0, seed: int = 0,
                          **overrides: Any) -> dict[str, dict[str, FactorSet]]:
    """EuroSAT-MS with a mode's tiles per class (:data:`EUROSAT_PRESETS`), for
    :func:`splicer_tutorial.channels.run` (``run --dataset eurosat_ms``). Real tiles have
    no planted shortcut, so ``correlation`` must stay 1 (the default)."""
    if correlation != 1.0:
        raise ValueError(f"correlation={correlation}: EuroSAT-MS has no planted shortcut to correlate; leave it out.")
    preset = {**EUROSAT_PRESETS[config_module.mode(mode)], **overrides}
    return load_eurosat_ms(seed=seed, **preset)


#: EuroSAT-MS for :func:`splicer_tutorial.channels.run`: trained and probed on the real
#: tiles (no correlated or independent variants), components the same band groups.
EUROSAT = ChannelDataset(
    target="land_use",
    name="eurosat_ms", channels=BANDS, factors=("land_use",), num_classes=len(EUROSAT_CLASSES), groups=GROUPS,
    load=load_eurosat_for_runs, presets=EUROSAT_PRESETS, train_set="all", test_set="all",
)
