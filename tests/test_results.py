"""Tests of splicer_tutorial.results: grouping, summaries and tables of result files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from splicer_tutorial import results


def test_group_probes_collects_seeds_under_a_run_name() -> None:
    def run(variant, reference, value):
        return {"config": {"method": "simclr", "variant": variant}, "reference": reference,
                "probes": {"mnist_randomised": {"object": value, "digit": 1 - value}}}

    runs = [run("baseline", None, 0.4), run("baseline", None, 0.5), run("baseline", "cifar_only", 0.6)]
    grouped = results.group_probes(runs, results.dominoes_run_name)
    assert grouped == {
        "simclr/baseline": {"mnist_randomised": {"object": [0.4, 0.5], "digit": [0.6, 0.5]}},
        "simclr/cifar_only": {"mnist_randomised": {"object": [0.6], "digit": [0.4]}},
    }


def test_summarise_and_markdown_table() -> None:
    grouped = {"a": {"mnist_randomised": {"object": [0.5, 0.6, 0.7]}, "cifar_randomised": {"digit": [0.9]}},
               "b": {"mnist_randomised": {"object": [0.4]}}}
    cells = (("mnist_randomised", "object"), ("cifar_randomised", "digit"))
    summary = results.summarise(grouped, cells)
    mean, se, n = summary["a"][cells[0]]
    assert (mean, n) == (pytest.approx(0.6), 3) and se == pytest.approx(0.1 / 3**0.5)  # sample std / sqrt(n)
    assert summary["a"][cells[1]] == (0.9, 0.0, 1)
    assert summary["b"][cells[1]][2] == 0  # missing: count 0, mean nan
    table = results.markdown_table(summary, {"paper": {"a": "64.0"}}).splitlines()
    assert table[0] == "| run | object on mnist_randomised | digit on cifar_randomised | paper |"
    assert table[2] == "| a | 60.0 ± 5.8 (3) | 90.0 (1) | 64.0 |"
    assert table[3] == "| b | 40.0 (1) | – |  |"


def test_mean_se_known_values() -> None:
    assert results.mean_se([0.2, 0.4]) == (pytest.approx(0.3), pytest.approx(0.1), 2)
    assert results.mean_se([0.5]) == (0.5, 0.0, 1)
    mean, se, n = results.mean_se([])
    assert n == 0 and mean != mean and se != se  # nan


def test_compare_resolves_only_beyond_two_standard_errors() -> None:
    wide = results.compare([0.50, 0.52, 0.54], [0.40, 0.42, 0.44])  # 0.10 apart, se of each 0.0115
    assert wide.difference == pytest.approx(0.10) and wide.se == pytest.approx(0.01633, abs=1e-5)
    assert wide.resolved and wide.text() == "+10.0 ± 1.6 points (resolved)"
    close = results.compare([0.40, 0.44, 0.48], [0.41, 0.43, 0.45])
    assert not close.resolved and close.verdict() == "not resolved at this scale"
    # one seed cannot resolve anything, however large the difference
    assert not results.compare([0.9], [0.1, 0.12]).resolved
    assert results.compare([0.3, 0.5], [0.3, 0.5]).text(digits=2).startswith("+0.00 ± 14.14 points")


def test_compare_pairs_values_of_the_same_seeds() -> None:
    # every seed 2 points apart, while the seeds themselves spread by 10: paired, the difference is exact
    a = results.SeedValues([0.42, 0.52, 0.62], seeds=[0, 1, 2])
    b = results.SeedValues([0.40, 0.50, 0.60], seeds=[0, 1, 2])
    paired = results.compare(a, b)
    assert paired.paired and paired.difference == pytest.approx(0.02) and paired.se == pytest.approx(0, abs=1e-12)
    assert paired.resolved
    unpaired = results.compare(list(a), list(b))
    assert not unpaired.paired and not unpaired.resolved
    # other seeds, or missing ones: not paired
    assert not results.compare(a, results.SeedValues(b, seeds=[0, 1, 3])).paired
    with pytest.raises(ValueError, match="3 values but 2 seeds"):
        results.SeedValues([1, 2, 3], seeds=[0, 1])


def test_check_insists_on_the_verdict_the_text_states() -> None:
    up = results.compare([0.50, 0.52, 0.54], [0.40, 0.42, 0.44])
    assert up.check(resolved=True, positive=True) is up
    with pytest.raises(ValueError, match="the text says this difference is resolved, negative, but the results give "
                                         r"\+10.0 ± 1.6 points \(resolved\)"):
        up.check(resolved=True, positive=False)
    with pytest.raises(ValueError, match="is not resolved at this scale, but"):
        up.check(resolved=False)
    results.compare([0.4, 0.5], [0.45, 0.46]).check(resolved=False)


def test_probe_table_has_a_row_per_run() -> None:
    runs = {"base": {"probes": {"independent": {"a": 0.5, "b": 0.25}}},
            "splicer": {"probes": {"independent": {"a": 0.75, "b": 0.125}}}}
    assert results.probe_table(runs, ("b", "a")).splitlines() == [
        "| run | b | a |", "|---|---|---|", "| base | 0.250 | 0.500 |", "| splicer | 0.125 | 0.750 |"]


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    results.save({"a": 1}, path)

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        results.save({"a": 2}, path)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_seeded_groups_result_files_by_run_and_orders_seeds(tmp_path: Path) -> None:
    for seed in (2, 0, 1):
        results.save({"seed": seed, "probes": {"x": {"object": seed / 10}}}, tmp_path / f"fast/a-b-s{seed}.json")
    results.save({"seed": 0, "probes": {"x": {"object": 0.9}}}, tmp_path / "fast/c-s0.json")
    results.save({"seed": 0}, tmp_path / "other-s0.json")
    grouped = results.seeded("fast/*.json", tmp_path)
    assert list(grouped) == ["a-b", "c"]
    assert [r["seed"] for r in grouped["a-b"]] == [0, 1, 2]
    assert results.values(grouped["a-b"], "probes.x.object") == [0.0, 0.1, 0.2]
    assert results.values(grouped["a-b"], "probes.x.object").seeds == (0, 1, 2)
    assert results.values([{"m": [[1, 2], [3, 4]], "seed": 7}], "m.1.0") == [3.0]


def test_seed_table_and_format() -> None:
    assert results.format_mean_se([0.4, 0.42]) == "41.0 ± 1.0"
    assert results.format_mean_se([0.4]) == "40.0 (1 seed)"
    table = results.seed_table({"baseline": {"object": [0.4, 0.42], "digit": [0.9, 0.92]},
                                "random": {"object": [0.3]}}).splitlines()
    assert table[0] == "| | object | digit | seeds |"
    assert table[2] == "| baseline | 41.0 ± 1.0 | 91.0 ± 1.0 | 2 |"
    assert table[3] == "| random | 30.0 (1 seed) | – | 1 |"


#: Committed results cheap enough to re-run in the tests (a few seconds each), in order of preference.
REPRODUCIBLE = ("fast/randbits-b6-t0.1-s1.json", "fast/dominoes-simclr-random_init-s1.json")


def _close(a, b, tolerance: float) -> bool:
    """Whether two nested records hold the same keys and numbers within ``tolerance``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= tolerance
    return a == b


def test_close_compares_nested_numbers() -> None:
    assert _close({"x": {"digit": 0.571}}, {"x": {"digit": 0.569}}, 0.005)
    assert not _close({"x": {"digit": 0.58}}, {"x": {"digit": 0.569}}, 0.005)
    assert not _close({"x": {"digit": 0.57}}, {"y": {"digit": 0.57}}, 0.005)


def test_a_committed_result_reproduces_from_its_recorded_command(shipped_dir, tmp_path: Path) -> None:
    """The promise of every result file: its recorded command, run again, gives the same probe
    numbers (training included): bit for bit on the kind of CPU that made it, and within
    half a point on another, whose vectorised kernels round their last bits differently."""
    import shlex
    import subprocess
    import sys

    folder = Path(__file__).resolve().parents[1] / "results"
    path = next((folder / name for name in REPRODUCIBLE if (folder / name).exists()), None)
    if path is None:
        pytest.skip("no committed fast-mode result to re-run")
    committed = json.loads(path.read_text())
    words = shlex.split(committed["command"])
    assert words[:3] == ["python", "-m", "splicer_tutorial"] and "--threads" in words
    words[words.index("--out") + 1] = str(tmp_path / "again.json")
    done = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    again = json.loads((tmp_path / "again.json").read_text())
    assert _close(again["probes"], committed["probes"], 0.005), (again["probes"], committed["probes"])
    assert all(again["config"][key] == value for key, value in committed["config"].items())


def test_a_result_names_its_components() -> None:
    from splicer_tutorial.results import describe_components
    from splicer_tutorial.training import TrainConfig

    assert describe_components(TrainConfig()) is None
    assert describe_components(TrainConfig(variant="splicer", sections=(3, 1))) == {
        "kind": "sections", "grid": [3, 1], "fill": "zero", "count": 3, "chunk_sizes": [43, 43, 42]}
    named = TrainConfig(variant="sigma_je", groups=(("a",), ("b", "c")), channel_names=("a", "b", "c"))
    assert describe_components(named) == {"kind": "channels", "groups": [["a"], ["b", "c"]], "count": 2}
    masks = TrainConfig(variant="splicer", mask_labels=2, chunk_sizes=(32, 96))
    assert describe_components(masks) == {"kind": "masks", "labels": 2, "background": True, "count": 2,
                                          "chunk_sizes": [32, 96]}


def _seed_files(folder: Path, stem: str, accuracies: list[float], mode: str = "fast") -> None:
    for seed, accuracy in enumerate(accuracies):
        results.save({"seed": seed, "mode": mode, "probes": {"x": {"y": accuracy}}}, folder / f"{stem}-s{seed}.json")


def test_a_finding_is_measured_at_every_scale_that_has_runs(tmp_path: Path) -> None:
    _seed_files(tmp_path / "fast", "a", [0.5, 0.6, 0.7])
    _seed_files(tmp_path / "fast", "b", [0.4, 0.5, 0.6])
    _seed_files(tmp_path, "a", [0.9, 0.8], mode="fast")  # at the top level but not full mode: not a full result
    finding = results.Finding("page", "a minus b", "probes.x.y", fast=("fast/a-s*.json", "fast/b-s*.json"),
                              full=("a-s*.json", "b-s*.json"))
    measured = finding.measured(tmp_path)
    assert measured["cpu"] is None and measured["full"] is None
    fast = measured["fast"]
    assert fast.paired and fast.n == (3, 3) and fast.difference == pytest.approx(0.1) and fast.se == pytest.approx(0)
    chance = results.measure("fast/a-s*.json", 0.5, "probes.x.y", folder=tmp_path)
    assert chance.difference == pytest.approx(0.1) and chance.se == pytest.approx(results.mean_se([0.5, 0.6, 0.7])[1])
    table = results.findings_table([finding], tmp_path)
    assert "| page | a minus b | +10.0 ± 0.0 points (resolved) | – | – |" in table


def test_a_page_states_how_long_it_ran_and_where(monkeypatch) -> None:
    monkeypatch.setattr(results, "IMPORTED", results.time.perf_counter() - 125.4)
    monkeypatch.setattr(results.torch, "get_num_threads", lambda: 1)
    assert results.page_run_time("cpu") == "2 min 5 s on a CPU, one thread"
    monkeypatch.setattr(results, "IMPORTED", results.time.perf_counter() - 7.2)
    monkeypatch.setattr(results.torch, "get_num_threads", lambda: 2)
    assert results.page_run_time() == "7 s on a CPU, 2 threads"


def test_a_writer_killed_midway_leaves_the_old_result_intact(tmp_path: Path) -> None:
    path = results.save({"probes": {"x": 1}}, tmp_path / "r.json")

    def killed(temporary: Path) -> None:
        temporary.write_text('{"probes": {"x"')  # half a file, then the process is interrupted
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        results.write_atomically(path, killed)
    assert json.loads(path.read_text()) == {"probes": {"x": 1}}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def _repository_archive(path: Path) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, text in (("splicer-tutorial-main/results/fast/a-s0.json", '{"seed": 0}'),
                           ("splicer-tutorial-main/results/notes.txt", "not a result"),
                           ("splicer-tutorial-main/README.md", "# readme")):
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


def test_without_a_checkout_the_results_come_from_the_repository_once(tmp_path: Path, monkeypatch) -> None:
    from splicer_tutorial import datasets

    fetched = []
    monkeypatch.setattr(datasets, "_fetch_url", lambda url, dest: fetched.append(url) or _repository_archive(dest))
    monkeypatch.delenv("SPLICER_OFFLINE", raising=False)
    folder = results.fetch_results(tmp_path / "cache" / "results")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == ["fast/a-s0.json"]
    assert results.load("fast/*.json", folder) == [{"seed": 0}]
    assert results.fetch_results(folder) == folder and fetched == [results.REPOSITORY_ARCHIVE]  # once
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["results"]  # no scratch left


def test_without_a_checkout_and_offline_the_error_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    from splicer_tutorial import datasets

    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    monkeypatch.setattr(datasets, "_fetch_url", lambda *a: pytest.fail("download attempted"))
    with pytest.raises(datasets.DataNotFoundError, match="clone the repository .* or set SPLICER_RESULTS_DIR"):
        results.fetch_results(tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_seeded_probes_reads_every_seed_of_each_named_run(tmp_path) -> None:
    for seed, accuracy in ((0, 0.5), (1, 0.7), (2, 0.6)):
        results.save({"seed": seed, "probes": {"independent": {"a": accuracy, "b": 1 - accuracy}}},
                     tmp_path / "fast" / f"toy-baseline-s{seed}.json")
    results.save({"seed": 0, "probes": {"independent": {"a": 0.9, "b": 0.1}}}, tmp_path / "fast" / "toy-baseline-x-s0.json")
    table = results.seeded_probes({"baseline": "toy-baseline"}, ("a", "b"), folder=tmp_path)
    assert table["baseline"]["a"] == [0.5, 0.7, 0.6] and table["baseline"]["a"].seeds == (0, 1, 2)
    assert table["baseline"]["b"] == pytest.approx([0.5, 0.3, 0.4])  # toy-baseline-x is another run
    with pytest.raises(ValueError, match="no results for 'toy-splicer'"):
        results.seeded_probes({"SpliCER": "toy-splicer"}, ("a",), folder=tmp_path)
    text = results.comparison_table({"a − b": results.compare(table["baseline"]["a"], table["baseline"]["b"])})
    assert text.splitlines()[:2] == ["| difference | points |", "|---|---|"]
    assert text.splitlines()[2].startswith("| a − b | +20.0 ± ")


def test_expected_answer_states_the_exercise_against_the_run_it_changes(tmp_path) -> None:
    for seed, (a, b) in enumerate(((0.30, 0.20), (0.32, 0.21), (0.31, 0.19))):
        results.save({"seed": seed, "probes": {"t": {"f": a}}}, tmp_path / "fast" / f"changed-s{seed}.json")
        results.save({"seed": seed, "probes": {"t": {"f": b}}}, tmp_path / "fast" / f"default-s{seed}.json")
    text = results.expected_answer("changed", "default", "probes.t.f", folder=tmp_path)
    assert text == ("31.0 ± 0.6 % over 3 seeds, against 20.0 ± 0.6 %: +11.0 ± 0.6 points (resolved)")
    auc = results.expected_answer("changed", "default", "probes.t.f", folder=tmp_path, scale=1, unit="", digits=3)
    assert auc == "0.310 ± 0.006 over 3 seeds, against 0.200 ± 0.006: +0.110 ± 0.006 (resolved)"
    with pytest.raises(ValueError, match="no results for 'missing'"):
        results.expected_answer("missing", "default", "probes.t.f", folder=tmp_path)
    results.expected_answer("changed", "default", "probes.t.f", folder=tmp_path, resolved=True, positive=True)
    with pytest.raises(ValueError, match="the text says this difference is not resolved at this scale"):
        results.expected_answer("changed", "default", "probes.t.f", folder=tmp_path, resolved=False)
    # the same run on another test set: the changed run's own "t" probe is read as the other side
    itself = results.expected_answer("changed", "changed", "probes.t.f", folder=tmp_path, against_path="probes.t.f")
    assert itself.endswith("+0.0 ± 0.0 points (not resolved at this scale)")
