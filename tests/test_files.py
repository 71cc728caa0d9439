"""Atomic writes: a file is there whole, or the old one is."""

from __future__ import annotations

from pathlib import Path

import pytest

from splicer_tutorial import files


def test_a_write_makes_the_folders_and_leaves_only_the_file(tmp_path: Path) -> None:
    path = files.write_atomically(tmp_path / "a" / "b" / "x.txt", lambda temporary: temporary.write_text("whole"))
    assert path.read_text() == "whole"
    assert [p.name for p in path.parent.iterdir()] == ["x.txt"]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_a_writer_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path: Path, failure) -> None:
    path = tmp_path / "x.txt"
    path.write_text("old")

    def half(temporary: Path) -> None:
        temporary.write_text("ha")  # half of the new file, then the writer dies
        raise failure

    with pytest.raises(failure):
        files.write_atomically(path, half)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]
