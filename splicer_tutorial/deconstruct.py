"""Deconstruction: split a batch of images into K components.

SpliCER registers each *component* of an image to its own chunk of the image's
embedding. This module makes the components, batched and on whatever device the images
are on. There are three ways to split an image:

* by **sections** (boxes: the two halves of a domino, a grid of tiles);
* by **channel groups** (marker channels of an immunofluorescence image, spectral bands);
* by **masks** (nuclei vs background; a binary mask per component or one label map).

Layout. Every function returns components stacked on a new axis 1:
``(B, K, C, H, W)``, where component ``k`` comes from the k-th box, channel group or mask
label in the order given. In the **zero-fill** mode (``fill="zero"``, the default) each
component keeps the input's shape and every pixel (or channel) outside it is set to 0, so
the components of a partition sum back to the image. In the **crop** mode
(``fill="crop"``, sections only) component k is cut out to its box, giving
``(B, K, C, h, w)``; all boxes must then have the same size. Cropping halves the pixels
that the encoder sees for two halves, which makes training about twice as fast.

Boxes are ``(top, bottom, left, right)`` in pixels, half-open like Python slices.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .chunks import chunk_sizes, chunk_slices

Box = tuple[int, int, int, int]
FILLS = ("zero", "crop")


def grid_boxes(height: int, width: int, rows: int, cols: int) -> list[Box]:
    """Boxes of a ``rows x cols`` grid over an image, row by row (top-left first).

    ``grid_boxes(64, 32, 2, 1)`` gives the top and bottom halves of a domino. A side that
    does not divide evenly is cut as evenly as it can be
    (:func:`splicer_tutorial.chunks.chunk_sizes`): 3 rows of 32 pixels are 11, 11 and 10.
    """
    for name, value in (("height", height), ("width", width), ("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if rows > height or cols > width:
        raise ValueError(
            f"a {height}x{width} image cannot be cut into a {rows}x{cols} grid of boxes at least "
            f"1 pixel wide; choose at most {height} rows and {width} cols."
        )
    row_cuts, col_cuts = chunk_slices(height, rows), chunk_slices(width, cols)
    return [(r.start, r.stop, c.start, c.stop) for r in row_cuts for c in col_cuts]


def halves(height: int, width: int, direction: str = "top-bottom") -> list[Box]:
    """The two halves of an image: ``"top-bottom"`` (a domino) or ``"left-right"``."""
    if direction == "top-bottom":
        return grid_boxes(height, width, 2, 1)
    if direction == "left-right":
        return grid_boxes(height, width, 1, 2)
    raise ValueError(
        f"direction is {direction!r}; use 'top-bottom' or 'left-right'."
    )


def _check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {shape}.")


def _check_boxes(boxes: Sequence[Box], height: int, width: int) -> None:
    if len(boxes) == 0:
        raise ValueError("boxes is empty; give at least one (top, bottom, left, right) box.")
    for box in boxes:
        if len(box) != 4:
            raise ValueError(f"box {box!r} must be (top, bottom, left, right).")
        top, bottom, left, right = box
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise ValueError(
                f"box {tuple(box)} does not lie inside a {height}x{width} image with "
                "top < bottom and left < right."
            )


def box_masks(boxes: Sequence[Box], height: int, width: int, device=None) -> torch.Tensor:
    """Binary masks ``(K, H, W)`` of the given boxes."""
    _check_boxes(boxes, height, width)
    masks = torch.zeros(len(boxes), height, width, device=device)
    for k, (top, bottom, left, right) in enumerate(boxes):
        masks[k, top:bottom, left:right] = 1.0
    return masks


def by_sections(x: torch.Tensor, boxes: Sequence[Box], fill: str = "zero") -> torch.Tensor:
    """Components from image sections.

    x: (B, C, H, W). Returns (B, K, C, H, W) with ``fill="zero"`` or (B, K, C, h, w)
    with ``fill="crop"`` (all boxes must then be h x w).
    """
    _check_images(x)
    _, _, height, width = x.shape
    _check_boxes(boxes, height, width)
    if fill == "zero":
        masks = box_masks(boxes, height, width, device=x.device).to(x.dtype)
        return x.unsqueeze(1) * masks[None, :, None]
    if fill == "crop":
        sizes = {(b - t, r - l) for t, b, l, r in boxes}
        if len(sizes) > 1:
            raise ValueError(
                f"fill='crop' needs boxes of one size to stack them, got sizes {sorted(sizes)}; "
                "use a grid that divides the image evenly, or fill='zero'."
            )
        return torch.stack([x[:, :, t:b, l:r] for t, b, l, r in boxes], dim=1)
    raise ValueError(f"fill is {fill!r}; use one of {FILLS}.")


def resolve_groups(
    groups: Sequence[Sequence[int | str]], names: Sequence[str] | None = None
) -> tuple[tuple[int, ...], ...]:
    """Channel groups as indices: names (e.g. ``["DAPI"], ["CD3", "CD8"]``) looked up in ``names``.

    Indices pass through unchanged; a name needs ``names`` (the channel names in order).
    Unknown names are an error that lists the known ones.
    """
    resolved = []
    for k, group in enumerate(groups):
        indices = []
        for channel in group:
            if isinstance(channel, str):
                if names is None:
                    raise ValueError(
                        f"groups[{k}] names channel {channel!r}, but no channel names were given; "
                        "pass names=[...] (the image's channel names in order) or use indices."
                    )
                if channel not in names:
                    raise ValueError(f"groups[{k}] names {channel!r}, which is not a channel; channels are {list(names)}.")
                indices.append(list(names).index(channel))
            else:
                indices.append(channel)
        resolved.append(tuple(indices))
    return tuple(resolved)


def by_channels(
    x: torch.Tensor, groups: Sequence[Sequence[int | str]], names: Sequence[str] | None = None
) -> torch.Tensor:
    """Components from channel groups, zero-filled.

    x: (B, C, H, W); ``groups[k]`` lists the channels of component k, as indices or, with
    ``names`` (the C channel names), as names; groups must not overlap (a channel in two
    components would be registered to two chunks).
    Returns (B, K, C, H, W) where component k keeps its channels and zeros the others,
    so every component can go through the same C-channel encoder as the image.
    """
    _check_images(x)
    channels = x.shape[1]
    if len(groups) == 0:
        raise ValueError("groups is empty; give at least one list of channel indices.")
    if names is not None and len(names) != channels:
        raise ValueError(f"names lists {len(names)} channels but x has {channels}; give one name per channel.")
    groups = resolve_groups(groups, names)
    keep = torch.zeros(len(groups), channels, dtype=x.dtype, device=x.device)
    taken: set[int] = set()
    for k, group in enumerate(groups):
        group = list(group)
        bad = [c for c in group if isinstance(c, bool) or not (isinstance(c, int) and 0 <= c < channels)]
        if not group or bad:
            raise ValueError(
                f"groups[{k}] = {group!r} must be a non-empty list of channel indices in "
                f"0..{channels - 1} (x has {channels} channels)."
            )
        shared = sorted(taken.intersection(group))
        taken.update(group)
        if shared:
            raise ValueError(
                f"groups[{k}] = {group!r} repeats channels {shared} of an earlier group; "
                "give each channel to one component only."
            )
        keep[k, group] = 1.0
    return x.unsqueeze(1) * keep[None, :, :, None, None]


def by_masks(
    x: torch.Tensor, masks: torch.Tensor, num_labels: int | None = None
) -> torch.Tensor:
    """Components from segmentation masks, zero-filled.

    x: (B, C, H, W). ``masks`` is either

    * a float/bool stack of K masks, (B, K, H, W), values in [0, 1] (soft masks allowed), or
    * an integer label map (B, H, W) with labels ``0..num_labels-1``; component k is label k.

    Returns (B, K, C, H, W).
    """
    _check_images(x)
    batch, _, height, width = x.shape
    if masks.ndim == 3:
        if masks.dtype.is_floating_point or masks.dtype == torch.bool:
            raise ValueError(
                f"a (B, H, W) label map must hold integer labels, got dtype {masks.dtype}; "
                "pass binary masks as (B, K, H, W) instead."
            )
        if num_labels is None:
            raise ValueError("num_labels is needed with a label map, e.g. num_labels=2.")
        if masks.numel() and (masks.min() < 0 or masks.max() >= num_labels):
            raise ValueError(
                f"masks holds labels {int(masks.min())}..{int(masks.max())}, outside "
                f"0..{num_labels - 1}; raise num_labels or fix the label map."
            )
        masks = F.one_hot(masks.long(), num_labels).permute(0, 3, 1, 2)
    elif masks.ndim != 4:
        raise ValueError(
            f"masks must be (B, K, H, W) binary masks or a (B, H, W) label map, got {tuple(masks.shape)}."
        )
    elif masks.numel() and masks.dtype != torch.bool and not bool(((masks >= 0) & (masks <= 1)).all()):
        raise ValueError(
            f"(B, K, H, W) masks must hold values in [0, 1] (soft masks allowed), got values from "
            f"{float(masks.min()):g} to {float(masks.max()):g}; scale them into [0, 1], or pass integer labels "
            "as a (B, H, W) label map with num_labels."
        )
    if masks.shape[0] != batch or masks.shape[-2:] != (height, width):
        raise ValueError(
            f"masks of shape {tuple(masks.shape)} do not match images of shape {tuple(x.shape)}: "
            "batch, height and width must agree."
        )
    return x.unsqueeze(1) * masks.to(device=x.device, dtype=x.dtype).unsqueeze(2)


@functools.lru_cache(maxsize=16)
def random_block_masks(height: int, width: int, block: int, seed: int = 0) -> torch.Tensor:
    """Two complementary masks ``(2, H, W)`` of ``block x block`` squares, drawn at random:
    a split that follows no feature of the image.

    Every row of blocks gives half its blocks to each mask (the odd one out, if any, to a
    random side), so each component holds an equal share of every horizontal band of the
    image: of a domino, half the digit's blocks and half the object's. ``seed`` fixes the
    draw (the same mask for every image and every run with that seed). The result is
    cached: treat it as read-only.
    """
    for name, value in (("height", height), ("width", width), ("block", block)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if height % block or width % block or width // block < 2:
        raise ValueError(f"random mask block={block}: blocks must divide the {height}x{width} image into rows of at "
                         f"least 2 blocks; choose a block size that divides both sides, at most {width // 2}.")
    rows, cols = height // block, width // block
    generator = torch.Generator().manual_seed(seed)
    first = torch.zeros(rows, cols)
    for row in range(rows):
        share = cols // 2 + int(cols % 2 and torch.rand((), generator=generator) < 0.5)
        first[row, torch.randperm(cols, generator=generator)[:share]] = 1.0
    first = first.repeat_interleave(block, 0).repeat_interleave(block, 1)
    return torch.stack([first, 1 - first])


def channel_mask(groups: Sequence[Sequence[int]], channels: int, device=None) -> torch.Tensor:
    """(K, C, 1, 1) float mask: 1 where channel c belongs to group k (for re-masking)."""
    keep = torch.zeros(len(groups), channels, 1, 1, device=device)
    for k, group in enumerate(groups):
        keep[k, list(group)] = 1.0
    return keep


def split(
    x: torch.Tensor,
    sections: tuple[int, int] = (2, 1),
    fill: str = "zero",
    groups: Sequence[Sequence[int]] | None = None,
    random_mask: int | None = None,
) -> torch.Tensor:
    """The components a training run uses: channel ``groups`` when given, else a random
    mask when ``random_mask`` (its block size) is given, else sections.

    x: (B, C, H, W). With ``groups``, :func:`by_channels` (zero-filled); with
    ``random_mask``, the two halves of :func:`random_block_masks` (zero-filled); otherwise
    a ``sections = (rows, cols)`` grid of boxes (:func:`grid_boxes`) with ``fill``.
    Returns (B, K, C, h, w).
    """
    if groups:
        return by_channels(x, groups)
    _check_images(x)
    if random_mask:
        masks = random_block_masks(x.shape[2], x.shape[3], random_mask).to(x.device)
        return by_masks(x, masks.expand(x.shape[0], -1, -1, -1))
    return by_sections(x, grid_boxes(x.shape[2], x.shape[3], *sections), fill)


@dataclass(frozen=True)
class Components:
    """How a run splits each image into K components, and the chunk of the embedding each gets.

    One record, validated here and nowhere else, of what
    :class:`~splicer_tutorial.training.TrainConfig` holds about components (it keeps the
    same fields flat, as every result file stores them; ``config.components`` is this).
    The kind is ``masks`` when ``mask_labels`` is set, ``channels`` when ``groups`` are,
    ``random_mask`` when ``random_mask`` is, and ``sections`` otherwise.

    Attributes:
        sections: (rows, cols) of a grid of boxes (:func:`grid_boxes`); (2, 1): a domino's halves.
        fill: ``zero`` or ``crop`` (sections only).
        groups: channel groups, as channel indices (:func:`resolve_groups` turns names into them).
        mask_labels: labels 0..K-1 of a per-image label map (:func:`by_masks`).
        mask_background: with ``mask_labels``, keep label 0 as a component.
        chunk_sizes: unequal chunks of the embedding (default: as equal as they can be,
            :func:`splicer_tutorial.chunks.chunk_sizes`).
        same_geometry: augment components with the primary view's crop and flip.
        random_mask: the block size of two components cut by a fixed random mask
            (:func:`random_block_masks`): a split that follows no feature.
    """

    sections: tuple[int, int] = (2, 1)
    fill: str = "zero"
    groups: tuple[tuple[int, ...], ...] | None = None
    mask_labels: int | None = None
    mask_background: bool = True
    chunk_sizes: tuple[int, ...] | None = None
    same_geometry: bool = False
    random_mask: int | None = None

    def __post_init__(self) -> None:
        sections = tuple(self.sections)
        if len(sections) != 2 or any(not isinstance(n, int) or n < 1 for n in sections):
            raise ValueError(f"sections must be (rows, cols) of positive ints, got {self.sections!r}.")
        object.__setattr__(self, "sections", sections)
        if self.fill not in FILLS:
            raise ValueError(f"fill is {self.fill!r}; use one of {FILLS}.")
        if self.mask_labels is not None and (self.mask_labels < 2 or self.groups is not None or self.fill != "zero"):
            raise ValueError(
                f"mask_labels={self.mask_labels!r}: mask components need at least 2 labels (e.g. 2: "
                "background and nuclei), no channel groups, and fill='zero'."
            )
        if self.groups is not None:
            if len(self.groups) == 0 or any(len(g) == 0 for g in self.groups):
                raise ValueError(f"groups must be non-empty lists of channels, got {self.groups!r}.")
            if self.fill != "zero":
                raise ValueError("channel groups are zero-filled components; leave fill='zero' with groups.")
        if self.random_mask is not None and (isinstance(self.random_mask, bool) or not isinstance(self.random_mask, int)
                                             or self.random_mask < 1 or self.groups is not None
                                             or self.mask_labels is not None or self.fill != "zero"):
            raise ValueError(f"random_mask={self.random_mask!r}: a random mask needs a positive block size in "
                             "pixels, no channel groups or mask labels, and fill='zero'.")
        if self.chunk_sizes is not None:
            object.__setattr__(self, "chunk_sizes", tuple(int(c) for c in self.chunk_sizes))

    @property
    def kind(self) -> str:
        """``masks``, ``channels``, ``random_mask`` or ``sections``."""
        if self.mask_labels:
            return "masks"
        return "channels" if self.groups else "random_mask" if self.random_mask else "sections"

    @property
    def count(self) -> int:
        """K, the number of components."""
        if self.mask_labels:
            return self.mask_labels - (0 if self.mask_background else 1)
        if self.random_mask:
            return 2
        return len(self.groups) if self.groups else self.sections[0] * self.sections[1]

    def chunks(self, dim: int) -> tuple[int, ...]:
        """The sizes of the K chunks of a ``dim``-dimensional embedding: ``chunk_sizes``
        (checked), or as equal as they can be."""
        return chunk_sizes(dim, self.count, self.chunk_sizes)

    def split(self, x: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """The components of images x (B, C, H, W): (B, K, C, h, w). ``masks``: the (B, H, W)
        label maps of x, for mask components (without ``mask_background``, label 0 makes none)."""
        if self.mask_labels:
            if masks is None:
                raise ValueError("this run's components come from masks (mask_labels is set); pass masks=.")
            parts = by_masks(x, masks, self.mask_labels)
            return parts if self.mask_background else parts[:, 1:]
        return split(x, self.sections, self.fill, self.groups, self.random_mask)

    def describe(self, channel_names: Sequence[str] | None = None) -> dict:
        """The components in words a reader of a result file can check: the kind, its
        grid and fill, groups (by name when ``channel_names`` are given) or labels, and the count."""
        if self.kind == "masks":
            described = {"kind": "masks", "labels": self.mask_labels, "background": self.mask_background}
        elif self.kind == "channels":
            described = {"kind": "channels", "groups": [[channel_names[c] if channel_names else c for c in group]
                                                        for group in self.groups]}
        elif self.kind == "random_mask":
            described = {"kind": "random_mask", "block": self.random_mask}
        else:
            described = {"kind": "sections", "grid": list(self.sections), "fill": self.fill}
        described["count"] = self.count
        return described
