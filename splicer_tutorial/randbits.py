"""RandBits-MNIST: feature suppression in contrastive learning, small enough for a CPU.

Chen, Luo and Li (2021, "Intriguing Properties of Contrastive Losses") give every MNIST
digit ``n_bits`` extra channels. Channel ``1 + j`` is a constant plane holding bit ``j``
of a hash of the image, so the bits

* are a fixed, pseudo-random code per image, independent of the label;
* survive cropping and flipping unchanged, so both SSL views of an image carry the same
  code (the photometric augmentation is applied to the digit channel only:
  ``SSLAugment("channels", photometric_channels=1)``);
* make instance discrimination trivial once there are enough of them: with 2**n_bits
  codes much larger than the batch, the code alone tells a positive from every negative.

A contrastive model then learns the bits and lets the digit go: a linear probe of the
digit falls towards chance as ``n_bits`` grows. SpliCER's remedy is a **channel split**
(:func:`channel_split`): the digit channel and the bit channels become two components,
each registered to its own half of the embedding, so the digit must be represented to
match the digit-only component. This module holds the data (:func:`hash_bits`,
:func:`make_randbits`, :func:`load_randbits`) and the settings of each mode
(:data:`PRESETS`); the run is :func:`splicer_tutorial.runs.run_randbits`.

Images are uint8 (N, 1 + n_bits, H, W): channel 0 the digit, channels 1.. the bit
planes (0 or 255 everywhere in the plane).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import datasets
from .dominoes import subset_index

__all__ = [
    "CHANCE",
    "FACTORS",
    "MAX_BITS",
    "PRESETS",
    "RandBitsSet",
    "hash_bits",
    "load_randbits",
    "make_randbits",
    "collect",
    "split_indices",
    "channel_split",
    "zero_bits",
    "FIXED",
]

FACTORS = ("digit",)
#: blake2b's 8-byte digest: at most 64 bits per image.
MAX_BITS = 64
CHANCE = 0.1


# ------------------------------------------------------------------------------ data


def hash_bits(images: np.ndarray, n_bits: int) -> np.ndarray:
    """The first ``n_bits`` bits of a BLAKE2b hash of each image's bytes.

    Args:
        images: (N, ...) uint8; each image ``images[i]`` is hashed as raw bytes.
        n_bits: 0 to :data:`MAX_BITS`.

    Returns:
        (N, n_bits) uint8 of 0s and 1s: the same for identical images, pseudo-random
        (each bit 1 with probability 1/2, independent of the label) otherwise.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim < 2:
        raise ValueError(f"images must be uint8 (N, ...), got {images.dtype} {images.shape}.")
    if isinstance(n_bits, bool) or not isinstance(n_bits, (int, np.integer)) or not 0 <= n_bits <= MAX_BITS:
        raise ValueError(f"n_bits must be an int in [0, {MAX_BITS}] (an 8-byte BLAKE2b digest), got {n_bits!r}.")
    images = np.ascontiguousarray(images)
    digests = np.frombuffer(
        b"".join(hashlib.blake2b(image.tobytes(), digest_size=8).digest() for image in images), dtype=np.uint8
    ).reshape(len(images), 8)
    return np.unpackbits(digests, axis=1)[:, :n_bits].copy()


@dataclass
class RandBitsSet:
    """MNIST digits with their hash bits as extra constant channels.

    Attributes:
        images: (N, 1 + n_bits, H, W) uint8; channel 0 the digit, channel ``1 + j`` the
            constant plane ``255 * bits[:, j]``.
        digit: (N,) int64 digit label.
        bits: (N, n_bits) uint8 of 0s and 1s.
        name: e.g. ``"train/randbits"``.
    """

    images: torch.Tensor
    digit: torch.Tensor
    bits: torch.Tensor
    name: str = "randbits"

    def __post_init__(self) -> None:
        n = self.images.shape[0] if self.images.ndim else 0
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"RandBitsSet images must be uint8 (N, 1 + n_bits, H, W); got {self.images.dtype} "
                f"{tuple(self.images.shape)}."
            )
        if self.digit.dtype != torch.int64 or tuple(self.digit.shape) != (n,):
            raise ValueError(f"digit must be int64 ({n},), got {self.digit.dtype} {tuple(self.digit.shape)}.")
        if self.bits.dtype != torch.uint8 or tuple(self.bits.shape) != (n, self.images.shape[1] - 1):
            raise ValueError(
                f"bits must be uint8 ({n}, {self.images.shape[1] - 1}) for {self.images.shape[1]}-channel "
                f"images, got {self.bits.dtype} {tuple(self.bits.shape)}."
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def n_bits(self) -> int:
        return self.bits.shape[1]

    @property
    def factor_names(self) -> tuple[str, ...]:
        """The factors :meth:`labels` answers for: :data:`FACTORS`."""
        return FACTORS

    def labels(self, factor: str) -> torch.Tensor:
        """The (N,) int64 labels of ``factor`` (only ``"digit"``)."""
        if factor not in FACTORS:
            raise ValueError(f"factor={factor!r} is not a factor of RandBits; use one of {FACTORS}.")
        return self.digit

    def subset(self, n_or_indices: int | Sequence[int] | np.ndarray | torch.Tensor) -> RandBitsSet:
        """The first ``n`` images, or those at the given indices (or boolean mask)."""
        index = subset_index(n_or_indices, len(self))
        return RandBitsSet(self.images[index], self.digit[index], self.bits[index], self.name)


def make_randbits(
    images: np.ndarray, labels: np.ndarray | Sequence[int], n_bits: int, size: int = 28, name: str = "randbits"
) -> RandBitsSet:
    """Digits with ``n_bits`` hash-bit planes.

    Args:
        images: (N, 28, 28) uint8 MNIST digits.
        labels: (N,) digit labels.
        n_bits: number of bit channels (0 to :data:`MAX_BITS`).
        size: side of the output images; below 28 the digits are shrunk by area
            averaging (14 halves them). The bits always hash the original 28x28 bytes.

    Returns:
        a :class:`RandBitsSet` with images (N, 1 + n_bits, size, size).
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be uint8 (N, 28, 28) MNIST digits, got {images.dtype} {images.shape}.")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {labels.shape}.")
    if not isinstance(size, (int, np.integer)) or not 1 <= size <= 28:
        raise ValueError(f"size must be an int in [1, 28], got {size!r}.")
    bits = torch.from_numpy(hash_bits(images, n_bits))
    digits = torch.from_numpy(images)[:, None]
    if size != 28:
        digits = F.interpolate(digits.float(), size=(size, size), mode="area").round().clamp(0, 255).to(torch.uint8)
    planes = (bits * 255)[:, :, None, None].expand(-1, -1, size, size)
    return RandBitsSet(
        images=torch.cat([digits, planes], dim=1).contiguous(),
        digit=torch.as_tensor(labels, dtype=torch.int64),
        bits=bits,
        name=name,
    )


def split_indices(labels: np.ndarray, n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, seeded, class-stratified train and test indices into ``labels`` (N,).

    Each class gets its share of ``n_train`` and ``n_test`` in proportion to its count
    (so MNIST's near-balanced classes stay near-balanced); the order within each split is
    shuffled.
    """
    labels = np.asarray(labels)
    if n_train < 1 or n_test < 1 or n_train + n_test > len(labels):
        raise ValueError(
            f"n_train={n_train} and n_test={n_test} must be >= 1 and together at most the {len(labels)} images."
        )
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    train_share = _largest_remainder(counts, n_train)
    test_share = _largest_remainder(counts - train_share, n_test, cap=counts - train_share)
    train, test = [], []
    for c, a, b in zip(classes, train_share, test_share):
        index = rng.permutation(np.flatnonzero(labels == c))
        train.append(index[:a])
        test.append(index[a : a + b])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _largest_remainder(counts: np.ndarray, total: int, cap: np.ndarray | None = None) -> np.ndarray:
    """Integer shares of ``total`` proportional to ``counts``, each at most ``cap``."""
    cap = counts if cap is None else cap
    exact = counts / counts.sum() * total
    share = np.minimum(np.floor(exact).astype(int), cap)
    order = np.argsort(-(exact - share), kind="stable")
    i = 0
    while share.sum() < total:
        k = order[i % len(order)]
        if share[k] < cap[k]:
            share[k] += 1
        i += 1
    return share


def zero_bits(dataset: RandBitsSet) -> RandBitsSet:
    """The same digits with every bit plane set to zero (images (N, 1 + n_bits, H, W), the
    planes 1.. all 0). ``bits`` keeps the code the images held; an encoder trained on
    RandBits can then be probed on its digit channel alone."""
    images = dataset.images.clone()
    images[:, 1:] = 0
    return RandBitsSet(images, dataset.digit, dataset.bits, dataset.name.replace("randbits", "bits_zeroed"))


def load_randbits(
    n_bits: int, n_train: int = 8000, n_test: int = 2000, seed: int = 0, size: int = 28, zeroed: bool = False
) -> dict[str, dict[str, RandBitsSet]]:
    """RandBits built from the shipped MNIST test set (10,000 digits).

    A seeded, class-stratified split gives ``n_train`` training and ``n_test`` test
    digits with no digit in both. Returns ``{"train": {"randbits": set},
    "test": {"randbits": set}}``, the layout :func:`splicer_tutorial.probes.evaluate` reads;
    with ``zeroed`` each split also holds ``"bits_zeroed"``, the same digits with the bit
    planes set to zero (:func:`zero_bits`), a second test set for the probes.
    """
    images, labels = datasets.load_mnist("test")
    train, test = split_indices(labels, n_train, n_test, seed)
    data = {
        split: {"randbits": make_randbits(images[index], labels[index], n_bits, size, name=f"{split}/randbits")}
        for split, index in (("train", train), ("test", test))
    }
    if zeroed:
        for sets in data.values():
            sets["bits_zeroed"] = zero_bits(sets["randbits"])
    return data


# ----------------------------------------------------------------------- experiments

#: The settings of each mode: ``data`` (for :func:`load_randbits`), ``train``
#: (:class:`~splicer_tutorial.training.TrainConfig` fields) and ``grid`` (the bit counts
#: and temperatures the chapter sweeps).
#:
#: * ``fast``: digits shrunk to 14x14, 2,000 training and 1,000 test images, a ConvNet of
#:   width 16, 4 epochs at batch 256: about 7 s per run on one CPU core. Tuned so that the
#:   digit probe is high without bits, near chance by 10 bits, and fans out with the
#:   temperature in between (T = 0.2 falls first, T = 0.05 last).
#: * ``full``: all 10,000 shipped digits (8,000 / 2,000) at 28x28, a ConvNet of width 64,
#:   50 epochs at batch 512 (a GPU run).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "fast": {
        "data": {"n_train": 2000, "n_test": 1000, "size": 14},
        "train": {"backbone": "convnet", "width": 16, "epochs": 4, "batch_size": 256, "lr": 3e-3,
                  "crop_scale": (0.5, 1.0)},
        "grid": {"bits": (0, 2, 4, 6, 8, 10), "temperatures": (0.05, 0.1, 0.2)},
    },
    "full": {
        "data": {"n_train": 8000, "n_test": 2000, "size": 28},
        "train": {"backbone": "convnet", "width": 64, "epochs": 50, "batch_size": 512, "lr": 2e-3,
                  "crop_scale": (0.5, 1.0)},
        "grid": {"bits": (0, 2, 4, 6, 8, 10, 12, 15), "temperatures": (0.05, 0.1, 0.2)},
    },
}

#: The augmentation of every RandBits run: the bit planes are only cropped and flipped (no
#: photometric jitter on them), so both views carry the same bits.
FIXED = {"augment": "channels", "photometric_channels": 1}


def channel_split(n_bits: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The two components of a RandBits image: the digit channel, and the bit channels.

    ``channel_split(3) == ((0,), (1, 2, 3))``; give it to ``TrainConfig(groups=...)``.
    """
    if isinstance(n_bits, bool) or not isinstance(n_bits, (int, np.integer)) or not 1 <= n_bits <= MAX_BITS:
        raise ValueError(
            f"a channel split needs 1 to {MAX_BITS} bit channels beside the digit, got n_bits={n_bits!r}; "
            "with 0 bits there is nothing to split off (use the baseline)."
        )
    return (0,), tuple(range(1, n_bits + 1))


# ---------------------------------------------------------------------------- tables


def collect(
    results: Sequence[dict[str, Any]], probe: str = "probes", by: str = "temperature"
) -> dict[Any, dict[int, list[float]]]:
    """Digit accuracies of run results by temperature (or variant) and bit count.

    ``results`` are dicts from :func:`run_randbits` (or read back with
    :func:`splicer_tutorial.results.load`); ``probe`` is ``"probes"`` (linear) or
    ``"knn"``; ``by`` is ``"temperature"`` or ``"variant"`` (baseline, splicer, ...).
    Returns ``{temperature or variant: {n_bits: [accuracy per run]}}``, bits sorted, and
    temperatures sorted (variants in the order first met).
    """
    if by not in ("temperature", "variant"):
        raise ValueError(f"by is {by!r}; use 'temperature' or 'variant'.")
    table: dict[Any, dict[int, list[float]]] = {}
    for r in results:
        key = float(r["temperature"]) if by == "temperature" else r["config"]["variant"]
        table.setdefault(key, {}).setdefault(int(r["n_bits"]), []).append(float(r[probe]["randbits"]["digit"]))
    keys = sorted(table) if by == "temperature" else list(table)
    return {k: dict(sorted(table[k].items())) for k in keys}
