"""The book's structure: every chapter listed, committed without outputs, opening with goals and run
times and closing with exercises. (nbmake executes the notebooks themselves.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _toc_files() -> set[str]:
    return set(re.findall(r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text()))


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = _toc_files()
    chapters = {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "book").glob("*.ipynb")}
    chapters |= {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "book").glob("*.md")}
    assert chapters == listed
    for entry in listed:
        assert any((ROOT / f"{entry}{suffix}").exists() for suffix in (".md", ".ipynb")), entry


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_opens_with_goals_and_run_time_and_closes_with_exercises(path):
    cells = json.loads(path.read_text())["cells"]
    first = "".join(cells[0]["source"])
    assert first.startswith("# "), "a chapter starts with its title"
    assert "What you will learn" in first and "Run time" in first
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    assert "## Summary" in markdown[-1] and "## Exercises" in markdown[-1]
    assert markdown[-1].count(":class: dropdown") >= 2, "exercises come with collapsed solutions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path):
    """The build and nbmake execute the notebooks; the committed copies stay clean."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    name = path.relative_to(ROOT).as_posix()
    shown = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        pytest.skip(f"{name} is not committed yet")
    cells = json.loads(shown.stdout)["cells"]
    with_outputs = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and c.get("outputs")]
    assert not with_outputs, f"{name} was committed with outputs in cells {with_outputs}; clear them"
