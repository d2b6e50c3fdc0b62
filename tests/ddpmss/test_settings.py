"""Tests for ddpmss.settings: DDPMSS_* environment variables, flags that win, one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddpmss.settings import Settings, SettingsError


def test_environment_sets_fields_and_flags_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DDPMSS_THREADS", "3")
    monkeypatch.setenv("DDPMSS_MAX_SECONDS", "12.5")
    monkeypatch.setenv("DDPMSS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DDPMSS_MODELS", "offline")
    monkeypatch.setenv("DDPMSS_DEVICE", "")  # empty = not set
    settings = Settings.from_env(models="hub", precision=None)
    assert (settings.threads, settings.max_seconds, settings.cache_dir) == (3, 12.5, tmp_path)
    assert settings.models == "hub"  # the flag wins over DDPMSS_MODELS
    assert (settings.device, settings.precision) == ("auto", "auto")  # defaults kept


def test_invalid_environment_value_is_one_sentence_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDPMSS_THREADS", "many")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    message = str(caught.value)
    assert message.startswith("The environment variable DDPMSS_THREADS has the value 'many'")
    assert "\n" not in message


def test_invalid_flag_is_named_as_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DDPMSS_OUTPUT_SR", raising=False)
    with pytest.raises(SettingsError, match="^The flag --output-sr has the value 'fast'"):
        Settings.from_env(output_sr="fast")
