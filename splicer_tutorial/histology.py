"""Procedural H&E-like tissue tiles with nuclei masks, and a classical nuclei segmenter.

No labelled H&E data set can be had offline, so this module draws one, with every
generative choice written down here. Each tile is a ``size x size`` RGB patch of
tissue stained with haematoxylin (H: nuclei, blue-purple) and eosin (E: stroma, pink),
rendered by the **Beer-Lambert law**: the optical density of a pixel is
``c_H h + c_E e`` (``h``, ``e`` the Ruifrok-Johnston stain vectors that
``skimage.color.rgb2hed`` inverts, :data:`STAIN_VECTORS`), plus Gaussian noise of sd
0.03 per channel, and its colour is ``exp(-OD)``, stored as uint8. Every tile comes with
its ground-truth **instance label map** of nuclei (0 background, 1..M the nuclei)
and, on request, a **multi-class tissue map** (:data:`REGIONS`: 0 stroma, 1 nuclei, 2 the
white-ish gaps described below).

Two factors (:data:`FACTORS`), 2 classes each:

* ``tissue`` (the hard factor, :data:`TISSUE_CLASSES`) lives **in the nuclei only**,
  as nuclear atypia (pleomorphism) does:

  - ``"regular"`` (0): roundish nuclei, a tile's mean aspect ratio (long / short axis)
    ``U(1.0, 1.2)`` (:data:`ASPECT`), with fine, even chromatin: independent per-pixel
    haematoxylin variation of sd ``U(0.03, 0.08) x c_H`` per tile (:data:`CHROMATIN`),
    and haematoxylin ``c_H ~ U(1.05, 1.3)`` per tile (:data:`NUCLEUS_H`);
  - ``"atypical"`` (1): elongated nuclei, mean aspect ``U(1.5, 2.0)``, with coarse,
    clumped chromatin: a 3x3 box-smoothed noise field, standardised, at sd
    ``U(0.2, 0.3) x c_H``, so dark clumps about 2-3 pixels across at size 32; and
    slightly darker (hyperchromatic): ``c_H ~ U(1.25, 1.5)``, overlapping the regular range.

  Each nucleus's aspect is its tile's times ``U(0.9, 1.1)`` (at least 1). The ranges
  overlap on purpose: the cue is subtle, not trivial (on an independent set a single
  hand-made statistic inside the true masks gets well above chance, not 1; the
  ranges were widened after the first version's cue proved too faint for a small
  SSL encoder to learn even from the nuclei alone).
  Everything else about the nuclei has **one distribution for both classes**: the
  number per tile (uniform on 4..10 at size 32, scaled by the area ``(size / 32)^2``:
  a larger tile is a larger field at the same magnification), their area (equivalent
  radius ``U(2.4, 3.2)`` pixels at any size, so the nuclear area fraction carries no
  label), their positions and random angles (with a fixed ``c_E = 0.15``). Nuclei are placed by
  random sequential addition: candidate centres are drawn uniformly over the tile and a
  candidate is kept when it is at least ``1.1 x`` the sum of equivalent radii from every
  nucleus kept before, until the tile's count is reached (3 x the most nuclei are
  tried), so nuclei mostly do not overlap; elongated ones may touch (where two
  overlap, the earlier one keeps the pixels) and nuclei at the edge are cut.

* ``stain`` (the easy factor, :data:`STAIN_CLASSES`) lives **in the stroma only**, as
  between two hospitals' staining protocols: ``"pale"`` (0) stroma with eosin
  ``c_E ~ U(0.25, 0.4)`` (light pink) and ``"deep"`` (1) with ``c_E ~ U(0.7, 0.95)``
  (deep magenta). The nuclei are painted with their own fixed eosin, so their colour is
  the same for both stains. With probability ``correlation`` the stain equals the
  tissue, otherwise it is drawn on its own.

The label-free stroma: collagen **fibres**, white noise smoothed along one direction (a
9-pixel box along, 3 across) and rotated to a random angle per tile, modulating the
eosin by ``0.65 + 0.7 f`` (``f`` in [0, 1]); a faint haematoxylin counterstain
``c_H = 0.06``; and **white-ish gaps** (fat, lumen, tearing): the pixels where a smooth
field (bicubic upsampling of a lattice of uniform noise, 3x3 at size 32, ``3 size / 32``
a side in general) falls below a per-tile quantile ``U(0, 0.2)`` keep only 10% of their
stain. Fibre angle, gaps and counterstain are the same for every class.

So a nuclei mask splits the two cues cleanly: the **nuclei component** carries
``tissue`` (chromatin, shape), the **background component** carries ``stain``. One
caveat: a zero-filled background component still shows the nuclei's *outlines* as
holes, so nuclear shape (elongation) leaks into it (the holes' mean elongation alone
gets about 0.78 tissue accuracy at size 32, against 0.5 for any stroma colour
statistic); nuclear area and count do not. Make :data:`ASPECT` the same for both
classes to leave chromatin as the only tissue cue and remove the leak.

Everything is drawn from one seeded generator, batched in torch, in chunks of about a
million pixels; on one CPU core 2,000 tiles at 32x32 take under a second, 8,000 at
64x64 about ten seconds. The draws depend on the chunking, which is fixed per size.

:func:`segment_nuclei` is the classical pipeline that masks come from without a trained
network (scikit-image): colour deconvolution to the haematoxylin channel
(``rgb2hed``), Gaussian smoothing, an Otsu threshold, removal of small objects, then a
(smoothed) distance transform, its local maxima (``peak_local_max``) as markers and a
watershed to split touching nuclei; its settings follow from one number, a typical
nucleus's radius. On these tiles it is nearly exact (mean foreground IoU about 0.99 at
sizes 32 and 64, and the right nuclei count within about 0.05 a tile: the nuclei have
crisp edges and one colour), a per-tile loop at about 2 ms a 32x32 tile.
:func:`segmentation_steps` returns each intermediate image, and
:func:`load_example_image` scikit-image's bundled immunohistochemistry image (a real
haematoxylin + DAB stained slide, shipped with scikit-image, no download).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import config as config_module
from .factorsets import (ChannelDataset, FactorSet, correlated_and_independent, correlated_labels, smooth_field,
                       standardise)
from .masks import NOISE_KINDS, degrade, iou

CHANNELS = ("R", "G", "B")
FACTORS = ("tissue", "stain")
VARIANTS = ("correlated", "independent")
TISSUE_CLASSES = ("regular", "atypical")
STAIN_CLASSES = ("pale", "deep")

PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"size": 24, "n_train": 2000, "n_test": 1000},
    "full": {"size": 64, "n_train": 8000, "n_test": 2000},
}

#: Unit optical-density vectors (R, G, B) of haematoxylin and eosin (Ruifrok & Johnston
#: 2001, as in ``skimage.color.rgb2hed``).
STAIN_VECTORS: dict[str, tuple[float, float, float]] = {
    "haematoxylin": (0.65, 0.70, 0.29),
    "eosin": (0.07, 0.99, 0.11),
}
#: Nuclei per tile at size 32 (inclusive), scaled by area for other sizes.
NUCLEI_PER_TILE = (4, 10)
#: Equivalent radius of a nucleus (radius of the disc of the same area) in pixels, at every tile size.
NUCLEUS_RADIUS = (2.4, 3.2)
#: Mean aspect ratio (long / short axis) of a tile's nuclei, per tissue class; each nucleus
#: varies by a factor ``U(1 - ASPECT_JITTER, 1 + ASPECT_JITTER)`` around it (at least 1).
ASPECT = {"regular": (1.0, 1.2), "atypical": (1.5, 2.0)}
ASPECT_JITTER = 0.1
#: Chromatin variation (sd, as a fraction of the nucleus's haematoxylin) per tissue class.
CHROMATIN = {"regular": (0.03, 0.08), "atypical": (0.2, 0.3)}
#: Mean haematoxylin of the nuclei (per tile) and their fixed eosin.
NUCLEUS_H = {"regular": (1.05, 1.3), "atypical": (1.25, 1.5)}
NUCLEUS_E = 0.15
#: Stroma eosin per stain class, and the stroma's haematoxylin counterstain.
STROMA_E = {"pale": (0.25, 0.4), "deep": (0.7, 0.95)}
STROMA_H = 0.06
#: Fraction of stain left in the white-ish gaps, and the per-tile gap fraction's upper bound.
GAP_STAIN = 0.1
GAP_FRACTION = 0.2
#: Optical-density noise per pixel and channel.
NOISE_SD = 0.03
#: Minimum distance between nuclei centres, in sums of equivalent radii.
SPACING = 1.1
#: Pixels drawn at once (per chunk of tiles).
CHUNK_PIXELS = 1 << 20


# ------------------------------------------------------------------------ generator


def _per_class(ranges: dict[str, tuple[float, float]], classes: tuple[str, ...], labels: torch.Tensor,
               g: torch.Generator) -> torch.Tensor:
    """One value per tile (n,), uniform on the range of its class (one draw per tile, whatever its class)."""
    low = torch.tensor([ranges[c][0] for c in classes])[labels]
    high = torch.tensor([ranges[c][1] for c in classes])[labels]
    return low + (high - low) * torch.rand(len(labels), generator=g)


def _box(x: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """Running mean of x over ``width`` (odd) values along ``dim``, wrapping around (cumsum: O(1) a value)."""
    half = width // 2
    wrapped = torch.cat([x.narrow(dim, x.shape[dim] - half - 1, half + 1), x, x.narrow(dim, 0, half)], dim)
    total = wrapped.cumsum(dim)
    return (total.narrow(dim, width, x.shape[dim]) - total.narrow(dim, 0, x.shape[dim])) / width


def _fibres(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Oriented smooth noise (n, size, size) in [0, 1]: fibres at a random angle per tile."""
    big = int(math.ceil(size * 1.5)) // 2 * 2 + 2  # room to rotate without empty corners
    along, across = 9, 3
    noise = _box(_box(torch.rand(n, big, big, generator=g), along, 2), across, 1)[:, None]
    angle = math.pi * torch.rand(n, generator=g)
    c, s, z = torch.cos(angle), torch.sin(angle), torch.zeros(n)
    scale = size / big  # sample the middle size x size pixels of the big field
    theta = torch.stack([torch.stack([c * scale, -s * scale, z], 1), torch.stack([s * scale, c * scale, z], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    field = F.grid_sample(noise, grid, mode="bilinear", align_corners=False)[:, 0]
    low, high = field.amin(dim=(1, 2), keepdim=True), field.amax(dim=(1, 2), keepdim=True)
    return (field - low) / (high - low + 1e-6)


def _place_nuclei(n: int, size: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Nuclei per tile: centres (n, K, 2), equivalent radii (n, K), angles (n, K), present (n, K).

    Random sequential addition over ``3 K`` candidates (module docstring); K is the most
    nuclei a tile of this size can have. Nothing here depends on a label.
    """
    scale = (size / 32) ** 2
    low, high = round(NUCLEI_PER_TILE[0] * scale), round(NUCLEI_PER_TILE[1] * scale)
    target = torch.randint(low, high + 1, (n,), generator=g)
    candidates = 3 * high
    centre = torch.rand(n, candidates, 2, generator=g) * size - 0.5
    radius = NUCLEUS_RADIUS[0] + (NUCLEUS_RADIUS[1] - NUCLEUS_RADIUS[0]) * torch.rand(n, candidates, generator=g)
    angle = math.pi * torch.rand(n, candidates, generator=g)
    kept = torch.zeros(n, candidates, dtype=torch.bool)
    for k in range(candidates):
        gap = (centre[:, :k] - centre[:, k:k + 1]).norm(dim=2)  # (n, k)
        clash = (kept[:, :k] & (gap < SPACING * (radius[:, :k] + radius[:, k:k + 1]))).any(1)
        kept[:, k] = ~clash & (kept[:, :k].sum(1) < target)
    order = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)[:, :high]  # kept first, in order
    take = lambda t: torch.gather(t, 1, order if t.ndim == 2 else order[..., None].expand(-1, -1, 2))  # noqa: E731
    return take(centre), take(radius), take(angle), take(kept)


def _draw_tiles(tissue: torch.Tensor, stain: torch.Tensor, size: int, g: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiles (n, 3, size, size) uint8, instance label maps (n, size, size) int64 and the
    gaps (n, size, size) bool: stroma pixels that keep only :data:`GAP_STAIN` of their stain."""
    n = len(tissue)
    uniform = lambda low, high, *shape: low + (high - low) * torch.rand(n, *shape, generator=g)  # noqa: E731

    # nuclei: ellipses rendered in a window around each centre, the first one winning overlaps
    centre, radius, angle, present = _place_nuclei(n, size, g)
    k = centre.shape[1]
    jitter = 1 + ASPECT_JITTER * (2 * torch.rand(n, k, generator=g) - 1)
    aspect = (_per_class(ASPECT, TISSUE_CLASSES, tissue, g)[:, None] * jitter).clamp(min=1.0)
    # inside the ellipse: q(dy, dx) = A dx^2 + B dx dy + C dy^2 <= 1 in the window around the centre
    long2, short2 = (radius * radius * aspect)[..., None, None], (radius * radius / aspect)[..., None, None]
    c, s = torch.cos(angle)[..., None, None], torch.sin(angle)[..., None, None]
    qa, qb, qc = c * c / long2 + s * s / short2, 2 * c * s * (1 / long2 - 1 / short2), s * s / long2 + c * c / short2
    longest = max(high for _, high in ASPECT.values()) * (1 + ASPECT_JITTER)
    reach = int(math.ceil(NUCLEUS_RADIUS[1] * math.sqrt(longest) + 0.5))
    offsets = torch.arange(-reach, reach + 1)
    py = centre[..., 0].round().long()[..., None, None] + offsets[:, None]  # (n, k, w, 1)
    px = centre[..., 1].round().long()[..., None, None] + offsets[None, :]  # (n, k, 1, w)
    dy, dx = py - centre[..., 0, None, None], px - centre[..., 1, None, None]
    q = torch.addcmul(qa * dx * dx + qc * dy * dy, qb * dx, dy)  # (n, k, w, w)
    valid = (present[..., None, None] & (py >= 0) & (py < size)) & ((px >= 0) & (px < size))
    value = torch.where((q <= 1) & valid, torch.arange(1, k + 1)[:, None, None], k + 1).reshape(n, -1)
    flat = (py.clamp(0, size - 1) * size + px.clamp(0, size - 1)).reshape(n, -1)
    labels = torch.full((n, size * size), k + 1, dtype=torch.long).scatter_reduce_(1, flat, value, "amin")
    labels = torch.where(labels > k, 0, labels).view(n, size, size)
    nuclei = (labels > 0).float()

    # chromatin: fine per-pixel speckle for "regular", smoothed clumps for "atypical"
    fine = torch.randn(n, size, size, generator=g)
    coarse = standardise(_box(_box(torch.randn(n, size, size, generator=g), 3, 1), 3, 2))
    sd = _per_class(CHROMATIN, TISSUE_CLASSES, tissue, g)[:, None, None]
    chromatin = torch.where(tissue[:, None, None] == 1, coarse, fine) * sd
    nucleus_h = _per_class(NUCLEUS_H, TISSUE_CLASSES, tissue, g)[:, None, None] * (1 + chromatin).clamp(min=0)

    # stroma: fibres times the stain's eosin, a faint counterstain, white-ish gaps
    stroma_e = _per_class(STROMA_E, STAIN_CLASSES, stain, g)[:, None, None]
    stroma_e = stroma_e * (0.65 + 0.7 * _fibres(n, size, g))
    lattice = max(3, round(3 * size / 32))
    field = smooth_field(torch.rand(n, lattice, lattice, generator=g), size)
    fraction = uniform(0, GAP_FRACTION, 1)
    sample = field[:, ::max(1, size // 16), ::max(1, size // 16)].flatten(1)  # the quantile from <= 16x16 pixels
    rank = (fraction * sample.shape[1]).long().clamp(max=sample.shape[1] - 1)
    cut = sample.sort(dim=1).values.gather(1, rank)
    gap = field < cut[:, :, None]
    keep = torch.where(gap, GAP_STAIN, 1.0)

    h_amount = nuclei * nucleus_h + (1 - nuclei) * STROMA_H * keep
    e_amount = nuclei * NUCLEUS_E + (1 - nuclei) * stroma_e * keep
    h_vec, e_vec = (torch.tensor(STAIN_VECTORS[name]) for name in ("haematoxylin", "eosin"))
    h_vec, e_vec = h_vec / h_vec.norm(), e_vec / e_vec.norm()
    density = h_amount[:, None] * h_vec[:, None, None] + e_amount[:, None] * e_vec[:, None, None]
    density += NOISE_SD * torch.randn(n, 3, size, size, generator=g)
    images = (torch.exp(-density) * 255).clamp_(0, 255).round_().to(torch.uint8)
    return images, labels, gap & (labels == 0)


#: The labels of the multi-class tissue map (``make_tissue(..., masks="regions")``).
REGIONS = ("stroma", "nuclei", "gaps")
MASK_MAPS = ("nuclei", "regions")


def make_tissue(
    n: int, correlation: float, size: int = 32, seed: int = 0, name: str = "", masks: str = "nuclei"
) -> tuple[FactorSet, torch.Tensor]:
    """``n`` synthetic H&E tiles (module docstring) and their nuclei label maps.

    Factors: ``tissue`` (:data:`TISSUE_CLASSES`, balanced) and ``stain``
    (:data:`STAIN_CLASSES`); with probability ``correlation`` the stain equals the tissue,
    otherwise it is drawn uniformly on its own. Returns the :class:`FactorSet` (images
    (n, 3, size, size) uint8, channels :data:`CHANNELS`, ``masks`` (n, size, size) int64)
    and the instance label maps (n, size, size) int64 (0 background, 1..M nuclei).

    ``masks`` picks the FactorSet's map: ``"nuclei"``, the binary map (0 background,
    1 nuclei), or ``"regions"``, the multi-class tissue map :data:`REGIONS` (0 stroma,
    1 nuclei, 2 gaps: the white-ish fat and lumen where the stroma keeps 10% of its
    stain). Both come from the same draw: the tiles are identical.
    """
    if masks not in MASK_MAPS:
        raise ValueError(f"masks={masks!r}; use 'nuclei' (binary nuclei map) or 'regions' (stroma, nuclei, gaps).")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int (the number of tiles), got {n!r}.")
    if isinstance(correlation, bool) or not isinstance(correlation, (int, float)) or not 0 <= correlation <= 1:
        raise ValueError(f"correlation must be in [0, 1], got {correlation!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 24:
        raise ValueError(
            f"size must be an int of at least 24 pixels, so a tile holds a few nuclei (3 pixels in radius) "
            f"and stroma around them, got {size!r}."
        )
    g = torch.Generator().manual_seed(seed)
    tissue, stain = correlated_labels(n, len(TISSUE_CLASSES), len(STAIN_CLASSES), correlation, g)
    images = torch.empty(n, len(CHANNELS), size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.long)
    gaps = torch.empty(n, size, size, dtype=torch.bool)
    chunk = max(1, CHUNK_PIXELS // (size * size))
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        images[part], labels[part], gaps[part] = _draw_tiles(tissue[part], stain[part], size, g)
    label_map = (labels > 0).long()
    if masks == "regions":
        label_map = label_map + 2 * gaps.long()
    return FactorSet(images, {"tissue": tissue.long(), "stain": stain.long()}, CHANNELS, name,
                     masks=label_map), labels


def load_tissue(
    mode: str | None = None, correlation: float = 1.0, seed: int = 0, masks: str = "nuclei", **overrides: Any
) -> tuple[dict[str, dict[str, FactorSet]], dict[str, dict[str, torch.Tensor]]]:
    """Synthetic tiles of a mode's preset and their nuclei label maps.

    Returns ``(data, instances)``: ``data = {"train"|"test": {variant: FactorSet}}`` with
    variants ``correlated`` (stain = tissue with probability ``correlation``) and
    ``independent``, and ``instances`` the matching nuclei instance label maps
    ``{split: {variant: (N, H, W) int64}}``. Every set has its own seed, so no tile is repeated. ``masks``: the sets' label map,
    ``"nuclei"`` or ``"regions"`` (:func:`make_tissue`). ``overrides``: ``size``,
    ``n_train``, ``n_test``.
    """
    preset = {**PRESETS[config_module.mode(mode)], **overrides}
    unknown = sorted(set(preset) - {"size", "n_train", "n_test"})
    if unknown:
        raise ValueError(f"unknown overrides {unknown}; load_tissue takes size, n_train and n_test.")
    instances: dict[str, dict[str, torch.Tensor]] = {}

    def make(n: int, correlation: float, size: int, seed: int, name: str) -> FactorSet:
        data, labels = make_tissue(n, correlation, size, seed=seed, name=name, masks=masks)
        split, variant = name.split("/")
        instances.setdefault(split, {})[variant] = labels
        return data

    data = correlated_and_independent(make, preset, correlation, seed)
    return data, instances


# ------------------------------------------------------------------------ segmentation


def _skimage() -> Any:
    """The scikit-image modules the segmenter needs, imported when first needed."""
    try:
        import skimage.color
        import skimage.data
        import skimage.feature
        import skimage.filters
        import skimage.segmentation
    except ImportError as err:
        raise ImportError(
            "The classical nuclei segmenter needs scikit-image, which is not installed; "
            "install it with: pip install scikit-image"
        ) from err
    return skimage


def _segmentation_params(radius: float | None) -> dict[str, float]:
    """The segmenter's settings from a typical nucleus's radius (see :func:`segmentation_steps`)."""
    if radius is None:
        radius = sum(NUCLEUS_RADIUS) / 2
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not radius > 0 or not math.isfinite(radius):
        raise ValueError(f"radius must be a positive number of pixels (a typical nucleus's radius), got {radius!r}.")
    return {
        "sigma": radius / 4,
        "min_size": max(2, int(round(math.pi * radius**2 / 4))),
        "distance_sigma": radius / 3,
        "min_distance": max(1, int(round(radius * 0.7))),
    }


def _check_rgb(image: Any, name: str = "image") -> np.ndarray:
    """An RGB image as a (H, W, 3) uint8 array, from (H, W, 3) or (3, H, W), torch or numpy."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[-1] != 3:
        array = array.transpose(1, 2, 0)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(
            f"{name} must be one uint8 RGB image, (3, H, W) or (H, W, 3), got {array.dtype} {array.shape}."
        )
    return array


def segmentation_steps(image: Any, radius: float | None = None) -> dict[str, np.ndarray]:
    """The classical segmenter on one RGB image, step by step.

    ``image``: uint8, (3, H, W) or (H, W, 3), torch or numpy. ``radius``: a typical
    nucleus's radius in pixels (default: the generator's mean, 2.8, at any tile size;
    pass about 8 for :func:`load_example_image`). The steps:

    1. colour deconvolution (``skimage.color.rgb2hed``): the haematoxylin optical density;
    2. Gaussian smoothing, sigma ``radius / 4``;
    3. Otsu's threshold, then removal of objects under a quarter of a nucleus's area
       (``pi radius^2 / 4`` pixels);
    4. the Euclidean distance transform of the foreground, smoothed (sigma
       ``radius / 3``) so that an elongated nucleus has one ridge top, not several;
    5. its local maxima (``skimage.feature.peak_local_max``, at least ``0.7 radius``
       apart), one marker each, plus one at the maximum of any object left without one;
    6. a watershed of the negated distance from the markers, inside the foreground, to
       split touching nuclei.

    Returns ``{"image", "haematoxylin", "smoothed", "mask", "distance", "markers",
    "labels"}``: the (H, W, 3) uint8 image, then (H, W) arrays: the haematoxylin (float),
    its smoothing (float), the foreground (bool), the smoothed distance (float), the
    markers (int64, 1..P at the peaks) and the instance labels (int64, 0 background).
    """
    from scipy import ndimage

    ski = _skimage()
    rgb = _check_rgb(image)
    params = _segmentation_params(radius)
    haematoxylin = ski.color.rgb2hed(rgb)[..., 0]
    smoothed = ndimage.gaussian_filter(haematoxylin, params["sigma"], mode="nearest", truncate=4.0)
    if np.ptp(smoothed) < 1e-9:  # a flat image: no nuclei to find
        mask = np.zeros(smoothed.shape, dtype=bool)
    else:
        mask = smoothed > ski.filters.threshold_otsu(smoothed)
    objects, _ = ndimage.label(mask)
    mask = (np.bincount(objects.ravel())[objects] >= params["min_size"]) & (objects > 0)
    objects, count = ndimage.label(mask)
    distance = ndimage.gaussian_filter(ndimage.distance_transform_edt(mask), params["distance_sigma"], mode="constant")
    distance *= mask
    peaks = ski.feature.peak_local_max(distance, min_distance=params["min_distance"], exclude_border=False)
    markers = np.zeros(mask.shape, dtype=np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    found = np.zeros(count + 1, dtype=bool)
    found[objects[markers > 0]] = True
    missing = np.nonzero(~found[1:])[0] + 1  # objects whose peak lost to a neighbour's (min_distance)
    if len(missing):
        for k, position in enumerate(ndimage.maximum_position(distance, objects, missing)):
            markers[position] = len(peaks) + 1 + k
    labels = ski.segmentation.watershed(-distance, markers, mask=mask).astype(np.int64)
    return {"image": rgb, "haematoxylin": haematoxylin, "smoothed": smoothed, "mask": mask, "distance": distance,
            "markers": markers, "labels": labels}


def segment_nuclei(images: torch.Tensor, radius: float | None = None) -> torch.Tensor:
    """Nuclei instance label maps of RGB tiles: (N, 3, H, W) uint8 -> (N, H, W) int64.

    The classical pipeline of :func:`segmentation_steps` (``rgb2hed``, Gaussian, Otsu,
    small-object removal, distance transform, ``peak_local_max``, watershed) on each
    tile; ``radius`` as there. 0 is background, 1..M the nuclei found in each tile.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a uint8 tensor (N, 3, H, W) of RGB tiles, got {got}.")
    out = torch.zeros(images.shape[0], *images.shape[2:], dtype=torch.long)
    array = images.permute(0, 2, 3, 1).cpu().numpy()
    for i, rgb in enumerate(array):
        out[i] = torch.from_numpy(segmentation_steps(rgb, radius)["labels"])
    return out


def load_example_image() -> np.ndarray:
    """scikit-image's bundled immunohistochemistry image: (512, 512, 3) uint8 RGB.

    A real slide stained with haematoxylin (nuclei, blue) and DAB (brown), shipped inside
    scikit-image's wheel (``skimage.data.immunohistochemistry``): no download.
    """
    ski = _skimage()
    try:
        return np.asarray(ski.data.immunohistochemistry())
    except Exception as err:  # a scikit-image build without the bundled file tries to download it
        raise RuntimeError(
            "skimage.data.immunohistochemistry() could not be loaded from the installed scikit-image "
            f"({type(err).__name__}: {err}); reinstall scikit-image from its wheel (pip install "
            "--force-reinstall scikit-image), which ships the image, or run once online."
        ) from err


# ------------------------------------------------------------------ runs and mask quality

#: Where a run's training masks come from: the generator's, the classical segmenter's, or
#: the generator's degraded by one of :data:`splicer_tutorial.masks.NOISE_KINDS` (``"dilate:2"``).
MASK_SOURCES = ("ground_truth", "classical", *(f"{kind}:<level>" for kind in NOISE_KINDS))


def training_masks(instances: torch.Tensor, source: str = "ground_truth", images: torch.Tensor | None = None,
                   seed: int = 0) -> torch.Tensor:
    """Binary nuclei masks (N, H, W) int64 from a mask ``source`` (:data:`MASK_SOURCES`).

    ``instances``: the generator's instance label maps; ``images`` (N, 3, H, W) uint8 are
    needed for ``"classical"`` (:func:`segment_nuclei`).
    """
    if source == "ground_truth":
        labels = instances
    elif source == "classical":
        if images is None:
            raise ValueError("source='classical' segments the images: pass images=.")
        labels = segment_nuclei(images)
    else:
        kind, _, level = source.partition(":")
        if kind not in NOISE_KINDS or not level:
            raise ValueError(f"source={source!r}; use one of {list(MASK_SOURCES)}, e.g. 'dilate:2' or 'drop:0.5'.")
        try:
            value = float(level)
        except ValueError:
            raise ValueError(f"source={source!r}: the level after ':' must be a number, e.g. 'drop:0.5'.") from None
        labels = degrade(instances, kind, int(value) if kind in ("dilate", "erode") else value, seed=seed)
    return (labels > 0).long()


def with_training_masks(data: dict, instances: dict, source: str = "ground_truth", seed: int = 0
                        ) -> tuple[dict, float]:
    """``data`` with the masks of its training sets taken from ``source`` (binary nuclei
    maps), and their mean IoU against the ground truth (the test sets keep theirs: only
    SpliCER's training uses masks)."""
    out = {split: dict(sets) for split, sets in data.items()}
    ious = []
    for variant, s in data["train"].items():
        masks = training_masks(instances["train"][variant], source, s.images, seed)
        ious.append(float(iou(masks, instances["train"][variant] > 0).mean()))
        out["train"][variant] = dataclasses.replace(s, masks=masks)
    return out, float(np.mean(ious))


def nuclei_only(data: dict) -> dict:
    """``data`` with every pixel outside the nuclei (label 1 of its masks) set to 0: what SSL
    learns from the nuclei alone (the ceiling for ``tissue``)."""
    return {split: {v: dataclasses.replace(s, images=s.images * (s.masks[:, None] == 1).to(torch.uint8))
                    for v, s in sets.items()} for split, sets in data.items()}


def load_tissue_sets(mode: str | None = None, correlation: float = 1.0, seed: int = 0, **overrides: Any) -> dict:
    """:func:`load_tissue`'s sets alone (with their ground-truth nuclei masks), for
    :func:`splicer_tutorial.channels.run`."""
    return load_tissue(mode, correlation, seed, **overrides)[0]


def load_with_masks(mode: str | None = None, correlation: float = 1.0, seed: int = 0,
                    masks: str | None = None) -> tuple[dict, dict]:
    """Tissue tiles whose training masks come from ``masks`` (default ``ground_truth``; a
    degradation like ``dilate:2``, ``classical``, or ``regions``: the three-label map), and
    the record of that source and its mean IoU (``{"masks": {"source", "iou"}}``)."""
    if masks == "regions":
        data, _ = load_tissue(mode, correlation=correlation, seed=seed, masks="regions")
        return data, {"masks": {"source": "regions", "iou": 1.0}}
    data, instances = load_tissue(mode, correlation=correlation, seed=seed)
    source = masks or "ground_truth"
    data, mean_iou = with_training_masks(data, instances, source, seed=seed)
    return data, {"masks": {"source": source, "iou": mean_iou}}


def mask_config(masks: str | None = None) -> dict[str, Any]:
    """The components a mask source implies: three mask labels for ``regions`` (stroma,
    nuclei, gaps), the data set's two otherwise."""
    return {"mask_labels": len(REGIONS)} if masks == "regions" else {}


#: The tissue tiles for :func:`splicer_tutorial.channels.run` and ``run --dataset histology``:
#: components from the nuclei masks (label 0 background, 1 nuclei); crop and flip only,
#: no colour jitter, which would erase the stain shortcut under study (chapter 13 shows
#: it with ``augment="rgb", photometric_channels=None``).
DATASET = ChannelDataset(
    target="tissue",
    name="histology", channels=CHANNELS, factors=FACTORS, num_classes=2, groups=(), load=load_tissue_sets, presets=PRESETS,
    mask_labels=2, augment="channels", photometric_channels=0,
    data_options=("masks",), load_noted=load_with_masks, configure=mask_config,
)
