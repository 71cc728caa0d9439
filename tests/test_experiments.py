"""Reference runs and learning curves of splicer_tutorial.experiments, on tiny fake dominoes."""

from __future__ import annotations

import pytest
import torch

from splicer_tutorial import dominoes as dominoes_module
from splicer_tutorial import experiments
from splicer_tutorial.dominoes import DominoSet
from splicer_tutorial.training import TrainConfig

TINY = dict(width=4, proj_dim=16, hidden_dim=32, batch_size=32, epochs=2, lr=1e-2)


def fake_dominoes(n: int = 64, seed: int = 0) -> dict:
    """Dominoes (n, 3, 16, 8) whose top half encodes the digit and bottom half the object."""
    g = torch.Generator().manual_seed(seed)

    def one(name: str, digit: torch.Tensor, obj: torch.Tensor) -> DominoSet:
        top = (digit[:, None, None, None] * 25 + torch.randint(0, 20, (n, 3, 8, 8), generator=g))
        bottom = (obj[:, None, None, None] * 25 + torch.randint(0, 20, (n, 3, 8, 8), generator=g))
        return DominoSet(torch.cat([top, bottom], dim=2).to(torch.uint8), digit, obj, name)

    labels = torch.randint(0, 4, (n,), generator=g)
    other = torch.randint(0, 4, (n,), generator=g)
    return {
        split: {
            "correlated": one(f"{split}/correlated", labels, labels),
            "mnist_randomised": one(f"{split}/mnist_randomised", other, labels),
            "cifar_randomised": one(f"{split}/cifar_randomised", labels, other),
        }
        for split in ("train", "test")
    }


def test_keep_half_blanks_the_other_half_and_keeps_labels():
    data = fake_dominoes()
    cifar_only = experiments.keep_half(data, "object")
    mnist_only = experiments.keep_half(data, "digit")
    for split in ("train", "test"):
        for variant, original in data[split].items():
            kept, other = cifar_only[split][variant], mnist_only[split][variant]
            assert kept.images[:, :, :8].eq(0).all() and other.images[:, :, 8:].eq(0).all()
            assert torch.equal(kept.images[:, :, 8:], original.images[:, :, 8:])
            assert torch.equal(other.images[:, :, :8], original.images[:, :, :8])
            assert torch.equal(kept.digit, original.digit) and torch.equal(kept.object, original.object)
    with pytest.raises(ValueError, match="half is 'top'"):
        experiments.keep_half(data, "top")


def test_random_init_reference_trains_nothing_and_matches_a_fresh_model():
    data = fake_dominoes()
    config = TrainConfig(**TINY)
    first = experiments.run_dominoes(config, "fast", data=data, reference="random_init", knn=False, progress=False)
    second = experiments.run_dominoes(config, "fast", data=data, reference="random_init", knn=False, progress=False)
    assert first["reference"] == "random_init" and first["history"]["loss"] == []
    assert first["probes"] == second["probes"]  # the same seed gives the same random encoder


def test_cifar_only_reference_cannot_read_the_blank_digit_half():
    data = fake_dominoes(n=96)
    result = experiments.run_dominoes(TrainConfig(**TINY), "fast", data=data, reference="cifar_only",
                                      knn=False, progress=False)
    # with the digit half blank, the digit is readable only where it equals the object label
    assert result["probes"]["cifar_randomised"]["digit"] < 0.5
    assert result["image_shape"] == [3, 16, 8]


def test_half_probes_read_each_factor_whole_and_alone():
    data = fake_dominoes(n=96)
    baseline = experiments.run_dominoes(TrainConfig(**TINY), "fast", data=data, knn=False, progress=False)
    cifar_only = experiments.run_dominoes(TrainConfig(**TINY), "fast", data=data, reference="cifar_only",
                                          knn=False, progress=False)
    for result in (baseline, cifar_only):
        assert set(result["half_probes"]) == {"object", "digit"}
        assert all(set(v) == {"whole", "alone"} for v in result["half_probes"].values())
    # the baseline's usual probes are of whole dominoes; a reference's are of its own half alone
    assert baseline["half_probes"]["object"]["whole"] == baseline["probes"]["mnist_randomised"]["object"]
    assert cifar_only["half_probes"]["object"]["alone"] == cifar_only["probes"]["mnist_randomised"]["object"]
    assert cifar_only["half_probes"]["object"]["whole"] != cifar_only["half_probes"]["object"]["alone"]


@pytest.mark.parametrize("overrides, sizes", [({"chunk_sizes": (4, 12)}, [4, 12]), ({"sections": (3, 1)}, [6, 5, 5])])
def test_the_chunk_probes_read_the_chunks_the_run_trained(overrides, sizes):
    """Unequal chunks (asked for, or 16 dimensions into 3) are probed as trained, not as equal parts."""
    data = fake_dominoes(n=96)
    config = TrainConfig(**TINY, variant="splicer", **overrides)
    result, model = experiments.run_dominoes(config, "fast", data=data, knn=False, progress=False, return_model=True)
    assert result["chunk_probes"]["chunk_sizes"] == sizes == list(config.embedding_chunks())
    assert result["dataset"] == "dominoes" and result["components"]["chunk_sizes"] == sizes
    again = experiments.chunk_probes(model, data, tuple(sizes))
    assert again["matrix"] == result["chunk_probes"]["matrix"] and len(again["matrix"]) == len(sizes)


class _LabelEmbedding(torch.nn.Module):
    """A 'model' whose embedding is the one-hot digit (chunk 0) and object (chunk 1) of fake dominoes."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        digit = (x[:, 0, :8].mean(dim=(1, 2)) * 255 / 25).floor().long().clamp(0, 3)
        obj = (x[:, 0, 8:].mean(dim=(1, 2)) * 255 / 25).floor().long().clamp(0, 3)
        return torch.cat([torch.nn.functional.one_hot(digit, 4), torch.nn.functional.one_hot(obj, 4)], 1).float()


def test_shortcut_probes_the_object_chunk_escapes_the_shortcut_and_the_balanced_refit_too():
    data = fake_dominoes(n=400)
    measured = experiments.shortcut_probes(_LabelEmbedding(), data, (4, 4), object_chunk=1, n_balanced=40)
    assert measured["chunk_sizes"] == [4, 4] and measured["object_chunk"] == 1 and measured["n_balanced"] == 40
    # fitted where digit and object agree, the whole embedding leans on the digit, wrong on mnist_randomised
    assert measured["correlated"]["whole"] < 0.8
    assert measured["correlated"]["object_chunk"] == 1.0  # the object chunk holds only the object
    assert measured["balanced"]["whole"] == 1.0 and measured["balanced"]["object_chunk"] == 1.0
    whole_only = experiments.shortcut_probes(_LabelEmbedding(), data, (4, 4), n_balanced=40)
    assert set(whole_only["correlated"]) == {"whole"} and whole_only["correlated"] == {
        "whole": measured["correlated"]["whole"]}
    with pytest.raises(ValueError, match="n_balanced=4000"):
        experiments.shortcut_probes(_LabelEmbedding(), data, (4, 4), n_balanced=4000)


def test_a_run_with_the_limits_probes_records_them():
    data = fake_dominoes(n=96)
    for split, sets in data.items():  # the fake correlated set is fully matched
        sets["half_matched"] = dominoes_module.half_matched(sets["correlated"], seed=0)
    splicer = experiments.run_dominoes(TrainConfig(**TINY, variant="splicer"), "fast", data=data, knn=False,
                                       progress=False, shortcut=True, n_balanced=40)
    assert set(splicer["shortcut_probes"]["correlated"]) == {"whole", "object_chunk"}
    assert set(splicer["interaction_probes"]) == {"linear", "knn"}  # kNN even without the usual kNN probes
    assert "half_matched" not in splicer["probes"], "the interaction set has its own probe"
    wrong = experiments.run_dominoes(TrainConfig(**TINY, variant="splicer", sections=(1, 2)), "fast", data=data,
                                     knn=False, progress=False, shortcut=True, n_balanced=40)
    assert set(wrong["shortcut_probes"]["correlated"]) == {"whole"}, "left and right halves: no object chunk"


def test_only_object_is_the_name_of_cifar_only_in_the_one_grammar():
    assert experiments.parse_reference("only:object") == "cifar_only"
    assert experiments.parse_reference("only:digit") == "mnist_only"
    assert experiments.parse_reference("random_init") == "random_init" and experiments.parse_reference(None) is None
    data = fake_dominoes(n=96)
    named = experiments.run_dominoes(TrainConfig(**TINY), "fast", data=data, reference="cifar_only", knn=False,
                                     progress=False)
    grammar = experiments.run_dominoes(TrainConfig(**TINY), "fast", data=data, reference="only:object", knn=False,
                                       progress=False)
    assert grammar["reference"] == "cifar_only" and grammar["probes"] == named["probes"]
    with pytest.raises(ValueError, match=r"reference is 'only:cifar'; use None, random_init, only:object"):
        experiments.parse_reference("only:cifar")


def test_unknown_reference_is_rejected_by_name():
    with pytest.raises(ValueError, match="reference is 'cifar'"):
        experiments.run_dominoes(TrainConfig(**TINY), "fast", data=fake_dominoes(), reference="cifar")


def test_learning_curves_measure_each_half_before_and_during_training():
    data = fake_dominoes()
    result = experiments.run_dominoes(TrainConfig(**TINY, seed=1), "fast", data=data, knn=False,
                                      curve_every=1, progress=False)
    curves = result["history"]["curves"]
    assert [c["epoch"] for c in curves] == [0, 1, 2]
    assert all(set(c) == {"epoch", "digit", "object"} and 0 <= c["object"] <= 1 for c in curves)


def test_ablation_label_names_what_changed() -> None:
    # against SpliCER's dominoes default (halves cropped), not TrainConfig's zero fill
    assert experiments.ablation_label(experiments.train_config(variant="splicer")) == "default"
    assert experiments.ablation_label(experiments.train_config("full", variant="splicer", epochs=3, seed=2)) == "default"
    assert experiments.ablation_label({"lam": 0.5, "keep_primary": False}) == "lambda = 0.5, no primary two-view term"
    # JSON turns tuples into lists; the label is the same
    assert experiments.ablation_label({"sections": [2, 2]}) == "4 sections (2x2)"
    assert experiments.ablation_label(TrainConfig(fill="zero", same_geometry=False, projector="block")) == (
        "zero-fill components, block projector")
    assert experiments.ablation_label(experiments.train_config(variant="splicer", joint_pass=True)) == (
        "zero-fill components, views and components in one pass")


def test_dominoes_components_are_cropped_halves_unless_they_cannot_be() -> None:
    config = experiments.train_config("fast", variant="splicer")
    assert config.fill == "crop"
    x = torch.rand(4, 3, 32, 16)
    assert config.split(x).shape == (4, 2, 3, 16, 16)
    for variant in ("sigma_je", "average", "separate"):
        assert experiments.train_config(variant=variant).fill == "crop"
    # a baseline has no components to fill, and keeps its config as it was
    assert experiments.train_config(variant="baseline").fill == "zero"
    # given explicitly, or where the components must keep the image's shape
    assert experiments.train_config(variant="splicer", fill="zero").fill == "zero"
    assert experiments.train_config(variant="splicer", joint_pass=True).fill == "zero"
    assert experiments.train_config(variant="splicer", random_mask=4).fill == "zero"
    assert experiments.train_config(variant="splicer", groups=((0,), (1, 2))).fill == "zero"
    assert experiments.train_config(variant="splicer", same_geometry=True).fill == "zero"
    # TrainConfig itself zero-fills: the one fill every kind of component allows
    assert TrainConfig(variant="splicer").fill == "zero"


# ----------------------------------------------------------------- the scale study


def _scale_result(variant: str, reference, epochs: int, width: int, accuracy: float, per_class: int = 200,
                  height: int = 32, seed: int = 0, fill: str = "zero") -> dict:
    config = experiments.train_config("fast", variant=variant, epochs=epochs, width=width, fill=fill).to_dict()
    return {"config": config, "seed": seed, "reference": reference, "image_shape": [3, height, height // 2], "chance": 0.1,
            "data": {"train": {"correlated": 10 * per_class}},
            "probes": {"mnist_randomised": {"object": accuracy}}}


def test_scale_study_files_runs_by_point_and_orders_by_compute() -> None:
    runs = [_scale_result("baseline", None, 64, 32, a, seed=s) for s, a in ((2, 0.41), (0, 0.39), (1, 0.40))]
    runs += [_scale_result("baseline", "cifar_only", 64, 32, a, seed=s) for s, a in enumerate((0.43, 0.44, 0.45))]
    runs += [_scale_result("splicer", None, 64, 32, a, seed=s) for s, a in enumerate((0.40, 0.41))]
    runs += [_scale_result("splicer", None, 64, 32, a, seed=s, fill="crop") for s, a in enumerate((0.43, 0.44, 0.43))]
    runs += [_scale_result("baseline", None, 8, 16, 0.35), _scale_result("baseline", None, 64, 16, 0.38, 800)]
    rows = experiments.scale_study(runs)
    # width 32 costs 3.8x width 16; four times the dominoes cost 4x
    assert [r["point"] for r in rows] == [(8, 16, "half", 200), (64, 32, "half", 200), (64, 16, "half", 800)]
    assert rows[0]["flops"] < rows[1]["flops"] < rows[2]["flops"]
    top = rows[1]
    assert top["values"]["baseline"] == [0.39, 0.40, 0.41]
    assert top["values"]["baseline"].seeds == (0, 1, 2)
    assert top["gap"].paired and top["gap"].difference == pytest.approx(0.04) and top["gap"].resolved
    assert not top["gain"].paired and top["gain"].difference == pytest.approx(0.005) and not top["gain"].resolved
    # cropped SpliCER is filed apart from zero-filled SpliCER, with a gain of its own
    assert top["values"]["splicer-crop"] == [0.43, 0.44, 0.43] and top["values"]["splicer"] == [0.40, 0.41]
    assert top["gain_crop"].paired and top["gain_crop"].difference == pytest.approx(0.0333, abs=1e-4)
    assert rows[0]["gain_crop"] is None
    assert rows[0]["gap"] is None and rows[0]["series"] == ["epochs"]
    assert rows[2]["series"] == ["dominoes"] and top["series"] == ["width"]
    table = experiments.scale_table(rows).splitlines()
    assert table[0].startswith("| epochs | width | resolution | per class | GFLOPs | seeds | baseline |")
    assert table[0].endswith("| gain: zero fill - baseline | gain: cropped - baseline |")
    assert table[3].startswith("| 64 | 32 | half | 200 |")
    assert "| 3 | 40.0 ± 0.6 | 44.0 ± 0.6 | 40.5 ± 0.5 | 43.3 ± 0.3 |" in table[3]
    assert table[3].endswith("| +4.0 ± 0.0 points (resolved) | +0.5 ± 0.8 points (not resolved at this scale) "
                             "| +3.3 ± 0.7 points (resolved) |")
    assert table[2].endswith("| 1 | 35.0 (1 seed) | – | – | – | – | – | – |")


def test_training_flops_grow_with_epochs_width_pixels_and_data() -> None:
    base = experiments.training_flops(_scale_result("baseline", None, 8, 16, 0.3))
    assert experiments.training_flops(_scale_result("baseline", None, 16, 16, 0.3)) == pytest.approx(2 * base)
    assert experiments.training_flops(_scale_result("baseline", None, 8, 16, 0.3, per_class=800)) > 3.9 * base
    assert experiments.training_flops(_scale_result("baseline", None, 8, 16, 0.3, height=64)) > 3 * base
    assert experiments.training_flops(_scale_result("splicer", None, 8, 32, 0.3)) > 3 * base


def test_scale_series() -> None:
    assert experiments.scale_series((64, 16, "half", 200)) == ["epochs", "width"]
    assert experiments.scale_series((64, 16, "full", 200)) == ["resolution"]
    assert experiments.scale_series((64, 64, "half", 200)) == ["width"]
    assert experiments.scale_series((32, 64, "full", 800)) == []
