"""Execute the book's notebooks several at a time into Jupyter Book's execution cache.

    python scripts/execute_book.py [--jobs 2] [--limit 1200]

Jupyter Book 1.x executes the notebooks of a build one after another. This script runs
them ``--jobs`` at a time first (the longest chapters first, as the test command does),
each into the cache the build reads (``_build/.jupyter_cache``), so the build that follows
finds every notebook executed and only renders. A notebook already in the cache with the
same code is skipped, so after an edit only the chapters that changed run again. A
notebook that fails here is left out of the cache: the build runs it again and reports
its error as it always does.

Each notebook runs in a fresh Python process of its own, which this script kills (with
its kernel) when the notebook has not finished within ``--limit`` seconds; it then runs
that notebook once more. This guards against a known, intermittent hang of nbclient and
jupyter_client 8 (a kernel that has gone idle while the client still waits for a reply:
jupyter/nbclient#272, nteract/papermill#711), seen here once in a build of 18 chapters.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 1200  # seconds per cell, as _config.yml's execute.timeout
LIMIT = 1200  # seconds per notebook in fast mode, where a chapter takes a few minutes
TRIES = 2  # a notebook that hangs runs once more before it is reported as failed


def execute(path: Path, cache_path: Path) -> tuple[str, str]:
    """Run one notebook into the cache at ``cache_path``, as myst-nb's cache mode would:
    ``("cached" | "executed" | "failed", detail)``."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution
    from sqlalchemy.exc import OperationalError

    cache = get_cache(str(cache_path))
    notebook = nbformat.read(path, as_version=4)
    try:
        cache.match_cache_notebook(notebook)
        return "cached", ""
    except KeyError:
        pass
    result = single_nb_execution(notebook, cwd=str(path.parent), timeout=TIMEOUT, allow_errors=False,
                                 meta_override=True)
    if result.err is not None:
        last = (result.exc_string or repr(result.err)).strip().splitlines()[-1]
        return "failed", last
    for attempt in range(5):  # two processes may write the cache's database at once
        try:
            cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path), data={"execution_seconds": result.time}),
                                        check_validity=False, overwrite=True)
            break
        except OperationalError:  # "database is locked": the other process is writing; wait and retry
            if attempt == 4:
                raise
            time.sleep(1 + attempt)
    return "executed", f"{result.time:.0f} s"


def _kill(process: subprocess.Popen) -> None:
    """Kill ``process`` and everything it started (the notebook's kernel among them)."""
    import psutil  # a dependency of ipykernel

    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.kill()
    process.wait()


def execute_in_own_process(path: Path, cache_path: Path, limit: float | None) -> tuple[str, str]:
    """:func:`execute` in a fresh Python process, killed after ``limit`` seconds (None: never)
    and then tried once more."""
    command = [sys.executable, __file__, "--one", str(path), "--cache", str(cache_path)]
    for attempt in range(1, TRIES + 1):
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill(process)
            print(f"execute_book: hung     {path.name}: no result after {limit:.0f} s (try {attempt} of {TRIES}); "
                  "killed it and its kernel", flush=True)
            continue
        lines = out.strip().splitlines()
        if process.returncode != 0 or not lines:
            last = (err.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
            return "failed", last
        state, detail = json.loads(lines[-1])
        return state, detail
    return "failed", f"no result after {limit:.0f} s, {TRIES} times"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at once (default 2)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's root folder (default: this checkout)")
    parser.add_argument("--limit", type=float, default=None,
                        help=f"seconds one notebook may take before it is killed and run again (default {LIMIT} "
                             "in fast mode, no limit with SPLICER_MODE=full; 0: no limit)")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # run one notebook here (the worker's side)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(execute(args.one, args.cache)), flush=True)
        return 0
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.limit is not None and args.limit < 0:
        parser.error(f"--limit must be 0 (no limit) or a number of seconds, got {args.limit:g}")
    limit = args.limit if args.limit is not None else (0 if os.environ.get("SPLICER_MODE") == "full" else LIMIT)
    root = args.root.resolve()
    notebooks = sorted((root / "book").glob("*.ipynb"), reverse=True)  # later chapters are the longer ones
    cache_path = root / "_build" / ".jupyter_cache"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    from jupyter_cache import get_cache

    get_cache(str(cache_path)).list_cache_records()  # the database made here, not by two workers at once
    start, failed = time.perf_counter(), 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # threads that wait on one process each
        futures = {pool.submit(execute_in_own_process, path, cache_path, limit or None): path for path in notebooks}
        for future in as_completed(futures):
            state, detail = future.result()
            failed += state == "failed"
            print(f"execute_book: {state:8s} {futures[future].relative_to(root)} {detail}", flush=True)
    print(f"execute_book: {len(notebooks)} notebooks, {args.jobs} at a time, in {time.perf_counter() - start:.0f} s"
          + (f"; {failed} failed (the build runs them again and shows the error)" if failed else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
