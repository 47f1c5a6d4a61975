"""Reading incidents across websites: the incident timeline, and the DOWNs held
on an alert's page. Typed rows out; the alerting engine writes incidents
(``store.alerting``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.series import epoch_seconds
from sitewatch.store.tables import alerts, archived, incidents, outbox, websites
from sitewatch.store.types import UTCDateTime, utcnow

IncidentState = Literal["open", "resolved"]
SORTABLE = ("started", "resolved", "duration", "website", "alert", "cause")


@dataclass(frozen=True, slots=True)
class Sent:
    """One notification an incident caused, as the outbox holds it."""

    kind: str  # down, reminder, up
    status: str  # pending, delivered, failed
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    website_key: str
    website_name: str
    website_archived: bool
    alert_key: str
    started_at: datetime  # the first failing check
    confirmed_at: datetime  # when the failure threshold confirmed it
    resolved_at: datetime | None
    cause_kind: str | None
    cause_message: str | None
    notified: bool  # its DOWN went out
    held_reason: str | None  # why its DOWN was held when it was confirmed
    sent: tuple[Sent, ...] = field(default=())

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def held(self) -> bool:
        """Confirmed while notifications were held, and its DOWN not sent yet."""
        return self.held_reason is not None and not self.notified

    def duration_seconds(self, now: datetime) -> float:
        return ((self.resolved_at or now) - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    state: IncidentState | None = None
    website: str | None = None  # website key
    alert: str | None = None  # alert key
    since: datetime | None = None  # started at or after
    held_only: bool = False
    sort: str = "started"  # one of SORTABLE
    descending: bool = True
    limit: int = 100
    offset: int = 0


def _order(conn: AsyncConnection, query: IncidentQuery, now: datetime) -> list[Any]:
    if query.sort == "duration":
        end = func.coalesce(incidents.c.resolved_at, literal(now, UTCDateTime()))
        column: Any = epoch_seconds(conn, end) - epoch_seconds(conn, incidents.c.started_at)
    else:
        column = {
            "started": incidents.c.started_at,
            "resolved": incidents.c.resolved_at,
            "website": websites.c.sort_key,
            "alert": alerts.c.key,
            "cause": incidents.c.cause_kind,
        }.get(query.sort, incidents.c.started_at)
    first = (column.desc() if query.descending else column.asc()).nulls_last()
    return [first, incidents.c.started_at.desc(), incidents.c.id.desc()]


async def timeline(
    conn: AsyncConnection, query: IncidentQuery, now: datetime | None = None
) -> list[Incident]:
    """Incidents (newest first by default), with the notifications each caused."""
    where: list[ColumnElement[bool]] = []
    if query.state == "open":
        where.append(incidents.c.resolved_at.is_(None))
    elif query.state == "resolved":
        where.append(incidents.c.resolved_at.is_not(None))
    if query.website is not None:
        where.append(websites.c.key == query.website)
    if query.alert is not None:
        where.append(alerts.c.key == query.alert)
    if query.since is not None:
        where.append(incidents.c.started_at >= query.since)
    if query.held_only:
        where.append(
            and_(
                incidents.c.held_reason.is_not(None),
                incidents.c.notified.is_(False),
                incidents.c.resolved_at.is_(None),
            )
        )
    statement = (
        select(
            incidents.c.id,
            websites.c.key.label("website_key"),
            websites.c.name.label("website_name"),
            archived(websites).label("website_archived"),
            alerts.c.key.label("alert_key"),
            incidents.c.started_at,
            incidents.c.confirmed_at,
            incidents.c.resolved_at,
            incidents.c.cause_kind,
            incidents.c.cause_message,
            incidents.c.notified,
            incidents.c.held_reason,
        )
        .select_from(
            incidents.join(websites, websites.c.id == incidents.c.website_id).join(
                alerts, alerts.c.id == incidents.c.alert_id
            )
        )
        .where(*where)
        .order_by(*_order(conn, query, now or utcnow()))
        .limit(query.limit)
        .offset(query.offset)
    )
    rows = [r._mapping for r in await conn.execute(statement)]
    sent = await _sent(conn, [int(r["id"]) for r in rows])
    return [
        Incident(
            id=int(r["id"]),
            website_key=r["website_key"],
            website_name=r["website_name"],
            website_archived=bool(r["website_archived"]),
            alert_key=r["alert_key"],
            started_at=r["started_at"],
            confirmed_at=r["confirmed_at"],
            resolved_at=r["resolved_at"],
            cause_kind=r["cause_kind"],
            cause_message=r["cause_message"],
            notified=bool(r["notified"]),
            held_reason=r["held_reason"],
            sent=tuple(sent.get(int(r["id"]), ())),
        )
        for r in rows
    ]


async def counts_by_website(conn: AsyncConnection, ids: list[int]) -> dict[int, int]:
    """website id -> how many incidents it has had."""
    if not ids:
        return {}
    statement = (
        select(incidents.c.website_id, func.count().label("incidents"))
        .where(incidents.c.website_id.in_(ids))
        .group_by(incidents.c.website_id)
    )
    return {
        int(r["website_id"]): int(r["incidents"])
        for r in (await conn.execute(statement)).mappings()
    }


@dataclass(frozen=True, slots=True)
class FilterChoices:
    """What the timeline can be filtered by: the websites and alerts with incidents."""

    websites: tuple[tuple[str, str], ...]  # (key, name), in natural order
    alerts: tuple[str, ...]


async def filter_choices(conn: AsyncConnection) -> FilterChoices:
    with_incidents = select(incidents.c.website_id).distinct().scalar_subquery()
    sites = await conn.execute(
        select(websites.c.key, websites.c.name)
        .where(websites.c.id.in_(with_incidents))
        .order_by(websites.c.sort_key, websites.c.key)
    )
    alerted = select(incidents.c.alert_id).distinct().scalar_subquery()
    keys = await conn.execute(
        select(alerts.c.key).where(alerts.c.id.in_(alerted)).order_by(alerts.c.key)
    )
    return FilterChoices(
        tuple((r._mapping["key"], r._mapping["name"]) for r in sites),
        tuple(r._mapping["key"] for r in keys),
    )


async def _sent(conn: AsyncConnection, ids: list[int]) -> dict[int, list[Sent]]:
    out: dict[int, list[Sent]] = {}
    if not ids:
        return out
    statement = (
        select(
            outbox.c.incident_id,
            outbox.c.kind,
            outbox.c.status,
            outbox.c.created_at,
            outbox.c.delivered_at,
        )
        .where(outbox.c.incident_id.in_(ids))
        .order_by(outbox.c.id)
    )
    for r in await conn.execute(statement):
        m = r._mapping
        out.setdefault(int(m["incident_id"]), []).append(
            Sent(m["kind"], m["status"], m["created_at"], m["delivered_at"])
        )
    return out
