"""Multi-channel data sets with known factors: their container and description.

The data layer of the channel toy, the synthetic multiplex cells, the synthetic
multispectral tiles and the H&E tiles: each is a :class:`FactorSet` (uint8 images
(N, C, H, W) with named channels and one label per factor), in a ``correlated`` training
variant (the easy factor predicts the hard one) and an ``independent`` test variant
(every factor drawn on its own). A :class:`ChannelDataset` says what one such data set
is: its channels, factors, default components, loader and augmentation. The helpers
below are shared by the generators. Nothing here trains or probes: that is
:mod:`splicer_tutorial.channels`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .dominoes import subset_index


@dataclass
class FactorSet:
    """Images with one label per factor.

    Attributes:
        images: (N, C, H, W) uint8.
        factors: ``{factor: (N,) int64 labels}``.
        channel_names: the C channel names, in order.
        name: e.g. ``"train/correlated"``.
        masks: optional (N, H, W) int64 label maps (e.g. 0 background, 1 nuclei), for
            mask components.
        names: optional N names of the images (e.g. the files they came from).
    """

    images: torch.Tensor
    factors: dict[str, torch.Tensor]
    channel_names: tuple[str, ...]
    name: str = ""
    masks: torch.Tensor | None = None
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}.")
        if len(self.channel_names) != self.images.shape[1]:
            raise ValueError(
                f"channel_names has {len(self.channel_names)} names for {self.images.shape[1]} channels."
            )
        for factor, labels in self.factors.items():
            if labels.dtype != torch.int64 or tuple(labels.shape) != (len(self.images),):
                raise ValueError(f"factor {factor!r} must be int64 ({len(self.images)},), got {tuple(labels.shape)}.")
        if self.masks is not None and (self.masks.dtype != torch.int64
                                       or tuple(self.masks.shape) != (len(self.images), *self.images.shape[2:])):
            raise ValueError(f"masks must be int64 (N, H, W) matching images {tuple(self.images.shape)}, got "
                             f"{self.masks.dtype} {tuple(self.masks.shape)}.")
        if self.names is not None and len(self.names) != len(self.images):
            raise ValueError(f"names has {len(self.names)} entries for {len(self.images)} images.")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def factor_names(self) -> tuple[str, ...]:
        """The factors :meth:`labels` answers for, in order."""
        return tuple(self.factors)

    def labels(self, factor: str) -> torch.Tensor:
        """The (N,) labels of ``factor``."""
        if factor not in self.factors:
            raise ValueError(f"factor={factor!r} is not a factor of {self.name!r}; use one of {sorted(self.factors)}.")
        return self.factors[factor]

    def subset(self, n_or_indices: int | Sequence[int] | np.ndarray | torch.Tensor) -> FactorSet:
        """The first ``n`` images, or those at the given indices (or boolean mask)."""
        index = subset_index(n_or_indices, len(self))
        names = None
        if self.names is not None:
            names = tuple(self.names[index] if isinstance(index, slice)
                          else np.asarray(self.names, dtype=object)[index.numpy()].tolist())
        return FactorSet(self.images[index], {f: y[index] for f, y in self.factors.items()}, self.channel_names,
                         self.name, None if self.masks is None else self.masks[index], names)

    def without(self, channels: Sequence[str]) -> FactorSet:
        """The same set with the named channels set to 0 (a missing channel at test time)."""
        unknown = sorted(set(channels) - set(self.channel_names))
        if unknown:
            raise ValueError(f"channels {unknown} are not channels of this set; it has {list(self.channel_names)}.")
        images = self.images.clone()
        images[:, [self.channel_names.index(c) for c in channels]] = 0
        return dataclasses.replace(self, images=images)


@dataclass(frozen=True)
class ChannelDataset:
    """What a multi-channel data set is, for :func:`splicer_tutorial.channels.run` and the command line.

    Attributes:
        name: as in ``run --dataset NAME``.
        channels: the channel names, in order.
        factors: the factors every set is labelled with (all with ``num_classes`` classes).
        num_classes: classes per factor (chance is ``1 / num_classes``).
        groups: the default SpliCER components, as channel groups by name.
        target: the hard factor the experiment is about (the one chunk allocation by
            probe serves).
        load: ``load(mode, correlation=..., seed=..., **overrides)`` ->
            ``{"train" | "test": {variant: FactorSet}}``.
        train_set: the training set SSL sees (its name in ``data["train"]``).
        test_set: the test set the probes are scored on (fitted on the training split
            of the same variant).
        mask_labels: when set, the components come from the sets' label maps (``masks``,
            labels ``0..mask_labels-1``) instead of channel groups.
        augment: the :class:`~splicer_tutorial.augment.SSLAugment` kind, and
        photometric_channels: how many channels it jitters (0: crop and flip only).
        presets: ``{mode: settings of load}`` (the data part of
            :data:`splicer_tutorial.runs.PRESETS`).
        data_options: the data set's own options beside ``correlation`` (histology:
            ``masks``, the source of its training masks), taken by
        load_noted: ``(mode, correlation=..., seed=..., **data options) -> (data, notes)``:
            the data, and what a result should record about how it was made; and by
        configure: ``(**data options) -> TrainConfig overrides`` of the component variants
            (histology's ``masks="regions"``: three mask labels).
    """

    name: str
    channels: tuple[str, ...]
    factors: tuple[str, ...]
    num_classes: int
    groups: tuple[tuple[str, ...], ...]
    target: str
    load: Callable[..., dict]
    train_set: str = "correlated"
    test_set: str = "independent"
    mask_labels: int | None = None
    augment: str = "channels"
    photometric_channels: int | None = None
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    data_options: tuple[str, ...] = ()
    load_noted: Callable[..., tuple[dict, dict]] | None = None
    configure: Callable[..., dict[str, Any]] | None = None

    @property
    def chance(self) -> float:
        return 1 / self.num_classes

    def load_with_notes(self, mode: str, seed: int, correlation: float = 1.0, **options: Any) -> tuple[dict, dict]:
        """The data for a mode and seed, with the data set's own ``options``, and its notes
        (``{}`` for a data set without ``load_noted``)."""
        unknown = sorted(set(options) - set(self.data_options))
        if unknown:
            raise ValueError(f"{unknown} are not data options of {self.name}; it takes {list(self.data_options)}.")
        if self.load_noted is not None:
            return self.load_noted(mode, correlation=correlation, seed=seed, **options)
        return self.load(mode, correlation=correlation, seed=seed), {}

    def config_overrides(self, variant: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """The TrainConfig overrides the data options imply for ``variant`` (none for the baseline)."""
        if self.configure is None or variant == "baseline":
            return {}
        return self.configure(**options)


def correlated_and_independent(
    make: Callable[..., FactorSet], preset: dict[str, Any], correlation: float, seed: int
) -> dict[str, dict[str, FactorSet]]:
    """``{"train" | "test": {"correlated" | "independent": set}}`` from a generator
    ``make(n, correlation, size, seed=..., name=...)`` and a preset with ``n_train``,
    ``n_test`` and ``size``: the correlated sets at ``correlation``, the independent ones
    at 0, every set with its own seed."""
    out: dict[str, dict[str, FactorSet]] = {}
    for s, (split, n) in enumerate((("train", preset["n_train"]), ("test", preset["n_test"]))):
        out[split] = {
            variant: make(n, correlation if variant == "correlated" else 0.0, preset["size"],
                          seed=seed * 1000 + 10 * s + k, name=f"{split}/{variant}")
            for k, variant in enumerate(("correlated", "independent"))
        }
    return out


# ------------------------------------------------------- helpers of the generators


def correlated_labels(
    n: int, target_classes: int, cue_classes: int, correlation: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A hard target label and an easy cue's label for ``n`` samples: (n,) int64 each.

    The target is uniform over ``target_classes``; with probability ``correlation`` the
    cue equals it, otherwise the cue is uniform over ``cue_classes`` on its own.
    """
    target = torch.randint(0, target_classes, (n,), generator=generator)
    together = torch.rand(n, generator=generator) < correlation
    cue = torch.where(together, target, torch.randint(0, cue_classes, (n,), generator=generator))
    return target, cue


def smooth_field(lattice: torch.Tensor, size: int) -> torch.Tensor:
    """A lattice of noise (n, k, k) bicubic-upsampled to (n, size, size): a smooth field.

    Bicubic interpolation is separable, so it is ``A @ lattice @ A.T`` with A (size, k) the
    1-d interpolation matrix: two batched matrix products, much faster than
    ``F.interpolate`` on a CPU.
    """
    k = lattice.shape[-1]
    eye = torch.eye(k).reshape(k, 1, k, 1)
    a = F.interpolate(eye, size=(size, 1), mode="bicubic", align_corners=True)[:, 0, :, 0].T  # (size, k)
    return a @ lattice @ a.T


def standardise(t: torch.Tensor) -> torch.Tensor:
    """Each (size, size) map of t (n, size, size) to mean 0 and sd 1."""
    t = t - t.mean(dim=(1, 2), keepdim=True)
    return t / (t.std(dim=(1, 2), keepdim=True) + 1e-6)
