"""Probes: what a frozen encoder's features say about each factor of the data.

Two questions, kept apart throughout the book:

* **decodability**: can a feature be read out at all? A linear probe is fitted on a
  variant's training split and scored on the same variant's test split; on the randomised
  variants the other half cannot help, so the score says what the encoder holds about
  this factor;
* **reliance**: does a classifier trained the obvious way use the feature? A *naive*
  probe is fitted on correlated training data and scored on a randomised test split.

Linear probes are multinomial logistic regressions (scikit-learn) on standardised
features; the kNN probe is a distance-weighted 20-nearest-neighbour vote under cosine
distance. Results are plain dicts ``{split: {factor: accuracy}}`` and arrays.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from .chunks import as_chunk_sizes, chunk_slices
from .config import resolve_device

FACTORS = ("digit", "object")


def umap_points(features: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """A 2-D UMAP (umap-learn) of features (N, F): (N, 2) float32, the same for the same seed.

    A picture of the largest structure in the features, not a measurement. umap-learn is
    imported here (slow to import; its first call compiles with numba: ~10-30 s).
    """
    import umap

    mapper = umap.UMAP(n_neighbors=min(n_neighbors, len(features) - 1), random_state=seed, n_jobs=1)
    return mapper.fit_transform(np.asarray(features, dtype=np.float32)).astype(np.float32)


@torch.no_grad()
def extract_features(
    encode: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Features of uint8 images (N, C, H, W) under ``encode`` (e.g. ``model.encoder``): (N, F).

    A module given as ``encode`` is put in eval mode and moved to the device.
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) uint8, got {tuple(images.shape)} {images.dtype}.")
    device = resolve_device(device)
    if isinstance(encode, torch.nn.Module):
        encode.eval().to(device)
    out = [
        encode(images[i : i + batch_size].to(device).float() / 255).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy()


def _check(train_x: np.ndarray, train_y, test_x: np.ndarray, test_y) -> tuple[np.ndarray, np.ndarray]:
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError(
            f"features and labels differ in length: train {len(train_x)} vs {len(train_y)}, "
            f"test {len(test_x)} vs {len(test_y)}."
        )
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ValueError(f"train and test features differ in width: {train_x.shape} vs {test_x.shape}.")
    return train_y, test_y


def fit_linear_probe(train_x: np.ndarray, train_y, max_iter: int = 500, C: float = 0.1) -> Pipeline:
    """A logistic regression on standardised features, fitted: ``.score(x, y)`` gives accuracy.

    train_x: (N, F), train_y: (N,). ``C`` is the inverse L2 strength; the mild default
    (0.1) converges three times faster than ``C=1`` on our features and scores the same or
    slightly better on held-out data.
    """
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=C, tol=1e-3)).fit(
        train_x, np.asarray(train_y))


def linear_probe(
    train_x: np.ndarray, train_y, test_x: np.ndarray, test_y, max_iter: int = 500, C: float = 0.1
) -> float:
    """Test accuracy of a logistic regression fitted on standardised training features.

    train_x: (N, F), train_y: (N,), test_x: (M, F), test_y: (M,); see :func:`fit_linear_probe`.
    """
    train_y, test_y = _check(train_x, train_y, test_x, test_y)
    return float(fit_linear_probe(train_x, train_y, max_iter, C).score(test_x, test_y))


def knn_probe(train_x: np.ndarray, train_y, test_x: np.ndarray, test_y, k: int = 20) -> float:
    """Test accuracy of a distance-weighted k-nearest-neighbour vote under cosine distance."""
    train_y, test_y = _check(train_x, train_y, test_x, test_y)
    classifier = KNeighborsClassifier(n_neighbors=min(k, len(train_x)), metric="cosine", weights="distance")
    return float(classifier.fit(train_x, train_y).score(test_x, test_y))


def evaluate(
    encode: Callable[[torch.Tensor], torch.Tensor],
    data: Mapping[str, Mapping],
    factors: Sequence[str] = FACTORS,
    knn: bool = True,
    device: str | torch.device | None = None,
    test_sets: Sequence[str] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """All the probes of a frozen encoder on a data set with named train and test sets.

    ``data`` is ``{"train": {variant: set}, "test": {variant: set}}`` as made by
    :func:`splicer_tutorial.dominoes.make_dominoes`; each set has ``images`` and
    ``labels(factor)``; its sets are named (dominoes: ``correlated``, ``mnist_randomised``, ...).
    ``test_sets`` limits the probes to those test sets (default: all). Returns::

        {"probes":       {variant: {factor: accuracy}},   # decodability
         "naive_probes": {variant: {factor: accuracy}},   # fitted on train["correlated"]
         "knn":          {variant: {factor: accuracy}}}   # if knn
    """
    train, test = data["train"], data["test"]
    if test_sets is not None:
        unknown = sorted(set(test_sets) - set(test))
        if unknown:
            raise ValueError(f"test_sets {unknown} are not in the data; it has {sorted(test)}.")
        test = {v: test[v] for v in test_sets}
    missing = sorted(set(test) - set(train))
    if missing:
        raise ValueError(f"test sets {missing} have a test split but no train split to fit the probe on.")
    feats = {
        (split, variant): extract_features(encode, sets[variant].images, device=device)
        for split, sets in (("train", train), ("test", test))
        for variant in test
    }
    if "correlated" in train and ("train", "correlated") not in feats:
        feats["train", "correlated"] = extract_features(encode, train["correlated"].images, device=device)
    results: dict[str, dict] = {"probes": {}, "naive_probes": {}}
    if knn:
        results["knn"] = {}
    for variant in test:
        x_train, x_test = feats["train", variant], feats["test", variant]
        for factor in factors:
            y_train, y_test = train[variant].labels(factor).numpy(), test[variant].labels(factor).numpy()
            results["probes"].setdefault(variant, {})[factor] = linear_probe(x_train, y_train, x_test, y_test)
            if knn:
                results["knn"].setdefault(variant, {})[factor] = knn_probe(x_train, y_train, x_test, y_test)
            if "correlated" in train:
                y_naive = train["correlated"].labels(factor).numpy()
                results["naive_probes"].setdefault(variant, {})[factor] = linear_probe(
                    feats["train", "correlated"], y_naive, x_test, y_test
                )
    return results


def chunk_probe_matrix(
    train_z: np.ndarray,
    train_labels: Mapping[str, np.ndarray],
    test_z: np.ndarray,
    test_labels: Mapping[str, np.ndarray],
    chunks: int | Sequence[int],
) -> np.ndarray:
    """Linear-probe accuracy of each chunk of an embedding for each factor: (K, F).

    train_z: (N, D) and test_z: (M, D) embeddings (e.g. ``model.embed``), split into the
    chunks a run trained: ``chunks`` is their number K (as equal as they can be,
    :func:`splicer_tutorial.chunks.chunk_sizes`) or their sizes (e.g. a run's
    ``chunk_sizes``); factors in the order of ``train_labels``. A SpliCER model should show
    each chunk specialising in its component.
    """
    if train_z.ndim != 2 or test_z.ndim != 2 or train_z.shape[1] != test_z.shape[1]:
        raise ValueError(f"train_z and test_z must be (N, D) with the same D, got {train_z.shape} and {test_z.shape}.")
    sizes = as_chunk_sizes(train_z.shape[1], chunks)
    slices = chunk_slices(train_z.shape[1], len(sizes), sizes)
    matrix = np.zeros((len(slices), len(train_labels)))
    for k, cols in enumerate(slices):
        for j, factor in enumerate(train_labels):
            matrix[k, j] = linear_probe(train_z[:, cols], train_labels[factor], test_z[:, cols], test_labels[factor])
    return matrix


def chunk_probes(embed: Callable[[torch.Tensor], torch.Tensor], train, test, factors: Sequence[str],
                 chunks: int | Sequence[int], split: str, device: str | torch.device | None = None) -> dict:
    """:func:`chunk_probe_matrix` of ``embed``'s outputs (e.g. ``model.embed``) on a training
    and a test set of one split (each with ``images`` and ``labels(factor)``), as a result
    records it: ``{"split", "factors", "chunk_sizes", "matrix": (K, F) nested list}``."""
    z_train = extract_features(embed, train.images, device=device)
    z_test = extract_features(embed, test.images, device=device)
    matrix = chunk_probe_matrix(z_train, {f: train.labels(f).numpy() for f in factors},
                                z_test, {f: test.labels(f).numpy() for f in factors}, chunks)
    return {"split": split, "factors": list(factors), "chunk_sizes": list(as_chunk_sizes(z_train.shape[1], chunks)),
            "matrix": matrix.tolist()}
