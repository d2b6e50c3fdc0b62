"""docs/reliability.md is rendered by a command from the figure files the tests write, never by the tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reliability.report import SECTIONS, render
from tests.support.paths import ROOT
from tests.support.reliability import record


def report(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tests.reliability.report", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_the_command_renders_the_recorded_figures(tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    written = record(figures, "load_sqlite", {"raters": 50, "p50_ms": 12.5, "errors": {"timeout": 0}})
    assert json.loads(written.read_text())["raters"] == 50
    out = tmp_path / "reliability.md"
    done = report("--figures", str(figures), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"1 of {len(SECTIONS)} sections measured" in done.stdout
    text = out.read_text(encoding="utf-8")
    section = text.split(f"## {SECTIONS['load_sqlite']}\n")[1].split("\n## ")[0]
    assert "| raters | 50 |" in section and "| p50_ms | 12.5 |" in section and "| errors | timeout: 0 |" in section
    assert "Measured " in section and "CPU cores" in section
    unmeasured = text.split(f"## {SECTIONS['load_postgresql']}\n")[1].split("\n## ")[0]
    assert "Not measured yet" in unmeasured


def test_a_folder_without_figures_is_one_sentence(tmp_path: Path) -> None:
    for folder in (tmp_path / "missing", tmp_path):
        done = report("--figures", str(folder), "--out", str(tmp_path / "reliability.md"))
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "holds no figure files" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "reliability.md").exists()


def test_the_tracked_document_is_what_the_command_renders() -> None:
    """The committed page has the command's header and one section per measured figure set, in order."""
    tracked = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert tracked.startswith(render({}).split("\n## ")[0] + "\n## ")
    titles = [line[3:] for line in tracked.splitlines() if line.startswith("## ")]
    assert titles == list(SECTIONS.values())
