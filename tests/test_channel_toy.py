"""Tests of splicer_tutorial.channel_toy: the four-channel toy, its labels and its runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from splicer_tutorial import channel_toy, channels, datasets
from splicer_tutorial.channel_toy import CHANNELS, draw_labels, make_channel_toy


def fake_sources(n: int = 200, seed: int = 0) -> dict:
    """Sources whose image brightness encodes the class, so the label can be checked."""
    rng = np.random.default_rng(seed)
    out = {}
    for channel in CHANNELS[1:]:
        labels = rng.integers(0, 10, n)
        labels[:10] = np.arange(10)  # every class present
        images = np.repeat((labels * 20 + 10).astype(np.uint8)[:, None, None], 28, 1).repeat(28, 2)
        out[channel] = (images, labels)
    return out


@pytest.mark.parametrize("correlation", [0.0, 0.5, 1.0])
def test_correlation_rate_is_honoured(correlation: float) -> None:
    labels = draw_labels(20000, correlation, np.random.default_rng(0))
    same = np.mean(labels["code"] == labels["object"])
    # all four agree with probability rho, plus chance agreement 1/10 of the rest
    assert abs(same - (correlation + (1 - correlation) * 0.1)) < 0.015
    assert set(labels) == set(CHANNELS) and all(y.dtype == np.int64 for y in labels.values())
    counts = np.bincount(labels["digit"], minlength=10) / 20000
    assert np.all(np.abs(counts - 0.1) < 0.01)  # balanced classes
    with pytest.raises(ValueError, match="correlation must be in"):
        draw_labels(10, 1.5, np.random.default_rng(0))


def test_each_channel_holds_its_factor() -> None:
    toy = make_channel_toy(fake_sources(), 300, correlation=0.0, size=16, seed=1)
    assert toy.images.shape == (300, 4, 16, 16) and toy.images.dtype == torch.uint8
    assert toy.channel_names == CHANNELS
    code_level = toy.images[:, 0].float().mean(dim=(1, 2))
    assert torch.all((code_level - (40 + 20 * toy.labels("code").float())).abs() <= 4.5)
    assert torch.equal(toy.images[:, 0].amin(dim=(1, 2)), toy.images[:, 0].amax(dim=(1, 2)))  # a constant plane
    for k, channel in enumerate(CHANNELS[1:], start=1):
        brightness = toy.images[:, k].float().mean(dim=(1, 2))
        assert torch.allclose(brightness, toy.labels(channel).float() * 20 + 10, atol=1)


def test_same_seed_same_set_other_seed_differs() -> None:
    a = make_channel_toy(fake_sources(), 50, 0.5, seed=3)
    b = make_channel_toy(fake_sources(), 50, 0.5, seed=3)
    c = make_channel_toy(fake_sources(), 50, 0.5, seed=4)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def test_sources_must_cover_channels_and_classes() -> None:
    sources = fake_sources()
    with pytest.raises(ValueError, match=r"sources lacks \['object'\]"):
        make_channel_toy({k: v for k, v in sources.items() if k != "object"}, 10, 0.0)
    images, labels = sources["digit"]
    sources["digit"] = (images[labels != 3], labels[labels != 3])
    with pytest.raises(ValueError, match="has no image of class 3"):
        make_channel_toy(sources, 200, 0.0)


def test_grey_uses_luma_weights() -> None:
    rgb = np.zeros((2, 1, 1, 3), np.uint8)
    rgb[0, 0, 0] = (255, 0, 0)
    rgb[1, 0, 0] = (255, 255, 255)
    assert channel_toy.grey(rgb)[:, 0, 0].tolist() == [76, 255]


def test_load_channel_toy_from_shipped_data(shipped_dir) -> None:
    if not datasets.FASHION_DEBIAN_DIR.exists():
        pytest.skip("Fashion-MNIST (Debian package dataset-fashion-mnist) is not installed")
    data = channel_toy.load_channel_toy("fast", correlation=1.0, seed=0, n_train=100, n_test=50, size=8)
    assert set(data) == {"train", "test"} and set(data["train"]) == set(channel_toy.VARIANTS)
    correlated = data["train"]["correlated"]
    assert correlated.images.shape == (100, 4, 8, 8)
    assert torch.equal(correlated.labels("code"), correlated.labels("object"))
    independent = data["test"]["independent"]
    assert (independent.labels("code") == independent.labels("object")).float().mean() < 0.4


def tiny_data() -> dict:
    sources = fake_sources(400)
    make = lambda n, rho, seed: make_channel_toy(sources, n, rho, size=8, seed=seed)  # noqa: E731
    return {"train": {"correlated": make(64, 1.0, 0), "independent": make(64, 0.0, 1)},
            "test": {"correlated": make(32, 1.0, 2), "independent": make(32, 0.0, 3)}}


@pytest.mark.parametrize("variant, reference", [("baseline", None), ("splicer", None),
                                                ("baseline", "random_init"), ("baseline", "only:fashion+object")])
def test_run_channel_toy_returns_probes_and_missing_channels(variant: str, reference) -> None:
    config = channels.train_config("channel_toy", "fast", variant, backbone="convnet", width=4, epochs=1,
                                   batch_size=32)
    result = channels.run("channel_toy", config, "fast", data=tiny_data(), reference=reference, device="cpu",
                          progress=False)
    assert set(result["probes"]["independent"]) == set(CHANNELS)
    assert set(result["missing"]) == {"none", *CHANNELS}
    assert result["config"]["augment"] == "channels"
    if variant == "splicer":
        assert [list(g) for g in result["config"]["groups"]] == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="reference is 'only:cd8'"):
        channels.run("channel_toy", config, "fast", data=tiny_data(), reference="only:cd8", device="cpu")
