"""Supervised simplicity bias: a classifier trained with labels on binary dominoes.

Shah et al. (2020, "The Pitfalls of Simplicity Bias in Neural Networks", NeurIPS) trained a
ResNet-50 with labels on binary dominoes (MNIST 0/1 above CIFAR-10 automobile/truck),
where both halves predict the label. The network used the digit alone: AUC 1.000 on correlated test dominoes,
0.494 with the digit randomised and 1.000 with the object randomised. This module
repeats that experiment with the book's encoders, so a reader can see simplicity bias
with labels before the book turns to self-supervised learning:

* :func:`train_classifier`: an encoder from :func:`splicer_tutorial.models.make_encoder`
  plus a linear head, trained with cross-entropy (no augmentation, as Shah et al.);
* :func:`predict_proba`, :func:`accuracy` and :func:`auc`: the classifier on a data set;
* :func:`penultimate_features` and :func:`decodability`: what a linear probe can read
  from the trained network's frozen features (as opposed to what its head *uses*);
* :data:`PRESETS` and :func:`run_supervised`: the run of the chapter, in fast and full
  mode, returned as a JSON-ready dict.

From the command line (full-mode results for the book)::

    python -m splicer_tutorial.supervised --mode full --seed 0 --out results/supervised-s0.json

Two questions, as everywhere in the book:

* **reliance**: does the classifier use a feature? Its AUC on a test set where the other
  half is randomised (``mnist_randomised`` for the object, ``cifar_randomised`` for the digit);
* **decodability**: can a feature be read from the network's features at all? A linear
  probe fitted on a randomised *training* split and scored on its test split.
"""

from __future__ import annotations

import numbers
import time
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
# text bars: a widget bar sends a comm message per update and needs widget scripts in the static book
from tqdm import tqdm

from . import config as config_module
from . import dominoes as dominoes_module
from . import probes as probes_module
from . import results as results_module
from .models import make_encoder
from .training import seed_everything

__all__ = [
    "PRESETS",
    "SHAH_AUC",
    "TEST_VARIANTS",
    "Classifier",
    "accuracy",
    "auc",
    "decodability",
    "evaluate",
    "load_binary_dominoes",
    "penultimate_features",
    "predict_proba",
    "run_supervised",
    "summarise",
    "train_classifier",
]

#: The three test variants, in the order the book shows them.
TEST_VARIANTS = ("correlated", "mnist_randomised", "cifar_randomised")

#: Shah et al. 2020, binary dominoes, supervised ResNet-50: AUC per test variant
#: (their "standard", "MNIST-randomised" and "CIFAR-randomised" test sets).
SHAH_AUC: dict[str, float] = {"correlated": 1.000, "mnist_randomised": 0.494, "cifar_randomised": 1.000}

#: Settings of each mode. ``data`` goes to :func:`load_binary_dominoes`, ``train`` to
#: :func:`train_classifier`. The shipped test sets give 1,600 train / 400 test binary
#: dominoes per variant (Shah et al. had 8,000 / 2,000 from the full training sets).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "fast": {
        "data": {"downsample": 2, "correlation": 1.0},
        "train": {"backbone": "convnet", "width": 16, "epochs": 2, "batch_size": 64, "lr": 2e-3,
                  "weight_decay": 1e-4},
    },
    "full": {
        "data": {"downsample": 1, "correlation": 1.0},
        "train": {"backbone": "resnet18", "width": None, "epochs": 30, "batch_size": 128, "lr": 1e-3,
                  "weight_decay": 1e-4},
    },
}


# ----------------------------------------------------------------------- the model


class Classifier(nn.Module):
    """An encoder and a linear head: x (B, C, H, W) float in [0, 1] -> logits (B, n_classes).

    ``features(x)`` gives the penultimate features (B, F), the encoder's output.
    """

    def __init__(self, encoder: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_dim, n_classes)
        self.n_classes = n_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> penultimate features (B, F)."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> logits (B, n_classes)."""
        return self.head(self.encoder(x))


# ---------------------------------------------------------------------- validation


def _check_images(images: Any, name: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"{name} must be a (N, C, H, W) torch tensor, e.g. dominoes.images; got {shape}.")
    if images.dtype != torch.uint8:
        raise ValueError(
            f"{name} must be uint8 (0-255), got {images.dtype}; pass the data set's uint8 images "
            "(they are scaled to [0, 1] batch by batch)."
        )
    return images


def _check_labels(labels: Any, n: int, name: str = "labels") -> torch.Tensor:
    labels = torch.as_tensor(np.asarray(labels)) if not isinstance(labels, torch.Tensor) else labels
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"{name} must be integer class indices (int64), got {labels.dtype}.")
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(
            f"{name} must have shape ({n},), one per image; got {tuple(labels.shape)} for {n} images."
        )
    if n and int(labels.min()) < 0:
        raise ValueError(f"{name} must be class indices >= 0; got a minimum of {int(labels.min())}.")
    return labels.long()


def _images_and_labels(dataset: Any, factor: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) of a DominoSet-like object (``.images``, ``.labels(factor)``) or a pair."""
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        images, labels = dataset
    elif hasattr(dataset, "images") and hasattr(dataset, "labels"):
        images, labels = dataset.images, dataset.labels(factor)
    else:
        raise ValueError(
            "dataset must be a DominoSet (with .images and .labels(factor)) or a pair (images, labels); "
            f"got {type(dataset).__name__}."
        )
    images = _check_images(images)
    return images, _check_labels(labels, len(images))


# ---------------------------------------------------------------------- training


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    *,
    backbone: str = "convnet",
    width: int | None = None,
    epochs: int = 2,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    n_classes: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[Classifier, dict[str, Any]]:
    """Train an encoder plus a linear head with cross-entropy and AdamW; no augmentation.

    Args:
        images: (N, C, H, W) uint8; moved to the device once, batches are indexed there
            and scaled to [0, 1] on the fly.
        labels: (N,) int64 class indices.
        backbone, width: the encoder, as in :func:`splicer_tutorial.models.make_encoder`.
        epochs, batch_size, lr, weight_decay: the optimisation (constant learning rate;
            the last incomplete batch of an epoch is dropped, unless it is the only one).
        seed: seeds the initialisation and the batch order; the same seed on the same
            device gives the same model.
        n_classes: outputs of the head; default ``labels.max() + 1``.
        device: ``None`` or ``"auto"`` chooses a GPU when there is one.
        progress: show a tqdm progress bar (one tick per epoch).

    Returns:
        ``(model, history)``: the :class:`Classifier` in eval mode, and a JSON-ready dict
        ``{"loss": [per step], "train_accuracy": [per epoch, on the training batches],
        "steps_per_epoch", "wall_s", "images_per_s"}``.

    Raises:
        ValueError: on float images, labels of the wrong length or dtype, a bad setting.
    """
    images = _check_images(images)
    labels = _check_labels(labels, len(images))
    if len(images) < 2:
        raise ValueError(f"train_classifier needs at least 2 images, got {len(images)}.")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}.")
    found = int(labels.max()) + 1
    n_classes = found if n_classes is None else int(n_classes)
    if n_classes < 2 or n_classes < found:
        raise ValueError(
            f"n_classes is {n_classes}, but a classifier needs at least 2 classes and the labels go up to "
            f"{found - 1}."
        )

    device = config_module.resolve_device(device)
    seed_everything(seed)
    model = Classifier(make_encoder(backbone, images.shape[1], width), n_classes).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    data, targets = images.to(device), labels.to(device)
    n = len(data)
    batch_size = min(int(batch_size), n)
    steps_per_epoch = n // batch_size
    generator = torch.Generator(device=device).manual_seed(seed)

    history: dict[str, Any] = {"loss": [], "train_accuracy": [], "steps_per_epoch": steps_per_epoch}
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(epochs), desc=f"supervised {backbone}", disable=not progress)
    for _ in bar:
        order = torch.randperm(n, device=device, generator=generator)
        correct = 0
        for step in range(steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            logits = model(data[index].float() / 255)
            loss = nn.functional.cross_entropy(logits, targets[index])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at step {len(history['loss'])}; lower lr.")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            history["loss"].append(loss.item())
            correct += int((logits.argmax(1) == targets[index]).sum())
        history["train_accuracy"].append(correct / (steps_per_epoch * batch_size))
        bar.set_postfix(loss=f"{np.mean(history['loss'][-steps_per_epoch:]):.3f}",
                        acc=f"{history['train_accuracy'][-1]:.3f}")
    history["wall_s"] = time.perf_counter() - start
    history["images_per_s"] = epochs * steps_per_epoch * batch_size / history["wall_s"]
    return model.eval(), history


# -------------------------------------------------------------------- evaluation


@torch.no_grad()
def predict_proba(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Class probabilities (softmax of the logits) of uint8 images (N, C, H, W): (N, n_classes).

    The model is put in eval mode and moved to the device (default: where its weights are).
    """
    images = _check_images(images)
    if device is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    device = config_module.resolve_device(device)
    model.eval().to(device)
    out = [
        torch.softmax(model(images[i : i + batch_size].to(device).float() / 255).float(), dim=1).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, getattr(model, "n_classes", 0)), dtype=np.float32)


def accuracy(model: nn.Module, dataset: Any, factor: str = "object", batch_size: int = 512) -> float:
    """Fraction of ``dataset`` whose most probable class is its ``factor`` label.

    ``dataset`` is a :class:`~splicer_tutorial.dominoes.DominoSet` (labels of ``factor``,
    ``"object"`` or ``"digit"``) or a pair ``(images (N, C, H, W) uint8, labels (N,))``.
    """
    images, labels = _images_and_labels(dataset, factor)
    if not len(images):
        raise ValueError("accuracy of an empty data set is undefined.")
    predicted = predict_proba(model, images, batch_size).argmax(1)
    return float((predicted == labels.numpy()).mean())


def auc(model: nn.Module, dataset: Any, factor: str = "object", batch_size: int = 512) -> float:
    """ROC AUC of a binary classifier: sklearn's ``roc_auc_score`` on the class-1 probability.

    ``dataset`` is a :class:`~splicer_tutorial.dominoes.DominoSet` (labels of ``factor``)
    or a pair ``(images (N, C, H, W) uint8, labels (N,))`` with labels in {0, 1}.
    1.0: the classifier ranks every class-1 image above every class-0 image; 0.5: it
    ranks them no better than chance (a constant classifier scores exactly 0.5).

    Raises:
        ValueError: for a model with more than 2 outputs or labels outside {0, 1}, or when
            the labels hold only one class (the AUC is undefined then).
    """
    images, labels = _images_and_labels(dataset, factor)
    y = labels.numpy()
    if len(y) and int(y.max()) > 1:
        raise ValueError(
            f"auc is for binary labels (0/1), but the {factor} labels go up to {int(y.max())}; "
            "use accuracy() for more than 2 classes."
        )
    if len(np.unique(y)) < 2:
        raise ValueError(f"auc needs both classes among the {factor} labels; found only {np.unique(y).tolist()}.")
    proba = predict_proba(model, images, batch_size)
    if proba.shape[1] != 2:
        raise ValueError(
            f"auc is for binary classifiers, but the model has {proba.shape[1]} outputs; "
            "use accuracy() for more than 2 classes."
        )
    return float(roc_auc_score(y, proba[:, 1]))


def penultimate_features(model: Classifier, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """The frozen encoder's features of uint8 images (N, C, H, W): (N, F)."""
    parameter = next(model.parameters())
    return probes_module.extract_features(model.encoder, _check_images(images), batch_size, parameter.device)


def decodability(
    encoder: nn.Module,
    data: Mapping[str, Mapping[str, Any]],
    which: Sequence[tuple[str, str]] = (("mnist_randomised", "object"), ("cifar_randomised", "digit")),
    device: str | torch.device | None = None,
) -> dict[str, dict[str, float]]:
    """Linear-probe accuracy of frozen features, fitted on a train variant, scored on its test variant.

    ``data`` is ``{"train": {variant: set}, "test": {variant: set}}``; ``which`` lists
    ``(variant, factor)`` pairs. Returns ``{variant: {factor: accuracy}}``. On
    ``mnist_randomised`` the digit carries no information about the object, so the object
    probe there measures how much object information the features hold.
    """
    out: dict[str, dict[str, float]] = {}
    for variant, factor in which:
        train, test = data["train"][variant], data["test"][variant]
        x_train = probes_module.extract_features(encoder, train.images, device=device)
        x_test = probes_module.extract_features(encoder, test.images, device=device)
        out.setdefault(variant, {})[factor] = probes_module.linear_probe(
            x_train, train.labels(factor), x_test, test.labels(factor), max_iter=2000
        )
    return out


def evaluate(model: nn.Module, sets: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """AUC and accuracy of a binary classifier on each test set, against both labels.

    ``sets`` is ``{variant: DominoSet}``. Returns ``{"auc": {variant: {"object": ..,
    "digit": ..}}, "accuracy": {...}}``: every number against the label named. On
    ``correlated`` the two labels are the same; on ``mnist_randomised`` only the object
    label can be predicted from the object half, on ``cifar_randomised`` only the digit label.
    """
    out: dict[str, dict[str, dict[str, float]]] = {"auc": {}, "accuracy": {}}
    for variant, dataset in sets.items():
        out["auc"][variant] = {f: auc(model, dataset, f) for f in ("object", "digit")}
        out["accuracy"][variant] = {f: accuracy(model, dataset, f) for f in ("object", "digit")}
    return out


# ----------------------------------------------------------------------------- runs


def split_overrides(mode: str, overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A mode's data and training settings (:data:`PRESETS`) with ``overrides`` applied to
    each; a one-line error naming any setting neither has."""
    preset = PRESETS[mode]
    unknown = sorted(set(overrides) - set(preset["data"]) - set(preset["train"]))
    if unknown:
        raise ValueError(
            f"unknown settings {unknown}; known: data {sorted(preset['data'])}, train {sorted(preset['train'])}."
        )
    data = {**preset["data"], **{k: v for k, v in overrides.items() if k in preset["data"]}}
    train = {**preset["train"], **{k: v for k, v in overrides.items() if k in preset["train"]}}
    return data, train


def load_binary_dominoes(
    mode: str | None = None, seed: int = 0, downsample: int | None = None, correlation: float | None = None, **kwargs: Any
) -> dict[str, dict[str, dominoes_module.DominoSet]]:
    """Binary dominoes for a mode's preset: ``{"train": {variant: set}, "test": {...}}``.

    Built from the shipped test sets (1,600 train / 400 test per variant, classes
    balanced), downsampled by the preset's factor (2 in fast mode: (N, 3, 32, 16)).
    ``kwargs`` go to :func:`splicer_tutorial.dominoes.load_dominoes`.
    """
    preset = PRESETS[config_module.mode(mode)]["data"]
    factor = preset["downsample"] if downsample is None else downsample
    correlation = preset["correlation"] if correlation is None else correlation
    data = dominoes_module.load_dominoes(binary=True, seed=seed, correlation=correlation, **kwargs)
    return {split: {v: s.downsampled(factor) for v, s in sets.items()} for split, sets in data.items()}


def run_supervised(
    mode: str | None = None,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    data: Mapping[str, Mapping[str, Any]] | None = None,
    command: list[str] | None = None,
    return_model: bool = False,
    **overrides: Any,
) -> dict[str, Any] | tuple[dict[str, Any], Classifier]:
    """Train a classifier on ``train/correlated`` binary dominoes with the object label, test it.

    Args:
        mode: ``"fast"`` or ``"full"`` (default :func:`splicer_tutorial.mode`).
        seed: seeds the dominoes and the training.
        overrides: any key of ``PRESETS[mode]["data"]`` (``downsample``, ``correlation``)
            or ``PRESETS[mode]["train"]`` (``backbone``, ``width``, ``epochs``, ...).
        data: prebuilt ``{"train": ..., "test": ...}`` sets (skips loading; the data
            overrides are then ignored).
        return_model: also return the trained :class:`Classifier`.

    Returns:
        A JSON-ready dict with ``config`` (``{"data": ..., "train": ...}``), ``mode``,
        ``seed``, provenance (``command``, ``device``, ``versions``, ``date``),
        ``wall_s``, ``data`` (set sizes), ``image_shape``, ``history``, and per test
        variant (``correlated``, ``mnist_randomised``, ``cifar_randomised``):

        * ``auc[variant] = {"object": .., "digit": ..}``: ROC AUC of the class-1
          probability against the object label and against the digit label;
        * ``accuracy[variant] = {"object": .., "digit": ..}``: likewise for accuracy;
        * ``decodability``: ``{"mnist_randomised": {"object": ..}, "cifar_randomised":
          {"digit": ..}}``, linear probes on the frozen penultimate features, fitted on
          the train variant and scored on the test variant;
        * ``shah_auc``: Shah et al.'s AUCs, for the comparison.

        The model was trained on the object label (== the digit label in ``correlated``).
        Reliance on the object shows in ``auc["mnist_randomised"]["object"]``, reliance on
        the digit in ``auc["cifar_randomised"]["digit"]``.
    """
    mode = config_module.mode(mode)
    data_config, train_config = split_overrides(mode, overrides)
    device = config_module.resolve_device(device)
    start = time.perf_counter()
    if data is None:
        data = load_binary_dominoes(mode, seed=seed, **data_config)
    train = data["train"]["correlated"]
    model, history = train_classifier(
        train.images, train.object, seed=seed, device=device, progress=progress, **train_config
    )
    scores = evaluate(model, {v: data["test"][v] for v in TEST_VARIANTS})
    result = {
        "config": {"data": data_config, "train": train_config},
        "mode": mode,
        "seed": seed,
        **results_module.provenance(device, command),
        "data": {split: {v: len(s) for v, s in sets.items()} for split, sets in data.items()},
        "image_shape": list(train.images.shape[1:]),
        "history": history,
        **scores,
        "decodability": decodability(model.encoder, data, device=device),
        "shah_auc": dict(SHAH_AUC),
        "chance": 0.5,
    }
    result["wall_s"] = time.perf_counter() - start
    return (result, model) if return_model else result


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Mean, standard error and count (:func:`splicer_tutorial.results.mean_se`) over runs of
    every ``auc`` and ``accuracy`` entry.

    Returns ``{"auc/object": {variant: (mean, se, n)}, "auc/digit": ..., "accuracy/object": ...,
    "accuracy/digit": ...}`` (se 0 for a single run).
    """
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for metric in ("auc", "accuracy"):
        for factor in ("object", "digit"):
            out[f"{metric}/{factor}"] = {variant: results_module.mean_se([r[metric][variant][factor] for r in runs])
                                         for variant in TEST_VARIANTS if runs}
    return out
