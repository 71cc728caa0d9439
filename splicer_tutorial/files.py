"""Files written whole or not at all: the one atomic write that results, checkpoints and
converted data files share.

A writer killed midway (a full disk, Ctrl-C, a dead job) must never leave half a file
where a whole one is expected: the next reader would take it for a finished result.
:func:`write_atomically` writes to a temporary file beside the target, then renames it
over the target, which the operating system does in one step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(temporary)`` on a temporary file beside ``path``, then rename it over
    ``path`` (folders made as needed): a writer killed or failing midway leaves the old file
    (or none) and no temporary file, never half of a new one. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
