"""Tests of splicer_tutorial.dominoes on small synthetic sources (and the shipped data if present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from splicer_tutorial.dominoes import (
    DIGIT_BOX,
    INTERACTION,
    OBJECT_BOX,
    DominoSet,
    half_matched,
    load_dominoes,
    make_binary_dominoes,
    make_dominoes,
    resize_digits,
)

VARIANTS = ("correlated", "mnist_randomised", "cifar_randomised")


def synthetic(n_mnist_per_class: int = 60, n_cifar_per_class: int = 50, n_classes: int = 10, seed: int = 0):
    """Random uint8 digits and images with known, shuffled labels."""
    rng = np.random.default_rng(seed)
    mnist_labels = rng.permutation(np.repeat(np.arange(n_classes), n_mnist_per_class))
    cifar_labels = rng.permutation(np.repeat(np.arange(n_classes), n_cifar_per_class))
    mnist_images = rng.integers(0, 256, (len(mnist_labels), 28, 28), dtype=np.uint8)
    cifar_images = rng.integers(0, 256, (len(cifar_labels), 32, 32, 3), dtype=np.uint8)
    return (mnist_images, mnist_labels), (cifar_images, cifar_labels)


@pytest.fixture(scope="module")
def sources():
    return synthetic()


@pytest.fixture(scope="module")
def sets(sources):
    return make_dominoes(*sources, seed=0)


def test_structure_shapes_and_dtypes(sets) -> None:
    assert set(sets) == {"train", "test"}
    for split in ("train", "test"):
        assert set(sets[split]) == set(VARIANTS)
        for variant, ds in sets[split].items():
            assert ds.name == f"{split}/{variant}"
            assert ds.images.shape[1:] == (3, 64, 32) and ds.images.dtype == torch.uint8
            assert ds.digit.dtype == ds.object.dtype == torch.int64
            assert len(ds) == len(ds.digit) == len(ds.object) == len(ds.mnist_index) == len(ds.cifar_index)
    # One domino per CIFAR image of the split: 50 per class -> 40 train, 10 test.
    assert len(sets["train"]["correlated"]) == 400 and len(sets["test"]["correlated"]) == 100


def test_halves_are_resized_digit_and_cifar_image(sources, sets) -> None:
    (mnist_x, mnist_y), (cifar_x, cifar_y) = sources
    ds = sets["train"]["mnist_randomised"]
    i = 7
    digit = mnist_x[int(ds.mnist_index[i])]
    expected_top = F.interpolate(torch.from_numpy(digit)[None, None].float(), size=(32, 32),
                                 mode="bilinear", align_corners=False)[0, 0].round().to(torch.uint8)
    top, bottom, left, right = DIGIT_BOX
    for channel in range(3):
        assert torch.equal(ds.images[i, channel, top:bottom, left:right], expected_top)
    top, bottom, left, right = OBJECT_BOX
    expected_bottom = torch.from_numpy(cifar_x[int(ds.cifar_index[i])]).permute(2, 0, 1)
    assert torch.equal(ds.images[i, :, top:bottom, left:right], expected_bottom)
    # Labels follow the source images.
    assert torch.equal(ds.digit, torch.from_numpy(mnist_y[ds.mnist_index.numpy()]))
    assert torch.equal(ds.object, torch.from_numpy(cifar_y[ds.cifar_index.numpy()]))
    # And resize_digits agrees with interpolate for all images at once.
    assert torch.equal(resize_digits(digit[None])[0], expected_top)


def test_full_correlation_matches_everywhere(sets) -> None:
    for split in ("train", "test"):
        ds = sets[split]["correlated"]
        assert torch.equal(ds.digit, ds.object)


def test_partial_correlation(sources) -> None:
    ds = make_dominoes(*sources, correlation=0.5, seed=1)["train"]["correlated"]
    assert abs(ds.match_rate() - 0.5) < 0.01  # exactly round(0.5 * n) pairs match
    mismatched = ds.digit != ds.object
    assert len(torch.unique(ds.digit[mismatched])) == 10  # the others spread over all classes
    zero = make_dominoes(*sources, correlation=0.0, seed=1)["train"]["correlated"]
    assert zero.match_rate() == 0.0


def test_randomised_variants(sets) -> None:
    for split in ("train", "test"):
        correlated = sets[split]["correlated"]
        mnist_rand = sets[split]["mnist_randomised"]
        cifar_rand = sets[split]["cifar_randomised"]
        # The kept half is identical to the correlated set.
        assert torch.equal(mnist_rand.images[:, :, 32:], correlated.images[:, :, 32:])
        assert torch.equal(mnist_rand.object, correlated.object)
        assert torch.equal(cifar_rand.images[:, :, :32], correlated.images[:, :, :32])
        assert torch.equal(cifar_rand.digit, correlated.digit)
    # The randomised factor matches at chance (1/10); 400 samples: sd ~0.015.
    for variant in ("mnist_randomised", "cifar_randomised"):
        assert abs(sets["train"][variant].match_rate() - 0.1) < 0.06
    assert not torch.equal(sets["train"]["mnist_randomised"].images[:, :, :32],
                           sets["train"]["correlated"].images[:, :, :32])


def test_splits_share_no_source_image(sets) -> None:
    for key in ("mnist_index", "cifar_index"):
        train = set().union(*(getattr(ds, key).tolist() for ds in sets["train"].values()))
        test = set().union(*(getattr(ds, key).tolist() for ds in sets["test"].values()))
        assert train and test and not train & test


def test_digits_without_replacement_while_pool_lasts(sets) -> None:
    # 60 digits per class -> 48 in train; each correlated class has 40 dominoes.
    index = sets["train"]["correlated"].mnist_index
    assert len(torch.unique(index)) == len(index)


def test_seed_reproducibility(sources, sets) -> None:
    again = make_dominoes(*sources, seed=0)
    other = make_dominoes(*sources, seed=1)
    for split in ("train", "test"):
        for variant in VARIANTS:
            a, b, c = sets[split][variant], again[split][variant], other[split][variant]
            assert torch.equal(a.images, b.images) and torch.equal(a.digit, b.digit)
            assert torch.equal(a.mnist_index, b.mnist_index) and torch.equal(a.cifar_index, b.cifar_index)
            assert not torch.equal(a.cifar_index, c.cifar_index)


def test_binary_dominoes(sources) -> None:
    (mnist_x, mnist_y), (cifar_x, cifar_y) = sources
    sets = make_binary_dominoes((mnist_x, mnist_y), (cifar_x, cifar_y), seed=0)
    for split in ("train", "test"):
        for ds in sets[split].values():
            assert set(ds.digit.tolist()) <= {0, 1} and set(ds.object.tolist()) <= {0, 1}
            assert set(mnist_y[ds.mnist_index.numpy()].tolist()) <= {0, 1}
            assert set(cifar_y[ds.cifar_index.numpy()].tolist()) <= {1, 9}
            # object label 0 = automobile (1), 1 = truck (9)
            np.testing.assert_array_equal(cifar_y[ds.cifar_index.numpy()], np.where(ds.object.numpy() == 0, 1, 9))
            assert ds.object_classes == (1, 9) and ds.digit_classes == (0, 1)
        assert torch.equal(sets[split]["correlated"].digit, sets[split]["correlated"].object)
    assert len(sets["train"]["correlated"]) == 80 and len(sets["test"]["correlated"]) == 20


def test_max_per_class_keeps_balance(sources) -> None:
    ds = make_dominoes(*sources, max_per_class=5, seed=0)["train"]["correlated"]
    assert len(ds) == 50 and torch.bincount(ds.object).tolist() == [5] * 10


def test_domino_set_methods(sets) -> None:
    ds = sets["test"]["correlated"]
    assert torch.equal(ds.labels("digit"), ds.digit) and torch.equal(ds.labels("object"), ds.object)
    assert ds.factor_names == ("digit", "object")
    with pytest.raises(ValueError, match="factor='colour'.*'digit', 'object'"):
        ds.labels("colour")
    x = ds.float_images()
    assert x.dtype == torch.float32 and x.shape == ds.images.shape
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and float(x.max()) > 0.9
    first = ds.subset(10)
    assert len(first) == 10 and torch.equal(first.images, ds.images[:10])
    picked = ds.subset([3, 1])
    assert torch.equal(picked.cifar_index, ds.cifar_index[[3, 1]]) and torch.equal(picked.digit, ds.digit[[3, 1]])
    with pytest.raises(ValueError, match="images must be uint8"):
        DominoSet(images=ds.images.float(), digit=ds.digit, object=ds.object, name="x")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"correlation": 1.5}, "correlation"),
        ({"correlation": -0.1}, "correlation"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"classes": {0: 1}}, "classes"),
        ({"classes": {0: 1, 1: 1}}, "classes"),
        ({"classes": {0: 1, 11: 2}}, "classes"),
        ({"max_per_class": 0}, "max_per_class"),
    ],
)
def test_bad_arguments(sources, kwargs, named) -> None:
    with pytest.raises(ValueError, match=named):
        make_dominoes(*sources, **kwargs)


def test_bad_sources(sources) -> None:
    (mnist_x, mnist_y), (cifar_x, cifar_y) = sources
    with pytest.raises(ValueError, match="cifar images.*CHW"):
        make_dominoes((mnist_x, mnist_y), (cifar_x.transpose(0, 3, 1, 2), cifar_y))
    with pytest.raises(ValueError, match="mnist images must be uint8"):
        make_dominoes((mnist_x.astype(np.float32), mnist_y), (cifar_x, cifar_y))
    with pytest.raises(ValueError, match="mnist labels"):
        make_dominoes((mnist_x, mnist_y[:-1]), (cifar_x, cifar_y))
    with pytest.raises(ValueError, match="source_split"):
        load_dominoes(source_split="everything")


# ------------------------------------------------------------------- real shipped data




def test_real_data_build_sizes(shipped_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sets = load_dominoes()
    for variant in VARIANTS:
        assert len(sets["train"][variant]) == 8000 and len(sets["test"][variant]) == 2000
    assert torch.bincount(sets["test"]["correlated"].object).tolist() == [200] * 10
    assert torch.equal(sets["train"]["correlated"].digit, sets["train"]["correlated"].object)
    binary = load_dominoes(binary=True)
    assert len(binary["train"]["correlated"]) == 1600 and len(binary["test"]["correlated"]) == 400


def test_half_matched_label_needs_both_halves(sets) -> None:
    correlated = sets["train"]["correlated"]
    mixed = half_matched(correlated, seed=3)
    match = mixed.labels(INTERACTION)
    assert mixed.images.shape == correlated.images.shape and mixed.name == "train/half_matched"
    assert torch.equal(mixed.images[:, :, 32:], correlated.images[:, :, 32:]), "the object halves stay"
    assert torch.equal(mixed.object, correlated.object)
    # computable from the two halves: the label says whether the top half's digit class is the object's
    tops = {bytes(image[:, :32].numpy()): int(d) for image, d in zip(correlated.images, correlated.digit)}
    top_class = torch.tensor([tops[bytes(image[:, :32].numpy())] for image in mixed.images])
    assert torch.equal(match, (top_class == mixed.object).long()) and torch.equal(top_class, mixed.digit)
    # from neither alone: half of every object class matches, and about half of every digit class
    for c in range(10):
        assert abs(match[mixed.object == c].float().mean() - 0.5) <= 0.5 / int((mixed.object == c).sum()) + 1e-9
        assert 0.35 < match[mixed.digit == c].float().mean() < 0.65
    assert torch.equal(half_matched(correlated, seed=3).images, mixed.images)
    assert not torch.equal(half_matched(correlated, seed=4).digit, mixed.digit)
    with pytest.raises(ValueError, match="fully correlated"):
        half_matched(sets["train"]["mnist_randomised"])
    with pytest.raises(ValueError, match="'colour'"):
        mixed.labels("colour")
