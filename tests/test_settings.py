"""Settings: SITEWATCH_* variables, and flags that win over them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.cli import main
from sitewatch.settings import Settings


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_PORT", "9999")
    monkeypatch.setenv("SITEWATCH_CONFIG_DIR", "/etc/sitewatch")
    monkeypatch.setenv("SITEWATCH_WATCH", "false")
    settings = Settings()
    assert (settings.port, settings.config_dir, settings.watch) == (
        9999,
        Path("/etc/sitewatch"),
        False,
    )


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_PORT", "9999")
    assert Settings(port=8081).port == 8081


def test_invalid_setting_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SITEWATCH_PORT", "eighty")
    assert main(["validate"]) == 2
    assert "invalid setting port" in capsys.readouterr().err
