"""Many runs from one command: ``python -m splicer_tutorial sweep``.

A *plan* is a list of runs, one per line: the result file's name (relative to the results
folder) and then the ``run`` arguments, with ``{seed}`` where the seed goes::

    # comment lines and blank lines are ignored
    fast/dominoes-simclr-baseline-s{seed}.json --mode fast --method simclr --seed {seed}

A line holding ``{seed}`` stands for one run per seed; one without it runs once. The
named plans live in :mod:`splicer_tutorial.plans`; a plan file is read the same way.

The sweep

* **skips** a run whose result file exists and was made by the same ``run`` arguments
  (compared after parsing, so the order of the flags does not matter; ``--threads`` and
  ``--device`` are not compared), also when another process wrote it while this sweep
  waited. A file made by other arguments is a *conflict*: it is neither run nor
  overwritten, and the summary says so. A file made by the same arguments whose recorded
  training config differs from the one they give now (a default changed since) is
  *stale*: it runs again, the old file set aside in ``<results>/.stale/``;
* runs the rest **in the plan's order**, ``jobs`` at a time, each as its own process
  (``python -m splicer_tutorial run``) with the CPU threads split between them
  (``--threads``, recorded in the result's command, so re-running that command gives the
  same numbers); on a GPU the processes share it;
* with a **budget** in seconds, starts no run that would not end within it, judged by the
  wall time of runs of the same kind (same arguments but the seed) already done, in this
  sweep or recorded in their result files; a run of a kind never seen starts while time
  is left;
* writes every result atomically (:func:`splicer_tutorial.results.save`): a killed run
  leaves no partial file. Each run's output goes to a log file in ``<results>/.logs``;
* ends with a **summary**: done, skipped, failed (with the error), conflicts, left, and
  the time taken.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .training import TrainConfig

#: ``run`` options that change how a run is executed, not what it computes.
EXECUTION_OPTIONS = ("out", "threads", "device")
#: seconds a run's process needs beyond its own ``wall_s`` (start-up, data, writing)
_OVERHEAD_S = 5.0


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: its result file (relative to the results folder) and ``run`` arguments."""

    out: str
    args: tuple[str, ...]

    @property
    def kind(self) -> str:
        """The arguments without the seed: runs of one kind take about the same time."""
        args, skip = [], False
        for arg in self.args:
            if skip:
                skip = False
            elif arg == "--seed":
                skip = True
            elif not arg.startswith("--seed="):
                args.append(arg)
        return " ".join(args)

    def line(self) -> str:
        return shlex.join([self.out, *self.args])


def parse_plan(lines: Iterable[str], seeds: Sequence[int], source: str = "plan",
               by_seed: bool = False) -> list[PlannedRun]:
    """The runs of a plan's lines, in order; a line with ``{seed}`` gives one run per seed.

    Runs are ordered line by line, and within a line by seed; with ``by_seed``, seed by
    seed (every line for the first seed, then every line for the next). Raises ``ValueError``,
    naming the line, for a line without arguments, a result name that is not a relative
    ``.json`` path, arguments that ``run`` rejects, or two runs writing one file.
    """
    runs: list[PlannedRun] = []
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            words = shlex.split(text)
        except ValueError as error:
            raise ValueError(f"{source} line {number}: {error}: {text!r}") from None
        if len(words) < 2:
            raise ValueError(f"{source} line {number}: expected 'RESULT.json --run --arguments ...', got {text!r}.")
        out, *args = words
        if not out.endswith(".json") or Path(out).is_absolute() or ".." in Path(out).parts:
            raise ValueError(f"{source} line {number}: the result name {out!r} must be a relative path ending in "
                             ".json (it is placed in the results folder).")
        if "--out" in args or any(a.startswith("--out=") for a in args):
            raise ValueError(f"{source} line {number}: leave --out out; the first word names the result file.")
        for rank, seed in enumerate(seeds if "{seed}" in text else [None]):
            fill = (lambda w: w) if seed is None else (lambda w, s=seed: w.replace("{seed}", str(s)))
            planned = PlannedRun(fill(out), tuple(fill(a) for a in args))
            try:
                run_arguments(planned.args)
            except ValueError as error:
                raise ValueError(f"{source} line {number}: {error}") from None
            runs.append((rank if by_seed else 0, planned))
    runs = [planned for _, planned in sorted(runs, key=lambda pair: pair[0])]  # stable: plan order within a seed
    seen: dict[str, PlannedRun] = {}
    for planned in runs:
        if planned.out in seen and seen[planned.out] != planned:
            raise ValueError(f"{source}: two runs write {planned.out}: {seen[planned.out].line()!r} and "
                             f"{planned.line()!r}; give each its own result name (with {{seed}}).")
        seen[planned.out] = planned
    return list(dict.fromkeys(runs))


def run_arguments(args: Sequence[str]) -> dict:
    """The parsed ``run`` arguments, without those in :data:`EXECUTION_OPTIONS`.

    Raises ``ValueError`` with argparse's message when ``run`` would reject them.
    """
    from .cli import parse_run_arguments  # the command line owns the run's arguments

    values = parse_run_arguments(list(args))
    return {k: v for k, v in values.items() if k not in EXECUTION_OPTIONS}


def recorded_arguments(result: dict) -> dict | None:
    """The parsed ``run`` arguments recorded in a result's ``command``; None if it holds none."""
    try:
        words = shlex.split(result.get("command", ""))
        start = words.index("run") + 1
        return run_arguments(words[start:])
    except (ValueError, TypeError):
        return None


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Summary:
    """What a sweep did. Lists hold result names; ``failed`` maps them to the error."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)  # made again: the config their arguments give had changed
    left: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    def line(self) -> str:
        return (f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed, "
                f"{len(self.conflicts)} conflicts, {len(self.left)} left, in {self.wall_s:.0f} s")

    def report(self) -> str:
        lines = [f"sweep: {self.line()}"]
        for name, error in self.failed.items():
            lines.append(f"  failed   {name}: {error}")
        for name, why in self.conflicts.items():
            lines.append(f"  conflict {name}: {why}")
        if self.left:
            lines.append(f"  left     {len(self.left)} runs, from {self.left[0]} (run the sweep again to go on)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_differences(recorded: dict | None, current: dict | None) -> list[str]:
    """The fields in which a result's recorded training config differs from the config its
    arguments give now (:func:`splicer_tutorial.cli.run_config`). A field the result
    predates counts as its default then; a field the package no longer has is not compared;
    no config on either side (supervised runs) compares equal."""
    if not isinstance(recorded, dict) or current is None:
        return []
    defaults = json.loads(json.dumps({f.name: f.default for f in dataclasses.fields(TrainConfig)}))
    return sorted(k for k, v in current.items() if recorded.get(k, defaults.get(k)) != v)


def status(plan: Sequence[PlannedRun], folder: Path) -> dict[str, str]:
    """Each run's state before a sweep: ``"done"``, ``"to run"``, ``"stale: ..."`` (made by
    the same arguments, but the package's defaults have changed since, so the config they
    give now differs: it runs again) or ``"conflict: ..."`` (made by other arguments).

    Arguments that differ only in options that set the config (``cli.CONFIG_OPTIONS``, e.g.
    ``--fill zero`` given where it was the default) make the same run when the configs agree.
    """
    from .cli import CONFIG_OPTIONS, run_config

    states = {}
    for planned in plan:
        path = folder / planned.out
        if not path.exists():
            states[planned.out] = "to run"
            continue
        result = _read(path)
        recorded = None if result is None else recorded_arguments(result)
        if recorded is None:
            states[planned.out] = "conflict: the file is not a result with a recorded run command"
            continue
        wanted = run_arguments(planned.args)
        differ = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        current = run_config(list(planned.args))
        comparable = isinstance(result.get("config"), dict) and current is not None
        changed = config_differences(result.get("config"), current) if comparable else []
        if set(differ) - set(CONFIG_OPTIONS) or (differ and (changed or not comparable)):
            states[planned.out] = (f"conflict: made by other arguments ({', '.join(differ)} differ); move it "
                                   "away or change the plan")
        elif changed:
            states[planned.out] = (f"stale: made by these arguments, but they now give another config "
                                   f"({', '.join(changed)} differ)")
        else:
            states[planned.out] = "done"
    return states


def set_aside(folder: Path, out: str) -> Path:
    """Move a stale result to ``<folder>/.stale/<out>`` before it is made again; returns where."""
    target = folder / ".stale" / out
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder / out, target)
    return target


def _error_line(log: Path) -> str:
    """The last meaningful line of a failed run's log."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    lines = [line for line in lines if not line.endswith(("it/s]", "s/it]"))]
    return lines[-1] if lines else "no output"


def _cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def sweep(
    plan: Sequence[PlannedRun],
    folder: str | Path,
    jobs: int = 1,
    budget: float | None = None,
    threads: int | None = None,
    device: str | None = None,
    log: Callable[[str], None] = print,
    python: str = sys.executable,
    poll_s: float = 0.5,
) -> Summary:
    """Run a plan into ``folder`` (see the module docstring) and return its :class:`Summary`.

    ``threads``: CPU threads per run (default: this machine's threads split over ``jobs``,
    at least 1). ``device`` is passed on to every run when given.
    """
    if jobs < 1:
        raise ValueError(f"jobs is {jobs}; it must be at least 1.")
    if budget is not None and not budget > 0:
        raise ValueError(f"budget is {budget}; give a positive number of seconds, or none for no limit.")
    if threads is not None and threads < 1:
        raise ValueError(f"threads is {threads}; it must be at least 1.")
    folder = Path(folder)
    threads = threads or max(1, _cpu_threads() // jobs)
    began = time.monotonic()
    summary = Summary()
    times: dict[str, list[float]] = {}
    queue: list[PlannedRun] = []
    for planned, state in zip(plan, status(plan, folder).values()):
        if state == "done":
            summary.skipped.append(planned.out)
            result = _read(folder / planned.out) or {}
            if isinstance(result.get("wall_s"), (int, float)):
                times.setdefault(planned.kind, []).append(result["wall_s"] + _OVERHEAD_S)
        elif state.startswith("conflict"):
            summary.conflicts[planned.out] = state.removeprefix("conflict: ")
        else:
            if state.startswith("stale"):
                summary.stale.append(planned.out)
            queue.append(planned)
    stale = f" ({len(summary.stale)} of them stale: set aside in {folder / '.stale'} as they start)" if summary.stale else ""
    log(f"sweep: {len(plan)} runs in the plan: {len(summary.skipped)} already done, "
        f"{len(summary.conflicts)} conflicts, {len(queue)} to run{stale}, {jobs} at a time, {threads} threads each")

    def fits(planned: PlannedRun) -> bool:
        if budget is None:
            return True
        known = times.get(planned.kind)
        return not known or time.monotonic() - began + sum(known) / len(known) <= budget

    logs = folder / ".logs"
    running: dict[subprocess.Popen, tuple[PlannedRun, float, Path]] = {}
    total = len(queue)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                if not fits(queue[0]):
                    summary.left.extend(p.out for p in queue)
                    log(f"sweep: the budget of {budget:.0f} s leaves no time for {queue[0].out}; stopping here")
                    queue.clear()
                    break
                planned = queue.pop(0)
                state = status([planned], folder)[planned.out]
                if state == "done":  # made meanwhile by another sweep
                    summary.skipped.append(planned.out)
                    log(f"sweep: skip  {planned.out} (written meanwhile by another process)")
                    continue
                if state.startswith("stale"):
                    log(f"sweep: set aside {planned.out} ({state}): now {set_aside(folder, planned.out)}")
                path = logs / (planned.out.replace("/", "__") + ".log")
                path.parent.mkdir(parents=True, exist_ok=True)
                command = [python, "-m", "splicer_tutorial", "run", *planned.args,
                           "--threads", str(threads), "--out", str(folder / planned.out)]
                if device is not None:
                    command += ["--device", device]
                environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
                with open(path, "w") as handle:
                    handle.write(shlex.join(command) + "\n")
                    handle.flush()
                    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=environment,
                                               start_new_session=True)
                running[process] = (planned, time.monotonic(), path)
                number = total - len(queue)
                log(f"sweep: start {number}/{total} {planned.out}")
            time.sleep(poll_s if running else 0)
            for process in [p for p in running if p.poll() is not None]:
                planned, started, path = running.pop(process)
                seconds = time.monotonic() - started
                if process.returncode == 0 and (folder / planned.out).exists():
                    summary.done.append(planned.out)
                    times.setdefault(planned.kind, []).append(seconds)
                    log(f"sweep: done  {planned.out} in {seconds:.0f} s")
                else:
                    summary.failed[planned.out] = _error_line(path)
                    log(f"sweep: FAILED {planned.out} (exit {process.returncode}): {summary.failed[planned.out]} "
                        f"(log: {path})")
    except KeyboardInterrupt:
        log("sweep: interrupted; stopping the runs in progress (their results are not written)")
        summary.left.extend(p.out for p in queue)
        summary.interrupted = True
    finally:
        for process, (planned, _, _) in running.items():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            process.wait()
            summary.left.insert(0, planned.out)
        summary.wall_s = time.monotonic() - began
    return summary
