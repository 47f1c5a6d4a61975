"""Queries on the catalog: websites, alerts and which alert applies to which website.

Core statements on an ``AsyncConnection`` the caller owns, so the reconciler can
run a whole apply in one transaction and batch every write (executemany).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.tables import metadata

websites = metadata.tables["websites"]
alerts = metadata.tables["alerts"]
website_alerts = metadata.tables["website_alerts"]
maintenance_windows = metadata.tables["maintenance_windows"]


@dataclass(frozen=True, slots=True)
class RowState:
    """The little the reconciler needs to know about a row to diff it."""

    id: int
    key: str
    spec_hash: str
    source_file: str
    archived: bool


async def row_states(conn: AsyncConnection, table: Table) -> list[RowState]:
    result = await conn.execute(
        select(table.c.id, table.c.key, table.c.spec_hash, table.c.source_file, table.c.archived_at)
    )
    return [RowState(r[0], r[1], r[2], r[3], r[4] is not None) for r in result]


async def specs(
    conn: AsyncConnection, table: Table, keys: Iterable[str]
) -> dict[str, dict[str, Any]]:
    wanted = list(keys)
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        result = await conn.execute(select(table.c.key, table.c.spec).where(table.c.key.in_(chunk)))
        out.update({r[0]: r[1] for r in result})
    return out


async def key_ids(conn: AsyncConnection, table: Table) -> dict[str, int]:
    result = await conn.execute(select(table.c.key, table.c.id))
    return {r[0]: r[1] for r in result}


async def bindings(conn: AsyncConnection) -> set[tuple[str, str]]:
    """(website key, alert key) for every binding."""
    query = (
        select(websites.c.key, alerts.c.key)
        .select_from(website_alerts)
        .join(websites, websites.c.id == website_alerts.c.website_id)
        .join(alerts, alerts.c.id == website_alerts.c.alert_id)
    )
    return {(r[0], r[1]) for r in await conn.execute(query)}


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    if rows:
        await conn.execute(insert(table), list(rows))


async def update_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Update rows by id; every row carries the same columns plus ``row_id``."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != "row_id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({c: bindparam(c) for c in columns})
    )
    await conn.execute(statement, list(rows))


async def archive(conn: AsyncConnection, table: Table, ids: Sequence[int], now: datetime) -> None:
    if ids:
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(archived_at=bindparam("now"), updated_at=bindparam("now"))
        )
        await conn.execute(statement, [{"row_id": i, "now": now} for i in ids])


async def change_bindings(
    conn: AsyncConnection,
    added: Iterable[tuple[str, str]],
    removed: Iterable[tuple[str, str]],
) -> None:
    added, removed = list(added), list(removed)
    if not added and not removed:
        return
    website_ids = await key_ids(conn, websites)
    alert_ids = await key_ids(conn, alerts)
    if removed:
        statement = delete(website_alerts).where(
            website_alerts.c.website_id == bindparam("w"),
            website_alerts.c.alert_id == bindparam("a"),
        )
        await conn.execute(
            statement, [{"w": website_ids[w], "a": alert_ids[a]} for w, a in removed]
        )
    if added:
        await conn.execute(
            insert(website_alerts),
            [{"website_id": website_ids[w], "alert_id": alert_ids[a]} for w, a in added],
        )


async def maintenance_hashes(conn: AsyncConnection) -> dict[str, str]:
    result = await conn.execute(select(maintenance_windows.c.key, maintenance_windows.c.spec_hash))
    return {r[0]: r[1] for r in result}


async def replace_maintenance(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Maintenance windows are applied as a set: few, and nothing refers to them."""
    await conn.execute(delete(maintenance_windows))
    await insert_rows(conn, maintenance_windows, rows)


async def maintenance_specs(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(maintenance_windows.c.spec).order_by(maintenance_windows.c.key)
    )
    return [r[0] for r in result]
