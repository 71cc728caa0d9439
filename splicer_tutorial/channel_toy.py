"""The channel toy: one image, one factor per channel, each harder to learn than the last.

A four-channel image whose channels are independent pictures:

===========  ===========================================  ===========
channel      content                                      difficulty
===========  ===========================================  ===========
``code``     a constant plane whose brightness is a code   easy
``digit``    an MNIST digit                                easy-ish
``fashion``  a Fashion-MNIST item                          medium
``object``   a CIFAR-10 object, in grey                    hard
===========  ===========================================  ===========

Each channel has a 10-class label. In the **correlated** variant, with probability
``correlation`` a sample's four labels are one and the same class (so the easy code gives
away the hard object's class), otherwise each is drawn on its own; in the **independent**
variant every label is drawn on its own. Images of each source are split into disjoint
train and test pools first, so no source image is in both splits.

This is the channel analogue of the dominoes: SpliCER's components are channel groups
(:func:`splicer_tutorial.deconstruct.by_channels`, by name). Images are uint8
(N, 4, size, size); the code plane's brightness is ``40 + 20 * code`` (0-255) plus a
little noise, so the code is read from one number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import config as config_module
from . import datasets
from .dominoes import subset_index

CHANNELS = ("code", "digit", "fashion", "object")
FACTORS = CHANNELS
NUM_CLASSES = 10
VARIANTS = ("correlated", "independent")

#: Settings of each mode (data only; training settings come from the experiments presets).
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"size": 16, "n_train": 2000, "n_test": 1000},
    "full": {"size": 32, "n_train": 8000, "n_test": 2000},
}


@dataclass
class FactorSet:
    """Images with one label per factor.

    Attributes:
        images: (N, C, H, W) uint8.
        factors: ``{factor: (N,) int64 labels}``.
        channel_names: the C channel names, in order.
        name: e.g. ``"train/correlated"``.
    """

    images: torch.Tensor
    factors: dict[str, torch.Tensor]
    channel_names: tuple[str, ...]
    name: str = ""

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
                         self.name)

    def without(self, channels: Sequence[str]) -> FactorSet:
        """The same set with the named channels set to 0 (a missing channel at test time)."""
        unknown = sorted(set(channels) - set(self.channel_names))
        if unknown:
            raise ValueError(f"channels {unknown} are not channels of this set; it has {list(self.channel_names)}.")
        images = self.images.clone()
        images[:, [self.channel_names.index(c) for c in channels]] = 0
        return dataclasses.replace(self, images=images)


def _resize(images: np.ndarray, size: int) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, size, size) uint8, by area averaging (bilinear when enlarging)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float()[:, None]
    mode = "area" if size <= min(x.shape[-2:]) else "bilinear"
    x = F.interpolate(x, size=(size, size), mode=mode, **({} if mode == "area" else {"align_corners": False}))
    return x[:, 0].round().clamp(0, 255).to(torch.uint8)


def grey(images: np.ndarray) -> np.ndarray:
    """RGB (N, H, W, 3) uint8 -> grey (N, H, W) uint8 with the ITU-R 601 weights."""
    weights = np.array([0.299, 0.587, 0.114])
    return np.clip(np.round(images.astype(np.float64) @ weights), 0, 255).astype(np.uint8)


def draw_labels(n: int, correlation: float, rng: np.random.Generator, factors: Sequence[str] = FACTORS) -> dict:
    """Labels of ``n`` samples: with probability ``correlation`` all factors share one class.

    Returns ``{factor: (n,) int64}``; the shared class and the independent ones are uniform
    over the 10 classes.
    """
    if not 0 <= correlation <= 1:
        raise ValueError(f"correlation must be in [0, 1], got {correlation}.")
    shared = rng.integers(0, NUM_CLASSES, n)
    together = rng.random(n) < correlation
    return {f: np.where(together, shared, rng.integers(0, NUM_CLASSES, n)).astype(np.int64) for f in factors}


def make_channel_toy(
    sources: dict[str, tuple[np.ndarray, np.ndarray]],
    n: int,
    correlation: float,
    size: int = 16,
    seed: int = 0,
    name: str = "",
) -> FactorSet:
    """``n`` channel-toy images from source pools.

    Args:
        sources: ``{"digit" | "fashion" | "object": (images (M, H, W) uint8, labels (M,))}``,
            each with every one of the 10 classes present.
        n: number of images.
        correlation: probability that a sample's four labels are the same class.
        size: side of the output images.
        seed: seeds the labels, the choice of source images and the code's noise.

    Returns a :class:`FactorSet` with images (n, 4, size, size) and the four factors.
    """
    missing = sorted(set(CHANNELS[1:]) - set(sources))
    if missing:
        raise ValueError(f"sources lacks {missing}; give (images, labels) for {list(CHANNELS[1:])}.")
    rng = np.random.default_rng(seed)
    labels = draw_labels(n, correlation, rng)
    planes = []
    code = labels["code"]
    level = 40 + 20 * code[:, None, None] + rng.integers(-4, 5, (n, 1, 1))
    planes.append(torch.from_numpy(np.broadcast_to(level, (n, size, size)).astype(np.uint8).copy()))
    for channel in CHANNELS[1:]:
        images, source_labels = sources[channel]
        source_labels = np.asarray(source_labels)
        chosen = np.empty(n, dtype=np.int64)
        for c in range(NUM_CLASSES):
            pool = np.flatnonzero(source_labels == c)
            wanted = np.flatnonzero(labels[channel] == c)
            if len(pool) == 0 and len(wanted):
                raise ValueError(f"sources[{channel!r}] has no image of class {c}.")
            chosen[wanted] = rng.choice(pool, len(wanted), replace=len(wanted) > len(pool))
        planes.append(_resize(images[chosen], size))
    factors = {f: torch.from_numpy(y) for f, y in labels.items()}
    return FactorSet(torch.stack(planes, dim=1).contiguous(), factors, CHANNELS, name)


def load_sources(seed: int = 0, test_fraction: float = 0.3) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The shipped MNIST, Fashion-MNIST and CIFAR-10 test sets, each split into disjoint
    ``train`` and ``test`` pools (a seeded shuffle; ``test_fraction`` of each goes to test)."""
    mnist = datasets.load_mnist("test")
    fashion = datasets.load_fashion_mnist("test")
    cifar_images, cifar_labels, _ = datasets.load_cifar10("test")
    raw = {"digit": mnist, "fashion": fashion, "object": (grey(cifar_images), cifar_labels)}
    rng = np.random.default_rng(seed)
    pools: dict[str, dict] = {"train": {}, "test": {}}
    for channel, (images, labels) in raw.items():
        order = rng.permutation(len(images))
        cut = int(len(images) * (1 - test_fraction))
        pools["train"][channel] = (images[order[:cut]], np.asarray(labels)[order[:cut]])
        pools["test"][channel] = (images[order[cut:]], np.asarray(labels)[order[cut:]])
    return pools


def load_channel_toy(
    mode: str | None = None, correlation: float = 1.0, seed: int = 0, **overrides: Any
) -> dict[str, dict[str, FactorSet]]:
    """The channel toy of a mode's preset: ``{"train": {variant: set}, "test": {variant: set}}``.

    Variants: ``correlated`` (labels shared with probability ``correlation``) and
    ``independent``. ``overrides`` change the preset's ``size``, ``n_train``, ``n_test``.
    """
    preset = {**PRESETS[config_module.mode(mode)], **overrides}
    pools = load_sources(seed)
    out: dict[str, dict[str, FactorSet]] = {}
    for split, n in (("train", preset["n_train"]), ("test", preset["n_test"])):
        out[split] = {
            variant: make_channel_toy(pools[split], n, correlation if variant == "correlated" else 0.0,
                                      preset["size"], seed=seed * 1000 + k + (0 if split == "train" else 500),
                                      name=f"{split}/{variant}")
            for k, variant in enumerate(VARIANTS)
        }
    return out


# ----------------------------------------------------------------------- experiments


def train_config(mode: str | None = None, variant: str = "baseline", **overrides: Any):
    """The :class:`~splicer_tutorial.training.TrainConfig` for the channel toy.

    The mode's training preset (:data:`splicer_tutorial.experiments.PRESETS`) with the
    channel-wise augmentation, the channel names, and, for the component variants, one
    component per channel (``groups``; override it to group channels, by name).
    """
    from .experiments import train_config as preset_config

    values: dict[str, Any] = {"augment": "channels", "channel_names": CHANNELS, "variant": variant}
    if variant != "baseline":
        values["groups"] = tuple((c,) for c in CHANNELS)
    return preset_config(mode, **{**values, **overrides})


def missing_channel_probes(
    encoder, data: dict[str, dict[str, FactorSet]], variant: str = "independent", device=None
) -> dict[str, dict[str, float]]:
    """Probe accuracy per factor when one channel is zeroed at test time.

    One probe per factor is fitted on the intact ``train[variant]`` features and scored
    on ``test[variant]`` with each channel in turn set to 0 (``"none"``: nothing missing).
    Returns ``{missing channel: {factor: accuracy}}``.
    """
    from . import probes

    train, test = data["train"][variant], data["test"][variant]
    x_train = probes.extract_features(encoder, train.images, device=device)
    fitted = {f: probes.fit_linear_probe(x_train, train.labels(f).numpy()) for f in FACTORS}
    out = {}
    for missing in ("none", *test.channel_names):
        tested = test if missing == "none" else test.without([missing])
        x_test = probes.extract_features(encoder, tested.images, device=device)
        out[missing] = {f: float(fitted[f].score(x_test, test.labels(f).numpy())) for f in FACTORS}
    return out


def run_channel_toy(
    config,
    mode: str | None = None,
    data: dict | None = None,
    reference: str | None = None,
    device=None,
    missing: bool = True,
    progress: bool = True,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Pretrain on the correlated channel toy, then probe every factor.

    Args:
        config: the run (see :func:`train_config`).
        data: as from :func:`load_channel_toy`; loaded for the mode when left out.
        reference: ``None``; ``"random_init"`` (no training); or ``"only:<channels>"``
            (e.g. ``"only:object"``, ``"only:fashion+object"``): the same run on images whose
            other channels are 0 (what SSL learns from those channels alone).
        missing: also measure :func:`missing_channel_probes`.

    Returns a JSON-ready dict: ``config``, ``reference``, ``mode``, ``seed``, provenance,
    ``wall_s``, ``history``, ``probes`` and ``naive_probes`` (``{variant: {factor:
    accuracy}}``, probed on the ``independent`` variant) and ``missing``.
    """
    import time

    from . import probes as probes_module
    from . import results as results_module
    from .training import pretrain, untrained

    mode = config_module.mode(mode)
    device = config_module.resolve_device(device)
    start = time.perf_counter()
    data = data if data is not None else load_channel_toy(mode, seed=config.seed)
    if reference is not None and reference != "random_init":
        kept = reference.removeprefix("only:").split("+")
        if not reference.startswith("only:") or not set(kept) <= set(CHANNELS):
            raise ValueError(f"reference is {reference!r}; use None, 'random_init' or 'only:<channels>' "
                             f"with channels of {list(CHANNELS)} joined by '+' (e.g. 'only:fashion+object').")
        others = [c for c in CHANNELS if c not in kept]
        data = {split: {v: s.without(others) for v, s in sets.items()} for split, sets in data.items()}
    train = data["train"]["correlated"]
    if reference == "random_init":
        model, history = untrained(config, train.images.shape[1])
    else:
        model, history = pretrain(train.images, config, probe_labels=dict(train.factors), device=device,
                                  progress=progress)
    evaluation = probes_module.evaluate(model.encoder, data, factors=FACTORS, knn=False, device=device,
                                        variants=("independent",))
    if missing:
        evaluation["missing"] = missing_channel_probes(model.encoder, data, device=device)
    return results_module.record(config, mode, device, command, start, data, train.images.shape[1:],
                                 1 / NUM_CLASSES, history, reference=reference, **evaluation)
