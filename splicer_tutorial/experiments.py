"""Experiments: the runs the chapters and the command line share.

:func:`run_dominoes` is one pretraining plus probing run on MNIST-CIFAR dominoes. The
settings of each mode live in :data:`PRESETS`:

* ``fast``: dominoes at half resolution (3x32x16), 200 per class (2,000 train /
  2,000 test per variant), a small ConvNet, a few epochs: a minute or two on a laptop
  CPU. Too small to show suppression reliably (see the chapters); it shows the mechanics.
* ``full``: full-resolution dominoes (8,000 train / 2,000 test from the shipped test
  sets), ResNet-18, 80 epochs at batch 512: the setting of the one-seed feasibility run.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from . import config as config_module
from . import dominoes as dominoes_module
from . import probes as probes_module
from . import results as results_module
from .training import History, TrainConfig, pretrain

PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "data": {"downsample": 2, "max_per_class": 200},
        "train": {"backbone": "convnet", "width": 16, "epochs": 8, "batch_size": 256, "lr": 3e-3},
    },
    "full": {
        "data": {"downsample": 1, "max_per_class": None},
        "train": {"backbone": "resnet18", "epochs": 80, "batch_size": 512, "lr": 2e-3},
    },
}


def load_dominoes(mode: str | None = None, seed: int = 0, source_split: str = "test", **kwargs: Any):
    """The dominoes of a mode's preset: ``{"train": {variant: set}, "test": {...}}``."""
    preset = PRESETS[config_module.mode(mode)]["data"]
    max_per_class = kwargs.pop("max_per_class", preset["max_per_class"])
    data = dominoes_module.load_dominoes(
        source_split=source_split, max_per_class=max_per_class, seed=seed, **kwargs
    )
    factor = preset["downsample"]
    return {split: {v: s.downsampled(factor) for v, s in sets.items()} for split, sets in data.items()}


def train_config(mode: str | None = None, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of a mode's preset, with any field overridden."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown TrainConfig fields {unknown}; known fields: {sorted(fields)}.")
    values = {**PRESETS[config_module.mode(mode)]["train"], **overrides}
    return TrainConfig(**values)


def run_dominoes(
    config: TrainConfig,
    mode: str | None = None,
    data: dict | None = None,
    device: str | None = None,
    knn: bool = True,
    progress: bool = True,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Pretrain on correlated training dominoes, then probe every variant.

    Returns a JSON-ready dict: ``config``, ``mode``, ``seed``, ``device``, ``versions``,
    ``command``, ``date``, ``wall_s``, ``history``, ``probes``, ``naive_probes`` and
    ``knn`` (each ``{variant: {factor: accuracy}}``) and ``chance``.
    """
    mode = config_module.mode(mode)
    device = config_module.resolve_device(device)
    start = time.perf_counter()
    data = data if data is not None else load_dominoes(mode, seed=config.seed)
    train = data["train"]["correlated"]
    model, history = pretrain(
        train.images,
        config,
        probe_labels={"digit": train.digit, "object": train.object},
        device=device,
        progress=progress,
    )
    evaluation = probes_module.evaluate(model.encoder, data, knn=knn, device=device)
    n_classes = int(train.object.max()) + 1
    return {
        "config": config.to_dict(),
        "mode": mode,
        "seed": config.seed,
        **results_module.provenance(device, command),
        "wall_s": time.perf_counter() - start,
        "data": {split: {v: len(s) for v, s in sets.items()} for split, sets in data.items()},
        "image_shape": list(train.images.shape[1:]),
        "chance": 1 / n_classes,
        "history": history.to_dict() if isinstance(history, History) else history,
        **evaluation,
    }
