"""Multi-channel data sets with known factors, and the run they share.

The channel toy, the synthetic multiplex cells and the synthetic multispectral tiles are
all :class:`FactorSet` s: uint8 images (N, C, H, W) with named channels and one label per
factor, in a ``correlated`` training variant (the easy factor predicts the hard one) and
an ``independent`` test variant (every factor drawn on its own). A
:class:`ChannelDataset` says what one such data set is: its channels, factors, default
components and loader. :func:`run` is the one experiment they share: pretrain on the
correlated training set, then probe every factor on the independent test set, with
references (a random encoder; SSL on some channels alone) and missing channels.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import config as config_module
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
    """

    images: torch.Tensor
    factors: dict[str, torch.Tensor]
    channel_names: tuple[str, ...]
    name: str = ""
    masks: torch.Tensor | None = None

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

    def __len__(self) -> int:
        return self.images.shape[0]

    def labels(self, factor: str) -> torch.Tensor:
        """The (N,) labels of ``factor``."""
        if factor not in self.factors:
            raise ValueError(f"factor={factor!r} is not a factor of {self.name!r}; use one of {sorted(self.factors)}.")
        return self.factors[factor]

    def subset(self, n_or_indices: int | Sequence[int] | np.ndarray | torch.Tensor) -> FactorSet:
        """The first ``n`` images, or those at the given indices (or boolean mask)."""
        index = subset_index(n_or_indices, len(self))
        return FactorSet(self.images[index], {f: y[index] for f, y in self.factors.items()}, self.channel_names,
                         self.name, None if self.masks is None else self.masks[index])

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
    """What a multi-channel data set is, for :func:`run` and the command line.

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
        train_variant: the training set SSL sees.
        test_variant: the test set the probes are scored on (fitted on the training split
            of the same variant).
        mask_labels: when set, the components come from the sets' label maps (``masks``,
            labels ``0..mask_labels-1``) instead of channel groups.
        augment: the :class:`~splicer_tutorial.augment.SSLAugment` kind, and
        photometric_channels: how many channels it jitters (0: crop and flip only).
    """

    name: str
    channels: tuple[str, ...]
    factors: tuple[str, ...]
    num_classes: int
    groups: tuple[tuple[str, ...], ...]
    target: str
    load: Callable[..., dict]
    train_variant: str = "correlated"
    test_variant: str = "independent"
    mask_labels: int | None = None
    augment: str = "channels"
    photometric_channels: int | None = None

    @property
    def chance(self) -> float:
        return 1 / self.num_classes


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


#: ``run --dataset`` name -> (module, attribute) of its :class:`ChannelDataset`.
NAMES: dict[str, tuple[str, str]] = {
    "channel_toy": ("channel_toy", "DATASET"),
    "multiplex": ("multiplex", "DATASET"),
    "multispectral": ("multispectral", "DATASET"),
    "eurosat_ms": ("multispectral", "EUROSAT"),
    "histology": ("histology", "DATASET"),
}


def get(dataset: str | ChannelDataset) -> ChannelDataset:
    """The :class:`ChannelDataset` called ``dataset`` (one of :data:`NAMES`)."""
    if isinstance(dataset, ChannelDataset):
        return dataset
    if dataset not in NAMES:
        raise ValueError(f"dataset={dataset!r} is not a multi-channel data set; use one of {sorted(NAMES)}.")
    module, attribute = NAMES[dataset]
    return getattr(importlib.import_module(f".{module}", __package__), attribute)


def train_config(dataset: str | ChannelDataset, mode: str | None = None, variant: str = "baseline", **overrides: Any):
    """The :class:`~splicer_tutorial.training.TrainConfig` for a multi-channel data set.

    The mode's training preset (:data:`splicer_tutorial.experiments.PRESETS`) with the
    channel-wise augmentation, the data set's channel names and, for the component
    variants, its default components (``groups``; override them with channel names).
    When SpliCER's K components (channel groups or mask labels) do not divide the
    embedding (3 into 128) and no ``chunk_sizes`` are given, the chunks are as equal as
    they can be (43, 43, 42); for separate encoders, whose projector is block-diagonal,
    the projector's widths are rounded up to multiples of K (129 and 513 for K = 3).
    """
    from .chunks import chunk_sizes
    from .experiments import train_config as preset_config

    spec = get(dataset)
    values: dict[str, Any] = {"augment": spec.augment, "photometric_channels": spec.photometric_channels,
                              "channel_names": spec.channels, "variant": variant}
    if variant != "baseline":
        values.update({"mask_labels": spec.mask_labels} if spec.mask_labels else {"groups": spec.groups})
    config = preset_config(mode, **{**values, **overrides})
    k = config.num_components if (config.groups or config.mask_labels) else 0  # channel groups or mask labels
    if config.variant == "splicer" and k and config.proj_dim % k and config.chunk_sizes is None \
            and config.projector == "dense":
        config = dataclasses.replace(config, chunk_sizes=chunk_sizes(config.proj_dim, k))
    if config.variant == "separate" and k:
        rounded = {name: -(-getattr(config, name) // k) * k for name in ("proj_dim", "hidden_dim")}
        config = dataclasses.replace(config, **rounded)
    return config


def parse_reference(dataset: str | ChannelDataset, reference: str | None) -> tuple[str, ...] | None:
    """The channels an ``"only:<a>+<b>"`` reference keeps (``None`` for no reference or
    ``"random_init"``); a clear error for anything else."""
    spec = get(dataset)
    if reference is None or reference == "random_init":
        return None
    kept = tuple(reference.removeprefix("only:").split("+"))
    if not reference.startswith("only:") or not kept or not set(kept) <= set(spec.channels):
        raise ValueError(f"reference is {reference!r}; use None, 'random_init' or 'only:<channels>' with channels "
                         f"of {list(spec.channels)} joined by '+' (e.g. 'only:{'+'.join(spec.groups[-1] if spec.groups else spec.channels[-1:])}').")
    return kept


def missing_channel_probes(
    encoder, data: dict[str, dict[str, FactorSet]], dataset: str | ChannelDataset,
    groups: Sequence[Sequence[str]] | None = None, device=None,
) -> dict[str, dict[str, float]]:
    """Probe accuracy per factor when one channel group is zeroed at test time.

    One probe per factor is fitted on the intact training features of the data set's
    test variant and scored on the test set with each group in turn set to 0
    (``"none"``: nothing missing). ``groups`` default to the data set's components.
    Returns ``{missing group ("a+b"): {factor: accuracy}}``.
    """
    from . import probes

    spec = get(dataset)
    groups = spec.groups if groups is None else groups
    train, test = data["train"][spec.test_variant], data["test"][spec.test_variant]
    x_train = probes.extract_features(encoder, train.images, device=device)
    fitted = {f: probes.fit_linear_probe(x_train, train.labels(f).numpy()) for f in spec.factors}
    out = {}
    for group in ((), *groups):
        tested = test.without(list(group)) if group else test
        x_test = probes.extract_features(encoder, tested.images, device=device)
        out["+".join(group) or "none"] = {f: float(fitted[f].score(x_test, test.labels(f).numpy()))
                                          for f in spec.factors}
    return out


def run(
    dataset: str | ChannelDataset,
    config,
    mode: str | None = None,
    data: dict | None = None,
    reference: str | None = None,
    device=None,
    missing: bool = True,
    progress: bool = True,
    command: list[str] | None = None,
    allocate: str | None = None,
) -> dict[str, Any]:
    """Pretrain on a multi-channel data set's training variant, then probe every factor.

    Args:
        dataset: a name of :data:`NAMES` or a :class:`ChannelDataset`.
        config: the run (see :func:`train_config`).
        data: as from the data set's ``load``; loaded for the mode (seed ``config.seed``)
            when left out.
        reference: ``None``; ``"random_init"`` (no training); or ``"only:<channels>"``
            (e.g. ``"only:fashion+object"``): the same run on images whose other channels
            are 0 (what SSL learns from those channels alone).
        missing: also measure :func:`missing_channel_probes` (one row per default
            component of the data set, the same rows for every run).
        allocate: ``None`` (the config's chunks), ``"variance"`` or ``"probe"``: size
            SpliCER's chunks by :func:`allocate` first (recorded as ``allocation``).

    Returns a JSON-ready dict: ``config``, ``dataset``, ``reference``, ``mode``, ``seed``,
    provenance, ``wall_s``, ``history``, ``probes`` and ``naive_probes`` (``{variant:
    {factor: accuracy}}``, probed on the test variant) and ``missing``.
    """
    from . import probes as probes_module
    from . import results as results_module
    from .training import pretrain, untrained

    spec = get(dataset)
    mode = config_module.mode(mode)
    device = config_module.resolve_device(device)
    start = time.perf_counter()
    kept = parse_reference(spec, reference)
    data = data if data is not None else spec.load(mode, seed=config.seed)
    if kept is not None:
        others = [c for c in spec.channels if c not in kept]
        data = {split: {v: s.without(others) for v, s in sets.items()} for split, sets in data.items()}
    train = data["train"][spec.train_variant]
    measured: dict[str, Any] = {}
    if allocate is not None:
        scores, sizes = allocate_by(spec, config, data, allocate, device=device)
        config = dataclasses.replace(config, chunk_sizes=sizes)
        measured["allocation"] = {"by": allocate, "scores": scores, "chunk_sizes": list(sizes)}
    if reference == "random_init":
        model, history = untrained(config, train.images.shape[1])
    else:
        model, history = pretrain(train.images, config, probe_labels=dict(train.factors), device=device,
                                  progress=progress, masks=train.masks if config.mask_labels else None)
    evaluation = probes_module.evaluate(model.encoder, data, factors=spec.factors, knn=False, device=device,
                                        variants=(spec.test_variant,))
    if missing:
        evaluation["missing"] = missing_channel_probes(model.encoder, data, spec, device=device)
    return results_module.record(config, mode, device, command, start, data, train.images.shape[1:],
                                 spec.chance, history, dataset=spec.name, reference=reference, **measured,
                                 **evaluation)


# ------------------------------------------------------------------ chunk allocation


def informativeness(
    data: FactorSet, groups: Sequence[Sequence[str]], by: str = "probe", factor: str | None = None,
    encode: Callable[[torch.Tensor], torch.Tensor] | None = None, n: int = 500, device=None,
) -> list[float]:
    """A score per channel group, to size SpliCER's chunks with
    :func:`splicer_tutorial.losses.allocate_chunks` (the chunk-allocation question).

    Args:
        data: the images to measure on (e.g. the training set).
        groups: channel groups by name.
        by: ``"variance"``: label-free, the mean per-pixel variance of the group's channels
            over the first ``n`` images (0-1 scale); ``"probe"``: a **small labelled set**,
            the accuracy above chance of a linear probe for ``factor`` on ``encode``'s
            features of images with only the group's channels kept (fitted on the first
            ``n // 2`` of ``n`` images, scored on the rest; ``max(0, accuracy - chance)``).
        factor: the factor the chunks should serve (``by="probe"``).
        encode: the feature extractor (``by="probe"``), e.g. a random encoder's.
        n: how many images to use.

    Returns one non-negative score per group.
    """
    from . import probes

    if by not in ("variance", "probe"):
        raise ValueError(f"by={by!r}; use 'variance' (label-free) or 'probe' (a small labelled set).")
    if n < 2 or n > len(data):
        raise ValueError(f"n={n} must be between 2 and the number of images ({len(data)}).")
    subset = data.subset(n)
    scores = []
    for group in groups:
        if by == "variance":
            index = [data.channel_names.index(c) for c in group]
            scores.append(float((subset.images[:, index].float() / 255).var(dim=0).mean()))
            continue
        if factor is None or encode is None:
            raise ValueError("by='probe' needs factor= (the factor to serve) and encode= (a feature extractor).")
        kept = subset.without([c for c in data.channel_names if c not in group])
        features = probes.extract_features(encode, kept.images, device=device)
        labels = kept.labels(factor).numpy()
        half = n // 2
        fitted = probes.fit_linear_probe(features[:half], labels[:half])
        chance = 1 / len(np.unique(labels))
        scores.append(max(0.0, float(fitted.score(features[half:], labels[half:])) - chance))
    return scores


def allocate_by(
    dataset: str | ChannelDataset, config, data: dict, by: str, n: int = 1000, minimum: int = 16, device=None
) -> tuple[list[float], tuple[int, ...]]:
    """SpliCER chunk sizes for ``config.groups`` in proportion to each group's
    :func:`informativeness`.

    ``by="variance"`` measures the training images (label-free); ``by="probe"`` measures
    how well a **random** encoder of ``config`` reads the data set's ``target`` from each
    group alone, on ``n`` labelled images of the decorrelated (test-variant) training
    split: a small labelled set without the shortcut, available before pretraining.
    Each chunk gets at least ``minimum`` dimensions. Returns (scores, chunk sizes).
    """
    from .losses import allocate_chunks
    from .training import untrained

    spec = get(dataset)
    if config.variant != "splicer" or not config.groups:
        raise ValueError(f"chunk allocation needs variant 'splicer' with channel groups, got variant "
                         f"{config.variant!r} with groups {config.groups}.")
    groups = [[spec.channels[c] for c in group] for group in config.groups]
    if by == "variance":
        images = data["train"][spec.train_variant]
        scores = informativeness(images, groups, "variance", n=min(n, len(images)))
    else:
        images = data["train"][spec.test_variant]
        encoder = untrained(config, images.images.shape[1])[0].encoder
        scores = informativeness(images, groups, by, factor=spec.target, encode=encoder,
                                 n=min(n, len(images)), device=device)
    if sum(scores) <= 0:  # no group reads the target: equal chunks
        scores = [1.0] * len(groups)
    return scores, allocate_chunks(scores, config.proj_dim, minimum)
