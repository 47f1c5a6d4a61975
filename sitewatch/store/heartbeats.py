"""Heartbeat pings, and the server's own secrets.

Any instance receiving a ping writes it here; the instance that checks the
heartbeat reads the latest of each kind back (``ping_state``), so pings work
whichever instance a load balancer picks.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal, TypedDict

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.dialects import upsert
from sitewatch.store.tables import heartbeat_pings as pings
from sitewatch.store.tables import server_secrets, websites

PingKind = Literal["success", "start", "fail"]


class PingState(TypedDict):
    """What ``judge`` needs of a heartbeat's pings (from ``store.heartbeats``)."""

    # When the heartbeat appeared or last changed (edited, paused, resumed): no ping
    # is due for the time before, so resuming a paused heartbeat waits for its job.
    since: datetime
    last_success: datetime | None
    last_start: datetime | None
    last_fail: datetime | None
    fail_exit_status: int | None
    fail_body: str | None
    last_duration_ms: float | None  # of the last run that had a start ping
    last_ping: datetime | None  # of any kind


class Ping(TypedDict):
    """One ping as the API and the dashboard show it."""

    at: datetime
    kind: str
    exit_status: int | None
    duration_ms: float | None
    body: str | None
    source: str | None
    user_agent: str | None


async def record_ping(
    conn: AsyncConnection,
    website_id: int,
    kind: PingKind,
    at: datetime,
    *,
    exit_status: int | None = None,
    body: str | None = None,
    source: str | None = None,
    user_agent: str | None = None,
) -> float | None:
    """Store a ping; a success or fail that ends a started run gets (and returns)
    the run's duration in milliseconds."""
    duration: float | None = None
    if kind != "start":
        started, ended = (
            await conn.execute(
                select(
                    func.max(case((pings.c.kind == "start", pings.c.at))),
                    func.max(case((pings.c.kind != "start", pings.c.at))),
                ).where(pings.c.website_id == website_id)
            )
        ).one()
        if started is not None and (ended is None or started > ended) and started <= at:
            duration = (at - started).total_seconds() * 1000
    await conn.execute(
        pings.insert().values(
            website_id=website_id,
            at=at,
            kind=kind,
            exit_status=exit_status,
            duration_ms=duration,
            body=body,
            source=source[:64] if source else None,
            user_agent=user_agent[:200] if user_agent else None,
        )
    )
    return duration


async def ping_state(conn: AsyncConnection, website_id: int) -> PingState | None:
    """What judging a heartbeat needs; None when the website is gone."""
    since = await conn.scalar(select(websites.c.updated_at).where(websites.c.id == website_id))
    if since is None:
        return None
    latest = (
        await conn.execute(
            select(
                func.max(case((pings.c.kind == "success", pings.c.at))),
                func.max(case((pings.c.kind == "start", pings.c.at))),
                func.max(case((pings.c.kind == "fail", pings.c.at))),
                func.max(pings.c.at),
            ).where(pings.c.website_id == website_id)
        )
    ).one()
    success, start, fail, last = latest
    state = PingState(
        since=since,
        last_success=success,
        last_start=start,
        last_fail=fail,
        fail_exit_status=None,
        fail_body=None,
        last_duration_ms=None,
        last_ping=last,
    )
    if fail is not None and (success is None or fail > success):
        row = (
            await conn.execute(
                select(pings.c.exit_status, pings.c.body)
                .where(pings.c.website_id == website_id, pings.c.kind == "fail")
                .order_by(pings.c.at.desc(), pings.c.id.desc())
                .limit(1)
            )
        ).first()
        if row is not None:
            state["fail_exit_status"], state["fail_body"] = row.exit_status, row.body
    state["last_duration_ms"] = await conn.scalar(
        select(pings.c.duration_ms)
        .where(pings.c.website_id == website_id, pings.c.duration_ms.is_not(None))
        .order_by(pings.c.at.desc(), pings.c.id.desc())
        .limit(1)
    )
    return state


async def recent_pings(conn: AsyncConnection, website_id: int, limit: int = 50) -> list[Ping]:
    """The newest pings first."""
    rows = await conn.execute(
        select(
            pings.c.at,
            pings.c.kind,
            pings.c.exit_status,
            pings.c.duration_ms,
            pings.c.body,
            pings.c.source,
            pings.c.user_agent,
        )
        .where(pings.c.website_id == website_id)
        .order_by(pings.c.at.desc(), pings.c.id.desc())
        .limit(limit)
    )
    return [
        Ping(
            at=r.at,
            kind=r.kind,
            exit_status=r.exit_status,
            duration_ms=r.duration_ms,
            body=r.body,
            source=r.source,
            user_agent=r.user_agent,
        )
        for r in rows
    ]


def expired_pings(before: datetime) -> ColumnElement[bool]:
    """Pings older than ``before`` -- but never a heartbeat's latest of a kind: a
    weekly job's last success must outlive a short history retention."""
    newest = select(func.max(pings.c.id)).group_by(pings.c.website_id, pings.c.kind)
    return and_(pings.c.at < before, pings.c.id.not_in(newest))


async def server_secret(conn: AsyncConnection, name: str) -> bytes:
    """A secret every instance shares, made on first use (32 random bytes)."""
    await conn.execute(
        upsert(conn, server_secrets)
        .values(name=name, value=secrets.token_urlsafe(32))
        .on_conflict_do_nothing(index_elements=[server_secrets.c.name])
    )
    value = await conn.scalar(select(server_secrets.c.value).where(server_secrets.c.name == name))
    assert isinstance(value, str)
    return value.encode()
