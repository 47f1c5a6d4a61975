"""Builders for config folders used across the tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def website_yaml(
    key: str, *, url: str | None = None, interval: str = "30s", extra: str = ""
) -> str:
    url = url or f"https://{key}.example.com/health"
    text = f"  - name: {key.title()}\n    key: {key}\n    url: {url}\n    interval: {interval}\n"
    return text + "".join(f"    {line}\n" for line in extra.splitlines() if line)


def monitors_yaml(keys: Iterable[str], *, header: str = "") -> str:
    return header + "websites:\n" + "".join(website_yaml(k) for k in keys)


def write(config_dir: Path, name: str, text: str) -> Path:
    path = config_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


ALERTS = """\
alerts:
  - name: ops-hook
    type: webhook
    url: http://127.0.0.1:9/hook
    websites: "*"
"""
