"""Tests for listening_tests.settings: LAB_* for the lab's own fields, DDPMSS_* for the inherited ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddpmss.settings import SettingsError
from listening_tests.settings import LabSettings


def test_lab_fields_read_lab_variables_and_inherited_ones_ddpmss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAB_PORT", "8123")
    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DDPMSS_PORT", "1")  # not a lab variable: ignored
    monkeypatch.setenv("PORT", "2")
    monkeypatch.setenv("DDPMSS_THREADS", "2")
    settings = LabSettings.from_env(host="0.0.0.0", port=None)
    assert (settings.port, settings.host, settings.threads) == (8123, "0.0.0.0", 2)
    assert settings.data_dir == tmp_path
    assert settings.db_url == f"sqlite:///{tmp_path / 'ratings.sqlite'}"  # derived from the data folder


def test_invalid_lab_variable_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_PORT", "http")
    with pytest.raises(SettingsError, match="^The environment variable LAB_PORT has the value 'http'"):
        LabSettings.from_env()
