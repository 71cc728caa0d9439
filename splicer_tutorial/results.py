"""Result files: what every run writes, with the provenance to reproduce it.

A result is a JSON object holding what was measured plus ``command``, ``device``,
``versions``, ``seed`` and ``date``. Full-mode numbers shown in the book are read from
such files under ``results/``, never typed in by hand.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .files import write_atomically  # noqa: F401  (results.write_atomically, as before)

PACKAGES = ("torch", "kornia", "numpy", "scikit-learn", "splicer-tutorial")
RESULTS_ENV = "SPLICER_RESULTS_DIR"


#: The repository's archive, whose ``results/`` a package installed without a checkout
#: (Colab, Binder) reads: the seeded runs every chapter shows.
REPOSITORY_ARCHIVE = "https://github.com/splicer-tutorial/splicer-tutorial/archive/refs/heads/main.tar.gz"


def results_dir() -> Path:
    """Where result files live: ``$SPLICER_RESULTS_DIR``, else the checkout's ``results/``.

    A package installed without a checkout (from a wheel or git, as in Colab) reads
    ``./results`` when there is one, else the repository's ``results/``, downloaded once
    into the data cache (:func:`fetch_results`; not with ``SPLICER_OFFLINE=1``, which gives
    a one-line error saying what to do instead).
    """
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").exists():
        return checkout / "results"
    if (Path.cwd() / "results").is_dir():
        return Path.cwd() / "results"
    return fetch_results()


def fetch_results(folder: Path | None = None) -> Path:
    """The repository's ``results/`` in ``folder`` (default: ``results`` in the data cache,
    :func:`splicer_tutorial.datasets.data_dir`), downloaded and unpacked once from
    :data:`REPOSITORY_ARCHIVE` when it is not there yet."""
    from . import datasets

    folder = Path(folder) if folder is not None else datasets.data_dir() / "results"
    if folder.is_dir():
        return folder
    allowed, why_not = datasets._downloads_allowed(None)
    if not allowed:
        raise datasets.DataNotFoundError(
            f"no results folder here and {why_not}: clone the repository "
            f"(its results/ folder), or set {RESULTS_ENV} to a folder of result files.")
    import tarfile
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        archive = Path(scratch) / "repository.tar.gz"
        datasets._fetch_url(REPOSITORY_ARCHIVE, archive)
        unpacked = Path(scratch) / "results"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts  # "<repository>-main/results/fast/x.json"
                if len(parts) > 2 and parts[1] == "results" and member.isfile() and member.name.endswith(".json"):
                    target = unpacked.joinpath(*parts[2:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
        if not unpacked.is_dir():
            raise datasets.DataNotFoundError(f"{REPOSITORY_ARCHIVE} holds no results/ folder; set {RESULTS_ENV}.")
        os.replace(unpacked, folder)  # all or nothing: a failed download leaves no half folder
    return folder


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape a result."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def source_commit() -> str | None:
    """The git commit of the package's checkout, with ``+changes`` when files differ from it.

    None when the package is not in a git checkout (an installed wheel) or git is missing.
    """
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no",
                                  "--", "splicer_tutorial"], capture_output=True, text=True, timeout=10,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if changed else "")


#: When the package was imported: a chapter's setup cell, the start of its run time.
IMPORTED = time.perf_counter()


def page_run_time(device: torch.device | str | None = None) -> str:
    """How long this process has run since it imported the package, and where: the measured
    run time a chapter states at its top (its setup cell imports the package), e.g.
    ``"2 min 5 s on a CPU, one thread"``."""
    seconds = round(time.perf_counter() - IMPORTED)
    took = f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return f"{took} on a GPU ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"{took} on a CPU, {'one thread' if threads == 1 else f'{threads} threads'}"


def describe_device(device: torch.device) -> str:
    """A readable name of the device, e.g. ``"cuda: NVIDIA H200"`` or ``"cpu (2 threads)"``."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"


def provenance(device: torch.device, command: list[str] | None = None) -> dict[str, Any]:
    """Command line, device, versions, the package's git commit and the UTC date of a run."""
    return {
        "command": shlex.join(command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]]),
        "device": describe_device(device),
        "versions": versions(),
        "commit": source_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def describe_components(config) -> dict[str, Any] | None:
    """What a run's components were, in words a reader of its result file can check.

    ``None`` for a run without components (the baseline); otherwise the kind (``sections``
    with their grid and fill, ``channels`` with their groups, or ``masks`` with their
    labels), their number and, for SpliCER, the chunk of the embedding each was given.
    """
    if config.variant == "baseline":
        return None
    described = config.components.describe(config.channel_names)
    if config.variant in ("splicer", "separate"):
        described["chunk_sizes"] = list(config.embedding_chunks())
    return described


def record(
    config,
    mode: str,
    device: torch.device,
    command: list[str] | None,
    started: float,
    data: dict,
    image_shape,
    chance: float,
    history,
    *,
    dataset: str,
    **measured: Any,
) -> dict[str, Any]:
    """The JSON-ready result of a pretraining run: what defines it, its provenance, and ``measured``.

    ``config`` is a :class:`~splicer_tutorial.training.TrainConfig`, ``started`` the
    ``time.perf_counter()`` at its start, ``data`` the ``{split: {variant: set}}`` it used
    and ``dataset`` its name (``"dominoes"``, ``"randbits"``, ``"multiplex"``, ...),
    ``history`` its :class:`~splicer_tutorial.training.History`; ``measured`` holds the
    probes (and e.g. ``reference``). Beside the config the result names its data: the data
    set, the size of each set (``data``), the image shape and the components
    (:func:`describe_components`).
    """
    return {
        "config": config.to_dict(),
        "dataset": dataset,
        "components": describe_components(config),
        "mode": mode,
        "seed": config.seed,
        **provenance(device, command),
        "wall_s": time.perf_counter() - started,
        "data": {split: {v: len(s) for v, s in sets.items()} for split, sets in data.items()},
        "image_shape": list(image_shape),
        "chance": chance,
        "history": history.to_dict(),
        **measured,
    }


def save(result: dict[str, Any], path: str | Path) -> Path:
    """Write a result as indented JSON, atomically (folders made as needed).

    The text goes to a temporary file beside ``path`` that is then renamed over it, so a
    run killed while writing leaves the old file (or none), never half of a new one.
    """
    text = json.dumps(result, indent=2, default=str) + "\n"
    return write_atomically(path, lambda temporary: temporary.write_text(text))


def load(pattern: str, folder: str | Path | None = None) -> list[dict[str, Any]]:
    """All result files matching a glob ``pattern`` in ``folder`` (default :func:`results_dir`), by name."""
    folder = Path(folder) if folder is not None else results_dir()
    return [json.loads(p.read_text()) for p in sorted(folder.glob(pattern))]


def seeded(pattern: str, folder: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Result files matching ``pattern`` (e.g. ``"fast/dominoes-*.json"``), grouped by run:
    ``{name: [result per seed, by seed]}``, the name being the file name without its folder,
    ``.json`` and ``-s<seed>`` (``"dominoes-simclr-baseline"``), as the sweep's plans name them.
    """
    folder = Path(folder) if folder is not None else results_dir()
    grouped: dict[str, list[dict]] = {}
    for path in sorted(folder.glob(pattern)):
        name = re.sub(r"-s\d+$", "", path.stem)
        grouped.setdefault(name, []).append(json.loads(path.read_text()))
    return {name: sorted(runs, key=lambda run: run.get("seed", 0)) for name, runs in grouped.items()}


class SeedValues(list):
    """A list of floats, one per seed, that remembers its seeds (``.seeds``), so that
    :func:`compare` can pair two measurements seed by seed."""

    def __init__(self, values: Sequence[float] = (), seeds: Sequence[int] | None = None) -> None:
        super().__init__(float(v) for v in values)
        self.seeds = tuple(seeds) if seeds is not None else None
        if self.seeds is not None and len(self.seeds) != len(self):
            raise ValueError(f"{len(self)} values but {len(self.seeds)} seeds; give one seed per value.")


def values(runs: Sequence[dict[str, Any]], path: str) -> SeedValues:
    """One number per run along a dotted ``path``, with the runs' seeds:
    ``values(runs, "probes.mnist_randomised.object")``; a number in the path indexes a list
    (``"chunk_probes.matrix.1.0"``)."""
    out = []
    for run in runs:
        value: Any = run
        for key in path.split("."):
            value = value[int(key)] if isinstance(value, list) else value[key]
        out.append(float(value))
    return SeedValues(out, [run.get("seed") for run in runs])


def seeded_probes(files: Mapping[str, str], factors: Sequence[str], test_set: str = "independent",
                  folder: str | Path | None = None) -> dict[str, dict[str, SeedValues]]:
    """Each named run's probe accuracy per factor on ``test_set``, one value per seed.

    ``files`` maps a name for the reader to a run's result name under ``fast/``, as the
    sweep's plans write them (``{"baseline": "multiplex-baseline", ...}``); every seed of
    it is read (:func:`seeded`). Returns ``{name: {factor: SeedValues}}``, ready for
    :func:`seed_table` and :func:`compare`; a one-line error names a run with no results.
    """
    folder = Path(folder) if folder is not None else results_dir()
    out = {}
    for name, file in files.items():
        runs = seeded(f"fast/{file}-s*.json", folder).get(file)
        if not runs:
            raise ValueError(f"no results for {file!r} in {folder / 'fast'}; run its plan "
                             "(python -m splicer_tutorial sweep --plan fast) or fetch the results.")
        out[name] = {factor: values(runs, f"probes.{test_set}.{factor}") for factor in factors}
    return out


def expected_answer(run: str, against: str, path: str, folder: str | Path | None = None,
                    scale: float = 100, unit: str = "%", digits: int = 1, resolved: bool | None = None,
                    positive: bool | None = None, against_path: str | None = None) -> str:
    """The answer of a "predict, then run" exercise as the seeded results give it.

    ``run`` is the exercise's run and ``against`` the run it changes, both result names
    under ``fast/`` (the ``exercises`` and ``fast`` plans); ``path`` the dotted number to
    read (:func:`values`), in ``against`` at ``against_path`` when that differs (e.g. the
    same probe on another test set). Returns e.g. ``"31.2 ± 0.9 % over 5 seeds, against 29.0 ± 0.7 %:
    +2.2 ± 1.1 points (not resolved at this scale)"``; a one-line error names a run with no
    results. ``resolved`` (and ``positive``): the verdict the solution's text states,
    insisted on (:meth:`Comparison.check`), so that text and results cannot drift apart.
    """
    folder = Path(folder) if folder is not None else results_dir()
    measured = {}
    for key, name, dotted in (("run", run, path), ("against", against, against_path or path)):
        runs = seeded(f"fast/{name}-s*.json", folder).get(name)
        if not runs:
            raise ValueError(f"no results for {name!r} in {folder / 'fast'}; run its plan "
                             "(python -m splicer_tutorial sweep --plan exercises) or fetch the results.")
        measured[key] = values(runs, dotted)
    ours, theirs = measured["run"], measured["against"]
    if resolved is not None:
        compare(ours, theirs).check(resolved, positive)
    points = " points" if unit == "%" else ""
    unit = f" {unit}" if unit else ""
    return (f"{format_mean_se(ours, scale, digits)}{unit} over {len(ours)} seeds, against "
            f"{format_mean_se(theirs, scale, digits)}{unit}: {compare(ours, theirs).text(scale, points, digits)}")


def comparison_table(comparisons: Mapping[str, Comparison], header: str = "difference") -> str:
    """A Markdown table of named comparisons: ``| name | difference ± SE (points) |``."""
    return (f"| {header} | points |\n|---|---|\n"
            + "\n".join(f"| {name} | {comparison.text(unit='')} |" for name, comparison in comparisons.items()))


def group_probes(runs: list[dict[str, Any]], name: Callable[[dict], str], kind: str = "probes") -> dict:
    """Collect the probe accuracies of several runs (e.g. seeds) under a name per run.

    Returns ``{name: {split: {factor: [accuracy per run]}}}``, which
    :func:`splicer_tutorial.plots.plot_probes` draws as mean and standard error.
    """
    grouped: dict[str, dict] = {}
    for run in runs:
        for split, accuracies in run[kind].items():
            for factor, value in accuracies.items():
                grouped.setdefault(name(run), {}).setdefault(split, {}).setdefault(factor, []).append(value)
    return grouped


def dominoes_run_name(run: dict[str, Any]) -> str:
    """A short name of a dominoes run: ``"simclr/splicer"``, ``"simclr/cifar_only"``, ..."""
    return f"{run['config']['method']}/{run.get('reference') or run['config']['variant']}"


# ------------------------------------------------------------- seeds and error bars


def mean_se(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, standard error and count of one measurement over seeds.

    The standard error is the sample standard deviation (ddof=1) over sqrt(n): how far the
    mean of these seeds may sit from the mean over all seeds. It is 0 for a single value
    (unknown, not zero: see ``n``) and the mean is nan for none.
    """
    values = np.asarray(list(values), dtype=float)
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), 0
    se = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return float(values.mean()), se, n


@dataclass(frozen=True)
class Comparison:
    """The difference of two measurements over seeds, ``a - b``, and whether seeds resolve it.

    ``se`` is the standard error of the difference. When both sides come from the same
    seeds (``paired``; a seed draws the same data for every run of the book), it is the
    standard error of the per-seed differences, which leaves out what the seeds share;
    otherwise sqrt(se_a^2 + se_b^2), the seeds treated as independent. The difference is
    *resolved* when both sides have at least 2 seeds and ``|difference| > 2 se``; otherwise
    the book calls it "not resolved at this scale" and does not interpret it.
    """

    difference: float
    se: float
    n: tuple[int, int]
    paired: bool = False

    @property
    def resolved(self) -> bool:
        return min(self.n) >= 2 and abs(self.difference) > 2 * self.se

    def verdict(self) -> str:
        """``"resolved"`` or ``"not resolved at this scale"``."""
        return "resolved" if self.resolved else "not resolved at this scale"

    def check(self, resolved: bool, positive: bool | None = None) -> "Comparison":
        """Insist on the verdict a chapter's text states (``resolved``, and for a resolved
        difference its sign), so that text and results cannot drift apart: a ``ValueError``
        saying what changed otherwise. Returns the comparison."""
        said = "resolved" if resolved else "not resolved at this scale"
        if resolved and positive is not None:
            said += ", positive" if positive else ", negative"
        found = self.verdict()
        if self.resolved and resolved and positive is not None:
            found += ", positive" if self.difference > 0 else ", negative"
        if found != said:
            raise ValueError(f"the text says this difference is {said}, but the results give {self.text()}; "
                             "update the text to the results.")
        return self

    def text(self, scale: float = 100, unit: str = " points", digits: int = 1) -> str:
        """E.g. ``"+3.5 ± 0.8 points (resolved)"``; ``scale=100`` turns accuracies into points."""
        return (f"{scale * self.difference:+.{digits}f} ± {scale * self.se:.{digits}f}{unit} "
                f"({self.verdict()})")


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """``a - b`` over seeds (each a list with one value per seed); see :class:`Comparison`.

    Two :class:`SeedValues` of the same seeds are compared seed by seed (paired).
    """
    seeds_a, seeds_b = getattr(a, "seeds", None), getattr(b, "seeds", None)
    if seeds_a is not None and seeds_a == seeds_b and None not in seeds_a and len(seeds_a) > 1:
        mean, se, n = mean_se(np.asarray(a) - np.asarray(b))
        return Comparison(mean, se, (n, n), paired=True)
    mean_a, se_a, n_a = mean_se(a)
    mean_b, se_b, n_b = mean_se(b)
    return Comparison(mean_a - mean_b, float(np.hypot(se_a, se_b)), (n_a, n_b))


def summarise(grouped: dict, cells: Sequence[tuple[str, str]]) -> dict[str, dict[tuple[str, str], tuple[float, float, int]]]:
    """Mean, standard error and count (:func:`mean_se`) of chosen (split, factor) cells per run name.

    ``grouped`` is from :func:`group_probes`; a missing cell is ``(nan, nan, 0)``.
    """
    return {name: {(split, factor): mean_se(splits.get(split, {}).get(factor, [])) for split, factor in cells}
            for name, splits in grouped.items()}


def format_mean_se(values: Sequence[float], scale: float = 100, digits: int = 1) -> str:
    """``"40.1 ± 0.3"`` (mean ± standard error, times ``scale``), ``"40.1 (1 seed)"`` for one value."""
    mean, se, n = mean_se(values)
    if n == 0:
        return "–"
    return f"{scale * mean:.{digits}f} ± {scale * se:.{digits}f}" if n > 1 else f"{scale * mean:.{digits}f} (1 seed)"


def seed_table(rows: Mapping[str, Mapping[str, Sequence[float]]], scale: float = 100, digits: int = 1) -> str:
    """A Markdown table of measurements over seeds: ``{row: {column: [value per seed]}}``.

    Cells read ``mean ± SE``; a last column gives the seeds per row (a range when the
    columns differ). With ``scale=100`` accuracies read in percent.
    """
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    lines = ["| | " + " | ".join(columns) + " | seeds |", "|---|" + "---|" * (len(columns) + 1)]
    for name, row in rows.items():
        counts = sorted({len(row[c]) for c in columns if c in row})
        seeds = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        cells = [format_mean_se(row[c], scale, digits) if c in row else "–" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {seeds} |")
    return "\n".join(lines)


def _percent(mean: float, se: float, n: int) -> str:
    if n == 0:
        return "–"
    return f"{100 * mean:.1f} ± {100 * se:.1f} ({n})" if n > 1 else f"{100 * mean:.1f} (1)"


def markdown_table(summary: dict, extra: dict[str, dict[str, str]] | None = None) -> str:
    """A Markdown table of :func:`summarise`'s output: ``mean ± SE (n seeds)`` in percent.

    ``extra`` adds columns: ``{column title: {run name: text}}`` (e.g. the paper's numbers).
    """
    extra = extra or {}
    cells = list(next(iter(summary.values()))) if summary else []
    header = ["run", *[f"{factor} on {split}" for split, factor in cells], *extra]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in summary.items():
        texts = [_percent(*row[cell]) for cell in cells] + [column.get(name, "") for column in extra.values()]
        lines.append("| " + " | ".join([name, *texts]) + " |")
    return "\n".join(lines)


def probe_table(runs: dict[str, dict[str, Any]], factors: Sequence[str], split: str = "independent") -> str:
    """A Markdown table of one-seed runs' probe accuracies on ``split``: a row per run."""
    lines = ["| run | " + " | ".join(factors) + " |", "|---|" + "---|" * len(factors)]
    for name, run in runs.items():
        lines.append(f"| {name} | " + " | ".join(f"{run['probes'][split][f]:.3f}" for f in factors) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------- what the book found


def measure(a: str, b: str | float, path: str, mode: str | None = None,
            folder: str | Path | None = None) -> Comparison | None:
    """``a - b`` of the number at ``path``, over the seeds of two runs' result files.

    ``a`` and ``b`` are glob patterns of one run's seeds (``"fast/dominoes-simclr-baseline-s*.json"``);
    ``b`` may instead be a constant (a chance level), subtracted seed by seed. ``mode``
    keeps only results of that mode. ``None`` when either side has no result yet.
    """
    def seeds_of(pattern: str) -> SeedValues:
        runs = [r for r in load(pattern, folder) if mode is None or r.get("mode") == mode]
        return values(sorted(runs, key=lambda r: r.get("seed", 0)), path)

    first = seeds_of(a)
    second = SeedValues([float(b)] * len(first), first.seeds) if isinstance(b, (int, float)) else seeds_of(b)
    return compare(first, second) if len(first) and len(second) else None


@dataclass(frozen=True)
class Finding:
    """One effect the book measures, as the difference ``a - b`` of one number of two runs.

    ``fast``, ``cpu`` and ``full`` give the ``(a, b)`` of each scale: glob patterns of the
    result files of one run's seeds under ``results/`` (``b`` may be a chance level), or
    ``None`` where the book has no such run. See :func:`findings_table`.
    """

    page: str  # the chapter that shows it, e.g. "Feature suppression in SSL"
    what: str  # the difference in words, e.g. "CIFAR-only minus SimCLR: object on mnist_randomised"
    path: str  # the number compared, e.g. "probes.mnist_randomised.object"
    fast: tuple[str, str | float] | None = None
    cpu: tuple[str, str | float] | None = None
    full: tuple[str, str | float] | None = None
    scale: float = 100  # 100: accuracies in points; 1: AUC and other raw numbers

    def measured(self, folder: str | Path | None = None) -> dict[str, Comparison | None]:
        """``{"fast" | "cpu" | "full": comparison or None}``."""
        out: dict[str, Comparison | None] = {}
        for scale, pair in (("fast", self.fast), ("cpu", self.cpu), ("full", self.full)):
            out[scale] = None if pair is None else measure(*pair, self.path, mode="full" if scale == "full" else None,
                                                           folder=folder)
        return out


def findings_table(findings: Sequence[Finding], folder: str | Path | None = None) -> str:
    """A Markdown table of every finding at every scale: mean ± SE of the difference, and
    whether the seeds resolve it; "–" where the runs do not exist (yet)."""
    lines = ["| chapter | difference | fast mode (5 seeds) | CPU point (3 seeds) | full mode (3 seeds) |",
             "|---|---|---|---|---|"]
    for finding in findings:
        measured = finding.measured(folder)
        unit = " points" if finding.scale == 100 else ""
        cells = [c.text(scale=finding.scale, unit=unit, digits=1 if finding.scale == 100 else 3) if c else "–"
                 for c in measured.values()]
        lines.append(f"| {finding.page} | {finding.what} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
