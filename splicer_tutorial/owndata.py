"""Your own images as a data set of the run path: a folder of multi-channel TIFF files, or one ``.npz``.

``run --dataset folder:PATH`` or ``--dataset npz:PATH`` (and ``st.run("npz:PATH", ...)``)
read them with this module. Two layouts:

* **a folder** ``PATH/``: one image per ``*.tif``/``*.tiff`` file, (C, H, W) or (H, W) for
  one channel (``"channels_last": true`` in the sidecar for (H, W, C)); optional:

  - ``PATH/dataset.json``, a sidecar: ``{"channel_names": ["DAPI", "CD3", ...],
    "channels_last": false}``;
  - ``PATH/labels.csv``: a header ``file,<factor>,<factor>...`` and a row per image file,
    labels as integers or names;
  - ``PATH/masks/<file name>``: an (H, W) integer label map per image (0: background), for
    mask components;

* **an** ``.npz``: ``images`` (N, C, H, W); optional ``channel_names`` (C,), labels as
  ``labels`` (N,) (the factor ``label``) or ``labels_<factor>`` (N,) per factor, ``masks``
  (N, H, W) integer label maps.

What the run path makes of them (:func:`load`):

* **intensities**: uint8 images are kept; any other type is scaled to 0-255 channel by
  channel, from its 0.1th to its 99.9th percentile over the whole data set (the rare
  brightest pixels saturate), as fluorescence images usually need;
* **sizes**: images of different sizes are refused unless ``size=(H, W)`` (``run
  --image-size HxW``) resizes every image (bilinear; masks nearest-neighbour);
* **splits**: a seeded 80/20 split into ``train`` and ``test`` (set ``"all"`` in each);
  SSL trains on the training images, and each factor's linear probe is fitted on the
  training split and scored on the test split;
* **components**: channel groups by name (``--groups DAPI+membrane,CD3+CD4``; the default is
  one component per channel), or, where masks are given, one component per mask label;
* **no labels**: nothing to probe; ``run --save-embeddings FILE.npz`` stores every image's
  features for your own analysis.

Every check is a one-line ``ValueError`` naming the file or array and the fix, before any
training.
"""

from __future__ import annotations

import csv
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .factorsets import ChannelDataset, FactorSet

PREFIXES = ("folder:", "npz:")
#: The one set of each split: every image, labelled or not.
SET = "all"
SIDECAR = "dataset.json"
LABELS = "labels.csv"
MASKS = "masks"
TIFF_SUFFIXES = (".tif", ".tiff")


def is_own(dataset: str) -> bool:
    """Whether ``dataset`` names your own images (``folder:PATH`` or ``npz:PATH``)."""
    return isinstance(dataset, str) and dataset.startswith(PREFIXES)


@dataclass
class Raw:
    """Images as read, before scaling and resizing.

    Attributes:
        images: N arrays (C, H, W), of any numeric type (one stacked array when all match).
        channel_names: the C names.
        labels: ``{factor: (N,) int64}``.
        class_names: ``{factor: names of its classes}`` (the labels index them).
        masks: N (H, W) integer label maps, or None.
        names: the N image names (file names, or indices of the ``.npz``).
    """

    images: list[np.ndarray]
    channel_names: tuple[str, ...]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    class_names: dict[str, list[str]] = field(default_factory=dict)
    masks: list[np.ndarray] | None = None
    names: list[str] = field(default_factory=list)


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError:
        raise ValueError("reading TIFF files needs the tifffile package; install it with: pip install tifffile") from None
    return tifffile


def _encode(values: list[str], what: str) -> tuple[np.ndarray, list[str]]:
    """Labels as integers: integer strings as they are, names indexed in sorted order."""
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        classes = sorted(set(values))
        return np.array([classes.index(v) for v in values], dtype=np.int64), classes
    if min(numbers) < 0:
        raise ValueError(f"{what} holds negative labels; use labels 0, 1, 2, ... or class names.")
    return np.array(numbers, dtype=np.int64), [str(c) for c in range(max(numbers) + 1)]


def read_npz(path: str | Path) -> Raw:
    """The arrays of an ``.npz`` (module docstring), checked."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"npz:{path}: no such file; give the path of an .npz holding 'images' (N, C, H, W).")
    with np.load(path, allow_pickle=False) as arrays:
        files = dict(arrays)
    if "images" not in files:
        raise ValueError(f"npz:{path} has no array 'images' (it has {sorted(files)}); save the images as "
                         "images=(N, C, H, W).")
    images = files.pop("images")
    if images.ndim != 4 or not np.issubdtype(images.dtype, np.number) or images.shape[0] < 2:
        raise ValueError(f"npz:{path}: 'images' must be a numeric (N, C, H, W) array of 2 or more images, got "
                         f"{images.dtype} {images.shape}; add a channel axis for single-channel images.")
    n, c = images.shape[:2]
    names = files.pop("channel_names", None)
    channel_names = tuple(str(name) for name in names) if names is not None else tuple(f"ch{i}" for i in range(c))
    if len(channel_names) != c:
        raise ValueError(f"npz:{path}: 'channel_names' has {len(channel_names)} names for {c} channels; give one "
                         "name per channel.")
    raw = Raw(list(images), channel_names, names=[str(i) for i in range(n)])
    masks = files.pop("masks", None)
    if masks is not None:
        if masks.shape != (n, *images.shape[2:]) or not np.issubdtype(masks.dtype, np.integer):
            raise ValueError(f"npz:{path}: 'masks' must be integer label maps {(n, *images.shape[2:])}, got "
                             f"{masks.dtype} {masks.shape}.")
        raw.masks = list(masks)
    for key, values in files.items():
        if key != "labels" and not key.startswith("labels_"):
            raise ValueError(f"npz:{path}: unknown array {key!r}; an .npz holds images, channel_names, masks, labels "
                             "and labels_<factor>.")
        factor = "label" if key == "labels" else key.removeprefix("labels_")
        if values.shape != (n,):
            raise ValueError(f"npz:{path}: {key!r} must hold one label per image, shape ({n},), got {values.shape}.")
        raw.labels[factor], raw.class_names[factor] = _encode([str(v) for v in values], f"npz:{path} {key!r}")
    return raw


def read_folder(path: str | Path) -> Raw:
    """The TIFF files of a folder, with its sidecar, labels and masks (module docstring), checked."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"folder:{path}: no such folder; give a folder of .tif files.")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in TIFF_SUFFIXES and p.is_file())
    if len(files) < 2:
        raise ValueError(f"folder:{path} holds {len(files)} .tif files; it needs 2 or more, one image per file.")
    sidecar: dict[str, Any] = {}
    if (path / SIDECAR).is_file():
        try:
            sidecar = json.loads((path / SIDECAR).read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"folder:{path}/{SIDECAR} is not valid JSON ({error}); fix or remove it.") from None
        unknown = sorted(set(sidecar) - {"channel_names", "channels_last"})
        if unknown:
            raise ValueError(f"folder:{path}/{SIDECAR} has unknown keys {unknown}; it may hold channel_names and "
                             "channels_last.")
    tifffile = _tifffile()
    images = []
    for file in files:
        image = np.asarray(tifffile.imread(file))
        if image.ndim == 2:
            image = image[None]
        elif image.ndim == 3 and sidecar.get("channels_last"):
            image = np.moveaxis(image, -1, 0)
        if image.ndim != 3 or not np.issubdtype(image.dtype, np.number):
            raise ValueError(f"folder:{path}/{file.name} holds a {image.dtype} array of shape {image.shape}; each file "
                             "must be one image, (C, H, W), (H, W), or (H, W, C) with channels_last.")
        images.append(image)
    counts = sorted({image.shape[0] for image in images})
    if len(counts) > 1:
        raise ValueError(f"folder:{path}: the images have {counts} channels; every image needs the same channels.")
    names = sidecar.get("channel_names") or [f"ch{i}" for i in range(counts[0])]
    if len(names) != counts[0]:
        raise ValueError(f"folder:{path}/{SIDECAR} names {len(names)} channels but the images have {counts[0]}; give "
                         "one name per channel.")
    raw = Raw(images, tuple(str(n) for n in names), names=[f.name for f in files])
    if (path / LABELS).is_file():
        with open(path / LABELS, newline="") as handle:
            rows = list(csv.DictReader(handle))
        header = list(rows[0]) if rows else []
        if "file" not in header or len(header) < 2:
            raise ValueError(f"folder:{path}/{LABELS} needs a header 'file,<factor>,...' and a row per image.")
        by_file = {row["file"]: row for row in rows}
        missing = [name for name in raw.names if name not in by_file]
        if missing:
            raise ValueError(f"folder:{path}/{LABELS} has no row for {len(missing)} images (e.g. {missing[0]!r}); "
                             "give every image a row.")
        for factor in header[1:]:
            raw.labels[factor], raw.class_names[factor] = _encode(
                [by_file[name][factor] for name in raw.names], f"folder:{path}/{LABELS} column {factor!r}")
    if (path / MASKS).is_dir():
        masks = []
        for file, image in zip(files, images):
            mask_file = path / MASKS / file.name
            if not mask_file.is_file():
                raise ValueError(f"folder:{path}/{MASKS} has no mask {file.name!r}; give every image a mask, or "
                                 "remove the masks folder.")
            mask = np.asarray(tifffile.imread(mask_file))
            if mask.shape != image.shape[1:] or not np.issubdtype(mask.dtype, np.integer):
                raise ValueError(f"folder:{path}/{MASKS}/{file.name} must be an integer label map of the image's size "
                                 f"{image.shape[1:]}, got {mask.dtype} {mask.shape}.")
            masks.append(mask)
        raw.masks = masks
    return raw


@functools.lru_cache(maxsize=4)
def read(dataset: str) -> Raw:
    """The images of ``folder:PATH`` or ``npz:PATH``, read once (kept for the session)."""
    if not is_own(dataset):
        raise ValueError(f"dataset={dataset!r} does not name your own images; use folder:PATH or npz:PATH.")
    kind, path = dataset.split(":", 1)
    return read_folder(path) if kind == "folder" else read_npz(path)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images (N, C, H, W) as uint8: kept when uint8, else each channel scaled from its
    0.1th to its 99.9th percentile over all images to 0-255 (a constant channel becomes 0)."""
    if images.dtype == np.uint8:
        return images
    values = images.astype(np.float32)
    out = np.empty(values.shape, dtype=np.uint8)
    for c in range(values.shape[1]):
        channel = values[:, c]
        low, high = np.percentile(channel, [0.1, 99.9])
        scaled = (channel - low) / (high - low) if high > low else np.zeros_like(channel)
        out[:, c] = np.round(np.clip(scaled, 0, 1) * 255)
    return out


def _stack(raw: Raw, size: tuple[int, int] | None, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    shapes = sorted({image.shape[1:] for image in raw.images})
    if size is None and len(shapes) > 1:
        raise ValueError(f"{what}: the images have {len(shapes)} sizes ({shapes[0]} to {shapes[-1]}); resize them "
                         f"with --image-size HxW (image_size=(H, W)), or give images of one size.")
    if size is None:
        return np.stack(raw.images), None if raw.masks is None else np.stack(raw.masks)

    def resized(arrays: list[np.ndarray], mode: str) -> np.ndarray:
        return np.stack([F.interpolate(torch.from_numpy(np.asarray(a, dtype=np.float32))[None], size=size,
                                       mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))[0].numpy()
                         for a in arrays])

    images = resized(raw.images, "bilinear")
    masks = None if raw.masks is None else resized([m[None] for m in raw.masks], "nearest")[:, 0].round()
    return images, masks


@functools.lru_cache(maxsize=4)
def dataset(name: str) -> ChannelDataset:
    """The :class:`ChannelDataset` of your own images: their channels and factors, one
    component per channel by default (or one per mask label where masks are given), and
    :func:`load` as its loader."""
    raw = read(name)
    factors = tuple(raw.labels)
    classes = max((len(raw.class_names[f]) for f in factors), default=2)
    mask_labels = None
    if raw.masks is not None:
        mask_labels = int(max(int(m.max()) for m in raw.masks)) + 1
        if mask_labels < 2:
            raise ValueError(f"{name}: every mask is all 0 (background); masks need labels 1, 2, ... for components.")
    return ChannelDataset(
        name=name, channels=raw.channel_names, factors=factors, num_classes=classes,
        groups=tuple((c,) for c in raw.channel_names), target=factors[0] if factors else "",
        load=functools.partial(load, name), train_set=SET, test_set=SET, mask_labels=mask_labels,
        presets={"fast": {}, "full": {}},
    )


def load(name: str, mode: str | None = None, correlation: float | None = None, seed: int = 0,
         size: tuple[int, int] | None = None, test_fraction: float = 0.2) -> dict[str, dict[str, FactorSet]]:
    """Your own images as ``{"train" | "test": {"all": FactorSet}}``: uint8 (:func:`to_uint8`),
    of one size (``size`` resizes them all), split at random (``seed``) with
    ``test_fraction`` of the images for testing. ``mode`` and ``correlation`` are accepted
    for the loaders' common signature and must be left out (``correlation``: your data has
    the correlations it has)."""
    if correlation is not None:
        raise ValueError(f"{name}: correlation applies to the book's generated data sets, not to your own images; "
                         "drop it.")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"image size {size!r} must be (height, width), both positive.")
    raw = read(name)
    images, masks = _stack(raw, None if size is None else tuple(size), name)
    images = to_uint8(images)
    n = len(images)
    n_test = max(1, round(test_fraction * n))
    if n - n_test < 2:
        raise ValueError(f"{name} holds {n} images: too few to keep {n_test} for testing and train on the rest; "
                         "give at least 3.")
    order = np.random.default_rng(seed).permutation(n)
    out = {}
    for split, index in (("train", order[n_test:]), ("test", order[:n_test])):
        out[split] = {SET: FactorSet(
            torch.from_numpy(np.ascontiguousarray(images[index])),
            {f: torch.from_numpy(y[index]) for f, y in raw.labels.items()}, raw.channel_names, f"{split}/{SET}",
            None if masks is None else torch.from_numpy(masks[index].astype(np.int64)),
            names=tuple(raw.names[i] for i in index))}
    return out
