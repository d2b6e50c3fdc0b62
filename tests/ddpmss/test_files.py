"""Atomic writes: a reader sees the old file or the new one, never a partial one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddpmss.files import atomic_path, write_csv


def test_write_csv_keeps_column_order_and_leaves_missing_values_empty(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sub" / "t.csv", ["b", "a"], [{"a": 1, "b": 2}, {"b": 3}])
    assert path.read_text() == "b,a\n2,1\n3,\n"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]
