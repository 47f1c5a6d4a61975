"""Applying snapshots to a real database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.config.entries import Snapshot
from sitewatch.config.loader import load_config
from sitewatch.reconcile import apply
from sitewatch.reconcile.apply import apply_snapshot, read_state
from sitewatch.store import catalog, tables
from sitewatch.store.runs import reconcile_runs
from sitewatch.store.tables import metadata
from tests.factories import ALERTS, monitors_yaml, write

check_histories = metadata.tables["check_histories"]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def config(
    config_dir: Path, keys: list[str], *, alerts: str = ALERTS, header: str = ""
) -> Snapshot:
    write(config_dir, "monitors.yaml", monitors_yaml(keys, header=header))
    write(config_dir, "alerts.yaml", alerts)
    return load_config(config_dir, {})


async def websites(engine: AsyncEngine) -> dict[str, dict[str, object]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(tables.websites))
        return {r["key"]: dict(r) for r in result.mappings()}


async def run_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(reconcile_runs))).scalar_one()
        )


async def test_create_then_idempotent(engine: AsyncEngine, config_dir: Path) -> None:
    clock = Clock()
    snap = config(config_dir, ["a", "b"])
    run = await apply_snapshot(engine, snap, trigger="test", clock=clock)
    assert (run.status, run.created, run.unchanged) == ("applied", 2, 0)
    before = await websites(engine)
    assert (
        before["a"]["interval_seconds"] == 30.0
        and before["a"]["source_file"] == "monitors.yaml"  # relative: the folder may move
    )
    runs_before = await run_count(engine)

    again = await apply_snapshot(engine, load_config(config_dir, {}), trigger="test", clock=clock)
    assert (again.status, again.unchanged) == ("unchanged", 2)
    assert await websites(engine) == before  # updated_at unchanged: nothing written
    assert await run_count(engine) == runs_before  # not even a run row


async def test_update_archive_restore_keep_history(engine: AsyncEngine, config_dir: Path) -> None:
    clock = Clock()
    await apply_snapshot(engine, config(config_dir, ["a", "b"]), trigger="test", clock=clock)
    rows = await websites(engine)
    async with engine.begin() as conn:
        await conn.execute(
            insert(check_histories).values(
                website_id=rows["b"]["id"],
                checked_at=clock(),
                ok=True,
                status_code=200,
                response_time_ms=12.5,
            )
        )

    # Change a's interval, remove b.
    write(
        config_dir, "monitors.yaml", monitors_yaml(["a"]).replace("interval: 30s", "interval: 1m")
    )
    run = await apply_snapshot(engine, load_config(config_dir, {}), trigger="test", clock=clock)
    assert (run.updated, run.deleted, run.created) == (1, 1, 0)
    after = await websites(engine)
    assert (
        after["a"]["interval_seconds"] == 60.0
        and after["a"]["updated_at"] > rows["a"]["updated_at"]
    )
    assert after["b"]["archived_at"] is not None  # archived, not dropped
    async with engine.connect() as conn:
        history = (
            await conn.execute(select(func.count()).select_from(check_histories))
        ).scalar_one()
    assert history == 1

    # Put b back: same row, same id, history intact.
    run = await apply_snapshot(engine, config(config_dir, ["a", "b"]), trigger="test", clock=clock)
    assert run.restored == 1
    restored = await websites(engine)
    assert restored["b"]["id"] == rows["b"]["id"] and restored["b"]["archived_at"] is None


async def test_writes_in_batches_store_every_row(
    engine: AsyncEngine, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creates and updates go a batch of rows a statement: none is left out at the
    edges of a batch (7 rows in batches of 3)."""
    monkeypatch.setattr(apply, "WRITE_BATCH", 3)
    clock = Clock()
    keys = [f"w{i}" for i in range(7)]
    run = await apply_snapshot(engine, config(config_dir, keys), trigger="test", clock=clock)
    assert run.created == 7 and set(await websites(engine)) == set(keys)
    write(config_dir, "monitors.yaml", monitors_yaml(keys).replace("interval: 30s", "interval: 1m"))
    run = await apply_snapshot(engine, load_config(config_dir, {}), trigger="test", clock=clock)
    assert run.updated == 7
    assert {k: w["interval_seconds"] for k, w in (await websites(engine)).items()} == dict.fromkeys(
        keys, 60.0
    )


async def test_bindings_follow_the_config(engine: AsyncEngine, config_dir: Path) -> None:
    await apply_snapshot(engine, config(config_dir, ["a", "b"]), trigger="test")
    async with engine.connect() as conn:
        assert await catalog.bindings(conn) == {("a", "ops-hook"), ("b", "ops-hook")}
    await apply_snapshot(
        engine, config(config_dir, ["a", "b"], alerts=ALERTS.replace('"*"', "[a]")), trigger="test"
    )
    async with engine.connect() as conn:
        assert await catalog.bindings(conn) == {("a", "ops-hook")}
    await apply_snapshot(engine, config(config_dir, ["a"], alerts="alerts: []\n"), trigger="test")
    async with engine.connect() as conn:
        state = await read_state(conn)
        assert state.bindings == set()
        assert [(a.key, a.archived) for a in state.alerts] == [("ops-hook", True)]


async def test_empty_config_is_refused_unless_allowed(
    engine: AsyncEngine, config_dir: Path
) -> None:
    await apply_snapshot(engine, config(config_dir, ["a"]), trigger="test")
    write(config_dir, "monitors.yaml", "websites: []\n")
    run = await apply_snapshot(engine, load_config(config_dir, {}), trigger="test")
    assert run.status == "refused"
    assert "nothing was deleted" in run.errors[0] and "allow_empty: true" in run.errors[0]
    assert (await websites(engine))["a"]["archived_at"] is None

    write(config_dir, "monitors.yaml", "allow_empty: true\nwebsites: []\n")
    run = await apply_snapshot(engine, load_config(config_dir, {}), trigger="test")
    assert (run.status, run.deleted) == ("applied", 1)


async def test_secrets_are_stored_as_references(engine: AsyncEngine, config_dir: Path) -> None:
    alerts = ALERTS + "    secret: ${HOOK_SECRET}\n"
    write(config_dir, "monitors.yaml", monitors_yaml(["a"]))
    write(config_dir, "alerts.yaml", alerts)
    await apply_snapshot(
        engine, load_config(config_dir, {"HOOK_SECRET": "very-secret-value"}), trigger="test"
    )
    async with engine.connect() as conn:
        spec = (await conn.execute(select(tables.alerts.c.spec))).scalar_one()
    assert spec["secret"] == "${HOOK_SECRET}"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_applies_are_serialised(engine: AsyncEngine, config_dir: Path) -> None:
    """Two instances applying the same revision: one applies, the other finds nothing to do."""
    snap = config(config_dir, [f"s{i}" for i in range(200)])
    from sitewatch.store.engine import create_engine

    other = create_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        results = await asyncio.gather(
            apply_snapshot(engine, snap, trigger="one"), apply_snapshot(other, snap, trigger="two")
        )
    finally:
        await other.dispose()
    assert sorted(r.status for r in results) == ["applied", "unchanged"]
    assert len(await websites(engine)) == 200
