"""Tests of splicer_tutorial.channels: FactorSet, the data-set registry and the shared run."""

from __future__ import annotations

import pytest
import torch

from splicer_tutorial import channels, multiplex
from splicer_tutorial.channels import FactorSet


def small_set(n: int = 20) -> FactorSet:
    images = torch.randint(0, 256, (n, 3, 4, 4), dtype=torch.uint8)
    return FactorSet(images, {"a": torch.arange(n) % 2, "b": torch.arange(n) % 3}, ("x", "y", "z"), "s")


def test_factor_set_subset_without_and_errors() -> None:
    s = small_set()
    part = s.subset(5)
    assert len(part) == 5 and torch.equal(part.labels("a"), s.labels("a")[:5])
    assert s.factor_names == ("a", "b")
    blank = s.without(["x", "z"])
    assert (blank.images[:, [0, 2]] == 0).all() and torch.equal(blank.images[:, 1], s.images[:, 1])
    assert not (s.images[:, 0] == 0).all()  # the original is untouched
    with pytest.raises(ValueError, match=r"channels \['cd8'\] are not channels"):
        s.without(["cd8"])
    with pytest.raises(ValueError, match="factor='colour' is not a factor"):
        s.labels("colour")
    with pytest.raises(ValueError, match="channel_names has 2 names for 3 channels"):
        FactorSet(s.images, dict(s.factors), ("x", "y"))
    with pytest.raises(ValueError, match="images must be uint8"):
        FactorSet(s.images.float(), dict(s.factors), ("x", "y", "z"))
    with pytest.raises(ValueError, match="factor 'a' must be int64"):
        FactorSet(s.images, {"a": torch.zeros(3, dtype=torch.int64)}, ("x", "y", "z"))


def test_every_registered_data_set_is_found_and_consistent() -> None:
    for name in channels.NAMES:
        spec = channels.get(name)
        assert spec.name == name and spec.chance == 1 / spec.num_classes and spec.target in spec.factors
        assert all(set(g) <= set(spec.channels) for g in spec.groups)
    with pytest.raises(ValueError, match="dataset='eurosat' is not a multi-channel data set"):
        channels.get("eurosat")


def test_train_config_uses_the_default_components_by_name() -> None:
    config = channels.train_config("multiplex", "fast", "splicer")
    assert config.groups == ((0, 1), (2, 3, 4, 5), (6,)) and config.augment == "channels"
    assert config.chunk_sizes == (43, 43, 42)  # 3 components do not divide 128: near-equal chunks
    assert config.channel_names == multiplex.CHANNELS
    assert channels.train_config("multiplex", "fast").groups is None  # the baseline has no components
    config = channels.train_config("multiplex", "fast", "splicer", groups=(("CD3", "CD8"), ("nuisance",)))
    assert config.groups == ((2, 4), (6,)) and config.chunk_sizes is None
    separate = channels.train_config("multiplex", "fast", "separate")  # 3 encoders: widths rounded up to 3k
    assert (separate.proj_dim, separate.hidden_dim) == (129, 513) and separate.chunk_sizes is None


def test_parse_reference() -> None:
    assert channels.parse_reference("multiplex", None) is None
    assert channels.parse_reference("multiplex", "random_init") is None
    assert channels.parse_reference("multiplex", "only:CD3+CD8") == ("CD3", "CD8")
    for bad in ("only:CD99", "cifar_only", "only:"):
        with pytest.raises(ValueError, match="use None, 'random_init' or 'only:<channels>'"):
            channels.parse_reference("multiplex", bad)


def test_missing_channel_probes_drop_a_factor_to_chance_when_its_channel_is_zeroed(cells) -> None:
    """Raw pixels read the nuisance bar perfectly; without the nuisance channel they cannot."""
    pixels = lambda x: x.flatten(1)  # noqa: E731
    table = channels.missing_channel_probes(pixels, cells, "multiplex")
    assert list(table) == ["none", "DAPI+membrane", "CD3+CD4+CD8+CD20", "nuisance"]
    assert table["none"]["nuisance"] > 0.95 and table["DAPI+membrane"]["nuisance"] > 0.95
    assert table["nuisance"]["nuisance"] < 0.4  # chance is 0.25
    assert table["CD3+CD4+CD8+CD20"]["cell_type"] < table["none"]["cell_type"]


@pytest.mark.parametrize("variant, reference", [("baseline", None), ("splicer", None), ("separate", None),
                                                ("baseline", "random_init"),
                                                ("baseline", "only:CD3+CD4+CD8+CD20")])
def test_run_probes_every_factor_on_the_independent_set(cells, variant: str, reference) -> None:
    config = channels.train_config("multiplex", "fast", variant, backbone="convnet", width=4, epochs=1,
                                   batch_size=32)
    result = channels.run("multiplex", config, "fast", data=cells, reference=reference, device="cpu",
                          progress=False)
    assert result["dataset"] == "multiplex" and result["reference"] == reference and result["chance"] == 0.25
    assert set(result["probes"]) == {"independent"}
    assert set(result["probes"]["independent"]) == set(multiplex.FACTORS)
    assert set(result["missing"]) == {"none", "DAPI+membrane", "CD3+CD4+CD8+CD20", "nuisance"}
    assert (result["history"]["loss"] == []) == (reference == "random_init")
    if reference == "only:CD3+CD4+CD8+CD20":  # no nuisance channel: the bar cannot be read
        assert result["probes"]["independent"]["nuisance"] < 0.45
    # a trained component run probes each chunk of its embedding for every factor
    assert ("chunk_probes" in result) == (variant != "baseline" and reference is None)
    if "chunk_probes" in result:
        chunks = result["chunk_probes"]
        assert chunks["factors"] == list(multiplex.FACTORS) and chunks["split"] == "independent"
        assert chunks["chunk_sizes"] == list(config.embedding_chunks()) and len(chunks["matrix"]) == 3
        assert all(0 <= a <= 1 for row in chunks["matrix"] for a in row)


def test_informativeness_by_variance_and_by_probe(cells) -> None:
    groups = multiplex.GROUPS
    variance = channels.informativeness(cells["train"]["independent"], groups, "variance", n=200)
    assert len(variance) == 3 and all(v >= 0 for v in variance)
    assert variance[2] > variance[1]  # the bright nuisance bar varies far more than the dim markers
    pixels = lambda x: x.flatten(1)  # noqa: E731
    score = channels.informativeness(cells["train"]["independent"], groups, "probe", factor="nuisance",
                                     encode=pixels, n=400)
    assert score[2] > 0.5 and score[0] < 0.15 and score[1] < 0.15  # only the nuisance group reads the bar
    with pytest.raises(ValueError, match="by='entropy'; use 'variance'"):
        channels.informativeness(cells["train"]["independent"], groups, "entropy")
    with pytest.raises(ValueError, match="needs factor="):
        channels.informativeness(cells["train"]["independent"], groups, "probe", n=200)
    with pytest.raises(ValueError, match="n=9999 must be between 2"):
        channels.informativeness(cells["train"]["independent"], groups, "variance", n=9999)


def test_allocate_by_sizes_chunks_and_the_run_records_it(cells) -> None:
    config = channels.train_config("multiplex", "fast", "splicer", backbone="convnet", width=4, epochs=1,
                                   batch_size=32)
    scores, sizes = channels.allocate_by("multiplex", config, cells, "variance", n=96)
    assert sum(sizes) == config.proj_dim and min(sizes) >= 16
    assert sizes[2] == max(sizes)  # the bright nuisance bar varies most
    scores, sizes = channels.allocate_by("multiplex", config, cells, "probe", n=200)
    assert len(scores) == 3 and all(s >= 0 for s in scores) and sum(sizes) == config.proj_dim
    result = channels.run("multiplex", config, "fast", data=cells, device="cpu", progress=False, missing=False,
                          allocate="variance")
    assert result["allocation"]["by"] == "variance"
    assert list(result["config"]["chunk_sizes"]) == result["allocation"]["chunk_sizes"]
    with pytest.raises(ValueError, match="chunk allocation needs variant 'splicer'"):
        channels.allocate_by("multiplex", channels.train_config("multiplex", "fast"), cells, "variance")


def test_factor_set_carries_masks_through_subset_and_without() -> None:
    s = small_set()
    masks = torch.randint(0, 2, (len(s), 4, 4))
    with_masks = FactorSet(s.images, dict(s.factors), s.channel_names, "m", masks)
    assert torch.equal(with_masks.subset([2, 3]).masks, masks[[2, 3]])
    assert torch.equal(with_masks.without(["x"]).masks, masks)
    with pytest.raises(ValueError, match="masks must be int64 .N, H, W. matching images"):
        FactorSet(s.images, dict(s.factors), s.channel_names, "m", masks[:, :2])


def test_train_config_sizes_near_equal_chunks_for_three_mask_labels() -> None:
    config = channels.train_config("histology", "fast", "splicer", mask_labels=3)
    assert config.num_components == 3 and config.chunk_sizes == (43, 43, 42)
    assert channels.train_config("histology", "fast", "splicer").chunk_sizes is None  # 2 divides 128


def test_a_data_set_owns_its_data_options() -> None:
    """Histology's mask source is its own option: loaded with notes, and turned into components."""
    with pytest.raises(ValueError, match=r"\['masks'\] are not data options of multiplex"):
        channels.get("multiplex").load_with_notes("fast", 0, masks="regions")
    histology = channels.get("histology")
    assert histology.data_options == ("masks",)
    assert histology.config_overrides("splicer", {"masks": "regions"}) == {"mask_labels": 3}
    assert histology.config_overrides("splicer", {"masks": "dilate:2"}) == {}
    assert histology.config_overrides("baseline", {"masks": "regions"}) == {}
