"""MNIST-CIFAR dominoes: a test bed for simplicity bias.

A domino is an MNIST digit (resized to 32x32 with bilinear interpolation and
repeated to 3 channels) stacked ABOVE a CIFAR-10 image, giving a (3, 64, 32)
image. The digit is the easy feature, the object the hard one. In the training
set the two labels are correlated; the randomised test sets tell which feature a
model actually uses:

* ``correlated``: digit class == object class for a fraction ``correlation`` of pairs;
* ``mnist_randomised``: the same object halves, digits of uniformly random class
  (only the object predicts the object label);
* ``cifar_randomised``: the same digit halves, objects of uniformly random class
  (only the digit predicts the digit label).

Halves: rows 0:32 hold the digit (:data:`DIGIT_BOX`), rows 32:64 the CIFAR image
(:data:`OBJECT_BOX`), boxes given as (top, bottom, left, right).

Images are stored as uint8 tensors (N, 3, 64, 32) to save memory; call
:meth:`DominoSet.float_images` (or divide by 255 per batch) for training.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import datasets

__all__ = [
    "BINARY_CLASSES",
    "DIGIT_BOX",
    "FACTORS",
    "INTERACTION",
    "INTERACTION_SET",
    "OBJECT_BOX",
    "VARIANTS",
    "DominoSet",
    "compose_dominoes",
    "half_matched",
    "load_dominoes",
    "make_binary_dominoes",
    "make_dominoes",
    "resize_digits",
]

#: (top, bottom, left, right) of the digit half.
DIGIT_BOX = (0, 32, 0, 32)
#: (top, bottom, left, right) of the CIFAR half.
OBJECT_BOX = (32, 64, 0, 32)
FACTORS = ("digit", "object")
VARIANTS = ("correlated", "mnist_randomised", "cifar_randomised")
#: The interaction test set (:func:`half_matched`) and its label: 1 where the digit's class
#: is the object's, a label that needs both halves.
INTERACTION_SET = "half_matched"
INTERACTION = "match"
#: Shah et al.'s binary dominoes: digit 0 with automobile (1), digit 1 with truck (9).
BINARY_CLASSES: dict[int, int] = {0: 1, 1: 9}

_RESIZE_CHUNK = 4096


def subset_index(n_or_indices: int | Sequence[int] | np.ndarray | torch.Tensor, length: int) -> Any:
    """What ``subset`` indexes with: ``slice(0, n)`` for a count, else an index or mask tensor."""
    if isinstance(n_or_indices, (int, np.integer)) and not isinstance(n_or_indices, bool):
        n = int(n_or_indices)
        if not 0 <= n <= length:
            raise ValueError(f"subset(n={n}): n must be in [0, {length}].")
        return slice(0, n)
    index = torch.as_tensor(np.asarray(n_or_indices))
    return index if index.dtype == torch.bool else index.long()


@dataclass
class DominoSet:
    """A set of dominoes with both labels.

    Attributes:
        images: (N, 3, 64, 32) uint8, digit on top, CIFAR image below.
        digit: (N,) int64 digit label (index of the digit class in the class mapping).
        object: (N,) int64 object label (index of the CIFAR class in the class mapping).
        name: e.g. ``"train/correlated"``.
        mnist_index: (N,) int64 index of each top half in the MNIST source arrays, or None.
        cifar_index: (N,) int64 index of each bottom half in the CIFAR source arrays, or None.
        digit_classes: MNIST class of each digit label, e.g. (0, 1) for binary dominoes.
        object_classes: CIFAR class of each object label, e.g. (1, 9) for binary dominoes.
    """

    images: torch.Tensor
    digit: torch.Tensor
    object: torch.Tensor
    name: str
    mnist_index: torch.Tensor | None = None
    cifar_index: torch.Tensor | None = None
    digit_classes: tuple[int, ...] = ()
    object_classes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        shape = tuple(self.images.shape)
        if self.images.dtype != torch.uint8 or len(shape) != 4 or shape[1] != 3 or shape[2] != 2 * shape[3]:
            raise ValueError(
                f"DominoSet images must be uint8 (N, 3, 2S, S), e.g. (N, 3, 64, 32); got "
                f"{self.images.dtype} {shape}."
            )
        n = self.images.shape[0]
        for field in ("digit", "object", "mnist_index", "cifar_index"):
            value = getattr(self, field)
            if value is None and field.endswith("_index"):
                continue
            if value.dtype != torch.int64 or tuple(value.shape) != (n,):
                raise ValueError(
                    f"DominoSet {field} must be an int64 tensor of shape ({n},); got "
                    f"{value.dtype} {tuple(value.shape)}."
                )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def factor_names(self) -> tuple[str, ...]:
        """The factors every domino is drawn with: :data:`FACTORS` (``"match"`` derives from them)."""
        return FACTORS

    def labels(self, factor: str) -> torch.Tensor:
        """The (N,) int64 labels of ``factor``: ``"digit"``, ``"object"``, or ``"match"``
        (:data:`INTERACTION`: 1 where the digit label equals the object label, else 0)."""
        if factor == INTERACTION:
            return (self.digit == self.object).long()
        if factor not in FACTORS:
            raise ValueError(f"factor={factor!r} is not a factor of dominoes; use one of {(*FACTORS, INTERACTION)}.")
        return self.digit if factor == "digit" else self.object

    def float_images(self) -> torch.Tensor:
        """Images as float32 in [0, 1], (N, 3, 64, 32). Costs 4x the memory of ``images``."""
        return self.images.float().div_(255.0)

    def match_rate(self) -> float:
        """Fraction of dominoes whose digit label equals their object label."""
        return float((self.digit == self.object).float().mean()) if len(self) else float("nan")

    def downsampled(self, factor: int) -> DominoSet:
        """The same dominoes at 1/``factor`` resolution (area averaging), still uint8.

        ``factor=2`` gives (N, 3, 32, 16): four times fewer pixels, for fast CPU runs.
        """
        if not isinstance(factor, (int, np.integer)) or factor < 1 or self.images.shape[3] % factor:
            raise ValueError(
                f"factor must be a positive int dividing the width {self.images.shape[3]}; got {factor!r}."
            )
        if factor == 1:
            return self
        small = F.avg_pool2d(self.images.float(), factor).round().to(torch.uint8)
        return dataclasses.replace(self, images=small)

    def subset(self, n_or_indices: int | Sequence[int] | np.ndarray | torch.Tensor) -> DominoSet:
        """The first ``n`` dominoes, or those at the given indices (or boolean mask)."""
        index = subset_index(n_or_indices, len(self))
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return DominoSet(
            images=self.images[index],
            digit=self.digit[index],
            object=self.object[index],
            name=self.name,
            mnist_index=pick(self.mnist_index),
            cifar_index=pick(self.cifar_index),
            digit_classes=self.digit_classes,
            object_classes=self.object_classes,
        )


def half_matched(correlated: DominoSet, seed: int | Sequence[int] = 0) -> DominoSet:
    """Dominoes whose digit matches their object half the time: the interaction test set.

    From a fully correlated set (every digit of its object's class), half of each object
    class keeps its digit half; the other half takes the digit half of a random domino of
    another class. The label ``"match"`` (:data:`INTERACTION`) is then 1 for half the
    dominoes of every object class and, in expectation, of every digit class: it can be
    read from the two halves together (are their classes equal?) and from neither alone.
    ``seed`` draws which dominoes keep their digit and the donors. Images keep their shape.
    """
    digit, objects = correlated.digit.numpy(), correlated.object.numpy()
    if len(correlated) < 2 or (digit != objects).any() or len(np.unique(objects)) < 2:
        raise ValueError(f"half_matched needs a fully correlated set of two or more classes (every digit of its "
                         f"object's class), got {correlated.name!r} with match rate {correlated.match_rate():.2f}; "
                         "build it from dominoes made with correlation=1.")
    rng = np.random.default_rng(seed)
    donor = np.arange(len(correlated))
    for c in np.unique(objects):
        members = rng.permutation(np.flatnonzero(objects == c))
        unmatched = members[: len(members) // 2]
        donor[unmatched] = rng.choice(np.flatnonzero(objects != c), size=len(unmatched))
    top = correlated.images.shape[2] // 2
    images = correlated.images.clone()
    images[:, :, :top] = correlated.images[torch.from_numpy(donor), :, :top]
    index = torch.from_numpy(donor)
    return dataclasses.replace(
        correlated, images=images, digit=correlated.digit[index],
        name=correlated.name.replace("correlated", INTERACTION_SET),
        mnist_index=None if correlated.mnist_index is None else correlated.mnist_index[index])


# -------------------------------------------------------------------- image building


def resize_digits(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Bilinearly resize MNIST digits to 32x32.

    Args:
        images: (N, 28, 28) uint8.

    Returns:
        (N, 32, 32) uint8, rounded to the nearest integer.
    """
    x = torch.as_tensor(np.asarray(images))
    if x.dtype != torch.uint8 or x.ndim != 3 or tuple(x.shape[1:]) != (28, 28):
        raise ValueError(f"resize_digits: images must be uint8 (N, 28, 28); got {x.dtype} {tuple(x.shape)}.")
    out = torch.empty((x.shape[0], 32, 32), dtype=torch.uint8)
    for start in range(0, x.shape[0], _RESIZE_CHUNK):
        chunk = x[start:start + _RESIZE_CHUNK, None].float()
        big = F.interpolate(chunk, size=(32, 32), mode="bilinear", align_corners=False)
        out[start:start + _RESIZE_CHUNK] = big[:, 0].round_().clamp_(0, 255).to(torch.uint8)
    return out


def compose_dominoes(digits: torch.Tensor, objects: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Stack digits above objects.

    Args:
        digits: (N, 32, 32) uint8 resized digits (see :func:`resize_digits`).
        objects: (N, 32, 32, 3) uint8 HWC CIFAR images.

    Returns:
        (N, 3, 64, 32) uint8; the digit repeated over the 3 channels in rows 0:32.
    """
    objects = torch.as_tensor(np.asarray(objects))
    if digits.shape[0] != objects.shape[0]:
        raise ValueError(f"compose_dominoes: {digits.shape[0]} digits but {objects.shape[0]} objects.")
    out = torch.empty((digits.shape[0], 3, 64, 32), dtype=torch.uint8)
    top, bottom, left, right = DIGIT_BOX
    out[:, :, top:bottom, left:right] = digits[:, None]
    top, bottom, left, right = OBJECT_BOX
    out[:, :, top:bottom, left:right] = objects.permute(0, 3, 1, 2)
    return out


# --------------------------------------------------------------------- validation


def _as_source(pair: Any, arg: str, image_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Check a (images, labels) pair and return it as numpy arrays (labels int64)."""
    if not isinstance(pair, (tuple, list)) or len(pair) < 2:
        raise ValueError(f"{arg} must be a tuple (images, labels), e.g. the result of load_{arg}().")
    images, labels = (np.asarray(x.numpy() if isinstance(x, torch.Tensor) else x) for x in pair[:2])
    if images.dtype != np.uint8 or images.ndim != 1 + len(image_shape) or images.shape[1:] != image_shape:
        hint = ""
        if arg == "cifar" and images.shape[1:] == (3, 32, 32):
            hint = " They look CHW; pass images.transpose(0, 2, 3, 1)."
        raise ValueError(
            f"{arg} images must be uint8 (N, {', '.join(map(str, image_shape))}); got "
            f"{images.dtype} {images.shape}.{hint}"
        )
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{arg} labels must be integers of shape ({len(images)},); got {labels.dtype} {labels.shape}."
        )
    return images, labels.astype(np.int64)


def _check_classes(classes: dict[int, int], mnist_labels: np.ndarray, cifar_labels: np.ndarray) -> None:
    if not isinstance(classes, dict) or len(classes) < 2:
        raise ValueError(f"classes must be a dict digit class -> CIFAR class with at least 2 pairs; got {classes!r}.")
    if not all(isinstance(c, (int, np.integer)) and c >= 0 for c in (*classes.keys(), *classes.values())):
        raise ValueError(f"classes must map non-negative int class ids to non-negative int class ids; got {classes!r}.")
    if len(set(classes.values())) != len(classes):
        raise ValueError(f"classes must map each digit to a different CIFAR class; got {classes!r}.")
    for source, labels, wanted in (("mnist", mnist_labels, classes.keys()), ("cifar", cifar_labels, classes.values())):
        short = [c for c in wanted if np.count_nonzero(labels == c) < 2]
        if short:
            raise ValueError(
                f"classes={classes!r} uses {source} classes {short} that have fewer than 2 images in "
                f"{source}; each class needs at least one image per split."
            )


# ----------------------------------------------------------------------- sampling


def _class_index(labels: np.ndarray, used: tuple[int, ...]) -> np.ndarray:
    """(N,) index of each label in ``used``, -1 for classes not used."""
    lookup = np.full(max(max(used), int(labels.max())) + 1, -1, dtype=np.int64)
    lookup[list(used)] = np.arange(len(used))
    return np.where(labels >= 0, lookup[np.maximum(labels, 0)], -1)


def _split_by_class(labels: np.ndarray, n_classes: int, test_fraction: float,
                    rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Per class (label index), a random partition of source indices into train/test."""
    parts: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for c in range(n_classes):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = min(max(int(round(test_fraction * len(idx))), 1), len(idx) - 1)
        parts["test"].append(idx[:n_test])
        parts["train"].append(idx[n_test:])
    return parts


def _draw(wanted: np.ndarray, pools: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """For each wanted class, a source index from that class's pool.

    Draws without replacement while a pool lasts, then cycles through it again.
    """
    out = np.empty(len(wanted), dtype=np.int64)
    for c, pool in enumerate(pools):
        where = np.flatnonzero(wanted == c)
        order = rng.permutation(len(pool))
        out[where] = pool[order[np.arange(len(where)) % len(pool)]]
    return out


def _other_class(labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random class different from each label."""
    return (labels + rng.integers(1, n_classes, size=len(labels))) % n_classes


def make_dominoes(
    mnist: tuple[np.ndarray, np.ndarray],
    cifar: tuple[np.ndarray, np.ndarray],
    *,
    classes: dict[int, int] | None = None,
    correlation: float = 1.0,
    test_fraction: float = 0.2,
    max_per_class: int | None = None,
    seed: int = 0,
) -> dict[str, dict[str, DominoSet]]:
    """Build the train and test domino sets.

    Args:
        mnist: (images (N, 28, 28) uint8, labels (N,)).
        cifar: (images (M, 32, 32, 3) uint8 HWC, labels (M,)).
        classes: digit class -> CIFAR class; default ``{k: k for k in range(10)}``.
            The label of a pair is the index of its entry in this mapping, for both
            factors, so the digit label equals the object label exactly when the
            pair is "matched". For the default these are the class ids; for
            ``{0: 1, 1: 9}`` the object label is 0 for automobile and 1 for truck.
        correlation: the fraction of pairs whose digit class matches the object
            class in the ``correlated`` sets (exactly ``round(correlation * n)``
            pairs; the others get a digit of a uniformly random *other* class).
        test_fraction: fraction of each class's source images kept for the test
            split. The partition is per source and per class, so no MNIST or CIFAR
            image appears in both splits.
        max_per_class: keep at most this many dominoes per object class and split.
        seed: seed of ``np.random.default_rng``; the same seed gives identical sets.

    One domino is made per CIFAR image of a split, so with the shipped test sets
    (10,000 images each) the default 10-class build gives 8,000 train and 2,000
    test dominoes per variant. The digit of a domino is drawn from that split's
    MNIST images of its class, without replacement while they last. The dominoes
    are in random order.

    Returns:
        ``{"train": {"correlated", "mnist_randomised", "cifar_randomised"}, "test": {...}}``
        of :class:`DominoSet`. ``mnist_randomised`` keeps the CIFAR halves of
        ``correlated`` and ``cifar_randomised`` its digit halves; ``mnist_index``
        and ``cifar_index`` point into the arrays passed in.

    Raises:
        ValueError: on a bad argument, naming it.
    """
    mnist_images, mnist_labels = _as_source(mnist, "mnist", (28, 28))
    cifar_images, cifar_labels = _as_source(cifar, "cifar", (32, 32, 3))
    classes = {k: k for k in range(10)} if classes is None else classes
    _check_classes(classes, mnist_labels, cifar_labels)
    if not isinstance(correlation, numbers.Real) or not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be a number in [0, 1]; got {correlation!r}.")
    if not isinstance(test_fraction, numbers.Real) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a number in (0, 1), e.g. 0.2; got {test_fraction!r}.")
    if max_per_class is not None and (not isinstance(max_per_class, (int, np.integer)) or max_per_class < 1):
        raise ValueError(f"max_per_class must be None or a positive int; got {max_per_class!r}.")
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int; got {seed!r}.")

    # Source labels -> class indices (-1 for unused classes).
    n_classes = len(classes)
    digit_classes, object_classes = tuple(classes.keys()), tuple(classes.values())
    mnist_y = _class_index(mnist_labels, digit_classes)
    cifar_y = _class_index(cifar_labels, object_classes)

    rng = np.random.default_rng(seed)
    mnist_pools = _split_by_class(mnist_y, n_classes, test_fraction, rng)
    cifar_pools = _split_by_class(cifar_y, n_classes, test_fraction, rng)

    # Index choices for every split and variant, then one resize for all digits used.
    plan: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for split in ("train", "test"):
        m_pools, c_pools = mnist_pools[split], cifar_pools[split]
        objects = np.concatenate([pool[:max_per_class] for pool in c_pools])
        objects = objects[rng.permutation(len(objects))]
        object_y = cifar_y[objects]
        n = len(objects)

        digit_y = _other_class(object_y, n_classes, rng)
        matched = rng.permutation(n)[: int(round(correlation * n))]
        digit_y[matched] = object_y[matched]
        digits = _draw(digit_y, m_pools, rng)

        random_digits = _draw(rng.integers(0, n_classes, size=n), m_pools, rng)
        random_objects = _draw(rng.integers(0, n_classes, size=n), c_pools, rng)
        plan[split] = {
            "correlated": (digits, objects),
            "mnist_randomised": (random_digits, objects),
            "cifar_randomised": (digits, random_objects),
        }

    used = np.unique(np.concatenate([d for variants in plan.values() for d, _ in variants.values()]))
    resized = resize_digits(mnist_images[used])
    position = np.full(len(mnist_images), -1, dtype=np.int64)
    position[used] = np.arange(len(used))

    sets: dict[str, dict[str, DominoSet]] = {}
    for split, variants in plan.items():
        sets[split] = {}
        for variant, (d_idx, c_idx) in variants.items():
            sets[split][variant] = DominoSet(
                images=compose_dominoes(resized[torch.from_numpy(position[d_idx])], cifar_images[c_idx]),
                digit=torch.from_numpy(mnist_y[d_idx].astype(np.int64)),
                object=torch.from_numpy(cifar_y[c_idx].astype(np.int64)),
                name=f"{split}/{variant}",
                mnist_index=torch.from_numpy(d_idx.astype(np.int64)),
                cifar_index=torch.from_numpy(c_idx.astype(np.int64)),
                digit_classes=digit_classes,
                object_classes=object_classes,
            )
    return sets


def make_binary_dominoes(
    mnist: tuple[np.ndarray, np.ndarray],
    cifar: tuple[np.ndarray, np.ndarray],
    *,
    correlation: float = 1.0,
    test_fraction: float = 0.2,
    max_per_class: int | None = None,
    seed: int = 0,
) -> dict[str, dict[str, DominoSet]]:
    """Binary dominoes (Shah et al.): digits 0/1 with automobile/truck; both labels are 0/1.

    Same as :func:`make_dominoes` with ``classes=BINARY_CLASSES`` (``{0: 1, 1: 9}``).
    """
    return make_dominoes(mnist, cifar, classes=dict(BINARY_CLASSES), correlation=correlation,
                         test_fraction=test_fraction, max_per_class=max_per_class, seed=seed)


def load_dominoes(
    binary: bool = False,
    source_split: str = "test",
    *,
    download: bool | None = None,
    **kwargs: Any,
) -> dict[str, dict[str, DominoSet]]:
    """Load MNIST and CIFAR-10 with :mod:`splicer_tutorial.datasets` and build dominoes.

    Args:
        binary: build binary dominoes (digits 0/1, automobile/truck) instead of 10-class.
        source_split: which source images to use: ``"test"`` (the shipped test sets,
            offline), ``"train"``, or ``"all"`` (train then test concatenated; the
            ``*_index`` tensors index the concatenation). ``"train"`` and ``"all"``
            download the training sets when allowed.
        download: passed to the loaders (None: allowed unless ``SPLICER_OFFLINE=1``).
        **kwargs: passed to :func:`make_dominoes` (correlation, test_fraction, ...).
    """
    allowed = ("test", "train", "all")
    if source_split not in allowed:
        raise ValueError(f"source_split={source_split!r} is not allowed; use one of {allowed}.")
    if binary and "classes" in kwargs:
        raise ValueError("load_dominoes: pass either binary=True or classes=..., not both.")
    splits = ["train", "test"] if source_split == "all" else [source_split]
    mnist = [datasets.load_mnist(s, download=download) for s in splits]
    cifar = [datasets.load_cifar10(s, download=download)[:2] for s in splits]
    mnist_pair = (np.concatenate([x for x, _ in mnist]), np.concatenate([y for _, y in mnist]))
    cifar_pair = (np.concatenate([x for x, _ in cifar]), np.concatenate([y for _, y in cifar]))
    if binary:
        kwargs["classes"] = dict(BINARY_CLASSES)
    return make_dominoes(mnist_pair, cifar_pair, **kwargs)
