"""Tests of splicer_tutorial.supervised: training, AUC and accuracy, input checks, a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from splicer_tutorial import supervised
from splicer_tutorial.supervised import (
    TEST_VARIANTS,
    accuracy,
    auc,
    predict_proba,
    run_supervised,
    train_classifier,
)



@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def separable(n: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (n, 3, 8, 8) images whose class is a bright or dark top row, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 100, (n, 3, 8, 8), generator=g)
    images[:, :, :2] += 155 * labels[:, None, None, None]
    return images.to(torch.uint8), labels.long()


class Fixed(nn.Module):
    """A 'classifier' whose class-1 logit is a per-image score stored in pixel (0, 0, 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = x[:, 0, 0, 0] * 10 - 5
        return torch.stack([torch.zeros_like(score), score], dim=1) + 0 * self.dummy


def scored(scores: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.zeros((len(scores), 1, 2, 2), dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.as_tensor(scores, dtype=torch.uint8)
    return images, torch.as_tensor(labels).long()


# ----------------------------------------------------------------------- training


def test_training_lowers_the_loss_and_fits_a_separable_set() -> None:
    images, labels = separable()
    model, history = train_classifier(images, labels, width=8, epochs=6, batch_size=32, lr=5e-3,
                                      progress=False)
    steps = history["steps_per_epoch"]
    assert steps == 4 and len(history["loss"]) == 6 * steps and len(history["train_accuracy"]) == 6
    assert np.mean(history["loss"][-steps:]) < np.mean(history["loss"][:steps])
    assert accuracy(model, (images, labels)) > 0.9
    proba = predict_proba(model, images, batch_size=50)
    assert proba.shape == (len(images), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert not model.training
    json.dumps(history)  # JSON-ready


def test_training_is_seeded() -> None:
    images, labels = separable(64)
    kwargs = dict(width=4, epochs=1, batch_size=16, progress=False)
    a = train_classifier(images, labels, seed=3, **kwargs)[1]["loss"]
    b = train_classifier(images, labels, seed=3, **kwargs)[1]["loss"]
    c = train_classifier(images, labels, seed=4, **kwargs)[1]["loss"]
    assert a == b and a != c


# ------------------------------------------------------------------ AUC, accuracy


def test_auc_equals_sklearn_on_a_constructed_model() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    scores = np.clip(rng.normal(100 + 40 * labels, 40), 0, 255).round()
    images, y = scored(scores, labels)
    proba = torch.softmax(Fixed()(images.float() / 255), 1)[:, 1].detach().numpy()
    assert auc(Fixed(), (images, y)) == pytest.approx(roc_auc_score(labels, proba))
    assert auc(Fixed(), (images, y)) == pytest.approx(roc_auc_score(labels, scores))


def test_auc_perfect_and_constant_classifiers() -> None:
    labels = np.arange(20) % 2
    images, y = scored(np.where(labels == 1, 200, 50), labels)
    assert auc(Fixed(), (images, y)) == 1.0
    assert accuracy(Fixed(), (images, y)) == 1.0
    images, y = scored(np.full(20, 128), labels)
    assert auc(Fixed(), (images, y)) == pytest.approx(0.5)


def test_auc_and_accuracy_take_domino_sets_and_a_factor() -> None:
    from splicer_tutorial.dominoes import DominoSet

    labels = np.arange(20) % 2
    small, y = scored(np.where(labels == 1, 200, 50), labels)
    images = torch.zeros((20, 3, 4, 2), dtype=torch.uint8)
    images[:, 0, 0, 0] = small[:, 0, 0, 0]
    ds = DominoSet(images=images, digit=1 - y, object=y, name="test/toy")
    assert auc(Fixed(), ds) == 1.0 and auc(Fixed(), ds, "object") == 1.0
    assert auc(Fixed(), ds, "digit") == 0.0
    assert accuracy(Fixed(), ds, "digit") == 0.0


# -------------------------------------------------------------------- bad inputs


def test_float_images_are_rejected() -> None:
    images, labels = separable(16)
    with pytest.raises(ValueError, match="uint8"):
        train_classifier(images.float() / 255, labels, epochs=1, progress=False)
    with pytest.raises(ValueError, match="uint8"):
        predict_proba(Fixed(), images.float())


def test_mismatched_lengths_and_float_labels_are_rejected() -> None:
    images, labels = separable(16)
    with pytest.raises(ValueError, match=r"shape \(16,\)"):
        train_classifier(images, labels[:10], epochs=1, progress=False)
    with pytest.raises(ValueError, match="integer"):
        train_classifier(images, labels.float(), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"shape \(16,\)"):
        auc(Fixed(), (images, labels[:3]))
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(images, labels, epochs=0, progress=False)


def test_auc_rejects_more_than_two_classes() -> None:
    images, labels = separable(30)
    three = torch.arange(30) % 3
    with pytest.raises(ValueError, match="binary"):
        auc(Fixed(), (images, three))
    model, _ = train_classifier(images, three, width=4, epochs=1, batch_size=30, progress=False)
    with pytest.raises(ValueError, match="binary"):
        auc(model, (images, labels))
    with pytest.raises(ValueError, match="both classes"):
        auc(Fixed(), (images, torch.zeros(30, dtype=torch.long)))


def test_run_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError, match="unknown settings"):
        run_supervised("fast", epoch=3)


# ------------------------------------------------------------ a tiny real run




def test_tiny_run_returns_the_documented_keys(shipped_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = {
        "data": {"downsample": 4, "correlation": 1.0},
        "train": {"backbone": "convnet", "width": 4, "epochs": 1, "batch_size": 128, "lr": 2e-3,
                  "weight_decay": 1e-4},
    }
    monkeypatch.setattr(supervised, "PRESETS", {"fast": tiny, "full": tiny})
    result = run_supervised("fast", seed=0, progress=False)
    json.dumps(result)
    for key in ("config", "mode", "seed", "command", "device", "versions", "date", "wall_s", "history",
                "auc", "accuracy", "decodability", "shah_auc", "data", "image_shape"):
        assert key in result, key
    assert result["mode"] == "fast" and result["seed"] == 0
    assert result["image_shape"] == [3, 16, 8]
    assert result["data"]["train"]["correlated"] == 1600 and result["data"]["test"]["correlated"] == 400
    for metric in ("auc", "accuracy"):
        assert set(result[metric]) == set(TEST_VARIANTS)
        for variant in TEST_VARIANTS:
            assert set(result[metric][variant]) == {"object", "digit"}
            assert all(0.0 <= v <= 1.0 for v in result[metric][variant].values())
    # On correlated test data the two labels are the same, so the two numbers are too.
    assert result["auc"]["correlated"]["object"] == result["auc"]["correlated"]["digit"]
    assert 0.0 <= result["decodability"]["mnist_randomised"]["object"] <= 1.0
    assert len(result["history"]["train_accuracy"]) == 1
