"""Queries on the catalog: websites, alerts and which alert applies to which website.

Core statements on an ``AsyncConnection`` the caller owns, so the reconciler can
run a whole apply in one transaction and batch every write (executemany). Rows
come back as frozen records; callers name a table by its kind, never hold it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Table, bindparam, delete, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.tables import alerts, in_config, maintenance_windows, website_alerts, websites

Kind = Literal["websites", "alerts"]
_TABLES: dict[Kind, Table] = {"websites": websites, "alerts": alerts}


@dataclass(frozen=True, slots=True)
class WebsiteRecord:
    """A website's row: what the reconciler stored from its YAML entry."""

    id: int
    key: str
    name: str
    url: str  # the stored form: ${VAR} references kept
    type: str  # http, tcp, tls, dns, icmp or heartbeat
    active: bool
    interval_seconds: float
    tags: tuple[str, ...]
    spec: dict[str, Any]
    spec_hash: str
    source_file: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert's row (``spec`` in the stored form: ${VAR} references kept)."""

    id: int
    key: str
    type: str
    enabled: bool
    spec: dict[str, Any]
    spec_hash: str
    source_file: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


_WEBSITE_COLUMNS = tuple(websites.c[name] for name in WebsiteRecord.__slots__)
_ALERT_COLUMNS = tuple(alerts.c[name] for name in AlertRecord.__slots__)


def _website(row: Mapping[Any, Any]) -> WebsiteRecord:
    return WebsiteRecord(**{**row, "tags": tuple(row["tags"] or ())})


def _by_ident(table: Table, ident: str, by_key: bool = False) -> Any:
    """``ident`` is a row's numeric id or its key (``by_key``: its key only)."""
    if not by_key and ident.isascii() and ident.isdigit() and len(ident) < 12:
        return table.c.id == int(ident)
    return table.c.key == ident


async def find_website(
    conn: AsyncConnection, ident: str, *, archived: bool = False, by_key: bool = False
) -> WebsiteRecord | None:
    """The website with this id or key in the config (``archived``: or deleted)."""
    query = select(*_WEBSITE_COLUMNS).where(_by_ident(websites, ident, by_key))
    if not archived:
        query = query.where(in_config(websites))
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _website(row)


async def find_alert(
    conn: AsyncConnection, ident: str, *, by_key: bool = False
) -> AlertRecord | None:
    """The alert with this id or key in the config."""
    query = select(*_ALERT_COLUMNS).where(_by_ident(alerts, ident, by_key), in_config(alerts))
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else AlertRecord(**row)


async def alerts_in_config(conn: AsyncConnection) -> list[AlertRecord]:
    """Every alert in the config, by key."""
    query = select(*_ALERT_COLUMNS).where(in_config(alerts)).order_by(alerts.c.key)
    return [AlertRecord(**r) for r in (await conn.execute(query)).mappings()]


async def website_tags(conn: AsyncConnection) -> list[str]:
    """Every tag of the websites in the config, sorted."""
    each = dialects.of(conn).each_tag(websites.c.tags)
    query = (
        select(each.c.value)
        .distinct()
        .select_from(websites.join(each, true()))
        .where(in_config(websites))
    )
    return sorted(str(tag) for tag in (await conn.execute(query)).scalars())


async def alert_keys(conn: AsyncConnection) -> list[str]:
    """The keys of the alerts in the config, sorted."""
    query = select(alerts.c.key).where(in_config(alerts)).order_by(alerts.c.key)
    return list((await conn.execute(query)).scalars())


async def alert_id(conn: AsyncConnection, key: str) -> int | None:
    """The id of the alert ``key`` in the config."""
    query = select(alerts.c.id).where(alerts.c.key == key, in_config(alerts))
    value = await conn.scalar(query)
    return None if value is None else int(value)


async def alert_key_by_id(conn: AsyncConnection) -> dict[int, str]:
    """Every alert's key by id, deleted ones too (incidents outlive their alert)."""
    result = await conn.execute(select(alerts.c.id, alerts.c.key))
    return dict(result.all())


@dataclass(frozen=True, slots=True)
class WebsiteRef:
    """Enough of a website to link to it."""

    id: int
    key: str
    name: str


async def website_names(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, WebsiteRef]:
    """Key and name of each website in ``ids`` (deleted ones too)."""
    wanted = sorted(set(ids))
    out: dict[int, WebsiteRef] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        query = select(websites.c.id, websites.c.key, websites.c.name).where(
            websites.c.id.in_(chunk)
        )
        for r in (await conn.execute(query)).mappings():
            out[r["id"]] = WebsiteRef(**r)
    return out


async def checkable_spec(conn: AsyncConnection, website_id: int) -> dict[str, Any] | None:
    """The stored spec of a website in the config (paused or not): what a
    "check now" probes."""
    query = select(websites.c.spec).where(websites.c.id == website_id, in_config(websites))
    value = await conn.scalar(query)
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True)
class ActiveWebsite:
    """A website to check: in the config and not paused (``spec`` when asked for)."""

    id: int
    key: str
    spec_hash: str
    interval_seconds: float
    spec: dict[str, Any] | None = None


STREAM_ROWS = 5000


async def active_websites(conn: AsyncConnection, *, with_spec: bool = True) -> list[ActiveWebsite]:
    """The websites to check: in the config and not paused. Without ``with_spec``
    only the hashes (the checker reads the specs of those that changed)."""
    columns = [websites.c.id, websites.c.key, websites.c.spec_hash, websites.c.interval_seconds]
    if with_spec:
        columns.append(websites.c.spec)
    query = select(*columns).where(in_config(websites), websites.c.active)
    # Positional (the columns are the fields in order): a restart of 120,000
    # websites waits for this list before its first check. Streamed a part at a
    # time: the checker and the alert engine read it after every config change,
    # and turning 120,000 rows into objects at once held the loop ~0.4 s.
    out: list[ActiveWebsite] = []
    result = await conn.stream(query)
    async for part in result.partitions(STREAM_ROWS):
        out += [ActiveWebsite(*r) for r in part]
    return out


async def website_specs(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """website id -> stored spec, read in chunks (the checker's changed websites)."""
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 1000):
        chunk = list(ids[start : start + 1000])
        result = await conn.execute(
            select(websites.c.id, websites.c.spec).where(websites.c.id.in_(chunk))
        )
        out.update(result.all())
    return out


@dataclass(frozen=True, slots=True)
class RowState:
    """The little the reconciler needs to know about a row to diff it."""

    id: int
    key: str
    spec_hash: str
    source_file: str
    archived: bool


async def row_states(conn: AsyncConnection, kind: Kind) -> list[RowState]:
    table = _TABLES[kind]
    result = await conn.execute(
        select(table.c.id, table.c.key, table.c.spec_hash, table.c.source_file, table.c.archived_at)
    )
    return [
        RowState(r["id"], r["key"], r["spec_hash"], r["source_file"], r["archived_at"] is not None)
        for r in result.mappings()
    ]


async def specs(
    conn: AsyncConnection, kind: Kind, keys: Iterable[str]
) -> dict[str, dict[str, Any]]:
    table = _TABLES[kind]
    wanted = list(keys)
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        result = await conn.execute(select(table.c.key, table.c.spec).where(table.c.key.in_(chunk)))
        out.update(result.all())
    return out


async def key_ids(conn: AsyncConnection, kind: Kind) -> dict[str, int]:
    table = _TABLES[kind]
    result = await conn.execute(select(table.c.key, table.c.id))
    return dict(result.all())


async def bindings(conn: AsyncConnection) -> set[tuple[str, str]]:
    """(website key, alert key) for every binding."""
    query = (
        select(websites.c.key.label("website"), alerts.c.key.label("alert"))
        .select_from(website_alerts)
        .join(websites, websites.c.id == website_alerts.c.website_id)
        .join(alerts, alerts.c.id == website_alerts.c.alert_id)
    )
    return {(r["website"], r["alert"]) for r in (await conn.execute(query)).mappings()}


async def insert_rows(conn: AsyncConnection, kind: Kind, rows: Sequence[Mapping[str, Any]]) -> None:
    await _insert(conn, _TABLES[kind], rows)


async def _insert(conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(table), list(rows))


async def update_rows(conn: AsyncConnection, kind: Kind, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update rows by id; every row carries the same columns plus ``row_id``."""
    if not rows:
        return
    table = _TABLES[kind]
    columns = [c for c in rows[0] if c != "row_id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({c: bindparam(c) for c in columns})
    )
    await conn.execute(statement, list(rows))


async def archive(conn: AsyncConnection, kind: Kind, ids: Sequence[int], now: datetime) -> None:
    table = _TABLES[kind]
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
    website_ids = await key_ids(conn, "websites")
    alert_ids = await key_ids(conn, "alerts")
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
    return dict(result.all())


async def replace_maintenance(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Maintenance windows are applied as a set: few, and nothing refers to them."""
    await conn.execute(delete(maintenance_windows))
    await _insert(conn, maintenance_windows, rows)


async def maintenance_specs(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(maintenance_windows.c.spec).order_by(maintenance_windows.c.key)
    )
    return list(result.scalars())


RECONCILE_LOCK = 0x5173_7761_7463_6802  # beside MIGRATION_LOCK and LEASE_LOCK


async def lock_reconcile(conn: AsyncConnection) -> None:
    """Serialise applying config revisions across instances sharing a PostgreSQL
    database (a transaction-scoped advisory lock; SQLite has one writer anyway)."""
    await dialects.of(conn).advisory_lock(conn, RECONCILE_LOCK)
