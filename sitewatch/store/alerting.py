"""Alert states, incidents and the outbox: the statements the alerting service runs.

State changes and the notifications they cause are written by the caller in one
transaction (the result writer's), so a crash can never leave a state that says
"notified" without its outbox row, or the other way round.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.checks import upsert_for
from sitewatch.store.tables import metadata

websites = metadata.tables["websites"]
alerts = metadata.tables["alerts"]
website_alerts = metadata.tables["website_alerts"]
states = metadata.tables["alert_states"]
incidents = metadata.tables["incidents"]
outbox = metadata.tables["outbox"]
attempts = metadata.tables["delivery_attempts"]

STATE_FIELDS = (
    "status",
    "failures",
    "successes",
    "first_failure_at",
    "cause_kind",
    "cause_message",
    "notified",
    "last_sent_at",
    "incident_id",
)


# -- what applies to what ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Binding:
    website_id: int
    website_key: str
    website_name: str
    website_url: str  # the stored form: ${VAR} kept, never a resolved secret
    website_tags: tuple[str, ...]
    alert_id: int
    alert_key: str
    alert_spec: dict[str, Any]


async def bindings(conn: AsyncConnection) -> list[Binding]:
    """Every (active website, live alert) pair with what the state machine needs."""
    query = (
        select(
            websites.c.id,
            websites.c.key,
            websites.c.name,
            websites.c.url,
            websites.c.tags,
            alerts.c.id,
            alerts.c.key,
            alerts.c.spec,
        )
        .select_from(website_alerts)
        .join(websites, websites.c.id == website_alerts.c.website_id)
        .join(alerts, alerts.c.id == website_alerts.c.alert_id)
        .where(websites.c.archived_at.is_(None), alerts.c.archived_at.is_(None))
    )
    return [
        Binding(r[0], r[1], r[2], r[3], tuple(r[4] or ()), r[5], r[6], r[7])
        for r in await conn.execute(query)
    ]


def _bound() -> Any:
    return (
        select(website_alerts.c.website_id, website_alerts.c.alert_id)
        .join(websites, websites.c.id == website_alerts.c.website_id)
        .join(alerts, alerts.c.id == website_alerts.c.alert_id)
        .where(websites.c.archived_at.is_(None), alerts.c.archived_at.is_(None))
    )


async def alerts_of_website(conn: AsyncConnection, website_id: int) -> list[str]:
    """Keys of the alerts that cover one website, sorted."""
    sub = _bound().where(website_alerts.c.website_id == website_id).subquery()
    query = select(alerts.c.key).join(sub, sub.c.alert_id == alerts.c.id).order_by(alerts.c.key)
    return [r[0] for r in await conn.execute(query)]


async def coverage(conn: AsyncConnection) -> dict[int, int]:
    """How many websites each alert covers, by alert id."""
    sub = _bound().subquery()
    query = select(sub.c.alert_id, func.count()).group_by(sub.c.alert_id)
    return {r[0]: int(r[1]) for r in await conn.execute(query)}


async def websites_of_alert(
    conn: AsyncConnection, alert_id: int, limit: int | None = None
) -> list[tuple[int, str, str]]:
    """(id, key, name) of the websites one alert covers, by key; at most ``limit``."""
    sub = _bound().where(website_alerts.c.alert_id == alert_id).subquery()
    query = (
        select(websites.c.id, websites.c.key, websites.c.name)
        .join(sub, sub.c.website_id == websites.c.id)
        .order_by(websites.c.key)
        .limit(limit)
    )
    return [(r[0], r[1], r[2]) for r in await conn.execute(query)]


async def alert_specs(conn: AsyncConnection) -> dict[int, tuple[str, dict[str, Any]]]:
    """alert id -> (key, stored spec), for the live alerts."""
    result = await conn.execute(
        select(alerts.c.id, alerts.c.key, alerts.c.spec).where(alerts.c.archived_at.is_(None))
    )
    return {r[0]: (r[1], r[2]) for r in result}


# -- states and incidents --------------------------------------------------------


async def load_states(
    conn: AsyncConnection, website_ids: Iterable[int]
) -> dict[tuple[int, int], dict[str, Any]]:
    """(website id, alert id) -> state columns, for the given websites."""
    ids = list(set(website_ids))
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        result = await conn.execute(select(states).where(states.c.website_id.in_(chunk)))
        for row in result:
            m = row._mapping
            out[(m["website_id"], m["alert_id"])] = {f: m[f] for f in STATE_FIELDS}
    return out


@functools.cache
def _save_state(dialect: str) -> Any:
    stmt = upsert_for(dialect, states)
    return stmt.on_conflict_do_update(
        index_elements=[states.c.website_id, states.c.alert_id],
        set_={f: stmt.excluded[f] for f in (*STATE_FIELDS, "updated_at")},
    )


async def save_states(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows: website_id, alert_id, updated_at and every ``STATE_FIELDS`` column."""
    if rows:
        await conn.execute(_save_state(conn.dialect.name), list(rows))


async def open_incident(
    conn: AsyncConnection,
    *,
    website_id: int,
    alert_id: int,
    started_at: datetime,
    confirmed_at: datetime,
    cause_kind: str | None,
    cause_message: str | None,
    notified: bool,
    held_reason: str | None = None,
) -> int:
    result = await conn.execute(
        incidents.insert()
        .values(
            website_id=website_id,
            alert_id=alert_id,
            started_at=started_at,
            confirmed_at=confirmed_at,
            cause_kind=cause_kind,
            cause_message=cause_message,
            notified=notified,
            held_reason=held_reason,
        )
        .returning(incidents.c.id)
    )
    return int(result.scalar_one())


async def update_incidents(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows: incident_id plus resolved_at and notified."""
    if rows:
        await conn.execute(
            update(incidents)
            .where(incidents.c.id == bindparam("incident_id"))
            .values(resolved_at=bindparam("resolved_at"), notified=bindparam("notified")),
            list(rows),
        )


async def open_incidents(conn: AsyncConnection) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(incidents).where(incidents.c.resolved_at.is_(None)).order_by(incidents.c.id)
    )
    return [dict(r._mapping) for r in result]


async def incidents_of(
    conn: AsyncConnection, website_id: int, limit: int = 50
) -> list[dict[str, Any]]:
    result = await conn.execute(
        select(incidents)
        .where(incidents.c.website_id == website_id)
        .order_by(incidents.c.started_at.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in result]


# -- the outbox ---------------------------------------------------------------------


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows: event_id, alert_id, website_id, incident_id, kind, payload, created_at,
    next_attempt_at, deadline_at."""
    if rows:
        await conn.execute(
            outbox.insert(), [{**r, "status": "pending", "attempts": 0} for r in rows]
        )


async def due(
    conn: AsyncConnection, now: datetime, limit: int = 50, *, skip_locked: bool = False
) -> list[dict[str, Any]]:
    """The oldest pending row of each alert, if it is due: a channel delivers in
    order, so a DOWN waiting for a retry is never overtaken by its UP."""
    head = (
        select(func.min(outbox.c.id))
        .where(outbox.c.status == "pending")
        .group_by(outbox.c.alert_id)
        .scalar_subquery()
    )
    query = (
        select(outbox)
        .where(and_(outbox.c.id.in_(head), outbox.c.next_attempt_at <= now))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [dict(r._mapping) for r in await conn.execute(query)]


async def claim_due(
    conn: AsyncConnection, now: datetime, hold: timedelta, limit: int = 50
) -> list[dict[str, Any]]:
    """``due``, and those rows set aside for ``hold`` (their next attempt moved on),
    so that instances sharing the database never send one row at the same time.
    On PostgreSQL rows another transaction is claiming are skipped, not waited for."""
    rows = await due(conn, now, limit, skip_locked=conn.dialect.name == "postgresql")
    if rows:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_([r["id"] for r in rows]))
            .values(next_attempt_at=now + hold)
        )
    return rows


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    value = await conn.scalar(
        select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")
    )
    return value if isinstance(value, datetime) else None


async def pending_count(conn: AsyncConnection) -> int:
    return int(
        await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
        )
        or 0
    )


async def record_attempt(
    conn: AsyncConnection,
    row_id: int,
    *,
    at: datetime,
    ok: bool,
    duration_ms: float,
    detail: str,
    status: str,
    next_attempt_at: datetime | None,
) -> None:
    """One attempt and the row's new status (pending with a new time, delivered, failed)."""
    await conn.execute(
        attempts.insert().values(
            outbox_id=row_id, attempted_at=at, ok=ok, duration_ms=duration_ms, detail=detail
        )
    )
    values: dict[str, Any] = {
        "status": status,
        "attempts": outbox.c.attempts + 1,
        "last_error": None if ok else detail,
    }
    if ok:
        values["delivered_at"] = at
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    await conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


async def deliveries(
    conn: AsyncConnection, alert_id: int, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest outbox rows of an alert, each with its attempts (for the API)."""
    rows = [
        dict(r._mapping)
        for r in await conn.execute(
            select(outbox)
            .where(outbox.c.alert_id == alert_id)
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
    ]
    ids = [r["id"] for r in rows]
    by_row: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        result = await conn.execute(
            select(attempts).where(attempts.c.outbox_id.in_(ids)).order_by(attempts.c.id)
        )
        for a in result:
            by_row[a.outbox_id].append(dict(a._mapping))
    for r in rows:
        r["attempt_log"] = by_row[r["id"]]
    return rows
