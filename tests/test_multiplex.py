"""Tests of splicer_tutorial.multiplex: the synthetic multiplex-cell generator."""

from __future__ import annotations

import pytest
import torch

from splicer_tutorial import multiplex
from splicer_tutorial.multiplex import CELL_TYPES, CHANNELS, MARKERS, make_multiplex


@pytest.fixture(scope="module")
def cells():
    return make_multiplex(800, correlation=0.0, size=32, seed=0)


def test_shapes_names_and_balanced_types(cells) -> None:
    assert cells.images.shape == (800, len(CHANNELS), 32, 32) and cells.images.dtype == torch.uint8
    assert cells.channel_names == CHANNELS and set(cells.factors) == set(multiplex.FACTORS)
    counts = torch.bincount(cells.labels("cell_type"), minlength=4).float() / 800
    assert torch.all((counts - 0.25).abs() < 0.05)


def test_same_seed_same_crops() -> None:
    a, b = make_multiplex(20, 0.5, 16, seed=7), make_multiplex(20, 0.5, 16, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels("nuisance"), b.labels("nuisance"))
    assert not torch.equal(a.images, make_multiplex(20, 0.5, 16, seed=8).images)


@pytest.mark.parametrize("correlation", [0.0, 0.6, 1.0])
def test_nuisance_follows_the_type_at_the_correlation_rate(correlation: float) -> None:
    s = make_multiplex(4000, correlation, 12, seed=1)
    same = (s.labels("nuisance") == s.labels("cell_type")).float().mean().item()
    assert abs(same - (correlation + (1 - correlation) / 4)) < 0.03


def test_each_type_lights_its_markers_only(cells) -> None:
    """A marker's mean brightness is clearly higher in the types that express it."""
    types = cells.labels("cell_type")
    for m, marker in enumerate(MARKERS):
        channel = cells.images[:, CHANNELS.index(marker)].float().mean(dim=(1, 2))
        for k, pattern in enumerate(CELL_TYPES.values()):
            others = [j for j, p in enumerate(CELL_TYPES.values()) if marker not in p]
            if marker in pattern and others:
                off = torch.cat([channel[types == j] for j in others]).mean()
                assert channel[types == k].mean() > off * 1.3, (marker, k)


def test_markers_are_dim_and_the_nuisance_bright(cells) -> None:
    peak = cells.images.float().amax(dim=(0, 2, 3)) / 255
    for marker in MARKERS:
        assert peak[CHANNELS.index(marker)] < 0.45
    assert peak[CHANNELS.index("nuisance")] > 0.79 and peak[CHANNELS.index("DAPI")] > 0.5


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="correlation must be in"):
        make_multiplex(4, 2.0)
    with pytest.raises(ValueError, match="size must be at least 12"):
        make_multiplex(4, 0.0, size=8)


def test_load_multiplex_splits_and_variants() -> None:
    data = multiplex.load_multiplex("fast", correlation=1.0, n_train=40, n_test=20, size=12)
    assert set(data["train"]) == set(multiplex.VARIANTS)
    correlated = data["train"]["correlated"]
    assert torch.equal(correlated.labels("nuisance"), correlated.labels("cell_type"))
    assert len(data["test"]["independent"]) == 20
    assert not torch.equal(data["train"]["independent"].images[:20], data["test"]["independent"].images)


def test_noise_channels_carry_nothing_and_leave_the_cells_as_they_were() -> None:
    from splicer_tutorial import channels

    clean = multiplex.load_multiplex("fast", seed=1, n_train=200, n_test=100)
    noisy = multiplex.load_multiplex_noise("fast", seed=1, n_train=200, n_test=100)
    for split, sets in clean.items():
        for variant, s in sets.items():
            t = noisy[split][variant]
            assert t.channel_names == multiplex.CHANNELS + multiplex.NOISE_CHANNELS
            assert torch.equal(t.images[:, :7], s.images) and t.factors.keys() == s.factors.keys()
            noise = t.images[:, 7:].float() / 255
            assert abs(noise.mean() - 0.1) < 0.01 and abs(noise.std() - 0.05) < 0.01
            for factor, labels in t.factors.items():  # the noise says nothing about any factor
                means = torch.stack([noise[labels == c].mean() for c in labels.unique()])
                assert means.max() - means.min() < 0.003, factor
    assert not torch.equal(noisy["train"]["correlated"].images[:, 7], noisy["train"]["independent"].images[:, 7])
    spec = channels.get("multiplex_noise")
    config = channels.train_config(spec, "fast", "splicer")
    assert config.num_components == 4 and config.groups[-1] == (8,)
