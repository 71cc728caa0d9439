"""The package's layers, read from its import statements.

Ground floor: the method's pieces (chunk geometry, deconstruction, augmentation, losses,
models) and the mode switch. Above it the data: loaders and generators, which hold data
only. Then training and probes, then the runs, then the command line and the book. A
module may import from its own layer or below, never from above.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "splicer_tutorial"

GROUND = ("config", "files", "distributed", "chunks", "deconstruct", "augment", "losses", "models")
DATA = ("datasets", "dominoes", "factorsets", "channel_toy", "multiplex", "multispectral", "histology", "masks",
        "randbits", "owndata")
TRAINING = ("training", "probes", "results")
#: the family runs, then the one run path over them (runs)
RUNS = ("experiments", "channels", "supervised", "plots", "bench", "runs")
TOP = ("cli", "sweep", "plans")
LAYERS = (GROUND, DATA, TRAINING, RUNS, TOP)
#: What data modules must not reach: training, probes, results, the runs and everything above them.
ABOVE_DATA = TRAINING + RUNS + TOP


def imported(module: str) -> set[str]:
    """The package modules that ``module`` imports, anywhere in it (function bodies included)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("splicer_tutorial."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("splicer_tutorial."))
    return found


def test_every_module_is_in_one_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    placed = [m for layer in LAYERS for m in layer]
    assert sorted(placed) == sorted(modules), f"place these in a layer: {sorted(modules ^ set(placed))}"


@pytest.mark.parametrize("level, module", [(i, m) for i, layer in enumerate(LAYERS) for m in layer])
def test_a_module_imports_from_its_layer_or_below(level: int, module: str) -> None:
    allowed = {m for layer in LAYERS[: level + 1] for m in layer}
    assert imported(module) <= allowed, f"{module} imports from above its layer: {sorted(imported(module) - allowed)}"


@pytest.mark.parametrize("module", DATA)
def test_a_data_module_holds_data_only(module: str) -> None:
    """No generator or loader imports training, probes, results or a run."""
    assert not imported(module) & set(ABOVE_DATA), f"{module} imports {sorted(imported(module) & set(ABOVE_DATA))}"


def test_the_reader_of_imports_sees_function_level_imports(tmp_path, monkeypatch) -> None:
    (tmp_path / "probe_me.py").write_text("def f():\n    from . import training\n    from .results import save\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert imported("probe_me") == {"training", "results"}
