"""Synthetic multiplex immunofluorescence: one cell per crop, many channels, known cell types.

No multiplex data set can be had offline, so this module draws one, with every generative
choice written down here. Each image is a ``size x size`` field of view centred on one
cell, with :data:`CHANNELS`:

* ``DAPI``: the nucleus, bright (0.6-0.9), with a smooth chromatin texture;
* ``membrane``: a pan-membrane stain, a ring of width about ``size / 20`` at the cell edge;
* four **markers**, ``CD3``, ``CD4``, ``CD8``, ``CD20``: dim (peak 0.12-0.25). Each cell
  type (:data:`CELL_TYPES`) switches on a combination of markers, each with a
  **localisation** (membrane ring, cytoplasm, or nucleus) and a **texture** (smooth or
  punctate: a few bright dots);
* ``nuisance``: a bright channel (0.8-1.0) with a bar at one of four orientations: an easy
  factor with 4 classes, correlated with the cell type at rate ``correlation`` in
  training and independent in test.

Geometry: the cell is an ellipse with semi-axes ``r * (1 +/- e)``, ``r`` uniform in
``size * (0.26, 0.34)``, ``e`` in (0, 0.15), at a random angle, its centre within
``size / 16`` of the middle; the nucleus is the same ellipse scaled by 0.55. Every marker
channel carries autofluorescence (Gaussian noise, sd 0.02, plus a 0.03 cytoplasm glow)
whether the marker is on or not, so "off" is not exactly 0. Everything is drawn from one
seeded generator, batched in torch; 2,000 crops at 32x32 take well under a second.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from . import config as config_module
from .factorsets import ChannelDataset, FactorSet, correlated_and_independent, correlated_labels

CHANNELS = ("DAPI", "membrane", "CD3", "CD4", "CD8", "CD20", "nuisance")
MARKERS = ("CD3", "CD4", "CD8", "CD20")
FACTORS = ("cell_type", "nuisance")
#: The default components: structure (nucleus and membrane), the four dim markers, and the
#: bright nuisance channel.
GROUPS = (("DAPI", "membrane"), MARKERS, ("nuisance",))
VARIANTS = ("correlated", "independent")

#: Cell types: ``{name: {marker: (localisation, texture)}}``. T-helper and cytotoxic T
#: cells share CD3 and differ only in a dim second marker (the T-cell subtyping task of
#: the SpliCER paper); the two B-cell types differ in CD20's localisation and texture.
CELL_TYPES: dict[str, dict[str, tuple[str, str]]] = {
    "T helper": {"CD3": ("membrane", "smooth"), "CD4": ("membrane", "smooth")},
    "cytotoxic T": {"CD3": ("membrane", "smooth"), "CD8": ("cytoplasm", "punctate")},
    "B cell": {"CD20": ("membrane", "smooth")},
    "plasma-like B": {"CD20": ("cytoplasm", "punctate"), "CD4": ("nucleus", "smooth")},
}
NUISANCE_CLASSES = 4

PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"size": 16, "n_train": 2000, "n_test": 1000},
    "full": {"size": 48, "n_train": 8000, "n_test": 2000},
}


def _smooth_noise(shape: tuple[int, ...], size: int, generator: torch.Generator) -> torch.Tensor:
    """Noise (N, size, size) smoothed by a 5x5 box filter twice, scaled to [0, 1]."""
    noise = torch.rand(shape[0], 1, size, size, generator=generator)
    for _ in range(2):
        noise = F.avg_pool2d(F.pad(noise, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    low = noise.amin(dim=(2, 3), keepdim=True)
    high = noise.amax(dim=(2, 3), keepdim=True)
    return ((noise - low) / (high - low + 1e-6))[:, 0]


def _punctate(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """About ``size`` bright dots per crop, each a 3x3 blur of one pixel: (N, size, size)."""
    dots = (torch.rand(n, 1, size, size, generator=generator) < 1.0 / size).float()
    dots = F.avg_pool2d(F.pad(dots, (1, 1, 1, 1)), 3, stride=1) * 9
    return dots.clamp(0, 1)[:, 0]


def make_multiplex(
    n: int, correlation: float, size: int = 24, seed: int = 0, name: str = ""
) -> FactorSet:
    """``n`` synthetic multiplex crops (module docstring), as a :class:`FactorSet`.

    Factors: ``cell_type`` (4 classes, :data:`CELL_TYPES` in order, balanced) and
    ``nuisance`` (4 bar orientations); with probability ``correlation`` the nuisance class
    equals the cell type. Images: (n, 7, size, size) uint8.
    """
    if not 0 <= correlation <= 1:
        raise ValueError(f"correlation must be in [0, 1], got {correlation}.")
    if size < 12:
        raise ValueError(f"size must be at least 12 pixels to draw a cell, got {size}.")
    g = torch.Generator().manual_seed(seed)
    cell_type, nuisance = correlated_labels(n, len(CELL_TYPES), NUISANCE_CLASSES, correlation, g)

    # geometry: an ellipse per cell, its nucleus the same ellipse scaled by 0.55
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    uniform = lambda low, high: low + (high - low) * torch.rand(n, 1, 1, generator=g)  # noqa: E731
    radius = uniform(0.26 * size, 0.34 * size)
    stretch = uniform(0.0, 0.15)
    angle = uniform(0.0, math.pi)
    cy, cx = uniform(-size / 16, size / 16), uniform(-size / 16, size / 16)
    u = (xx - cx) * torch.cos(angle) + (yy - cy) * torch.sin(angle)
    v = -(xx - cx) * torch.sin(angle) + (yy - cy) * torch.cos(angle)
    distance = torch.sqrt((u / (radius * (1 + stretch))) ** 2 + (v / (radius * (1 - stretch))) ** 2)
    cell = (distance <= 1).float()
    nucleus = (distance <= 0.55).float()
    ring_width = max(size / 20, 1.0) / radius
    membrane = ((distance <= 1) & (distance >= 1 - ring_width)).float()
    cytoplasm = cell - nucleus - membrane * (1 - nucleus)
    cytoplasm = cytoplasm.clamp(0, 1)
    where = {"membrane": membrane, "cytoplasm": cytoplasm, "nucleus": nucleus}

    channels = {
        "DAPI": nucleus * uniform(0.6, 0.9) * (0.6 + 0.4 * _smooth_noise((n,), size, g)),
        "membrane": membrane * uniform(0.4, 0.6),
    }
    for marker in MARKERS:
        signal = torch.zeros(n, size, size)
        for k, pattern in enumerate(CELL_TYPES.values()):
            if marker not in pattern:
                continue
            localisation, texture = pattern[marker]
            mask = where[localisation]
            texture_map = _punctate(n, size, g) if texture == "punctate" else 0.7 + 0.3 * _smooth_noise((n,), size, g)
            on = (cell_type == k).float()[:, None, None]
            signal = signal + on * mask * texture_map * uniform(0.12, 0.25)
        glow = 0.03 * cytoplasm + 0.02 * torch.randn(n, size, size, generator=g)
        channels[marker] = signal + glow

    # the nuisance: a bright bar through the middle at one of four orientations
    theta = nuisance.float()[:, None, None] * math.pi / NUISANCE_CLASSES
    across = (xx * torch.sin(theta) - yy * torch.cos(theta)).abs()
    channels["nuisance"] = (across <= size / 10).float() * uniform(0.8, 1.0)

    images = torch.stack([channels[c] for c in CHANNELS], dim=1)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    return FactorSet(images, {"cell_type": cell_type.long(), "nuisance": nuisance.long()}, CHANNELS, name)


def load_multiplex(
    mode: str | None = None, correlation: float = 1.0, seed: int = 0, **overrides: Any
) -> dict[str, dict[str, FactorSet]]:
    """Synthetic multiplex crops of a mode's preset: ``{"train"|"test": {variant: set}}``.

    Variants: ``correlated`` (nuisance = cell type with probability ``correlation``) and
    ``independent``. Every set has its own seed, so no crop is repeated.
    """
    return correlated_and_independent(make_multiplex, {**PRESETS[config_module.mode(mode)], **overrides},
                                      correlation, seed)


#: Channels that carry nothing: a failed stain's autofluorescence, dim noise of its own in every pixel.
NOISE_CHANNELS = ("noise1", "noise2")
#: The components of the cells with useless channels: the cell (structure and markers), the
#: nuisance, and one component per noise channel (K = 4).
NOISE_GROUPS = (("DAPI", "membrane", *MARKERS), ("nuisance",), *((c,) for c in NOISE_CHANNELS))


def with_noise_channels(data: FactorSet, seed: int) -> FactorSet:
    """``data`` with the :data:`NOISE_CHANNELS` appended: independent Gaussian noise in every
    pixel (mean 0.1, sd 0.05, on the 0-1 scale), unrelated to every factor. The other
    channels are left exactly as they were. Images (N, C + 2, H, W)."""
    n, _, height, width = data.images.shape
    g = torch.Generator().manual_seed(seed)
    noise = (0.1 + 0.05 * torch.randn(n, len(NOISE_CHANNELS), height, width, generator=g)).clamp(0, 1)
    images = torch.cat([data.images, (noise * 255).round().to(torch.uint8)], dim=1)
    return FactorSet(images, data.factors, (*data.channel_names, *NOISE_CHANNELS), data.name, data.masks)


def load_multiplex_noise(
    mode: str | None = None, correlation: float = 1.0, seed: int = 0, **overrides: Any
) -> dict[str, dict[str, FactorSet]]:
    """:func:`load_multiplex`'s cells, unchanged, with two noise channels (:func:`with_noise_channels`)
    appended to every set, each set's noise from its own seed."""
    data = load_multiplex(mode, correlation, seed, **overrides)
    return {split: {variant: with_noise_channels(s, seed=seed * 1000 + 500 + 10 * i + k)
                    for k, (variant, s) in enumerate(sets.items())}
            for i, (split, sets) in enumerate(data.items())}


#: The multiplex cells for :func:`splicer_tutorial.channels.run` and ``run --dataset multiplex``.
DATASET = ChannelDataset(
    target="cell_type",
    name="multiplex", channels=CHANNELS, factors=FACTORS, num_classes=len(CELL_TYPES), groups=GROUPS,
    load=load_multiplex, presets=PRESETS,
)

#: The same cells with two useless noise channels, each its own component by default
#: (``run --dataset multiplex_noise``): does a component that carries nothing cost the others?
NOISE_DATASET = ChannelDataset(
    target="cell_type",
    name="multiplex_noise", channels=CHANNELS + NOISE_CHANNELS, factors=FACTORS, num_classes=len(CELL_TYPES),
    groups=NOISE_GROUPS, load=load_multiplex_noise, presets=PRESETS,
)
