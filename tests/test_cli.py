"""Tests of the command line (splicer_tutorial.cli) and the code behind it
(splicer_tutorial.experiments, splicer_tutorial.results).

The end-to-end run uses the shipped data (skipped when absent) with a tiny preset, so it
takes seconds; only ``--help`` goes through a subprocess, to check the module entry point.
"""

from __future__ import annotations

import datetime
import json
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

from splicer_tutorial import cli, experiments, results, runs
from splicer_tutorial.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"correlated", "mnist_randomised", "cifar_randomised"}

TINY_PRESET = {
    "data": {"downsample": 4, "max_per_class": 20},
    "train": {"backbone": "convnet", "width": 4, "proj_dim": 16, "hidden_dim": 32,
              "epochs": 1, "batch_size": 64, "lr": 3e-3},
}


@pytest.fixture
def tiny_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiments, "PRESETS", {"fast": TINY_PRESET, "full": TINY_PRESET})
    monkeypatch.delenv("SPLICER_MODE", raising=False)


# ------------------------------------------------------------------ arguments


def test_module_entry_point_help() -> None:
    done = subprocess.run([sys.executable, "-m", "splicer_tutorial", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m splicer_tutorial" in done.stdout
    assert "data" in done.stdout and "run" in done.stdout


def test_run_help_lists_the_choices(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("--method", "--variant", "simclr", "vicreg", "splicer", "sigma_je", "--no-knn", "--out"):
        assert word in out


@pytest.mark.parametrize("argv, named", [
    (["run", "--method", "byol", "--out", "x.json"], "--method"),
    (["run", "--variant", "split", "--out", "x.json"], "--variant"),
    (["run", "--epochs", "two", "--out", "x.json"], "--epochs"),
    (["run", "--sections", "2by2", "--out", "x.json"], "--sections: expected two integers like 2x1"),
    (["run", "--sections", "0x2", "--out", "x.json"], "--sections: both numbers must be positive"),
    (["bench", "--image-size", "64", "--out", "x.json"], "--image-size: expected two integers"),
    (["run", "--chunk-sizes", "32;96", "--out", "x.json"], "--chunk-sizes: expected integers"),
    (["run", "--groups", "code,,digit", "--out", "x.json"], "--groups: groups look like"),
    (["run", "--projector", "sparse", "--out", "x.json"], "--projector"),
    (["run"], "--out"),
    (["train"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_exit_2_with_one_line(capsys: pytest.CaptureFixture, argv, named: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("python -m splicer_tutorial") and "error:" in lines[0]
    assert named in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_value_error_in_a_run_is_one_line_and_status_1(capsys, tmp_path, tiny_presets) -> None:
    out = tmp_path / "r.json"
    assert cli.main(["run", "--epochs", "0", "--mode", "fast", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m splicer_tutorial run: error: ")
    assert "epochs must be >= 1" in lines[0]
    assert not out.exists()


def test_missing_data_is_reported_not_raised(capsys, tmp_path, tiny_presets, monkeypatch) -> None:
    monkeypatch.setenv("SPLICER_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    assert cli.main(["run", "--mode", "fast", "--out", str(tmp_path / "r.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m splicer_tutorial run: error: ") and "Traceback" not in err


def test_unknown_device_is_a_one_line_error(capsys, tmp_path, shipped_dir, tiny_presets) -> None:
    status = cli.main(["run", "--mode", "fast", "--device", "gpu", "--out", str(tmp_path / "r.json")])
    assert status != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "device" in err


# ------------------------------------------------------------------ data


def test_data_reports_the_folder_and_missing_files(capsys, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "data here"
    folder.mkdir()
    monkeypatch.setenv("SPLICER_DATA_DIR", str(folder))
    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    assert cli.main(["data"]) == 1  # offline without the shipped test sets: no dominoes run can work
    captured = capsys.readouterr()
    out = captured.out
    assert str(folder) in out.splitlines()[0]
    assert "SPLICER_OFFLINE" in out
    for name in ("mnist_train", "mnist_test", "cifar10_train", "cifar10_test"):
        line = next(l for l in out.splitlines() if l.startswith(name))
        assert "missing" in line
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "mnist_test.npz and cifar10_test.npz are missing" in err[0]
    monkeypatch.delenv("SPLICER_OFFLINE")  # online, a missing file is downloaded when a run needs it
    assert cli.main(["data"]) == 0


def test_data_reports_shipped_files_verified(capsys, shipped_dir: Path) -> None:
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist_test", "cifar10_test"):
        line = next(l for l in out.splitlines() if l.startswith(name))
        assert "verified" in line


# ------------------------------------------------------------------ run, end to end


def test_run_end_to_end_writes_json(capsys, tmp_path, shipped_dir, tiny_presets) -> None:
    out = tmp_path / "runs" / "tiny.json"
    argv = ["run", "--mode", "fast", "--variant", "splicer", "--epochs", "1", "--no-knn",
            "--device", "cpu", "--seed", "3", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    result = json.loads(out.read_text())
    for key in ("config", "device", "versions", "wall_s", "probes", "naive_probes", "command", "date",
                "history", "chance", "data", "image_shape", "mode", "seed"):
        assert key in result, key
    assert "knn" not in result
    assert result["config"]["variant"] == "splicer" and result["config"]["epochs"] == 1
    assert result["config"]["width"] == 4 and result["config"]["seed"] == 3 and result["seed"] == 3
    assert result["mode"] == "fast"
    assert result["device"].startswith("cpu")
    assert result["command"] == shlex.join(["python", "-m", "splicer_tutorial", *argv])
    assert result["versions"]["python"] == platform.python_version()
    assert result["versions"]["torch"] == metadata.version("torch")
    assert result["image_shape"] == [3, 16, 8]  # 3x64x32 downsampled by 4
    assert result["chance"] == pytest.approx(0.1)
    assert result["data"]["train"]["correlated"] == 200 and result["data"]["test"]["correlated"] == 200
    assert result["wall_s"] > 0
    assert len(result["history"]["epoch_loss"]) == 1
    assert set(result["history"]["online_probe"]) == {"digit", "object"}
    for kind in ("probes", "naive_probes"):
        assert set(result[kind]) == VARIANTS
        for accuracies in result[kind].values():
            assert set(accuracies) == {"digit", "object"}
            assert all(0.0 <= a <= 1.0 for a in accuracies.values())
    for variant in VARIANTS:
        assert variant in printed


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--bits", "5"], "--bits only applies to --dataset randbits"),
        (["--zero-bits"], "--zero-bits only applies to --dataset randbits"),
        (["--dataset", "multiplex", "--interaction"], "--interaction only applies to --dataset dominoes"),
        (["--dataset", "multiplex", "--shortcut-probes"], "--shortcut-probes only applies to --dataset dominoes"),
        (["--random-mask", "4"], "--random-mask only applies to --variant splicer"),
        (["--variant", "splicer", "--random-mask", "4", "--sections", "1x2"], "--random-mask makes its own two"),
        (["--variant", "splicer", "--random-mask", "4", "--fill", "crop"], "--random-mask makes its own two"),
        (["--reference", "cifar_only", "--dataset", "randbits", "--bits", "2"],
         "--reference cifar_only does not apply to --dataset randbits"),
        (["--reference", "cifar_only", "--dataset", "channel_toy"], "reference is 'cifar_only'; use None, 'random_init'"),
        (["--reference", "only:CD99", "--dataset", "multiplex"], "with channels of ['DAPI'"),
        (["--reference", "only:cifar"], "--reference only:cifar does not apply to --dataset dominoes"),
        (["--variant", "splicer", "--groups", "code,digit"], "--groups only applies to --dataset channel_toy, "),
        (["--variant", "splicer", "--allocate", "probe"], "--allocate only applies to --dataset channel_toy, "),
        (["--variant", "splicer", "--masks", "dilate:2"], "--masks only applies to --dataset histology"),
        (["--dataset", "multispectral", "--variant", "splicer", "--allocate", "probe", "--chunk-sizes", "64,32,32"],
         "leave --chunk-sizes out"),
        (["--dataset", "randbits"], "--dataset randbits needs --bits"),
        (["--method", "supervised"], "--method supervised only applies to --dataset binary_dominoes"),
        (["--dataset", "binary_dominoes", "--method", "vicreg"], "drop --method and --variant"),
        (["--dataset", "binary_dominoes", "--umap", "100"], "--umap only applies to the SSL runs"),
        (["--umap", "5"], "umap=5: expected the number of test images to map, an int of at least 10"),
        (["--dataset", "randbits", "--bits", "4", "--sections", "2x2"], "--sections only applies to --dataset dominoes"),
        (["--dataset", "randbits", "--bits", "0", "--variant", "splicer"], "nothing to split off"),
        (["--variant", "separate", "--lam", "2"], "--lam only applies to --variant splicer, sigma_je or average, "
                                                 "not separate"),
    ],
)
def test_options_of_another_dataset_are_refused_in_one_line(capsys, tmp_path, argv, named) -> None:
    assert cli.main(["run", *argv, "--out", str(tmp_path / "r.json")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]


def test_run_ablation_options_reach_the_config(capsys, tmp_path, shipped_dir, tiny_presets) -> None:
    out = tmp_path / "quarters.json"
    argv = ["run", "--mode", "fast", "--variant", "splicer", "--sections", "2x2", "--projector", "block",
            "--fill", "crop", "--lam", "0.5", "--no-primary", "--no-knn", "--device", "cpu", "--out", str(out)]
    assert cli.main(argv) == 0
    config = json.loads(out.read_text())["config"]
    assert config["sections"] == [2, 2] and config["projector"] == "block" and config["fill"] == "crop"
    assert config["lam"] == 0.5 and config["keep_primary"] is False
    history = json.loads(out.read_text())["history"]
    assert len(history["epoch_s"]) == 1 and history["parameters"] > 0


def test_binary_dominoes_run_writes_supervised_auc(capsys, tmp_path, shipped_dir, monkeypatch) -> None:
    from splicer_tutorial import supervised

    tiny = {"data": {"downsample": 4, "correlation": 1.0},
            "train": {"backbone": "convnet", "width": 4, "epochs": 1, "batch_size": 64, "lr": 2e-3,
                      "weight_decay": 1e-4}}
    monkeypatch.setattr(supervised, "PRESETS", {"fast": tiny, "full": tiny})
    out = tmp_path / "supervised.json"
    assert cli.main(["run", "--dataset", "binary_dominoes", "--mode", "fast", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["auc"]) == VARIANTS and result["chance"] == 0.5
    assert result["command"].endswith(f"--out {out}") and "device" in result
    assert "AUC:" in capsys.readouterr().out


# ------------------------------------------------------------------ experiments


def test_train_config_from_preset_with_overrides(tiny_presets) -> None:
    cfg = experiments.train_config("fast", variant="sigma_je", lr=0.5)
    assert isinstance(cfg, TrainConfig)
    assert (cfg.variant, cfg.lr, cfg.width, cfg.batch_size) == ("sigma_je", 0.5, 4, 64)


def test_train_config_unknown_field_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch', 'learning_rate'\]"):
        experiments.train_config("fast", epoch=3, learning_rate=0.1)


def test_train_config_follows_the_mode(monkeypatch) -> None:
    monkeypatch.setenv("SPLICER_MODE", "full")
    assert experiments.train_config().backbone == "resnet18"
    assert experiments.train_config("fast").backbone == "convnet"
    with pytest.raises(ValueError, match=r"mode is 'medium'"):
        experiments.train_config("medium")


def test_load_dominoes_uses_the_preset(shipped_dir, tiny_presets) -> None:
    data = experiments.load_dominoes("fast", seed=0)
    assert set(data) == {"train", "test"}
    for split in ("train", "test"):
        assert set(data[split]) == VARIANTS
        for ds in data[split].values():
            assert ds.images.shape[1:] == (3, 16, 8) and ds.images.dtype == torch.uint8
            assert len(ds) == 200
    small = experiments.load_dominoes("fast", seed=0, max_per_class=5)
    assert len(small["train"]["correlated"]) == 50


# ------------------------------------------------------------------ results


def test_provenance_fields() -> None:
    prov = results.provenance(torch.device("cpu"), ["python", "-m", "splicer_tutorial", "run", "--out", "a b.json"])
    assert set(prov) == {"command", "device", "versions", "commit", "date"}
    assert prov["command"] == "python -m splicer_tutorial run --out 'a b.json'"  # shell-quoted
    assert prov["device"] == f"cpu ({torch.get_num_threads()} threads)"
    for name in ("python", "torch", "kornia", "numpy", "scikit-learn", "splicer-tutorial"):
        assert name in prov["versions"]
    date = datetime.datetime.fromisoformat(prov["date"])
    assert date.tzinfo is not None and date.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - date).total_seconds()) < 3600
    default = results.provenance(torch.device("cpu"))
    assert isinstance(default["command"], str) and default["command"]


def test_versions_of_missing_packages(monkeypatch) -> None:
    monkeypatch.setattr(results, "PACKAGES", ("torch", "surely-not-a-package-xyz"))
    found = results.versions()
    assert found["surely-not-a-package-xyz"] == "not installed"
    assert found["torch"] != "not installed"


def test_save_and_load_round_trip(tmp_path: Path, monkeypatch) -> None:
    first = {"probes": {"correlated": {"digit": 0.5}}, "path": Path("x"), "n": 3}
    saved = results.save(first, tmp_path / "a" / "b" / "run_1.json")
    assert saved.is_file() and saved.read_text().endswith("\n")
    results.save({"n": 4}, tmp_path / "a" / "b" / "run_2.json")
    results.save({"n": 5}, tmp_path / "a" / "b" / "other.json")
    loaded = results.load("run_*.json", tmp_path / "a" / "b")
    assert [r["n"] for r in loaded] == [3, 4]
    assert loaded[0]["path"] == "x"  # non-JSON values written as strings
    monkeypatch.setenv("SPLICER_RESULTS_DIR", str(tmp_path / "a" / "b"))
    assert results.results_dir() == tmp_path / "a" / "b"
    assert [r["n"] for r in results.load("*.json")] == [5, 3, 4]  # sorted by name


def test_results_dir_default(monkeypatch) -> None:
    monkeypatch.delenv("SPLICER_RESULTS_DIR", raising=False)
    if Path(results.__file__).resolve().parents[1] != REPO:
        pytest.skip("the package is not imported from this checkout (a non-editable install)")
    assert results.results_dir() == REPO / "results"
    monkeypatch.setenv("SPLICER_RESULTS_DIR", "")
    assert results.results_dir() == REPO / "results"  # an empty variable counts as unset


@pytest.mark.parametrize("dataset, groups, expected, reference", [
    ("channel_toy", "code+digit,fashion+object", ((0, 1), (2, 3)), "only:object"),
    ("multiplex", "DAPI+membrane,CD3+CD4+CD8+CD20", ((0, 1), (2, 3, 4, 5)), "only:CD3+CD8"),
])
def test_channel_run_options_reach_the_config(capsys, tmp_path, monkeypatch, dataset, groups, expected,
                                              reference) -> None:
    import dataclasses

    from splicer_tutorial import channels

    seen = {}

    def fake_run(spec, config, mode, data=None, reference=None, allocate=None, **kwargs):
        seen.update(spec=spec, config=config, reference=reference, data=data, allocate=allocate)
        return {"wall_s": 0.0, "probes": {"independent": {"object": 0.5}}}

    spec = channels.get(dataset)
    fake = dataclasses.replace(spec, load=lambda mode, correlation, seed: {"rho": correlation})
    monkeypatch.setattr(channels, "run", fake_run)
    monkeypatch.setattr(channels, "get", lambda name: fake if name == dataset else spec)
    monkeypatch.setitem(runs.FAMILIES, dataset, runs._channel_family(dataset))  # the run path's entry, on fake
    argv = ["run", "--dataset", dataset, "--mode", "fast", "--variant", "splicer", "--groups", groups,
            "--chunk-sizes", "32,96", "--joint-pass", "--correlation", "0.8", "--reference", reference,
            "--out", str(tmp_path / "run.json")]
    assert cli.main(argv) == 0
    config = seen["config"]
    assert seen["spec"].name == dataset and config.channel_names == spec.channels
    assert config.groups == expected and config.chunk_sizes == (32, 96) and config.joint_pass
    assert config.augment == "channels" and seen["reference"] == reference and seen["data"] == {"rho": 0.8}


def test_histology_masks_option_reaches_the_run(tmp_path, monkeypatch) -> None:
    from splicer_tutorial import channels, histology

    seen = {}

    def fake_run(spec, config, mode, data=None, **kwargs):
        seen.update(spec=spec, config=config, data=data)
        return {"wall_s": 0.0, "probes": {"independent": {"tissue": 0.5}}}

    load = histology.load_tissue
    tiny = lambda mode, correlation, seed, masks="nuclei": load(  # noqa: E731
        mode, correlation, seed, masks, n_train=8, n_test=4, size=24)
    monkeypatch.setattr(channels, "run", fake_run)
    monkeypatch.setattr(histology, "load_tissue", tiny)
    out = tmp_path / "h.json"
    assert cli.main(["run", "--dataset", "histology", "--variant", "splicer", "--masks", "dilate:1", "--mode", "fast",
                     "--out", str(out)]) == 0
    assert seen["config"].mask_labels == 2 and seen["spec"].name == "histology"
    saved = json.loads(out.read_text())
    assert saved["masks"]["source"] == "dilate:1" and 0 < saved["masks"]["iou"] < 1
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--dataset", "histology", "--variant", "splicer", "--masks", "blur:1", "--mode", "fast",
                  "--out", str(out)])
    assert exit_info.value.code == 2
    assert cli.main(["run", "--dataset", "histology", "--variant", "splicer", "--masks", "regions", "--mode", "fast",
                     "--out", str(out)]) == 0
    assert seen["config"].mask_labels == 3  # stroma, nuclei, gaps
    assert set(seen["data"]["train"]["correlated"].masks.unique().tolist()) <= {0, 1, 2}
    assert json.loads(out.read_text())["masks"]["source"] == "regions"


def test_a_run_too_big_for_the_device_is_one_line_before_any_training(tiny_presets, tmp_path, monkeypatch, capsys):
    from splicer_tutorial import training

    monkeypatch.setattr(training, "available_memory", lambda device: 2**20)
    out = tmp_path / "r.json"
    code = cli.main(["run", "--backbone", "resnet18", "--width", "4", "--seed", "0", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and not out.exists() and len(err) == 1
    assert err[0].startswith("python -m splicer_tutorial run: error: this run needs about ") and "GB" in err[0]


def test_run_saves_its_training_and_a_rerun_loads_it(tiny_presets, tmp_path, capsys) -> None:
    checkpoint = tmp_path / "run.pt"
    argv = ["run", "--epochs", "2", "--no-knn", "--checkpoint", str(checkpoint), "--checkpoint-every", "1", "--seed", "1"]
    assert cli.main([*argv, "--out", str(tmp_path / "a.json")]) == 0
    assert checkpoint.exists()
    assert cli.main([*argv, "--out", str(tmp_path / "b.json")]) == 0  # finished: loaded, not trained again
    first, second = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert first["probes"] == second["probes"] and first["history"]["loss"] == second["history"]["loss"]
    capsys.readouterr()
    assert cli.main(["run", "--resume", "--out", str(tmp_path / "c.json")]) == 1
    assert "--checkpoint-every and --resume need --checkpoint PATH" in capsys.readouterr().err


def test_randbits_zero_bits_adds_the_zeroed_test_set(tmp_path, shipped_dir, monkeypatch, capsys) -> None:
    from splicer_tutorial import randbits

    tiny = {"data": {"n_train": 64, "n_test": 40, "size": 8},
            "train": {"backbone": "convnet", "width": 4, "epochs": 1, "batch_size": 32, "lr": 1e-3}}
    monkeypatch.setitem(randbits.PRESETS, "fast", tiny)
    out = tmp_path / "r.json"
    assert cli.main(["run", "--dataset", "randbits", "--bits", "3", "--zero-bits", "--no-knn", "--mode", "fast",
                     "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert sorted(saved["probes"]) == ["bits_zeroed", "randbits"] and "--zero-bits" in saved["command"]
    assert cli.main(["run", "--dataset", "randbits", "--bits", "3", "--no-knn", "--mode", "fast",
                     "--out", str(out)]) == 0
    assert sorted(json.loads(out.read_text())["probes"]) == ["randbits"]
