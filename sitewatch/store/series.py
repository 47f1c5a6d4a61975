"""Time series for charts: response times per bucket, read from the checks or rollups.

The database does the downsampling: a chart over a day of 5-second checks
(17,280 rows) comes back as a few hundred buckets, each with the mean of every
timing phase and the worst total, so a spike stays visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import Integer, case, cast, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.tables import metadata

history = metadata.tables["check_histories"]
hourly = metadata.tables["rollups_hourly"]

PHASES = ("dns_ms", "connect_ms", "tls_ms", "first_byte_ms")
SPARKLINE_RAW = 120  # raw checks a young website's sparkline draws


@dataclass(frozen=True, slots=True)
class Point:
    """One bucket of a website's checks; phase means are None where not measured."""

    start: datetime
    checks: int
    failures: int
    mean_ms: float | None
    max_ms: float | None
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    first_byte_ms: float | None = None


def epoch_seconds(conn: AsyncConnection, column: Any) -> Any:
    """A timestamp column as unix seconds, in this connection's dialect."""
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def bucket_width(start: datetime, end: datetime, buckets: int) -> float:
    """Seconds per bucket when ``[start, end)`` is cut into ``buckets`` spans."""
    return max((end - start).total_seconds() / buckets, 1.0)


async def checks_series(
    conn: AsyncConnection, website_id: int, start: datetime, end: datetime, buckets: int
) -> list[Point]:
    """The checks in ``[start, end)`` grouped into at most ``buckets`` equal spans."""
    width = bucket_width(start, end, buckets)
    offset = epoch_seconds(conn, history.c.checked_at) - start.timestamp()
    index = cast(offset / width, Integer).label("i")
    query = (
        select(
            index,
            func.count(),
            func.sum(case((history.c.ok, 0), else_=1)),
            func.avg(history.c.response_time_ms),
            func.max(history.c.response_time_ms),
            *(func.avg(history.c[p]) for p in PHASES),
        )
        .where(
            history.c.website_id == website_id,
            history.c.checked_at >= start,
            history.c.checked_at < end,
        )
        .group_by(index)
        .order_by(index)
    )
    return [
        Point(
            start + timedelta(seconds=int(r[0]) * width),
            int(r[1]),
            int(r[2] or 0),
            _float(r[3]),
            _float(r[4]),
            *(_float(v) for v in r[5:]),
        )
        for r in await conn.execute(query)
    ]


async def rollup_series(
    conn: AsyncConnection, website_id: int, start: datetime, end: datetime
) -> list[Point]:
    """Hourly buckets from the rollup: for ranges longer than the raw checks are kept."""
    query = (
        select(hourly.c.bucket, hourly.c.checks, hourly.c.failures, hourly.c.timed, hourly.c.sum_ms)
        .add_columns(hourly.c.max_ms)
        .where(hourly.c.website_id == website_id, hourly.c.bucket >= start, hourly.c.bucket < end)
        .order_by(hourly.c.bucket)
    )
    return [
        Point(r[0], r[1], r[2], r[4] / r[3] if r[3] else None, r[5])
        for r in await conn.execute(query)
    ]


class RecentCheck(TypedDict):
    """One check as a status bar draws it."""

    website_id: int
    checked_at: datetime
    ok: bool
    status_code: int | None
    error_kind: str | None
    response_time_ms: float | None


async def recent_checks(
    conn: AsyncConnection, ids: Sequence[int], per: int, since: datetime | None = None
) -> dict[int, list[RecentCheck]]:
    """The last ``per`` checks of each website in ``ids``, oldest first.

    One ``ORDER BY ... LIMIT`` per website, joined with UNION ALL: each reads the
    newest rows of the (website_id, checked_at) index and stops, however long
    the history is.
    """
    out: dict[int, list[RecentCheck]] = {i: [] for i in ids}
    if not ids:
        return out
    columns = (
        history.c.website_id,
        history.c.checked_at,
        history.c.ok,
        history.c.status_code,
        history.c.error_kind,
        history.c.response_time_ms,
    )
    parts = []
    for website_id in ids:
        one = select(*columns).where(history.c.website_id == website_id)
        if since is not None:
            one = one.where(history.c.checked_at >= since)
        parts.append(select(one.order_by(history.c.checked_at.desc()).limit(per).subquery()))
    for r in await conn.execute(union_all(*parts)):
        m = r._mapping
        out[int(m["website_id"])].append(
            RecentCheck(
                website_id=int(m["website_id"]),
                checked_at=m["checked_at"],
                ok=bool(m["ok"]),
                status_code=m["status_code"],
                error_kind=m["error_kind"],
                response_time_ms=_float(m["response_time_ms"]),
            )
        )
    for checks in out.values():
        checks.sort(key=lambda c: c["checked_at"])
    return out


async def sparklines(
    conn: AsyncConnection, ids: Sequence[int], start: datetime
) -> dict[int, list[tuple[float, float]]]:
    """Mean response time per hour since ``start`` of each website in ``ids``.

    A website with less than an hour of rollups (just added: one hourly point
    draws no line) gets its raw checks instead, so its card shows a line from
    the second check on.
    """
    out: dict[int, list[tuple[float, float]]] = {i: [] for i in ids}
    if not ids:
        return out
    query = (
        select(hourly.c.website_id, hourly.c.bucket, hourly.c.timed, hourly.c.sum_ms)
        .where(hourly.c.website_id.in_(ids), hourly.c.bucket >= start, hourly.c.timed > 0)
        .order_by(hourly.c.website_id, hourly.c.bucket)
    )
    for website_id, bucket, timed, sum_ms in await conn.execute(query):
        out[website_id].append((bucket.timestamp(), sum_ms / timed))
    young = [i for i, points in out.items() if len(points) < 2]
    if young:
        raw = await recent_checks(conn, young, SPARKLINE_RAW, since=start)
        for website_id, checks in raw.items():
            points = [
                (c["checked_at"].timestamp(), ms)
                for c in checks
                if (ms := c["response_time_ms"]) is not None
            ]
            if len(points) > len(out[website_id]):
                out[website_id] = points
    return out


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
