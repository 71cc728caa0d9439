"""The run the multi-channel data sets share, and their registry.

The channel toy, the synthetic multiplex cells, the synthetic multispectral tiles and the
H&E tiles are :class:`~splicer_tutorial.factorsets.FactorSet` s, each described by a
:class:`~splicer_tutorial.factorsets.ChannelDataset` (both in the data layer,
:mod:`splicer_tutorial.factorsets`). :func:`get` finds one by its ``run --dataset`` name;
:func:`run` is the one experiment they share: pretrain on the correlated training set,
then probe every factor on the independent test set, with references (a random encoder;
SSL on some channels alone) and missing channels. Chunk allocation by informativeness
(:func:`allocate_by`) lives here too.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import config as config_module
# the containers and the generators' helpers live in the data layer; named here too, as before
from .factorsets import (ChannelDataset, FactorSet, correlated_and_independent, correlated_labels,  # noqa: F401
                         smooth_field, standardise)


#: ``run --dataset`` name -> (module, attribute) of its :class:`ChannelDataset`.
NAMES: dict[str, tuple[str, str]] = {
    "channel_toy": ("channel_toy", "DATASET"),
    "multiplex": ("multiplex", "DATASET"),
    "multiplex_noise": ("multiplex", "NOISE_DATASET"),
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
    if variant != "baseline":  # the data set's components, unless channel groups are given
        values.update({"mask_labels": spec.mask_labels} if spec.mask_labels and "groups" not in overrides
                      else {"groups": spec.groups})
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
    train, test = data["train"][spec.test_set], data["test"][spec.test_set]
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
    return_model: bool = False,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    sync_batchnorm: bool = False,
):
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
        return_model: also return the trained model.
        checkpoint, checkpoint_every, resume: save the training there (every so many
            epochs) and go on from a stopped run (:func:`splicer_tutorial.training.pretrain`).
        sync_batchnorm: BatchNorm over the global batch of a distributed run (GPUs).

    Returns a JSON-ready dict: ``config``, ``dataset``, ``reference``, ``mode``, ``seed``,
    provenance, ``wall_s``, ``history``, ``probes`` and ``naive_probes`` (``{variant:
    {factor: accuracy}}``, probed on the test variant) and ``missing``; with
    ``return_model``, the pair ``(result, model)``.
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
    train = data["train"][spec.train_set]
    measured: dict[str, Any] = {}
    if allocate is not None:
        scores, sizes = allocate_by(spec, config, data, allocate, device=device)
        config = dataclasses.replace(config, chunk_sizes=sizes)
        measured["allocation"] = {"by": allocate, "scores": scores, "chunk_sizes": list(sizes)}
    if reference == "random_init":
        model, history = untrained(config, train.images.shape[1])
    else:
        model, history = pretrain(train.images, config, probe_labels=dict(train.factors), device=device,
                                  progress=progress, masks=train.masks if config.mask_labels else None,
                                  checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                                  sync_batchnorm=sync_batchnorm)
    evaluation = probes_module.evaluate(model.encoder, data, factors=spec.factors, knn=False, device=device,
                                        test_sets=(spec.test_set,))
    if missing:
        evaluation["missing"] = missing_channel_probes(model.encoder, data, spec, device=device)
    if reference is None and config.variant != "baseline":
        evaluation["chunk_probes"] = chunk_probes(model, data, spec, config.embedding_chunks(), device=device)
    result = results_module.record(config, mode, device, command, start, data, train.images.shape[1:],
                                   spec.chance, history, dataset=spec.name, reference=reference, **measured,
                                   **evaluation)
    return (result, model) if return_model else result


def chunk_probes(model, data: dict[str, dict[str, FactorSet]], dataset: str | ChannelDataset,
                 chunks: Sequence[int], device=None) -> dict:
    """Chunk x factor probe accuracy of a model's projected embedding z on the data set's
    test variant, where every factor is drawn on its own, so each chunk's row says what
    that chunk holds (:func:`splicer_tutorial.probes.chunk_probe_matrix`). ``chunks``: the
    chunk sizes a run trained (:meth:`TrainConfig.embedding_chunks`). Returns
    ``{"split", "factors", "chunk_sizes", "matrix": (K, F) nested list}``."""
    from . import probes

    spec = get(dataset)
    return probes.chunk_probes(model.embed, data["train"][spec.test_set], data["test"][spec.test_set], spec.factors,
                               list(chunks), spec.test_set, device=device)


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
        images = data["train"][spec.train_set]
        scores = informativeness(images, groups, "variance", n=min(n, len(images)))
    else:
        images = data["train"][spec.test_set]
        encoder = untrained(config, images.images.shape[1])[0].encoder
        scores = informativeness(images, groups, by, factor=spec.target, encode=encoder,
                                 n=min(n, len(images)), device=device)
    if sum(scores) <= 0:  # no group reads the target: equal chunks
        scores = [1.0] * len(groups)
    return scores, allocate_chunks(scores, config.proj_dim, minimum)
