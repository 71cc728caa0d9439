"""Mask quality: noise operators for segmentation masks, IoU, and a verdict on how much it matters.

SpliCER with masks is only as good as its masks. To measure how much mask quality
matters, this module degrades a good mask in controlled ways, each with one knob:

* **dilate** by a disc of radius ``r`` pixels (masks too large: nuclei bleed into stroma);
* **erode** by a disc of radius ``r`` (masks too small: nuclei rims are lost);
* **drop** each object with probability ``p`` (missed objects: false negatives);
* **add** false-positive blobs, about ``p`` times as many as there are true objects
  (spurious objects in the background).

Masks are torch tensors, batched: a **binary mask** is (N, H, W) ``bool`` (or integer,
nonzero = foreground); a **label map** is (N, H, W) integer, 0 the background and 1..M the
objects (instances). Every operator works on a whole batch at once, on any device, with
no per-image Python loop.

Conventions, all written down:

* The disc of radius ``r`` is ``{(dy, dx): dy^2 + dx^2 <= r^2}``, as
  ``skimage.morphology.disk(r)``; ``r = 0`` is the identity and ``r`` may be fractional.
* :func:`dilate` on a label map grows every object into the **background** only: a
  background pixel within ``r`` of an object takes the largest label within ``r`` (where
  two objects grow into the same pixel the larger label wins); object pixels keep their
  label. On a binary mask this is ordinary binary dilation.
* :func:`erode` keeps a pixel's label when every pixel of the disc around it that lies in
  the image has the same label; pixels outside the image count as the same label (so a
  mask that fills the image stays full, and objects cut by the border are not eaten from
  it). Touching objects therefore separate. On a binary mask this is ordinary binary
  erosion with the border as foreground.
* :func:`drop_objects` keeps the labels of the objects it keeps (no renumbering; gaps allowed).
* :func:`add_objects` draws, per image, ``floor(p m + u)`` blobs, ``m`` the number of
  true objects and ``u ~ U(0, 1)`` (so ``p m`` on average); each is a disc centred on a
  background pixel drawn uniformly, with the image's mean object radius (the radius of a
  disc of the mean object area) unless ``radius`` is given, painted into background
  pixels only, with new labels above the image's largest. The same seed draws the same
  centres and the same ``u`` for every ``p``, so a larger ``p`` adds a superset of blobs.
* :func:`iou` of two empty masks is 1 (they agree perfectly).

With one seed, every operator is **monotone** in its level: dilation and erosion are
nested in ``r``, and drop and add are nested in ``p``; so the IoU with the clean mask
falls as the level grows (:func:`degrade`).

:func:`quality_verdict` turns seeded runs (SpliCER trained on each mask source, and the
baseline) into an answer: down to which mask IoU SpliCER's gain stands clear of seed noise.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

#: The kinds of mask noise :func:`degrade` knows: ``level`` is a radius ``r`` for the first
#: two, a probability ``p`` for the others.
NOISE_KINDS = ("dilate", "erode", "drop", "add")


# ------------------------------------------------------------------------- checks


def _check_masks(masks: torch.Tensor, name: str, labels: bool = False) -> None:
    """A batched (N, H, W) bool or integer mask (integer only when ``labels``)."""
    if not isinstance(masks, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (N, H, W), got {type(masks).__name__}.")
    if masks.ndim != 3:
        raise ValueError(
            f"{name} must be batched (N, H, W), got shape {tuple(masks.shape)}; "
            f"add a batch axis with {name}[None] for a single mask."
        )
    if masks.dtype.is_floating_point or masks.dtype.is_complex:
        raise ValueError(
            f"{name} must be a bool mask or an integer label map, got dtype {masks.dtype}; "
            f"threshold soft masks first, e.g. {name} > 0.5."
        )
    if labels and masks.dtype == torch.bool:
        raise ValueError(
            f"{name} must be an integer label map (0 background, 1..M objects), got a bool mask; "
            f"label its connected components first (e.g. skimage.measure.label), or use {name}.long() "
            "to treat all foreground as one object."
        )
    if masks.dtype != torch.bool and masks.numel() and int(masks.min()) < 0:
        raise ValueError(
            f"{name} holds negative labels ({int(masks.min())}); labels must be 0 (background) or positive."
        )


def _check_radius(r: float, name: str = "r") -> float:
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r < 0:
        raise ValueError(f"{name} must be a non-negative number of pixels (0: no change), got {r!r}.")
    return float(r)


def _check_probability(p: float, name: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
    return float(p)


# ------------------------------------------------------------------------- IoU


def to_binary(labels: torch.Tensor) -> torch.Tensor:
    """A label map (or a mask) (N, H, W) -> the bool foreground mask (N, H, W)."""
    _check_masks(labels, "labels")
    return labels != 0


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image intersection over union of two binary masks (N, H, W) -> (N,) float.

    Integer label maps count as their foreground (nonzero). Two empty masks have IoU 1.
    """
    _check_masks(a, "a")
    _check_masks(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    a, b = a != 0, b != 0
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


# ------------------------------------------------------------------------- morphology


def disc(r: float) -> torch.Tensor:
    """The disc footprint of radius ``r``: bool (2k+1, 2k+1), ``k = floor(r)``."""
    r = _check_radius(r)
    k = int(math.floor(r))
    d = torch.arange(-k, k + 1, dtype=torch.float64)
    return d[:, None] ** 2 + d[None, :] ** 2 <= r * r


def _disc_max(x: torch.Tensor, r: float) -> torch.Tensor:
    """Max of x (N, H, W) float over the disc of radius r around every pixel, outside = -inf.

    A disc is a stack of horizontal segments, one per row offset ``dy``, of half-width
    ``floor(sqrt(r^2 - dy^2))``: one 1-d max-pool per row offset, shifted and maxed.
    """
    k = int(math.floor(r))
    height = x.shape[1]
    padded = F.pad(x[:, None], (0, 0, k, k), value=-math.inf)
    out = None
    for dy in range(-k, k + 1):
        w = int(math.floor(math.sqrt(max(r * r - dy * dy, 0.0))))
        rows = padded[:, :, k + dy:k + dy + height]
        pooled = F.max_pool2d(rows, (1, 2 * w + 1), stride=1, padding=(0, w)) if w else rows
        out = pooled if out is None else torch.maximum(out, pooled)
    return out[:, 0]


def dilate(mask: torch.Tensor, r: float) -> torch.Tensor:
    """Dilate a binary mask or a label map (N, H, W) by a disc of radius ``r``.

    Objects grow into the background only (module docstring); same dtype out. ``r = 0``
    returns a copy.
    """
    _check_masks(mask, "mask")
    r = _check_radius(r)
    if r < 1 or mask.numel() == 0:
        return mask.clone()
    grown = _disc_max(mask.float(), r).to(mask.dtype)
    return torch.where(mask != 0, mask, grown)


def erode(mask: torch.Tensor, r: float) -> torch.Tensor:
    """Erode a binary mask or a label map (N, H, W) by a disc of radius ``r``.

    A pixel keeps its label when the whole disc around it (inside the image) has that
    label (module docstring); same dtype out. ``r = 0`` returns a copy.
    """
    _check_masks(mask, "mask")
    r = _check_radius(r)
    if r < 1 or mask.numel() == 0:
        return mask.clone()
    x = mask.float()
    same = (_disc_max(x, r) == x) & (-_disc_max(-x, r) == x)
    return torch.where(same, mask, torch.zeros_like(mask))


# ------------------------------------------------------------------------- objects


def _object_counts(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: the number of distinct objects (N,) and the number of object pixels (N,)."""
    n = labels.shape[0]
    top = int(labels.max()) if labels.numel() else 0
    present = torch.zeros(n, top + 1, dtype=torch.bool, device=labels.device)
    present.scatter_(1, labels.flatten(1).long(), True)
    return present[:, 1:].sum(1), (labels != 0).flatten(1).sum(1)


def drop_objects(labels: torch.Tensor, p: float, seed: int = 0) -> torch.Tensor:
    """Remove each object of a label map (N, H, W) with probability ``p``.

    Kept objects keep their labels. ``p = 0``: a copy; ``p = 1``: all background. One
    uniform draw per (image, label), so with one seed a larger ``p`` drops a superset.
    """
    _check_masks(labels, "labels", labels=True)
    p = _check_probability(p)
    if labels.numel() == 0:
        return labels.clone()
    g = torch.Generator().manual_seed(seed)
    top = int(labels.max())
    keep = torch.rand(labels.shape[0], top + 1, generator=g) >= p
    keep[:, 0] = True
    keep = keep.to(labels.device)
    kept = torch.gather(keep, 1, labels.flatten(1).long()).view_as(labels)
    return torch.where(kept, labels, torch.zeros_like(labels))


def add_objects(labels: torch.Tensor, p: float, seed: int = 0, radius: float | None = None) -> torch.Tensor:
    """Add false-positive blobs to a label map (N, H, W): about ``p`` x the true objects.

    Per image, ``floor(p m + u)`` discs (``m`` objects, ``u ~ U(0, 1)``), each centred on a
    background pixel, of ``radius`` pixels (default: the radius of a disc of the image's
    mean object area, at least 1), painted into background pixels only, with new labels
    above the image's largest label (module docstring).
    """
    _check_masks(labels, "labels", labels=True)
    p = _check_probability(p)
    if radius is not None:
        radius = _check_radius(radius, "radius")
    out = labels.clone()
    if labels.numel() == 0:
        return out
    n, height, width = labels.shape
    device = labels.device
    g = torch.Generator().manual_seed(seed)
    objects, area = _object_counts(labels)
    slots = max(int(objects.max()), 1)
    u = torch.rand(n, generator=g).to(device)
    count = torch.floor(p * objects.float() + u).long().clamp(max=slots)
    if radius is None:
        mean_area = area.float() / objects.clamp(min=1).float()
        r = torch.sqrt(mean_area / math.pi).clamp(min=1.0)
    else:
        r = torch.full((n,), radius, device=device)
    # centres: distinct pixels, background ones much more likely (all of them if there are enough)
    weights = (labels == 0).flatten(1).float().cpu() + 1e-9
    centres = torch.multinomial(weights, min(slots, height * width), replacement=False, generator=g).to(device)
    yy = torch.arange(height, device=device).view(1, height, 1)
    xx = torch.arange(width, device=device).view(1, 1, width)
    top = labels.flatten(1).amax(1)
    for k in range(centres.shape[1]):
        cy, cx = (centres[:, k] // width).view(n, 1, 1), (centres[:, k] % width).view(n, 1, 1)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r.view(n, 1, 1) ** 2
        on_background = labels.flatten(1).gather(1, centres[:, k:k + 1]) == 0  # (n, 1)
        active = (k < count).view(n, 1) & on_background
        paint = inside & (out == 0) & active.view(n, 1, 1)
        out = torch.where(paint, (top + 1 + k).view(n, 1, 1).to(out.dtype), out)
    return out


def degrade(labels: torch.Tensor, kind: str, level: float, seed: int = 0) -> torch.Tensor:
    """A label map (N, H, W) with noise of ``kind`` (:data:`NOISE_KINDS`) at ``level``.

    ``level`` is the disc radius ``r`` in pixels for ``"dilate"`` and ``"erode"``, the
    probability ``p`` for ``"drop"`` and ``"add"``. Returns a label map of the same dtype
    (compare with :func:`iou` after :func:`to_binary`).
    """
    if kind == "dilate":
        return dilate(labels, level)
    if kind == "erode":
        return erode(labels, level)
    if kind == "drop":
        return drop_objects(labels, level, seed)
    if kind == "add":
        return add_objects(labels, level, seed)
    raise ValueError(f"kind is {kind!r}; use one of {NOISE_KINDS}.")


# ------------------------------------------------------------------------- the verdict


def quality_verdict(baseline: Sequence[float], by_source: Mapping[str, Sequence[tuple[float, float]]],
                    z: float = 2.0) -> dict[str, Any]:
    """At what mask quality does SpliCER stop helping? An answer from seeded runs.

    ``baseline``: the baseline's probe accuracy, one per seed; ``by_source``:
    ``{mask source: [(mask IoU, SpliCER's accuracy), one per seed]}``. A source **helps**
    when SpliCER's mean gain over the baseline exceeds ``z`` standard errors of the
    difference of two means, ``sqrt(s_a^2 / n_a + s_b^2 / n_b)`` (sample standard
    deviations over seeds). Every source needs at least two seeds, or the noise is unknown.

    Returns ``{"rows": [{source, iou, gain, se, helps}, ...] sorted by IoU, best first,
    "lowest_helping_iou": the lowest IoU that still helps (None if none does),
    "verdict": one sentence}``. The verdict names the sources that help; when helping and
    non-helping sources interleave in IoU, it says so instead of claiming a threshold.
    """
    base = [float(a) for a in baseline]
    if len(base) < 2:
        raise ValueError(f"baseline has {len(base)} seed(s); the verdict needs at least 2 to estimate the noise.")
    if not by_source:
        raise ValueError("by_source is empty; give {mask source: [(IoU, accuracy), ...]} for at least one source.")

    base_mean, base_var = statistics.fmean(base), statistics.variance(base)
    rows = []
    for source, runs in by_source.items():
        if len(runs) < 2:
            raise ValueError(f"source {source!r} has {len(runs)} seed(s); the verdict needs at least 2 per source.")
        ious, accs = zip(*runs)
        acc_mean, acc_var = statistics.fmean(accs), statistics.variance(accs)
        se = math.sqrt(acc_var / len(accs) + base_var / len(base))
        gain = acc_mean - base_mean
        rows.append({"source": source, "iou": statistics.fmean(ious), "gain": gain, "se": se,
                     "helps": gain > z * se})
    rows.sort(key=lambda row: -row["iou"])
    helping = [row for row in rows if row["helps"]]
    if not helping:
        verdict = (f"No mask source helped, not even the best (IoU {rows[0]['iou']:.2f}): SpliCER's gain "
                   f"is within {z:g} standard errors of the baseline for every source.")
        lowest = None
    else:
        lowest = min(row["iou"] for row in helping)
        interleaved = any(not row["helps"] and row["iou"] > lowest for row in rows)
        names = ", ".join(f"{row['source']} (IoU {row['iou']:.2f}, {row['gain']:+.3f})" for row in helping)
        if interleaved:
            verdict = (f"SpliCER helped with {names}, but not with every source of higher IoU: IoU alone does "
                       "not decide it here; the kind of mask error matters.")
        elif len(helping) == len(rows):
            verdict = (f"SpliCER helped with every source, down to IoU {lowest:.2f}: {names}. "
                       "It did not stop helping within the range measured.")
        else:
            worst = max((row for row in rows if not row["helps"]), key=lambda row: row["iou"])
            verdict = (f"SpliCER helped down to IoU {lowest:.2f} ({names}) and stopped helping by IoU "
                       f"{worst['iou']:.2f} ({worst['source']}, {worst['gain']:+.3f} ± {worst['se']:.3f}).")
    return {"rows": rows, "lowest_helping_iou": lowest, "verdict": verdict}
