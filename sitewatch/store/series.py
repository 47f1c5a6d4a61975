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

from sitewatch.store import dialects
from sitewatch.store.tables import daily, history, hourly

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
    return dialects.of(conn).epoch_seconds(column)


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
            func.count().label("checks"),
            func.sum(case((history.c.ok, 0), else_=1)).label("failures"),
            func.avg(history.c.response_time_ms).label("mean_ms"),
            func.max(history.c.response_time_ms).label("max_ms"),
            *(func.avg(history.c[p]).label(p) for p in PHASES),
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
            start + timedelta(seconds=int(r["i"]) * width),
            int(r["checks"]),
            int(r["failures"] or 0),
            _float(r["mean_ms"]),
            _float(r["max_ms"]),
            *(_float(r[p]) for p in PHASES),
        )
        for r in (await conn.execute(query)).mappings()
    ]


async def rollup_series(
    conn: AsyncConnection, website_id: int, start: datetime, end: datetime
) -> list[Point]:
    """Hourly buckets from the rollup: for ranges longer than the raw checks are kept."""
    buckets = await rollup_buckets(conn, website_id, start=start, end=end)
    return [Point(b.start, b.checks, b.failures, b.mean_ms, b.max_ms) for b in buckets]


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
    for m in (await conn.execute(union_all(*parts))).mappings():
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


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    checks: int
    failures: int
    mean_ms: float | None
    max_ms: float | None
    p95_ms: float | None  # None until the bucket is over and sealed


async def rollup_buckets(
    conn: AsyncConnection,
    website_id: int,
    *,
    start: datetime,
    end: datetime,
    granularity: str = "hour",
) -> list[Bucket]:
    """Response times and failures per hour or day, for charts."""
    table = hourly if granularity == "hour" else daily
    result = await conn.execute(
        select(
            table.c.bucket,
            table.c.checks,
            table.c.failures,
            table.c.timed,
            table.c.sum_ms,
            table.c.max_ms,
            table.c.p95_ms,
        )
        .where(table.c.website_id == website_id, table.c.bucket >= start, table.c.bucket < end)
        .order_by(table.c.bucket)
    )
    return [
        Bucket(
            r["bucket"],
            r["checks"],
            r["failures"],
            r["sum_ms"] / r["timed"] if r["timed"] else None,
            r["max_ms"],
            r["p95_ms"],
        )
        for r in result.mappings()
    ]
