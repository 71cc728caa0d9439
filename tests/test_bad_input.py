"""Bad input is refused before any work, in one line, and no result is lost (issue 17).

One table holds the bad ``run`` inputs: each row is refused with its exit status (2: a
malformed value, refused by the parser; 1: a value or combination the run rejects), one
line on stderr naming the option, no traceback, no result file, and before the run starts
(``cli._run`` fails the test if it is reached). The rows run in-process; three real
processes check that no traceback reaches the terminal. A new option gets a row.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splicer_tutorial import channels, cli, datasets

REPO = Path(__file__).resolve().parents[1]
#: seconds within which a refusal comes: in-process, and in a process of its own (whose
#: imports alone take several seconds on a busy machine; a run trains for minutes)
QUICK_S, PROCESS_S = 5, 60

#: (``run`` arguments, exit status, what the message names); {tmp} is a fresh folder, in
#: which {tmp}/file is a file. Rows without --out get --out {tmp}/r.json.
BAD_RUNS = [
    # accepted before, and trained on nonsense
    (["--variant", "splicer", "--lam", "-1"], 2, "--lam"),
    (["--temperature", "inf"], 2, "--temperature"),
    (["--variant", "splicer", "--component-temperature", "0"], 2, "--component-temperature"),
    (["--correlation", "1.5"], 2, "--correlation"),
    (["--curve-every", "0"], 2, "--curve-every"),
    # an option the run would ignore: named, with the variant, data set or method that uses it
    (["--lam", "5"], 1, "--lam only applies to --variant splicer, sigma_je or average, not baseline"),
    (["--variant", "separate", "--no-primary"], 1, "--no-primary only applies to --variant splicer"),
    (["--variant", "average", "--chunk-sizes", "32,96"], 1, "--chunk-sizes only applies to --variant splicer,"),
    (["--component-term", "cross"], 1, "--component-term only applies to --variant"),
    (["--variant", "separate", "--component-projector", "shared"], 1, "--component-projector only applies"),
    (["--variant", "separate", "--projector", "block"], 1, "--projector only applies"),
    (["--sections", "2x2"], 1, "--sections only applies to --variant splicer, sigma_je, average or separate"),
    (["--variant", "separate", "--same-geometry"], 1, "--same-geometry only applies"),
    (["--variant", "splicer", "--method", "vicreg", "--temperature", "0.5"], 1, "--temperature only applies to "
                                                                              "--method simclr"),
    (["--dataset", "binary_dominoes", "--temperature", "0.5"], 1, "--temperature only applies to the SSL runs"),
    (["--dataset", "multiplex", "--no-knn"], 1, "--no-knn only applies to --dataset dominoes or randbits"),
    (["--dataset", "randbits", "--bits", "2", "--correlation", "0.5"], 1, "--correlation only applies"),
    (["--dataset", "histology", "--masks", "dilate:2"], 1, "--masks only applies to --variant"),
    (["--reference", "random_init", "--curve-every", "2"], 1, "--curve-every"),
    # a traceback or someone else's message before
    (["--variant", "splicer", "--lam", "nan"], 2, "argument --lam"),
    (["--seed", "-1"], 2, "argument --seed: expected an integer seed from 0 to 4294967295"),
    (["--seed", "99999999999"], 2, "argument --seed"),
    (["--dataset", "histology", "--variant", "splicer", "--masks", "blur:1"], 2, "regions"),
    # the result would have been lost after the run
    (["--out", "{tmp}"], 1, "--out {tmp} is a folder"),
    (["--out", ""], 1, "--out is empty"),
    (["--out", "{tmp}/file/r.json"], 1, "{tmp}/file is a file, not a folder"),
]


def _main(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a run starts: no data loaded, no model built."""
    monkeypatch.setattr(cli, "_run", lambda *a, **k: pytest.fail("the run started"))


def _refused_in_one_line(capsys: pytest.CaptureFixture, named: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("python -m splicer_tutorial ") and "error:" in lines[0]
    assert named in lines[0] and "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("args, status, named", BAD_RUNS, ids=[" ".join(row[0]) or "empty" for row in BAD_RUNS])
def test_bad_input_is_refused_before_any_work(args, status, named, tmp_path, capsys, no_run) -> None:
    (tmp_path / "file").write_text("a file")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    argv = ["run", *args, *([] if "--out" in args else ["--out", str(tmp_path / "r.json")])]
    began = time.perf_counter()
    assert _main(argv) == status
    assert time.perf_counter() - began < QUICK_S
    _refused_in_one_line(capsys, named.replace("{tmp}", str(tmp_path)))
    assert not (tmp_path / "r.json").exists()


def test_a_folder_that_cannot_be_written_is_refused(tmp_path, capsys, no_run, monkeypatch) -> None:
    def read_only(*args, **kwargs):  # what a read-only folder does (the tests may run as root)
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(cli.tempfile, "NamedTemporaryFile", read_only)
    assert _main(["run", "--out", str(tmp_path / "new" / "r.json")]) == 1
    _refused_in_one_line(capsys, "Permission denied")
    if os.geteuid() != 0:
        monkeypatch.undo()
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert _main(["run", "--out", str(locked / "r.json")]) == 1
        _refused_in_one_line(capsys, f"--out {locked / 'r.json'} cannot be written")


def test_every_named_plan_and_recorded_result_still_parses() -> None:
    import shlex

    from splicer_tutorial import plans, sweep

    for name, plan in plans.PLANS.items():
        assert sweep.parse_plan(plan.lines(), (0,), source=f"plan {name}")
    for path in sorted((REPO / "results").rglob("*.json")):
        words = shlex.split(json.loads(path.read_text())["command"])
        if words[3] == "run":
            cli.parse_run_arguments(words[4:])


@pytest.mark.parametrize("error, shown", [
    (FloatingPointError("the loss became nan at epoch 0, step 3; lower lr"), "the loss became nan at epoch 0"),
    (PermissionError(13, "Permission denied", "/data/mnist_test.npz"), "/data/mnist_test.npz: Permission denied"),
    (datasets.DataNotFoundError("No mnist train data.\nTo fix it, do one of:\n  * set SPLICER_DATA_DIR"),
     "No mnist train data. To fix it, do one of: * set SPLICER_DATA_DIR"),
], ids=["diverged", "permission", "no data"])
def test_failures_during_a_run_are_one_line_and_debug_shows_the_traceback(error, shown, tmp_path, capsys,
                                                                         monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli, "_run", fail)
    argv = ["run", "--out", str(tmp_path / "r.json")]
    assert cli.main(argv) == 1
    _refused_in_one_line(capsys, shown)
    with pytest.raises(type(error)):
        cli.main(["--debug", *argv])
    monkeypatch.setenv("SPLICER_DEBUG", "1")
    with pytest.raises(type(error)):
        cli.main(argv)


def test_an_unreadable_data_file_is_one_line_in_data_and_run(shipped_dir, tmp_path, capsys, monkeypatch) -> None:
    def denied(path, algorithm):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(datasets, "_hash_file", denied)
    monkeypatch.setattr(datasets, "_SHA256_CACHE", {})
    assert cli.main(["data"]) == 1
    _refused_in_one_line(capsys, "cannot be read (Permission denied)")
    assert cli.main(["run", "--out", str(tmp_path / "r.json")]) == 1
    _refused_in_one_line(capsys, "Permission denied")
    assert not (tmp_path / "r.json").exists()


def test_help_and_messages_name_every_accepted_value(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert ", ".join(channels.NAMES) in help_text  # eurosat_ms and histology too
    assert "every N >= 1 epochs" in help_text


# ------------------------------------------------------------------ real processes


def _process(argv: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "splicer_tutorial", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})
    return done, time.perf_counter() - began


@pytest.mark.parametrize("argv, status, named", [
    (["run", "--variant", "splicer", "--lam", "nan", "--out", "{tmp}/r.json"], 2, "--lam"),
    (["run", "--out", "{tmp}"], 1, "--out"),
])
def test_no_traceback_reaches_the_terminal(argv, status, named, tmp_path) -> None:
    done, seconds = _process([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert done.returncode == status and seconds < PROCESS_S and not (tmp_path / "r.json").exists()
    assert "Traceback" not in done.stderr and named in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_data_exits_1_on_a_corrupt_file_its_manifest_approves(tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    corrupt = folder / "mnist_test.npz"
    corrupt.write_bytes(b"not the shipped file")
    (folder / "manifest.json").write_text(json.dumps(
        {"mnist_test.npz": {"sha256": hashlib.sha256(corrupt.read_bytes()).hexdigest()}}))
    done, seconds = _process(["data"], {"SPLICER_DATA_DIR": str(folder), "SPLICER_OFFLINE": "1"})
    assert done.returncode == 1 and "Traceback" not in done.stderr and seconds < PROCESS_S
    assert "mnist_test" in done.stderr and "Copy the shipped mnist_test.npz over it" in done.stderr
    assert "checksum mismatch" in done.stdout and "verified (manifest.json)" not in done.stdout
