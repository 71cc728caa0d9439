"""Execute the book's notebooks several at a time into Jupyter Book's execution cache.

    python scripts/execute_book.py [--jobs 2]

Jupyter Book 1.x executes the notebooks of a build one after another. This script runs
them ``--jobs`` at a time first (the longest chapters first, as the test command does),
each into the cache the build reads (``_build/.jupyter_cache``), so the build that follows
finds every notebook executed and only renders. A notebook already in the cache with the
same code is skipped, so after an edit only the chapters that changed run again. A
notebook that fails here is left out of the cache: the build runs it again and reports
its error as it always does.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 1200  # seconds per notebook, as _config.yml's execute.timeout


def execute(path: Path, cache_path: Path) -> tuple[str, str]:
    """Run one notebook into the cache at ``cache_path``, as myst-nb's cache mode would:
    ``("cached" | "executed" | "failed", detail)``."""
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at once (default 2)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's root folder (default: this checkout)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    root = args.root.resolve()
    notebooks = sorted((root / "book").glob("*.ipynb"), reverse=True)  # later chapters are the longer ones
    cache_path = root / "_build" / ".jupyter_cache"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    get_cache(str(cache_path)).list_cache_records()  # the database made here, not by two workers at once
    start, failed = time.perf_counter(), 0
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(execute, path, cache_path): path for path in notebooks}
        for future in as_completed(futures):
            state, detail = future.result()
            failed += state == "failed"
            print(f"execute_book: {state:8s} {futures[future].relative_to(root)} {detail}", flush=True)
    print(f"execute_book: {len(notebooks)} notebooks, {args.jobs} at a time, in {time.perf_counter() - start:.0f} s"
          + (f"; {failed} failed (the build runs them again and shows the error)" if failed else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
