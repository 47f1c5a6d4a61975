"""The Prometheus config and rules in docs/metrics.md are valid (promtool)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _block(first_line: str) -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    found = [b for b in blocks if b.startswith(first_line)]
    assert len(found) == 1, f"one block starting {first_line!r} in {DOC}"
    return found[0]


@pytest.fixture
def promtool(require_tool: Callable[[str, str], Path]) -> Path:
    return require_tool("promtool", "prometheus")


def test_the_scrape_config_and_the_rules_pass_promtool(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "prometheus.yml").write_text(_block("# prometheus.yml"))
    (tmp_path / "sitewatch-rules.yml").write_text(_block("# sitewatch-rules.yml"))
    rules = subprocess.run(
        [str(promtool), "check", "rules", str(tmp_path / "sitewatch-rules.yml")],
        capture_output=True,
        text=True,
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 6 rules found" in rules.stdout
    config = subprocess.run(
        [str(promtool), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert config.returncode == 0, config.stdout + config.stderr
