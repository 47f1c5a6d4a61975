"""Every setting is in the README's list (docs move with the code)."""

from __future__ import annotations

from pathlib import Path

from sitewatch.settings import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_listed_in_the_readme() -> None:
    missing = [
        f"SITEWATCH_{name.upper()}"
        for name in Settings.model_fields
        if f"`SITEWATCH_{name.upper()}`" not in README
    ]
    assert missing == []
