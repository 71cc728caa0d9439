"""The run path: one preset table, one train_config, one load and one run for every data set."""

from __future__ import annotations

import json

import pytest
import torch

import splicer_tutorial as st
from splicer_tutorial import experiments, multiplex, randbits, runs
from splicer_tutorial.training import TrainConfig

SSL_SETS = [name for name in runs.FAMILIES if name != "binary_dominoes"]


def test_every_family_has_presets_of_one_shape_for_both_modes() -> None:
    assert list(runs.FAMILIES)[:3] == ["dominoes", "binary_dominoes", "randbits"]
    for name, presets in runs.PRESETS.items():
        assert set(presets) == {"fast", "full"}, name
        for mode, preset in presets.items():
            assert set(preset) == {"data", "train"}, (name, mode)
    # each family's table row holds what its loader and config read
    assert runs.PRESETS["dominoes"]["fast"]["data"] == experiments.PRESETS["fast"]["data"]
    assert runs.PRESETS["randbits"]["full"]["data"] == randbits.PRESETS["full"]["data"]
    assert runs.PRESETS["multiplex"]["fast"]["data"] == multiplex.PRESETS["fast"]


@pytest.mark.parametrize("dataset", SSL_SETS)
def test_train_config_is_the_presets_config_for_every_ssl_set(dataset: str) -> None:
    extra = {"bits": 4} if dataset == "randbits" else {}
    config = runs.train_config(dataset, "fast", "splicer", epochs=3, **extra)
    assert isinstance(config, TrainConfig) and config.variant == "splicer" and config.epochs == 3
    train = runs.PRESETS[dataset]["fast"]["train"]
    assert config.width == train["width"] and config.lr == train["lr"]
    assert config.num_components >= 2 and sum(config.embedding_chunks()) == config.proj_dim
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        runs.train_config(dataset, "fast", bogus=1, **extra)


def test_family_extras_of_train_config() -> None:
    assert runs.train_config("randbits", "fast", "splicer", bits=3).groups == ((0,), (1, 2, 3))
    assert runs.train_config("randbits", "fast").augment == "channels"
    with pytest.raises(ValueError, match="give bits="):
        runs.train_config("randbits", "fast", "splicer")
    with pytest.raises(ValueError, match="fixed for RandBits"):
        runs.train_config("randbits", "fast", augment="rgb")
    assert runs.train_config("histology", "fast", "splicer", masks="regions").mask_labels == 3
    assert runs.train_config("histology", "fast", "splicer").mask_labels == 2
    assert runs.train_config("binary_dominoes", "fast", seed=2, epochs=1) == {"seed": 2, "epochs": 1}
    with pytest.raises(ValueError, match="unknown settings"):
        runs.train_config("binary_dominoes", "fast", lam=2)
    with pytest.raises(ValueError, match="supervised classifier"):
        runs.train_config("binary_dominoes", "fast", "splicer")


@pytest.mark.parametrize("dataset, accepted, refused", [
    ("dominoes", ["random_init", "only:object", "cifar_only", "only:digit"], ["only:DAPI", "random"]),
    ("randbits", ["random_init"], ["only:digit", "cifar_only"]),
    ("multiplex", ["random_init", "only:CD3+CD8"], ["only:object", "cifar_only"]),
    ("binary_dominoes", [], ["random_init"]),
])
def test_one_reference_grammar_checked_by_each_family(dataset: str, accepted, refused) -> None:
    for reference in [None, *accepted]:
        runs.parse_reference(dataset, reference)
    for reference in refused:
        with pytest.raises(ValueError, match="reference is"):
            runs.parse_reference(dataset, reference)


def test_bad_arguments_are_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loading(*args, **kwargs):
        raise AssertionError("the data were loaded before the arguments were checked")

    monkeypatch.setitem(runs.FAMILIES, "dominoes", runs.dataclasses.replace(runs.FAMILIES["dominoes"], load=no_loading))
    with pytest.raises(ValueError, match="not a data set of the run path"):
        runs.run("mnist")
    with pytest.raises(ValueError, match=r"\['allocate'\] are not options of a dominoes run"):
        runs.run("dominoes", allocate="variance")
    with pytest.raises(ValueError, match="reference is 'only:DAPI'"):
        runs.run("dominoes", reference="only:DAPI")
    with pytest.raises(ValueError, match="data= was given; drop them"):
        runs.run("dominoes", data={"train": {}, "test": {}}, max_per_class=5)
    with pytest.raises(ValueError, match="run options, not data options"):
        runs.load("dominoes", knn=False)
    with pytest.raises(ValueError, match="umap=True: expected the number of test images to map"):
        runs.run("dominoes", umap=True)
    with pytest.raises(ValueError, match="binary_dominoes trains a supervised classifier"):
        runs.run("binary_dominoes", umap=100)


def test_a_multi_channel_run_through_the_one_path_returns_its_model(cells) -> None:
    config = runs.train_config("multiplex", "fast", "splicer", width=4, epochs=1, batch_size=32)
    result, model = st.run("multiplex", config, "fast", data=cells, device="cpu", progress=False,
                           return_model=True, missing=False)
    assert result["dataset"] == "multiplex" and result["components"]["kind"] == "channels"
    assert set(result["probes"]["independent"]) == set(multiplex.FACTORS) and "missing" not in result
    assert model.encoder(cells["test"]["independent"].images[:2].float() / 255).shape[0] == 2
    json.dumps(result)


def test_a_run_stores_a_umap_of_a_seeded_sample_of_its_independent_test_set(cells) -> None:
    config = runs.train_config("multiplex", "fast", "baseline", width=4, epochs=1, batch_size=32, seed=2)
    result, model = st.run("multiplex", config, "fast", data=cells, device="cpu", progress=False, umap=50,
                           return_model=True, missing=False)
    stored = result["umap"]
    test = cells["test"]["independent"]
    chosen = torch.randperm(len(test), generator=torch.Generator().manual_seed(2))[:50].sort().values
    assert stored["set"] == "independent" and stored["n"] == 50 and len(stored["points"]) == 50
    assert all(len(p) == 2 for p in stored["points"])
    assert stored["labels"] == {f: test.labels(f)[chosen].tolist() for f in multiplex.FACTORS}
    assert json.loads(json.dumps(result))["umap"] == stored
    # a result's map is the map of those images' features: the same again from the model
    assert runs.embedding_map(model, cells, "multiplex", 50, seed=2, device="cpu") == stored


def test_histology_records_its_mask_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from splicer_tutorial import histology

    load = histology.load_tissue
    monkeypatch.setattr(histology, "load_tissue", lambda mode, correlation, seed, masks="nuclei": load(
        mode, correlation, seed, masks, n_train=8, n_test=4, size=24))
    data = runs.load("histology", "fast", seed=0, masks="erode:1")
    assert set(data) == {"train", "test"} and data["train"]["correlated"].masks.max() == 1
    config = runs.train_config("histology", "fast", "splicer", width=4, epochs=1, batch_size=4)
    result = runs.run("histology", config, "fast", device="cpu", progress=False, masks="erode:1", missing=False)
    assert result["masks"]["source"] == "erode:1" and 0 < result["masks"]["iou"] < 1


def test_a_randbits_run_is_the_same_through_both_doors(monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = {"data": {"n_train": 64, "n_test": 40, "size": 8},
            "train": {"backbone": "convnet", "width": 4, "epochs": 1, "batch_size": 32, "lr": 1e-3}}
    monkeypatch.setitem(randbits.PRESETS, "fast", tiny)
    images = torch.randint(0, 256, (104, 28, 28), dtype=torch.uint8).numpy()
    labels = torch.arange(104) % 10
    data = {split: {"randbits": randbits.make_randbits(images[index], labels[index].numpy(), 4, size=8)}
            for split, index in (("train", slice(0, 64)), ("test", slice(64, 104)))}
    config = runs.train_config("randbits", "fast", "splicer", bits=4, temperature=0.1, seed=1)
    one = runs.run("randbits", config, "fast", data=data, device="cpu", progress=False, knn=False)
    other = runs.run_randbits(4, 0.1, "fast", seed=1, data=data, device="cpu", progress=False, knn=False,
                              variant="splicer")
    assert one["probes"] == other["probes"] and one["config"] == other["config"]
    assert one["n_bits"] == 4 and one["temperature"] == 0.1 and one["components"]["count"] == 2
