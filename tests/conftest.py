"""Shared fixtures: where the shipped MNIST and CIFAR-10 test sets are.

CI clones the repository with ``shared/`` beside it, so the files are looked for in
``../shared/data`` first, then in ``$SPLICER_DATA_DIR``. Tests that need them are skipped,
with the reason, when neither holds them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from splicer_tutorial import datasets

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHIPPED_FILES = ("mnist_test.npz", "cifar10_test.npz")


def _find_shipped() -> Path | None:
    candidates = [SHARED_DATA]
    if os.environ.get("SPLICER_DATA_DIR"):
        candidates.append(Path(os.environ["SPLICER_DATA_DIR"]))
    for folder in candidates:
        if all((folder / name).is_file() for name in SHIPPED_FILES):
            return folder
    return None


SHIPPED_DIR = _find_shipped()  # read once, before any test changes the environment


@pytest.fixture(scope="session")
def shipped_source() -> Path:
    """The folder holding the shipped files (the environment is left as it is)."""
    if SHIPPED_DIR is None:
        pytest.skip(f"shipped data not found in {SHARED_DATA} or $SPLICER_DATA_DIR")
    return SHIPPED_DIR


@pytest.fixture
def shipped_dir(shipped_source: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped folder as the data folder, offline: a download attempt fails the test."""
    monkeypatch.setenv("SPLICER_DATA_DIR", str(shipped_source))
    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    monkeypatch.setattr(datasets, "_fetch_url", lambda *a, **k: pytest.fail("download attempted"))
    return shipped_source


@pytest.fixture(scope="module")
def cells() -> dict:
    """Small synthetic multiplex cells at 12x12 in both variants (test_channels, test_runs)."""
    from splicer_tutorial import multiplex

    make = lambda n, rho, seed: multiplex.make_multiplex(n, rho, size=12, seed=seed)  # noqa: E731
    return {"train": {"correlated": make(96, 1.0, 0), "independent": make(400, 0.0, 1)},
            "test": {"correlated": make(32, 1.0, 2), "independent": make(200, 0.0, 3)}}
