"""Starting the app as a user does: `python app.py`, with a setting it cannot use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import ROOT


@pytest.mark.slow  # a fresh interpreter that imports gradio
def test_an_invalid_setting_stops_the_app_with_one_sentence_naming_it() -> None:
    env = {**os.environ, "LAB_PORT": "seventy", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: The environment variable LAB_PORT has the value 'seventy'")
