"""Atomic writes: all-or-nothing, normal permissions, no temporary files left behind."""
from __future__ import annotations

import os
import stat

import pytest

from hashbench.atomic import atomic_path, write_text_atomic


def test_written_file_has_umask_permissions_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "sub" / "table.md", "| a |\n")
    finally:
        os.umask(old)
    assert path.read_text() == "| a |\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("crash mid-write")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]
