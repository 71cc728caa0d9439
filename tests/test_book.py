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
    # the run time is measured, not typed: glued from the page's own run
    assert "{glue:text}`run_time`" in first.split("**Run time.**")[1].split("\n\n")[0], "glue the run time"
    assert any('glue("run_time", st.results.page_run_time(' in "".join(c["source"]) for c in cells)
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
    executed = [i for i, c in enumerate(cells) if c.get("execution_count") or "execution" in c.get("metadata", {})]
    assert not executed, f"{name} was committed with execution counts or timings in cells {executed}; clear them"


SETUP_LINES = (
    'if importlib.util.find_spec("splicer_tutorial") is None:',
    "splicer-tutorial[notebooks] @ git+https://github.com/splicer-tutorial/splicer-tutorial",
    "import splicer_tutorial as st",
    "MODE = st.mode()",
    "DEVICE = st.config.default_device()",
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_the_package_and_picks_the_mode_only(path):
    """Colab and Binder readers run the chapter top to bottom: the first cell installs the
    package when it is missing and sets MODE and DEVICE, and does nothing else."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    first = "".join(cells[0]["source"])
    for line in SETUP_LINES:
        assert line in first, f"{path.name}: the setup cell lacks {line!r}"
    code = [line for line in first.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    allowed = ("import ", "if importlib", "subprocess.run", '"splicer-tutorial', "check=True",
               "MODE =", "DEVICE =", "print(f\"mode:")
    assert all(line.strip().startswith(allowed) for line in code), f"{path.name}: the setup cell does more: {code}"
    assert not any("import splicer_tutorial as st" in "".join(c["source"]) for c in cells[1:])
    # there for Colab, out of the reader's way in the book: the input folds away
    assert "hide-input" in cells[0]["metadata"].get("tags", []), f"{path.name}: tag the setup cell hide-input"


def test_launch_buttons_citations_and_widget_scripts_are_configured():
    config = (ROOT / "_config.yml").read_text()
    for key in ("colab_url: https://colab.research.google.com", "binderhub_url: https://mybinder.org",
                "bibtex_bibfiles: [book/references.bib]", "html-manager/dist/embed-amd.js", "widgets/require.js",
                "mathjax_path: mathjax/", "local_extensions: {page_scripts: book/_ext}"):
        assert key in config, key
    assert (ROOT / "book" / "references.bib").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_cites_its_sources_and_asks_for_a_prediction(path):
    markdown = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    assert any("{cite:" in text for text in markdown), f"{path.name} cites nothing from references.bib"
    assert re.search(r"\*\*\d+\. Predict", markdown[-1]), (
        f"{path.name}: no exercise asks the reader to predict a result before running it"
    )


def test_every_cited_key_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), re.M))
    texts = [p.read_text() for p in list((ROOT / "book").glob("*.ipynb")) + list((ROOT / "book").glob("*.md"))]
    cited = {key.strip() for text in texts for group in re.findall(r"\{cite:?\w*\}`([^`]+)`", text)
             for key in group.split(",")}
    assert cited, "nothing is cited"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


#: Calls that train or evaluate a model live in a chapter.
LIVE_RUNS = ("st.run(", "runs.runner(", "run_dominoes(", "run_randbits(", "pretrain(", "channels.run(", "train_classifier(",
             "run_supervised(")
#: Chapters whose only training is didactic (no probe, no claim about a result).
DIDACTIC_ONLY = {"06_splicer_loss.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_chapter_that_trains_shows_its_seeds(path):
    """Evidence carries seeds: a chapter with live runs also reads the seeded runs of the sweep."""
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    if path.name in DIDACTIC_ONLY or not any(call in code for call in LIVE_RUNS):
        pytest.skip("no live runs that make a claim")
    assert "st.results.seeded(" in code, f"{path.name} trains live but shows no seeded results"


def test_the_book_executes_two_notebooks_at_a_time_into_the_builds_cache(tmp_path):
    """scripts/execute_book.py fills the cache the build reads; a failing notebook is left out of it."""
    import subprocess
    import sys

    import nbformat
    from jupyter_cache import get_cache

    (tmp_path / "book").mkdir()
    for name, code in (("a_good", "print(6 * 7)"), ("b_bad", "raise ValueError('on purpose')")):
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, tmp_path / "book" / f"{name}.ipynb")
    command = [sys.executable, str(ROOT / "scripts" / "execute_book.py"), "--root", str(tmp_path), "--jobs", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "executed book/a_good.ipynb" in done.stdout and "failed   book/b_bad.ipynb" in done.stdout
    assert "1 failed (the build runs them again" in done.stdout
    cache = get_cache(str(tmp_path / "_build" / ".jupyter_cache"))
    record = cache.match_cache_notebook(nbformat.read(tmp_path / "book" / "a_good.ipynb", as_version=4))
    assert record.data["execution_seconds"] > 0
    with pytest.raises(KeyError):
        cache.match_cache_notebook(nbformat.read(tmp_path / "book" / "b_bad.ipynb", as_version=4))
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert "cached   book/a_good.ipynb" in again.stdout  # an unchanged notebook does not run again


def test_a_notebook_that_hangs_is_killed_tried_again_and_reported(tmp_path):
    """A notebook with no result within --limit is killed with its kernel, run once more, then reported."""
    import subprocess
    import sys

    import nbformat
    import psutil

    (tmp_path / "book").mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(600)")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "book" / "sleeps.ipynb")
    command = [sys.executable, str(ROOT / "scripts" / "execute_book.py"), "--root", str(tmp_path), "--limit", "8"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("hung     sleeps.ipynb: no result after 8 s") == 2
    assert "failed   book/sleeps.ipynb no result after 8 s, 2 times" in done.stdout
    kernels = [p.pid for p in psutil.process_iter(["cmdline", "cwd"])
               if "ipykernel_launcher" in " ".join(p.info["cmdline"] or []) and p.info["cwd"] == str(tmp_path / "book")]
    assert kernels == []  # no kernel left sleeping
    bad = subprocess.run(command[:-2] + ["--limit", "-1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--limit must be 0 (no limit) or a number of seconds, got -1" in bad.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_an_id(path):
    """nbformat 4.5 cells carry ids; a cell added without one makes every tool warn."""
    import nbformat

    cells = json.loads(path.read_text())["cells"]  # as committed: nbformat.read would add the ids itself
    assert all("id" in cell for cell in cells), f"{path.name}: cells {[i for i, c in enumerate(cells) if 'id' not in c]}"
    nbformat.validate(nbformat.read(path, as_version=4))
