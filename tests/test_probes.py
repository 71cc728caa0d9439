"""Tests of splicer_tutorial.probes: linear and kNN probes, the chunk x factor matrix, evaluate()."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from splicer_tutorial.dominoes import DominoSet
from splicer_tutorial.probes import (
    chunk_probe_matrix,
    evaluate,
    extract_features,
    knn_probe,
    linear_probe,
    umap_points,
)

VARIANTS = ("correlated", "mnist_randomised", "cifar_randomised")


def clustered(n: int, classes: int, dim: int, seed: int, spread: float = 0.3):
    """Points around `classes` random unit directions, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.integers(0, classes, n)
    return centres[y] + spread * rng.normal(size=(n, dim)) / np.sqrt(dim), y


# ------------------------------------------------------------------ linear and kNN


def test_linear_probe_separable_is_perfect() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = rng.normal(size=(300, 5))
    x[:, 0] += 10 * y  # class shifts one feature far beyond the noise
    assert linear_probe(x[:200], y[:200], x[200:], y[200:]) == 1.0


def test_linear_probe_on_noise_is_near_chance() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(800, 10)), rng.integers(0, 4, 800)
    accuracy = linear_probe(x[:400], y[:400], x[400:], y[400:])
    assert 0.15 < accuracy < 0.38  # chance 0.25


def test_linear_probe_is_invariant_to_feature_scale() -> None:
    x, y = clustered(300, 4, 6, seed=2, spread=2.0)
    scaled = x * np.array([1e-3, 1, 1e3, 5, 0.1, 100])
    a = linear_probe(x[:200], y[:200], x[200:], y[200:])
    b = linear_probe(scaled[:200], y[:200], scaled[200:], y[200:])
    assert a == pytest.approx(b, abs=0.02)  # standardised first


def test_knn_probe_on_clusters_and_noise() -> None:
    x, y = clustered(400, 5, 8, seed=3)
    assert knn_probe(x[:300], y[:300], x[300:], y[300:]) > 0.95
    rng = np.random.default_rng(4)
    noise, labels = rng.normal(size=(600, 8)), rng.integers(0, 5, 600)
    assert knn_probe(noise[:300], labels[:300], noise[300:], labels[300:]) < 0.4  # chance 0.2


def test_knn_uses_cosine_distance() -> None:
    # two classes along two directions; the norm of a point says nothing
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 200)
    directions = np.array([[1.0, 0.2], [0.2, 1.0]])
    x = directions[y] * rng.uniform(0.1, 10, (200, 1))
    assert knn_probe(x[:100], y[:100], x[100:], y[100:], k=5) == 1.0


def test_knn_with_fewer_points_than_k() -> None:
    x, y = clustered(30, 2, 4, seed=6)
    assert 0.0 <= knn_probe(x[:10], y[:10], x[10:], y[10:], k=20) <= 1.0


@pytest.mark.parametrize("probe", [linear_probe, knn_probe])
def test_mismatched_lengths_raise(probe) -> None:
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match=r"features and labels differ in length: train 10 vs 9"):
        probe(x, np.zeros(9), x, np.zeros(10))
    with pytest.raises(ValueError, match=r"test 10 vs 11"):
        probe(x, np.zeros(10), x, np.zeros(11))
    with pytest.raises(ValueError, match=r"train and test features differ in width"):
        probe(x, np.zeros(10), np.zeros((10, 4)), np.zeros(10))


# ------------------------------------------------------------------ chunk x factor matrix


def test_chunk_probe_matrix_finds_which_chunk_holds_which_factor() -> None:
    n = 600
    a_feats, a = clustered(n, 4, 6, seed=7)
    b_feats, b = clustered(n, 4, 6, seed=8)
    z = np.concatenate([a_feats, b_feats], axis=1)  # chunk 0 encodes a, chunk 1 encodes b
    matrix = chunk_probe_matrix(z[:400], {"a": a[:400], "b": b[:400]}, z[400:], {"a": a[400:], "b": b[400:]}, 2)
    assert matrix.shape == (2, 2)
    assert matrix[0, 0] > 0.9 and matrix[1, 1] > 0.9
    assert matrix[0, 1] < 0.45 and matrix[1, 0] < 0.45  # chance 0.25
    # factors in the order of the label dict
    swapped = chunk_probe_matrix(z[:400], {"b": b[:400], "a": a[:400]}, z[400:], {"b": b[400:], "a": a[400:]}, 2)
    assert np.array_equal(swapped, matrix[:, ::-1])


def test_chunk_probe_matrix_reads_the_chunks_it_is_given() -> None:
    """Unequal chunks: 8 noise columns, then 6 that hold factor a; chunks of 8 and 6."""
    n = 600
    a_feats, a = clustered(n, 4, 6, seed=7)
    z = np.concatenate([np.random.default_rng(0).normal(size=(n, 8)), a_feats], axis=1)
    fit, score = slice(0, 400), slice(400, n)
    matrix = chunk_probe_matrix(z[fit], {"a": a[fit]}, z[score], {"a": a[score]}, (8, 6))
    assert matrix[0, 0] < 0.45 and matrix[1, 0] > 0.9  # chance 0.25
    thirds = chunk_probe_matrix(z[:, :7][fit], {"a": a[fit]}, z[:, :7][score], {"a": a[score]}, 3)  # 3, 2, 2
    assert thirds.shape == (3, 1)
    with pytest.raises(ValueError, match=r"chunk sizes \(4, 4\) add up to 8, not to 14"):
        chunk_probe_matrix(z, {"a": a}, z, {"a": a}, (4, 4))


# ------------------------------------------------------------------ features and evaluate


class RandomProjection(nn.Module):
    """A fixed encoder: a random linear map of the flattened image, with an eval-mode flag check."""

    def __init__(self, in_features: int, out_features: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("weight", torch.randn(in_features, out_features, generator=g))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert not self.training, "extract_features must put the encoder in eval mode"
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        return x.flatten(1) @ self.weight


def test_extract_features_batches_and_scales() -> None:
    images = torch.randint(0, 256, (10, 3, 8, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    encoder = RandomProjection(96).train()
    feats = extract_features(encoder, images, batch_size=3)
    assert isinstance(feats, np.ndarray) and feats.shape == (10, 16) and encoder.calls == 4
    expected = (images.float().flatten(1) / 255) @ encoder.weight
    np.testing.assert_allclose(feats, expected.numpy(), rtol=1e-5, atol=1e-5)
    plain = extract_features(lambda x: x.mean(dim=(2, 3)), images)  # any callable works
    np.testing.assert_allclose(plain, (images.float() / 255).mean(dim=(2, 3)).numpy(), rtol=1e-6)


@pytest.mark.parametrize("images", [torch.rand(4, 3, 8, 4), torch.zeros(4, 8, 4, dtype=torch.uint8)])
def test_extract_features_rejects_bad_images(images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"images must be \(N, C, H, W\) uint8"):
        extract_features(RandomProjection(96), images)


def tiny_dominoes(seed: int = 0, n: int = 120, size: int = 4, classes: int = 3) -> dict:
    """DominoSets (N, 3, 2S, S): the top half shows the digit class, the bottom the object class."""
    g = torch.Generator().manual_seed(seed)
    top = torch.rand(classes, 3, size, size, generator=g)
    bottom = torch.rand(classes, 3, size, size, generator=g)

    def make(name: str, digit: torch.Tensor, obj: torch.Tensor) -> DominoSet:
        images = torch.cat([top[digit], bottom[obj]], dim=2) * 200
        images = images + 25 * torch.rand(images.shape, generator=g)
        return DominoSet(images.round().to(torch.uint8), digit, obj, name)

    out: dict = {}
    for split in ("train", "test"):
        labels = torch.randint(0, classes, (n,), generator=g)
        other = torch.randint(0, classes, (n,), generator=g)
        out[split] = {
            "correlated": make(f"{split}/correlated", labels, labels),
            "mnist_randomised": make(f"{split}/mnist_randomised", other, labels),
            "cifar_randomised": make(f"{split}/cifar_randomised", labels, other),
        }
    return out


def test_evaluate_returns_the_documented_structure() -> None:
    data = tiny_dominoes()
    results = evaluate(RandomProjection(3 * 8 * 4), data, device="cpu")
    assert set(results) == {"probes", "naive_probes", "knn"}
    for kind in results.values():
        assert set(kind) == set(VARIANTS)
        for accuracies in kind.values():
            assert set(accuracies) == {"digit", "object"}
            assert all(isinstance(a, float) and 0.0 <= a <= 1.0 for a in accuracies.values())
    # both halves are plainly visible to the projection: each factor is decodable where it varies
    assert results["probes"]["mnist_randomised"]["object"] > 0.9
    assert results["probes"]["cifar_randomised"]["digit"] > 0.9
    assert results["knn"]["correlated"]["digit"] > 0.9
    # the naive probe is fitted on correlated data, where either half gives the label: it leans
    # partly on the digit half and loses accuracy once the digit is randomised
    assert results["naive_probes"]["correlated"]["object"] > 0.9
    assert results["naive_probes"]["mnist_randomised"]["object"] < 0.8


def test_evaluate_without_knn_and_with_some_factors() -> None:
    data = tiny_dominoes(seed=1)
    results = evaluate(RandomProjection(96), data, factors=("object",), knn=False, device="cpu")
    assert set(results) == {"probes", "naive_probes"}
    assert all(set(v) == {"object"} for v in results["probes"].values())


def test_evaluate_only_the_variants_asked_for() -> None:
    data = tiny_dominoes(seed=2)
    results = evaluate(RandomProjection(96), data, knn=False, device="cpu", test_sets=("mnist_randomised",))
    assert set(results["probes"]) == {"mnist_randomised"} == set(results["naive_probes"])
    with pytest.raises(ValueError, match=r"test_sets \['shuffled'\] are not in the data"):
        evaluate(RandomProjection(96), data, device="cpu", test_sets=("shuffled",))


def test_evaluate_naive_probe_reads_the_shortcut() -> None:
    """A probe fitted on correlated data may use the digit; on digit-randomised test data
    an encoder that sees only the digit half then fails at the object."""
    data = tiny_dominoes(seed=2)
    top_only = lambda x: x[:, :, :4].flatten(1)  # noqa: E731
    results = evaluate(top_only, data, knn=False, device="cpu")
    assert results["naive_probes"]["cifar_randomised"]["digit"] > 0.9
    assert results["naive_probes"]["mnist_randomised"]["object"] < 0.6  # chance 1/3
    assert results["probes"]["mnist_randomised"]["object"] < 0.6


def test_evaluate_without_correlated_training_set_has_no_naive_probes() -> None:
    data = tiny_dominoes(seed=3)
    data = {split: {"mnist_randomised": sets["mnist_randomised"]} for split, sets in data.items()}
    results = evaluate(RandomProjection(96), data, knn=False, device="cpu")
    assert results["naive_probes"] == {}
    assert set(results["probes"]) == {"mnist_randomised"}


def test_evaluate_needs_a_train_split_for_every_test_variant() -> None:
    data = tiny_dominoes(seed=4)
    del data["train"]["cifar_randomised"]
    with pytest.raises(ValueError, match=r"test sets \['cifar_randomised'\] have a test split but no train split"):
        evaluate(RandomProjection(96), data, device="cpu")


def test_umap_points_keep_separated_clusters_apart_and_repeat_with_the_seed() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 60)
    features = rng.normal(size=(120, 16)) + 10 * labels[:, None]
    points = umap_points(features, seed=3, n_neighbors=10)
    assert points.shape == (120, 2) and points.dtype == np.float32
    centres = [points[labels == k].mean(0) for k in (0, 1)]
    spread = max(np.linalg.norm(points[labels == k] - centres[k], axis=1).max() for k in (0, 1))
    assert np.linalg.norm(centres[0] - centres[1]) > 2 * spread
    assert np.array_equal(points, umap_points(features, seed=3, n_neighbors=10))
