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

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import config as config_module
from . import datasets
from .factorsets import ChannelDataset, FactorSet

CHANNELS = ("code", "digit", "fashion", "object")
FACTORS = CHANNELS
NUM_CLASSES = 10
VARIANTS = ("correlated", "independent")

#: Settings of each mode (data only; training settings come from the experiments presets).
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"size": 16, "n_train": 2000, "n_test": 1000},
    "full": {"size": 32, "n_train": 8000, "n_test": 2000},
}


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


#: The channel toy for :func:`splicer_tutorial.channels.run` and ``run --dataset channel_toy``.
DATASET = ChannelDataset(
    target="object",
    name="channel_toy", channels=CHANNELS, factors=FACTORS, num_classes=NUM_CLASSES,
    groups=tuple((c,) for c in CHANNELS), load=load_channel_toy, presets=PRESETS,
)
