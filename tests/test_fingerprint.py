"""The fingerprint of scripts/fingerprint.py: a redesign must not change any loader's data.

(The other half of the fingerprint, re-running one committed result per family and
variant, takes minutes per run and is run by hand: ``python scripts/fingerprint.py runs``;
tests/test_results.py re-runs one committed result on every test run.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

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
    script = _script()
    assert [key for key in compared if not script.same_data(saved[key], found[key])] == []


def test_same_data_allows_another_cpus_last_bits_and_nothing_more() -> None:
    script = _script()
    images = np.random.default_rng(0).integers(0, 256, (50, 3, 16, 16)).astype(np.uint8)
    labels = np.arange(50) % 4
    saved = {"sha": script._digest(images, labels), "arrays": script._summary(images, labels)}
    assert script.same_data(saved, saved)
    flipped = images.copy()
    flipped[0, 0, 0, :3] ^= 1  # three pixels one grey level apart: what another CPU's rounding does
    other_cpu = {"sha": script._digest(flipped, labels), "arrays": script._summary(flipped, labels)}
    assert other_cpu["sha"] != saved["sha"] and script.same_data(saved, other_cpu)
    brighter = np.minimum(images.astype(int) + 1, 255).astype(np.uint8)  # a real change: every pixel
    assert not script.same_data(saved, {"sha": "", "arrays": script._summary(brighter, labels)})
    assert not script.same_data(saved, {"sha": "", "arrays": script._summary(images, labels[::-1].copy() + 1)})
    assert not script.same_data(saved, {"sha": "", "arrays": script._summary(images[:49], labels[:49])})
    assert not script.same_data(saved, "not available")


def test_the_fingerprint_names_what_differs() -> None:
    differences = _script()._differences({"probes": {"a": 0.5, "b": 1}}, {"probes": {"a": 0.5, "b": 2}, "new": 1})
    assert sorted(differences) == [".new: only after", ".probes.b: 1 -> 2"]


def test_the_saved_fingerprint_has_a_line_per_array_and_reads_back_unchanged() -> None:
    text = (ROOT / "tests" / "fingerprint.json").read_text()
    saved = json.loads(text)
    assert text == _script().as_json(saved)  # written by as_json: a diff names the array that changed
    arrays = [json.loads(line.rstrip(",")) for line in text.splitlines() if line.startswith("   [")]
    assert arrays == [a for v in saved.values() if isinstance(v, dict) for a in v["arrays"]]
    assert json.loads(_script().as_json(saved)) == saved
