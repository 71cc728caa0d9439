"""Tests of scripts/gpu-results.sh and scripts/wheelhouse.sh on the CPU, with tiny plans.

The script's options are checked without starting Python. The real runs are reference runs
(a random encoder: nothing is trained), a few seconds each, from the shipped data (skipped when
it is absent). Every run writes into a temporary results folder. Most of the time is the start
of each Python process (about 4 s of CPU here, importing the package).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from splicer_tutorial import plans, sweep

REPO = Path(__file__).resolve().parents[1]
GPU_RESULTS = REPO / "scripts" / "gpu-results.sh"
WHEELHOUSE = REPO / "scripts" / "wheelhouse.sh"
#: reference runs: a random encoder, probed; nothing is trained
TINY = "--mode fast --width 4 --reference random_init --no-knn"
PLAN = (f"# dominoes, one at a time\ndominoes-s{{seed}}.json {TINY} --per-class 10 --seed {{seed}}\n\n"
        f"bits.json {TINY} --dataset randbits --bits 2\n")
#: pip without a network or this machine's pip settings: only the wheelhouse
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}


def bash(script: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, cwd=cwd)


# ------------------------------------------------------------------- arguments


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--budget"], "--budget needs a value"),
    (["--budget", "-5"], "--budget: expected a positive number of seconds, got '-5'"),
    (["--budget", "0"], "--budget: expected a positive number of seconds"),
    (["--jobs", "two"], "--jobs: expected a positive integer, got 'two'"),
    (["--wheelhouse", "/nonexistent/wheels"], "--wheelhouse: no folder '/nonexistent/wheels'"),
])
def test_gpu_results_refuses_a_bad_option_in_one_line(args: list[str], message: str) -> None:
    done = bash(GPU_RESULTS, *args)
    assert done.returncode == 2 and not done.stdout
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("gpu-results: ")
    assert message in done.stderr


@pytest.mark.parametrize("args, message", [
    ([], "give the folder to fill"),
    (["a", "b"], "one folder only, got 'a' and 'b'"),
    (["a", "--python-version", "3"], "--python-version: expected a version like 3.11, got '3'"),
    (["a", "--platform", "manylinux_2_x"], "--platform: cannot read the manylinux tag 'manylinux_2_x'"),
    (["a", "-r", "/nonexistent.txt"], "-r: no file '/nonexistent.txt'"),
    (["a", "--torch"], "--torch needs a value"),
    (["a", "--bogus"], "unknown option '--bogus'"),
])
def test_wheelhouse_refuses_bad_arguments_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    done = bash(WHEELHOUSE, *args, cwd=tmp_path)
    assert done.returncode == 2 and not done.stdout
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("script", [GPU_RESULTS, WHEELHOUSE])
def test_help_prints_the_usage(script: Path) -> None:
    done = bash(script, "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"Usage: bash scripts/{script.name}")


def test_wheelhouse_downloads_for_the_nodes_python_and_platform(tmp_path: Path) -> None:
    done = bash(WHEELHOUSE, "wheels", "--dry-run", "--python-version", "3.12", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    build, download = done.stdout.splitlines()
    assert "pip wheel" in build and f"-w {tmp_path / 'wheels'}" in build and "--no-deps" in build
    assert "pip download" in download and "--only-binary=:all: --python-version 3.12" in download
    # glibc 2.28 (torch's wheels) and every older manylinux tag
    platforms = re.findall(r"--platform (\S+)", download)
    assert platforms[0] == "manylinux_2_28_x86_64" and "manylinux2014_x86_64" in platforms
    assert "manylinux_2_17_x86_64" in platforms and "manylinux_2_29_x86_64" not in platforms
    assert download.endswith(r"splicer_tutorial-VERSION-py3-none-any.whl\[notebooks\] torch==2.13.0")
    assert not (tmp_path / "wheels").exists()
    other = bash(WHEELHOUSE, "wheels", "--dry-run", "--torch", "torch==2.5.1", "--platform", "linux_aarch64",
                 cwd=tmp_path)
    assert re.findall(r"--platform (\S+)", other.stdout) == ["linux_aarch64"]
    assert other.stdout.rstrip().endswith("torch==2.5.1")


# ------------------------------------------------------------------- the plan


def test_the_full_plan_goes_in_its_order_dominoes_one_at_a_time(tmp_path: Path) -> None:
    done = bash(GPU_RESULTS, "--list", "--jobs", "3", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    plan = [p.out for p in sweep.parse_plan(plans.PLANS["full"].lines(), (0, 1, 2))]
    steps = re.findall(r"step \d+: (\d+) of (\d+) to run, (\d+) at a time: (\S+) \.\. (\S+)", done.stdout)
    assert [int(jobs) for _, _, jobs, _, _ in steps] == [1, 3, 1, 3, 1]  # the limits runs last, one at a time
    start, names = 0, []
    for to_run, runs, _, first, last in steps:  # the steps cut the plan in its order
        assert runs == to_run and plan[start] == first and plan[start + int(runs) - 1] == last
        names.append(plan[start:start + int(runs)])
        start += int(runs)
    assert start == len(plan)
    prefixes = [{name.split("-")[0] for name in step} for step in names]
    assert prefixes == [{"dominoes"}, {"multiplex", "multispectral", "channel_toy", "histology"},
                        {"supervised", "ablation"}, {"randbits"}, {"limits"}]
    assert done.stdout.splitlines()[-1] == f"gpu-results: 0 of {len(plan)} runs done, {len(plan)} left"
    assert not any(tmp_path.iterdir())


def test_missing_data_stops_it_in_one_line(tmp_path: Path) -> None:
    done = bash(GPU_RESULTS, "--results", str(tmp_path / "results"),
                env={"SPLICER_DATA_DIR": str(tmp_path), "SPLICER_OFFLINE": "1"})
    assert done.returncode == 1 and not done.stdout
    assert done.stderr.startswith("gpu-results: the data check failed: mnist_test.npz and cifar10_test.npz are "
                                  f"missing from {tmp_path}")
    assert len(done.stderr.splitlines()) == 1 and not (tmp_path / "results").exists()


# ------------------------------------------------------------------ real runs


def _fresh_venv(folder: Path) -> dict[str, str]:
    """A virtual environment that sees this one's packages, all but splicer-tutorial (and pip
    runs from them): the environment variables that activate it."""
    packages = folder / "packages"
    packages.mkdir(parents=True)
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not re.match(r"(__editable__.*)?splicer[_-]tutorial", entry.name, re.IGNORECASE):
            (packages / entry.name).symlink_to(entry)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    (site / "packages.pth").write_text(f"{packages}\n")
    return {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}


def test_from_a_wheelhouse_offline_a_budget_stops_it_and_a_rerun_finishes(shipped_dir, tmp_path: Path) -> None:
    """The issue's end-to-end check. The slowest test here (about 35 s of CPU): eight Python
    processes (the data check, the plan's listing, a sweep and a run, twice) import the package."""
    wheels = tmp_path / "wheels"
    built = bash(WHEELHOUSE, str(wheels), "--package-only", env=OFFLINE_PIP)
    assert built.returncode == 0, built.stderr
    assert [p.name for p in wheels.iterdir()] == ["splicer_tutorial-0.1.0-py3-none-any.whl"]
    venv = _fresh_venv(tmp_path)
    plan, folder = tmp_path / "tiny.plan", tmp_path / "results"
    plan.write_text(PLAN)
    args = ["--plan", str(plan), "--seeds", "0", "--device", "cpu", "--results", str(folder), "--jobs", "2"]

    # 1 s: the first step's run starts (nothing is known of its kind); then the budget is spent
    first = bash(GPU_RESULTS, *args, "--budget", "1", "--wheelhouse", str(wheels), env={**venv, **OFFLINE_PIP})
    assert first.returncode == 0, first.stdout + first.stderr
    assert "step 1 of 2: 1 to run, 1 at a time, within 1 s: dominoes-s0.json .. dominoes-s0.json" in first.stdout
    assert "gpu-results: the budget of 1 s is spent; step 2 and later wait for the next run" in first.stdout
    assert first.stdout.splitlines()[-1].startswith("gpu-results: 1 of 2 runs done (1 this time), 1 left, in ")
    assert sorted(p.name for p in folder.glob("*.json")) == ["dominoes-s0.json"]
    assert '"device": "cpu' in (folder / "dominoes-s0.json").read_text()
    stamp = (folder / "dominoes-s0.json").stat().st_mtime_ns
    # the package was installed into the fresh environment from the wheel, without a network
    where = subprocess.run([f"{venv['VIRTUAL_ENV']}/bin/python", "-c", "import importlib.util; "
                            "print(importlib.util.find_spec('splicer_tutorial').origin)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.startswith(venv["VIRTUAL_ENV"]), where.stderr

    # again, without a wheelhouse: it goes on where it stopped
    second = bash(GPU_RESULTS, *args, env=venv)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "step 1" not in second.stdout and "step 2 of 2: 1 to run, 2 at a time" in second.stdout
    assert re.search(r"gpu-results: 2 of 2 runs done \(1 this time\), 0 left, in \d+ s of the 540 s budget; the "
                     "plan is done", second.stdout.splitlines()[-1])
    assert sorted(p.name for p in folder.glob("*.json")) == ["bits.json", "dominoes-s0.json"]
    assert (folder / "dominoes-s0.json").stat().st_mtime_ns == stamp
