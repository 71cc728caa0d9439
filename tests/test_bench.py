"""Tests of splicer_tutorial.bench: the benchmark's structure and its baselines (tiny settings)."""

from __future__ import annotations

import json

import pytest
import torch

from splicer_tutorial import bench, cli

TINY = {"batch_size": 8, "image_size": (16, 8), "backbone": "convnet", "width": 4, "steps": 1, "warmup": 0}


def test_run_bench_measures_every_pipeline_and_ratio() -> None:
    result = bench.run_bench("fast", device="cpu", progress=False, **TINY)
    names = set(result["measurements"])
    assert {"augment, kornia AugmentationSequential", "augment, ours", "step, SimCLR without augmentation",
            "step, SimCLR", "step, SpliCER 2 sections, crop", "step, SpliCER 3 channel groups"} <= names
    for m in result["measurements"].values():
        assert m["images_per_s"] > 0 and m["seconds_per_batch"] > 0 and m["peak_memory_mb"] is None
        assert m["images_per_s"] == pytest.approx(8 / m["seconds_per_batch"])
    rate = {n: m["images_per_s"] for n, m in result["measurements"].items()}
    assert result["ratios"]["augment: ours / kornia"] == pytest.approx(
        rate["augment, ours"] / rate["augment, kornia AugmentationSequential"])
    assert result["settings"]["batch_size"] == 8 and result["settings"]["amp"] is False
    # the settings that may speed a step up, each measured against the plain SimCLR step (compile: GPU only)
    assert result["ratios"]["SimCLR channels_last / SimCLR"] == pytest.approx(
        rate["step, SimCLR, channels_last"] / rate["step, SimCLR"])
    assert "SimCLR fused AdamW / SimCLR" in result["ratios"] and "step, SimCLR, compiled encoder" not in names
    for key in ("command", "device", "versions", "date"):
        assert key in result
    json.dumps(result)


def test_compile_pays_back_after_its_extra_first_call_over_the_seconds_it_saves() -> None:
    plain = {"seconds_per_batch": 0.10, "first_call_s": 0.5}
    assert bench.compile_payback(plain, {"seconds_per_batch": 0.08, "first_call_s": 20.5}) == pytest.approx(1000)
    assert bench.compile_payback(plain, {"seconds_per_batch": 0.11, "first_call_s": 20.5}) is None  # never
    assert bench.compile_payback(plain, {"seconds_per_batch": 0.08, "first_call_s": None}) is None
    table = bench.markdown_table({"measurements": {}, "ratios": {"steps for torch.compile to pay back": None}})
    assert table.splitlines()[-1] == "| steps for torch.compile to pay back | – (never) |"


def test_a_step_in_channels_last_with_a_fused_optimiser_trains_like_the_plain_step() -> None:
    from splicer_tutorial.training import TrainConfig

    x = torch.rand(8, 3, 16, 8)
    config = TrainConfig(backbone="convnet", width=4, batch_size=8)
    losses = []
    for options in ({}, {"channels_last": True, "fused": True}):
        torch.manual_seed(0)  # the same initial weights
        step = bench._step(config, bench.NoAugment(), x, torch.device("cpu"), amp=False, **options)
        losses.append([step().item() for _ in range(3)])  # the later losses follow the optimiser's steps
    assert losses[1] == pytest.approx(losses[0], rel=1e-4) and losses[0][2] != losses[0][0]


def test_bench_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"unknown bench settings \['batch'\]"):
        bench.run_bench("fast", device="cpu", batch=8)
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        bench.run_bench("fast", device="cpu", progress=False, **{**TINY, "batch_size": 1})


def test_baseline_pipelines_keep_shapes() -> None:
    x = torch.rand(4, 3, 16, 8)
    parts = torch.rand(4, 2, 3, 8, 8)
    kornia_augment = bench.KorniaAugment()
    assert kornia_augment(x).shape == x.shape
    view, moved = kornia_augment.with_components(x, parts)
    assert view.shape == x.shape and moved.shape == parts.shape
    view, same = bench.NoAugment().with_components(x, parts)
    assert view is x and same is parts


def test_bench_command_writes_json(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(bench.PRESETS, "fast", TINY)
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--mode", "fast", "--device", "cpu", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["mode"] == "fast" and result["settings"]["image_size"] == [16, 8]
    assert "augment: ours / kornia" in capsys.readouterr().out


def test_markdown_table_and_plot() -> None:
    from splicer_tutorial import plots

    result = {"device": "cpu", "measurements": {
        "augment, ours": {"images_per_s": 1000.0, "seconds_per_batch": 0.1, "peak_memory_mb": None},
        "step, SimCLR": {"images_per_s": 50.0, "seconds_per_batch": 2.0, "peak_memory_mb": 300.0}},
        "ratios": {"SimCLR step / limit": 0.9}}
    table = bench.markdown_table(result).splitlines()
    assert table[2] == "| augment, ours | 1,000 | – |" and table[3] == "| step, SimCLR | 50 | 300 MB |"
    assert table[-1] == "| SimCLR step / limit | 0.90 |"
    fig = plots.plot_bench(result)
    assert [p.get_width() for p in fig.axes[0].patches] == [1000.0, 50.0]
    assert fig.axes[0].get_xscale() == "log"
