"""Maintenance windows in alerts.yaml: errors with file:line, applied by the
reconciler as a set, shown by ``sitewatch plan``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.config.loader import load_config
from sitewatch.errors import ConfigError
from sitewatch.reconcile.apply import apply_snapshot, preview
from sitewatch.reconcile.render import render_preview
from sitewatch.store import catalog
from tests.factories import ALERTS, monitors_yaml, write

WINDOW = """\
maintenance:
  - name: sunday
    timezone: Europe/Berlin
    days: [sun]
    start: "01:00"
    duration: 3h
    websites: [a]
"""


def errors(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, {})
    return [p.format() for p in info.value.problems if p.severity == "error"]


def test_bad_window_is_reported_where_it_is(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(config_dir, "alerts.yaml", ALERTS + WINDOW.replace("Europe/Berlin", "Europe/Berln"))
    assert errors(config_dir) == [
        f"{config_dir}/alerts.yaml:8:15: maintenance[0].timezone: unknown time zone "
        "'Europe/Berln': use an IANA name such as Europe/Berlin or UTC"
    ]


def test_window_naming_an_unknown_website(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(config_dir, "alerts.yaml", ALERTS + WINDOW.replace("[a]", "[a, nope]"))
    [message] = errors(config_dir)
    assert message.startswith(
        f"{config_dir}/alerts.yaml:12:19: maintenance[0].websites[1]: unknown website 'nope'"
    )


def test_window_without_a_shape_says_what_to_give(config_dir: Path) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(
        config_dir,
        "alerts.yaml",
        "maintenance:\n  - name: w\n    start: '01:00'\n    websites: '*'\n",
    )
    [message] = errors(config_dir)
    assert message.startswith(f"{config_dir}/alerts.yaml:2:5: maintenance[0]: give days:")


async def test_windows_are_applied_replaced_and_planned(
    engine: AsyncEngine, config_dir: Path
) -> None:
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(config_dir, "alerts.yaml", ALERTS + WINDOW)
    run = await apply_snapshot(engine, load_config(config_dir, {}), trigger="test")
    assert run.status == "applied"
    async with engine.connect() as conn:
        (spec,) = await catalog.maintenance_specs(conn)
    assert (spec["name"], spec["timezone"], spec["duration"]) == ("sunday", "Europe/Berlin", "3h")
    again = await apply_snapshot(engine, load_config(config_dir, {}), trigger="test")
    assert again.status == "unchanged"

    write(config_dir, "alerts.yaml", ALERTS + WINDOW.replace("3h", "90m"))
    snapshot = load_config(config_dir, {})
    shown = render_preview(snapshot, await preview(engine, snapshot))
    assert "Maintenance windows: replaced by 1: sunday" in shown
    assert (await apply_snapshot(engine, snapshot, trigger="test")).status == "applied"
    async with engine.connect() as conn:
        (spec,) = await catalog.maintenance_specs(conn)
    assert spec["duration"] == "1h30m"

    write(config_dir, "alerts.yaml", ALERTS)
    assert (
        await apply_snapshot(engine, load_config(config_dir, {}), trigger="test")
    ).status == "applied"
    async with engine.connect() as conn:
        assert await catalog.maintenance_specs(conn) == []
