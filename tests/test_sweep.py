"""Tests of splicer_tutorial.sweep: plans, skipping, jobs, the budget, and killed runs.

The end-to-end tests run real ``run`` processes on tiny dominoes from the shipped data (a
few seconds each) and are skipped when the data is absent.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splicer_tutorial import cli, plans, results, sweep

REPO = Path(__file__).resolve().parents[1]
TINY = "--mode fast --epochs 1 --width 4 --per-class 10 --no-knn"


def tiny_plan(seeds=(0, 1, 2), extra: str = "") -> list[sweep.PlannedRun]:
    return sweep.parse_plan([f"tiny/run-s{{seed}}.json {TINY} {extra} --seed {{seed}}"], seeds)


FAKE_RUN = """
import json, sys, time
args = sys.argv[sys.argv.index("run") + 1:]
out = args[args.index("--out") + 1]
time.sleep(SECONDS)
json.dump({"command": "python -m splicer_tutorial run " + " ".join(args), "wall_s": SECONDS,
           "seed": int(args[args.index("--seed") + 1])}, open(out, "w"))
"""


def fake_python(tmp_path: Path, seconds: float) -> str:
    """An executable that stands in for ``python -m splicer_tutorial run``: it sleeps, then writes a result."""
    path = tmp_path / "fake-python"
    path.write_text(f"#!{sys.executable}\n" + FAKE_RUN.replace("SECONDS", repr(seconds)))
    path.chmod(0o755)
    return str(path)


# ------------------------------------------------------------------------- plans


def test_parse_plan_expands_seeds_in_line_order_and_skips_comments() -> None:
    lines = ["# a comment", "", "a-s{seed}.json --seed {seed}", "once.json --variant splicer",
             "b-s{seed}.json --method vicreg --seed {seed}"]
    plan = sweep.parse_plan(lines, (3, 4))
    assert [p.out for p in plan] == ["a-s3.json", "a-s4.json", "once.json", "b-s3.json", "b-s4.json"]
    assert plan[1].args == ("--seed", "4")
    by_seed = sweep.parse_plan(lines, (3, 4), by_seed=True)
    assert [p.out for p in by_seed] == ["a-s3.json", "once.json", "b-s3.json", "a-s4.json", "b-s4.json"]


def test_kind_leaves_out_the_seed() -> None:
    first, second = sweep.parse_plan(["x-s{seed}.json --epochs 3 --seed {seed} --width 8"], (0, 1))
    assert first.kind == second.kind == "--epochs 3 --width 8"


@pytest.mark.parametrize("line, message", [
    ("lonely.json", "line 1: expected 'RESULT.json --run --arguments"),
    ("result.txt --seed 1", "line 1: the result name 'result.txt' must be a relative path ending in .json"),
    ("/abs/r.json --seed 1", "must be a relative path"),
    ("../up.json --seed 1", "must be a relative path"),
    ("r.json --seed 1 --out x.json", "line 1: leave --out out"),
    ("r.json --variant split", "line 1: run rejects '--variant split'.*invalid choice"),
    ("r.json --epochs 'two", "line 1: No closing quotation"),
])
def test_parse_plan_names_the_bad_line(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sweep.parse_plan([line], (0,))


def test_parse_plan_refuses_two_runs_writing_one_file() -> None:
    with pytest.raises(ValueError, match="two runs write same.json"):
        sweep.parse_plan(["same.json --seed {seed}"], (0, 1))


def test_run_arguments_ignore_flag_order_and_execution_options() -> None:
    a = sweep.run_arguments(["--seed", "1", "--variant", "splicer", "--threads", "2", "--device", "cpu"])
    b = sweep.run_arguments(["--variant", "splicer", "--seed", "1"])
    assert a == b
    assert a != sweep.run_arguments(["--variant", "splicer", "--seed", "2"])


def test_status_tells_done_to_run_and_conflicts(tmp_path: Path) -> None:
    plan = sweep.parse_plan(["r-s{seed}.json --epochs 2 --seed {seed}"], (0, 1, 2))
    command = "python -m splicer_tutorial run --epochs 2 --seed 0 --threads 1 --out x.json"
    results.save({"command": command, "wall_s": 1.0}, tmp_path / "r-s0.json")
    results.save({"command": command.replace("--epochs 2", "--epochs 3").replace("seed 0", "seed 1")},
                 tmp_path / "r-s1.json")
    states = sweep.status(plan, tmp_path)
    assert states["r-s0.json"] == "done"
    assert states["r-s1.json"].startswith("conflict: made by other arguments (epochs differ)")
    assert states["r-s2.json"] == "to run"


def _made_by(args: str, config: dict | None = None) -> dict:
    """A result as ``run`` would have written it for these arguments, with its config."""
    result = {"command": f"python -m splicer_tutorial run {args} --threads 1 --out x.json", "wall_s": 1.0}
    if config is not None:
        result["config"] = config
    return result


def test_a_result_whose_config_the_defaults_no_longer_give_is_stale(tmp_path: Path) -> None:
    args = "--mode fast --variant splicer --epochs 2 --seed 0"
    now = cli.run_config(args.split())
    assert now["fill"] == "crop"  # the dominoes' default since the design study
    plan = sweep.parse_plan([f"r{i}.json {args}" for i in range(4)] + [f"r4.json {args} --fill zero"], (0,))
    results.save(_made_by(args, now), tmp_path / "r0.json")
    results.save(_made_by(args, {**now, "fill": "zero"}), tmp_path / "r1.json")  # written when zero was the default
    # a result older than a config field counts as that field's default
    results.save(_made_by(args, {k: v for k, v in now.items() if k != "random_mask"}), tmp_path / "r2.json")
    results.save(_made_by(args, {**now, "fill": "zero", "lam": 2.0}), tmp_path / "r3.json")
    # the same run asked for in other words: --fill zero given where it was the default
    results.save(_made_by(args, {**now, "fill": "zero"}), tmp_path / "r4.json")
    states = sweep.status(plan, tmp_path)
    assert states["r0.json"] == states["r2.json"] == states["r4.json"] == "done"
    assert states["r1.json"] == "stale: made by these arguments, but they now give another config (fill differ)"
    assert states["r3.json"].endswith("(fill, lam differ)")
    # arguments that differ in a config option make a conflict when the configs differ too
    plan = sweep.parse_plan([f"r0.json {args} --lam 2"], (0,))
    assert sweep.status(plan, tmp_path)["r0.json"].startswith("conflict: made by other arguments (lam differ)")


def test_config_differences_compare_what_the_package_has_now() -> None:
    now = cli.run_config("--mode fast --variant splicer --seed 1".split())
    assert sweep.config_differences(now, now) == []
    assert sweep.config_differences({**now, "retired_option": 3}, now) == []
    assert sweep.config_differences({**now, "epochs": 9}, now) == ["epochs"]
    assert sweep.config_differences(None, now) == [] and sweep.config_differences(now, None) == []
    # a run that chooses its chunk sizes records them; they are not compared
    allocated = cli.run_config("--mode fast --dataset multispectral --variant splicer --allocate variance".split())
    assert "chunk_sizes" not in allocated


def test_a_stale_result_runs_again_and_the_old_file_is_set_aside(tmp_path: Path) -> None:
    args = "--mode fast --variant splicer --epochs 2 --seed 0"
    old = _made_by(args, {**cli.run_config(args.split()), "fill": "zero"})
    results.save(old, tmp_path / "sub" / "r.json")
    lines: list[str] = []
    summary = sweep.sweep(sweep.parse_plan([f"sub/r.json {args}"], (0,)), tmp_path, log=lines.append,
                          python=fake_python(tmp_path, 0.0))
    assert summary.stale == ["sub/r.json"] and summary.done == ["sub/r.json"], summary.report()
    assert "1 of them stale" in lines[0] and any("set aside sub/r.json" in line for line in lines)
    assert json.loads((tmp_path / ".stale" / "sub" / "r.json").read_text()) == old
    assert json.loads((tmp_path / "sub" / "r.json").read_text())["command"] != old["command"]


def test_the_committed_results_are_what_the_package_computes_now() -> None:
    """No result file of a named plan is stale or in conflict: change a default, and this
    fails until the sweep has made again what it changes (``sweep --plan NAME``)."""
    folder = REPO / "results"
    bad = {}
    for name, plan in plans.PLANS.items():
        if name == "full":
            continue
        for out, state in sweep.status(sweep.parse_plan(plan.lines(), plan.seeds), folder).items():
            if not state.startswith(("done", "to run")):
                bad[out] = state
    assert not bad, f"{len(bad)} results to make again, e.g. {next(iter(bad.items()))}"


def test_sweep_refuses_bad_settings(tmp_path: Path) -> None:
    for kwargs, message in (({"jobs": 0}, "jobs is 0"), ({"budget": -1}, "budget is -1"),
                            ({"threads": 0}, "threads is 0")):
        with pytest.raises(ValueError, match=message):
            sweep.sweep([], tmp_path, **kwargs)


def test_a_conflicting_file_is_neither_run_nor_overwritten(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("not json")
    summary = sweep.sweep(sweep.parse_plan(["r.json --epochs 1"], (0,)), tmp_path, log=lambda _: None)
    assert list(summary.conflicts) == ["r.json"] and not summary.done
    assert (tmp_path / "r.json").read_text() == "not json"
    assert "conflict r.json" in summary.report()


# ------------------------------------------------------------------ real runs


def test_three_tiny_runs_on_two_jobs_then_a_rerun_skips_them(shipped_dir, tmp_path: Path) -> None:
    lines: list[str] = []
    summary = sweep.sweep(tiny_plan(), tmp_path, jobs=2, log=lines.append)
    assert sorted(summary.done) == [f"tiny/run-s{s}.json" for s in range(3)], summary.report()
    assert not summary.failed and not summary.left
    assert "2 at a time, 1 threads each" in lines[0]
    for seed in range(3):
        result = json.loads((tmp_path / f"tiny/run-s{seed}.json").read_text())
        assert result["seed"] == seed and result["config"]["epochs"] == 1
        assert "--threads 1" in result["command"] and result["device"] == "cpu (1 threads)"
        assert sweep.recorded_arguments(result) == sweep.run_arguments(tiny_plan()[seed].args)
    assert (tmp_path / ".logs" / "tiny__run-s0.json.log").exists()
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("tiny/*.json")}

    again = sweep.sweep(tiny_plan(), tmp_path, jobs=2, log=lambda _: None)
    assert sorted(again.skipped) == sorted(summary.done) and not again.done
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("tiny/*.json")} == stamps
    assert again.line().startswith("0 done, 3 skipped, 0 failed")


def test_a_budget_stops_starting_runs_that_would_not_fit(tmp_path: Path) -> None:
    python = fake_python(tmp_path, 1.0)  # each run takes a second
    plan = sweep.parse_plan(["r-s{seed}.json --epochs 2 --seed {seed}", "q-s{seed}.json --epochs 3 --seed {seed}"],
                            (0, 1, 2))
    summary = sweep.sweep(plan, tmp_path, jobs=1, budget=2.5, python=python, log=lambda _: None, poll_s=0.05)
    # the first run of a kind starts (nothing is known of it yet), the second fits (2 s < 2.5 s), the third
    # would end after 3 s: the sweep stops there, in the plan's order
    assert summary.done == ["r-s0.json", "r-s1.json"]
    assert summary.left == ["r-s2.json", "q-s0.json", "q-s1.json", "q-s2.json"]
    assert "left     4 runs, from r-s2.json" in summary.report()
    # a later sweep judges the kind by the wall time recorded in the finished results
    later = sweep.sweep(plan, tmp_path, jobs=1, budget=0.5, python=python, log=lambda _: None, poll_s=0.05)
    assert later.skipped == ["r-s0.json", "r-s1.json"] and not later.done and len(later.left) == 4
    # without a budget, everything runs, two at a time
    rest = sweep.sweep(plan, tmp_path, jobs=2, python=python, log=lambda _: None, poll_s=0.05)
    assert sorted(rest.done) == ["q-s0.json", "q-s1.json", "q-s2.json", "r-s2.json"] and rest.wall_s < 3.5


def test_a_run_written_meanwhile_by_another_sweep_is_skipped(tmp_path: Path) -> None:
    plan = sweep.parse_plan(["r-s{seed}.json --epochs 2 --seed {seed}"], (0, 1))
    python = fake_python(tmp_path, 0.5)

    def log(line: str) -> None:  # while run 0 trains, another process finishes run 1
        if line.startswith("sweep: start") and "r-s0.json" in line:
            results.save({"command": "python -m splicer_tutorial run --epochs 2 --seed 1"}, tmp_path / "r-s1.json")

    summary = sweep.sweep(plan, tmp_path, jobs=1, python=python, log=log, poll_s=0.05)
    assert summary.done == ["r-s0.json"] and summary.skipped == ["r-s1.json"]


def test_a_failed_run_is_reported_with_its_error(shipped_dir, tmp_path: Path) -> None:
    plan = sweep.parse_plan(["bits.json --dataset randbits --mode fast"], (0,))  # parses; fails at run time
    summary = sweep.sweep(plan, tmp_path, log=lambda _: None)
    assert "needs --bits N" in summary.failed["bits.json"]
    assert not (tmp_path / "bits.json").exists()


def test_a_killed_sweep_stops_its_runs_and_leaves_no_partial_file(shipped_dir, tmp_path: Path) -> None:
    plan_file = tmp_path / "slow.plan"
    plan_file.write_text(f"slow-s{{seed}}.json {TINY.replace('--epochs 1', '--epochs 500')} --seed {{seed}}\n")
    folder = tmp_path / "results"
    process = subprocess.Popen(
        [sys.executable, "-m", "splicer_tutorial", "sweep", "--plan", str(plan_file), "--seeds", "0",
         "--results", str(folder)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = folder / ".logs" / "slow-s0.json.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.2)  # until the run has started
    assert log.exists(), "the run did not start"
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 130, out
    assert "interrupted" in out and "1 left" in out
    assert sorted(p.name for p in folder.iterdir() if p.name != ".logs") == []


def test_cli_sweep_lists_a_plan_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    plan_file = tmp_path / "p.plan"
    plan_file.write_text("a-s{seed}.json --epochs 2 --seed {seed}\n")
    assert cli.main(["sweep", "--plan", str(plan_file), "--seeds", "0-1", "--list", "--results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == ["to", "run", "a-s0.json", "to", "run", "a-s1.json"]


def test_cli_sweep_only_keeps_matching_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    plan_file = tmp_path / "p.plan"
    plan_file.write_text("a-s{seed}.json --epochs 2 --seed {seed}\nb-s{seed}.json --epochs 3 --seed {seed}\n")
    argv = ["sweep", "--plan", str(plan_file), "--seeds", "0-2", "--list", "--results", str(tmp_path)]
    assert cli.main([*argv, "--only", "b-*"]) == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()] == ["b-s0.json", "b-s1.json", "b-s2.json"]
    assert cli.main([*argv, "--only", "c-*"]) == 1
    assert "--only c-* matches no run" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--plan", "nothing-here"], "--plan nothing-here is neither a named plan"),
    (["sweep", "--plan", "scale", "--device", "cuda:7"], "device is 'cuda:7'"),
])
def test_cli_sweep_refuses_bad_input_in_one_line(argv, message: str, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv, named", [
    (["sweep", "--plan", "scale", "--seeds", "a,b"], "--seeds: expected seeds like 0,1,2"),
    (["sweep", "--plan", "scale", "--jobs", "0"], "--jobs: expected a positive integer"),
    (["sweep", "--plan", "scale", "--budget", "-5"], "--budget: expected a positive number of seconds"),
    (["sweep", "--plan", "scale", "--budget", "inf"], "--budget: expected a positive number of seconds"),
    (["sweep"], "--plan"),
])
def test_cli_sweep_bad_arguments_exit_2(argv, named: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err
