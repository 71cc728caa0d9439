"""The fingerprint of scripts/fingerprint.py: a redesign must not change any loader's data.

(The other half of the fingerprint, re-running one committed result per family and
variant, takes minutes per run and is run by hand: ``python scripts/fingerprint.py runs``;
tests/test_results.py re-runs one committed result on every test run.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("fingerprint", ROOT / "scripts" / "fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_loader_gives_the_data_it_gave_before_the_redesign(shipped_dir) -> None:
    saved = json.loads((ROOT / "tests" / "fingerprint.json").read_text())
    found = _script().data_fingerprint()
    assert found.keys() == saved.keys()
    compared = [key for key in saved if "not available" not in (saved[key], found[key])]
    assert len(compared) >= 10
    assert {key: found[key] for key in compared} == {key: saved[key] for key in compared}


def test_the_fingerprint_names_what_differs() -> None:
    differences = _script()._differences({"probes": {"a": 0.5, "b": 1}}, {"probes": {"a": 0.5, "b": 2}, "new": 1})
    assert sorted(differences) == [".new: only after", ".probes.b: 1 -> 2"]
