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
from typing import Any, NamedTuple, TypedDict, cast

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.catalog import WebsiteRef
from sitewatch.store.tables import alert_states as states
from sitewatch.store.tables import alerts, in_config, incidents, outbox, website_alerts, websites
from sitewatch.store.tables import delivery_attempts as attempts

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
    website_type: str = "http"


async def bindings(conn: AsyncConnection) -> list[Binding]:
    """Every (active website, live alert) pair with what the state machine needs."""
    query = (
        select(
            websites.c.id.label("website_id"),
            websites.c.key.label("website_key"),
            websites.c.name.label("website_name"),
            websites.c.url.label("website_url"),
            websites.c.tags.label("website_tags"),
            websites.c.type.label("website_type"),
            alerts.c.id.label("alert_id"),
            alerts.c.key.label("alert_key"),
            alerts.c.spec.label("alert_spec"),
        )
        .select_from(website_alerts)
        .join(websites, websites.c.id == website_alerts.c.website_id)
        .join(alerts, alerts.c.id == website_alerts.c.alert_id)
        .where(in_config(websites), in_config(alerts))
    )
    return [
        Binding(**{**r, "website_tags": tuple(r["website_tags"] or ())})
        for r in (await conn.execute(query)).mappings()
    ]


def _bound() -> Any:
    return (
        select(website_alerts.c.website_id, website_alerts.c.alert_id)
        .join(websites, websites.c.id == website_alerts.c.website_id)
        .join(alerts, alerts.c.id == website_alerts.c.alert_id)
        .where(in_config(websites), in_config(alerts))
    )


async def alerts_of_website(conn: AsyncConnection, website_id: int) -> list[str]:
    """Keys of the alerts that cover one website, sorted."""
    sub = _bound().where(website_alerts.c.website_id == website_id).subquery()
    query = select(alerts.c.key).join(sub, sub.c.alert_id == alerts.c.id).order_by(alerts.c.key)
    return list((await conn.execute(query)).scalars())


async def coverage(conn: AsyncConnection) -> dict[int, int]:
    """How many websites each alert covers, by alert id."""
    sub = _bound().subquery()
    query = select(sub.c.alert_id, func.count().label("websites")).group_by(sub.c.alert_id)
    return {r["alert_id"]: int(r["websites"]) for r in (await conn.execute(query)).mappings()}


async def websites_of_alert(
    conn: AsyncConnection, alert_id: int, limit: int | None = None
) -> list[WebsiteRef]:
    """The websites one alert covers, by key; at most ``limit``."""
    sub = _bound().where(website_alerts.c.alert_id == alert_id).subquery()
    query = (
        select(websites.c.id, websites.c.key, websites.c.name)
        .join(sub, sub.c.website_id == websites.c.id)
        .order_by(websites.c.key)
        .limit(limit)
    )
    return [WebsiteRef(**r) for r in (await conn.execute(query)).mappings()]


class AlertSpec(NamedTuple):
    key: str
    spec: dict[str, Any]  # the stored form: ${VAR} kept


async def alert_specs(conn: AsyncConnection) -> dict[int, AlertSpec]:
    """alert id -> its key and stored spec, for the alerts in the config."""
    result = await conn.execute(
        select(alerts.c.id, alerts.c.key, alerts.c.spec).where(in_config(alerts))
    )
    return {r["id"]: AlertSpec(r["key"], r["spec"]) for r in result.mappings()}


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
        for m in result.mappings():
            out[(m["website_id"], m["alert_id"])] = {f: m[f] for f in STATE_FIELDS}
    return out


@functools.cache
def _save_state(dialect: str) -> Any:
    stmt = dialects.named(dialect).insert(states)
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


class Incident(TypedDict):
    """An outage of one website as one alert saw it (a row of ``incidents``)."""

    id: int
    website_id: int
    alert_id: int
    started_at: datetime
    confirmed_at: datetime
    resolved_at: datetime | None
    cause_kind: str | None
    cause_message: str | None
    notified: bool
    held_reason: str | None


def _incidents() -> Any:
    return select(*(incidents.c[name] for name in Incident.__annotations__))


async def open_incidents(conn: AsyncConnection) -> list[Incident]:
    result = await conn.execute(
        _incidents().where(incidents.c.resolved_at.is_(None)).order_by(incidents.c.id)
    )
    return [cast(Incident, dict(r)) for r in result.mappings()]


async def incidents_of(conn: AsyncConnection, website_id: int, limit: int = 50) -> list[Incident]:
    result = await conn.execute(
        _incidents()
        .where(incidents.c.website_id == website_id)
        .order_by(incidents.c.started_at.desc())
        .limit(limit)
    )
    return [cast(Incident, dict(r)) for r in result.mappings()]


# -- the outbox ---------------------------------------------------------------------


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows: event_id, alert_id, website_id, incident_id, kind, payload, created_at,
    next_attempt_at, deadline_at."""
    if rows:
        await conn.execute(
            outbox.insert(), [{**r, "status": "pending", "attempts": 0} for r in rows]
        )


class OutboxItem(TypedDict):
    """A notification to deliver (a row of ``outbox``)."""

    id: int
    event_id: str
    alert_id: int
    website_id: int | None
    incident_id: int | None
    kind: str  # down | reminder | up | test
    payload: dict[str, Any]
    status: str  # pending | delivered | failed
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    deadline_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    sent_to: list[str] | None  # targets that have it (a channel with several)


def _outbox() -> Any:
    return select(*(outbox.c[name] for name in OutboxItem.__annotations__))


async def due(
    conn: AsyncConnection, now: datetime, limit: int = 50, *, skip_locked: bool = False
) -> list[OutboxItem]:
    """The oldest pending row of each alert, if it is due: a channel delivers in
    order, so a DOWN waiting for a retry is never overtaken by its UP."""
    head = (
        select(func.min(outbox.c.id))
        .where(outbox.c.status == "pending")
        .group_by(outbox.c.alert_id)
        .scalar_subquery()
    )
    query = (
        _outbox()
        .where(and_(outbox.c.id.in_(head), outbox.c.next_attempt_at <= now))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return [cast(OutboxItem, dict(r)) for r in (await conn.execute(query)).mappings()]


async def claim_due(
    conn: AsyncConnection, now: datetime, hold: timedelta, limit: int = 50
) -> list[OutboxItem]:
    """``due``, and those rows set aside for ``hold`` (their next attempt moved on),
    so that instances sharing the database never send one row at the same time.
    On PostgreSQL rows another transaction is claiming are skipped, not waited for."""
    rows = await due(conn, now, limit, skip_locked=dialects.of(conn).SKIP_LOCKED)
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
    sent_to: list[str] | None = None,
) -> None:
    """One attempt and the row's new status (pending with a new time, delivered,
    failed), and the targets that have it now."""
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
    if sent_to is not None:
        values["sent_to"] = sent_to
    await conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


class Attempt(TypedDict):
    """One delivery attempt of a notification."""

    attempted_at: datetime
    ok: bool
    duration_ms: float
    detail: str


class Delivery(OutboxItem):
    """A notification with every attempt to deliver it, oldest first."""

    attempt_log: list[Attempt]


async def deliveries(conn: AsyncConnection, alert_id: int, limit: int = 100) -> list[Delivery]:
    """Newest outbox rows of an alert, each with its attempts (for the API)."""
    result = await conn.execute(
        _outbox().where(outbox.c.alert_id == alert_id).order_by(outbox.c.id.desc()).limit(limit)
    )
    rows = [cast(OutboxItem, dict(r)) for r in result.mappings()]
    by_row: dict[int, list[Attempt]] = {r["id"]: [] for r in rows}
    if by_row:
        logged = await conn.execute(
            select(attempts.c.outbox_id, *(attempts.c[n] for n in Attempt.__annotations__))
            .where(attempts.c.outbox_id.in_(list(by_row)))
            .order_by(attempts.c.id)
        )
        for a in logged.mappings():
            by_row[a["outbox_id"]].append(
                Attempt(
                    attempted_at=a["attempted_at"],
                    ok=a["ok"],
                    duration_ms=a["duration_ms"],
                    detail=a["detail"],
                )
            )
    return [Delivery(**r, attempt_log=by_row[r["id"]]) for r in rows]
