"""Tests of splicer_tutorial.randbits on synthetic digits (and the shipped MNIST if present)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from splicer_tutorial import randbits
from splicer_tutorial.augment import SSLAugment
from splicer_tutorial.randbits import RandBitsSet, hash_bits, load_randbits, make_randbits
from splicer_tutorial.runs import run_randbits



def synthetic(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 'digits' (n, 28, 28) with balanced labels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def test_hash_bits_are_deterministic_distinct_and_balanced() -> None:
    images, _ = synthetic(2000)
    bits = hash_bits(images, 64)
    assert bits.shape == (2000, 64) and bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 1}
    assert np.array_equal(bits, hash_bits(images.copy(), 64)), "the same image must give the same bits"
    assert np.array_equal(hash_bits(images, 10), bits[:, :10]), "fewer bits are a prefix"
    assert np.array_equal(hash_bits(images[[5, 5]], 16)[0], hash_bits(images[[5, 5]], 16)[1])
    assert len(np.unique(bits, axis=0)) == 2000, "different images, different codes"
    assert abs(bits.mean() - 0.5) < 0.01 and np.all(np.abs(bits.mean(0) - 0.5) < 0.05)
    changed = images[:1].copy()
    changed[0, 0, 0] ^= 1
    assert not np.array_equal(hash_bits(changed, 64), bits[:1]), "one flipped pixel changes the hash"
    assert hash_bits(images, 0).shape == (2000, 0)


@pytest.mark.parametrize("n_bits", [-1, 65, 2.0, True])
def test_hash_bits_rejects_bad_counts(n_bits) -> None:
    with pytest.raises(ValueError, match="n_bits"):
        hash_bits(synthetic(4)[0], n_bits)


@pytest.mark.parametrize("size", [28, 14])
def test_bit_planes_are_constant_and_hold_the_bits(size: int) -> None:
    images, labels = synthetic(50)
    ds = make_randbits(images, labels, n_bits=6, size=size)
    assert ds.images.shape == (50, 7, size, size) and ds.images.dtype == torch.uint8
    assert len(ds) == 50 and ds.n_bits == 6
    assert torch.equal(ds.bits, torch.from_numpy(hash_bits(images, 6))), "bits hash the original 28x28 bytes"
    planes = ds.images[:, 1:].int()
    assert torch.equal(planes, (255 * ds.bits.int())[:, :, None, None].expand_as(planes))
    if size == 28:
        assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    else:  # area averaging of 2x2 blocks
        expected = torch.from_numpy(images).float().unflatten(1, (14, 2)).unflatten(3, (14, 2)).mean((2, 4))
        assert (ds.images[:, 0].float() - expected).abs().max() <= 0.5
    assert torch.equal(ds.labels("digit"), torch.from_numpy(labels))


def test_labels_and_subset() -> None:
    ds = make_randbits(*synthetic(30), n_bits=3)
    assert ds.factor_names == ("digit",)
    with pytest.raises(ValueError, match=r"'object'.*\('digit',\)"):
        ds.labels("object")
    part = ds.subset(10)
    assert len(part) == 10 and torch.equal(part.images, ds.images[:10]) and torch.equal(part.bits, ds.bits[:10])
    picked = ds.subset([3, 1])
    assert torch.equal(picked.digit, ds.digit[[3, 1]])
    with pytest.raises(ValueError, match="subset"):
        ds.subset(31)
    with pytest.raises(ValueError, match="bits"):
        RandBitsSet(ds.images, ds.digit, ds.bits[:, :2])


def test_bits_are_identical_in_both_views_while_the_digit_differs() -> None:
    torch.manual_seed(0)
    ds = make_randbits(*synthetic(64), n_bits=8, size=14)
    x = ds.images.float() / 255
    augment = SSLAugment("channels", crop_scale=(0.25, 1.0), photometric_channels=1)
    first, second = augment.views(x)
    assert (first[:, 1:] - second[:, 1:]).abs().max() < 1e-6
    assert (first[:, 1:] - x[:, 1:]).abs().max() < 1e-6, "each plane keeps its bit's value"
    assert (first[:, 0] - second[:, 0]).abs().amax(dim=(1, 2)).min() > 0.01, "the digit channel differs"


def test_split_is_disjoint_stratified_and_seeded() -> None:
    labels = np.repeat(np.arange(10), [90, 110, 100, 100, 100, 95, 105, 100, 100, 100])
    train, test = randbits.split_indices(labels, 600, 300, seed=1)
    assert len(train) == 600 and len(test) == 300 and not set(train) & set(test)
    assert np.abs(np.bincount(labels[train]) - 60).max() <= 6
    again, _ = randbits.split_indices(labels, 600, 300, seed=1)
    other, _ = randbits.split_indices(labels, 600, 300, seed=2)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    with pytest.raises(ValueError, match="n_train"):
        randbits.split_indices(labels, 900, 200)


def test_load_randbits_split_is_disjoint(shipped_dir: Path) -> None:
    data = load_randbits(5, n_train=8000, n_test=2000, seed=0)
    train, test = data["train"]["randbits"], data["test"]["randbits"]
    assert len(train) == 8000 and len(test) == 2000 and train.images.shape[1:] == (6, 28, 28)
    assert train.name == "train/randbits" and test.name == "test/randbits"
    # The 10,000 shipped digits are distinct, so their bytes identify them.
    train_digits = {image.tobytes() for image in train.images[:, 0].numpy()}
    test_digits = {image.tobytes() for image in test.images[:, 0].numpy()}
    assert len(train_digits) == 8000 and len(test_digits) == 2000 and not train_digits & test_digits
    assert np.abs(torch.bincount(test.digit).numpy() - 200).max() < 30, "class-stratified"
    assert torch.equal(train.bits, torch.from_numpy(hash_bits(train.images[:, 0].numpy(), 5)))
    small = load_randbits(5, n_train=100, n_test=50, seed=0, size=14)
    assert small["train"]["randbits"].images.shape == (100, 6, 14, 14)
    assert torch.equal(small["train"]["randbits"].digit, load_randbits(0, 100, 50, seed=0)["train"]["randbits"].digit)


def test_zero_bits_blanks_the_planes_and_keeps_the_digit_and_the_code(shipped_dir: Path) -> None:
    ds = make_randbits(*synthetic(20), n_bits=5, size=14)
    blank = randbits.zero_bits(ds)
    assert blank.images.shape == ds.images.shape and blank.images[:, 1:].eq(0).all()
    assert torch.equal(blank.images[:, 0], ds.images[:, 0]) and torch.equal(blank.bits, ds.bits)
    assert ds.images[:, 1:].any(), "the original is left as it was"
    data = load_randbits(5, n_train=100, n_test=50, seed=0, size=14, zeroed=True)
    for split in ("train", "test"):
        sets = data[split]
        assert sorted(sets) == ["bits_zeroed", "randbits"] and sets["bits_zeroed"].name == f"{split}/bits_zeroed"
        assert torch.equal(sets["bits_zeroed"].digit, sets["randbits"].digit)
    assert list(load_randbits(5, n_train=100, n_test=50, seed=0, size=14)["train"]) == ["randbits"]


def tiny_run_setup(monkeypatch: pytest.MonkeyPatch, n_bits: int = 4) -> dict:
    """A tiny fast preset, and 64 training / 40 test synthetic RandBits images at 8x8."""
    tiny = {
        "data": {"n_train": 64, "n_test": 40, "size": 8},
        "train": {"backbone": "convnet", "width": 4, "epochs": 1, "batch_size": 32, "lr": 1e-3},
        "grid": {"bits": (0, 4), "temperatures": (0.1,)},
    }
    monkeypatch.setitem(randbits.PRESETS, "fast", tiny)
    images, labels = synthetic(104)
    return {"train": {"randbits": make_randbits(images[:64], labels[:64], n_bits, size=8)},
            "test": {"randbits": make_randbits(images[64:], labels[64:], n_bits, size=8)}}


def test_run_randbits_returns_the_documented_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    data = tiny_run_setup(monkeypatch)
    sets = [data["train"]["randbits"], data["test"]["randbits"]]
    result = run_randbits(4, 0.1, mode="fast", seed=0, progress=False, data=data, device="cpu")
    for key in ("config", "mode", "seed", "command", "device", "versions", "date", "wall_s", "history",
                "probes", "knn", "chance", "n_bits", "temperature", "reference"):
        assert key in result, key
    assert result["mode"] == "fast" and result["n_bits"] == 4 and result["temperature"] == 0.1
    assert result["chance"] == 0.1 and result["reference"] is None
    assert result["dataset"] == "randbits" and result["components"] is None  # the baseline has none
    assert result["config"]["augment"] == "channels" and result["config"]["photometric_channels"] == 1
    assert result["config"]["temperature"] == 0.1 and result["config"]["width"] == 4
    assert 0 <= result["probes"]["randbits"]["digit"] <= 1 and 0 <= result["knn"]["randbits"]["digit"] <= 1
    assert "naive_probes" not in result
    assert len(result["history"]["epoch_loss"]) == 1
    json.dumps(result)  # JSON-ready
    reference, model = run_randbits(4, 0.1, mode="fast", progress=False, data=data, device="cpu",
                                    reference="random_init", knn=False, return_model=True)
    assert reference["reference"] == "random_init" and reference["history"]["loss"] == []
    assert model.encoder(sets[1].images[:2].float() / 255).shape == (2, 32)
    with pytest.raises(ValueError, match="n_bits"):
        run_randbits(3, 0.1, mode="fast", progress=False, data=data)
    with pytest.raises(ValueError, match="unknown TrainConfig"):
        run_randbits(4, 0.1, mode="fast", progress=False, data=data, bogus=1)
    with pytest.raises(ValueError, match="fixed for RandBits"):
        run_randbits(4, 0.1, mode="fast", progress=False, data=data, augment="rgb")


def test_channel_split_separates_the_digit_from_the_bits() -> None:
    assert randbits.channel_split(3) == ((0,), (1, 2, 3))
    for bad in (0, -1, 65, 2.0, True):
        with pytest.raises(ValueError, match="a channel split needs 1 to 64 bit channels"):
            randbits.channel_split(bad)


def test_run_randbits_splicer_uses_the_channel_split(monkeypatch: pytest.MonkeyPatch) -> None:
    data = tiny_run_setup(monkeypatch)
    images, labels = synthetic(104)
    result = run_randbits(4, 0.1, mode="fast", progress=False, data=data, device="cpu", knn=False,
                          variant="splicer")
    assert result["config"]["variant"] == "splicer"
    assert [list(g) for g in result["config"]["groups"]] == [[0], [1, 2, 3, 4]]
    assert len(result["history"]["epoch_loss"]) == 1 and 0 <= result["probes"]["randbits"]["digit"] <= 1
    empty = {"train": {"randbits": make_randbits(images[:64], labels[:64], 0, size=8)},
             "test": {"randbits": make_randbits(images[64:], labels[64:], 0, size=8)}}
    with pytest.raises(ValueError, match="with 0 bits there is nothing to split off"):
        run_randbits(0, 0.1, mode="fast", progress=False, data=empty, variant="splicer")


def test_collect_groups_by_temperature_and_bits() -> None:
    runs = [{"temperature": t, "n_bits": b, "probes": {"randbits": {"digit": acc}}}
            for t, b, acc in ((0.2, 4, 0.3), (0.1, 4, 0.5), (0.1, 0, 0.9), (0.1, 4, 0.7))]
    assert randbits.collect(runs) == {0.1: {0: [0.9], 4: [0.5, 0.7]}, 0.2: {4: [0.3]}}


def test_collect_by_variant_keeps_the_order_met() -> None:
    runs = [{"temperature": 0.2, "n_bits": b, "config": {"variant": v}, "probes": {"randbits": {"digit": acc}}}
            for v, b, acc in (("splicer", 4, 0.5), ("baseline", 4, 0.3), ("splicer", 2, 0.6), ("baseline", 4, 0.2))]
    table = randbits.collect(runs, by="variant")
    assert list(table) == ["splicer", "baseline"]
    assert table == {"splicer": {2: [0.6], 4: [0.5]}, "baseline": {4: [0.3, 0.2]}}
    with pytest.raises(ValueError, match="by is 'seed'"):
        randbits.collect(runs, by="seed")
