"""Housekeeping of the check data: sealing rollups and enforcing retention.

*Sealing* an hour fills in each website's 95th percentile for that hour from the
raw rows (percentiles do not add up, so they wait until the hour is over).
*Advancing* the uptime totals, as each hour starts, takes the hour that left
each sliding window (24 h, 7 d, 30 d) off every website's totals.
Sealing a day sums its hours into the daily rollup, with the day's percentile.
*Retention* deletes raw rows and rollups past their age in bounded batches, each
its own short transaction, so checks keep flowing while a big purge runs.

Every step does a bounded amount of work and records how far it got in the
``housekeeping`` table, so a restart resumes where it stopped.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, bindparam, case, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sitewatch.store import dialects
from sitewatch.store.engine import begin_write
from sitewatch.store.heartbeats import expired_pings
from sitewatch.store.marks import get_mark, set_mark
from sitewatch.store.tables import daily, heartbeat_pings, history, hourly, totals
from sitewatch.store.windows import (
    DAILY_SEALED,
    DAY,
    HOUR,
    HOURLY_SEALED,
    LONGEST_WINDOW,
    SLIDING,
    SUMS,
    TOTAL_COLUMNS,
    TOTALS_FROM,
    floor_day,
    floor_hour,
)

# A check that started just before the hour ends is written a little after it.
GRACE = timedelta(minutes=2)
SUMMED = ("checks", "failures", "timed", "sum_ms", "max_ms")


async def _set_p95(
    conn: AsyncConnection, table: Table, bucket: datetime, values: list[tuple[int, float]]
) -> None:
    if not values:
        return
    await conn.execute(
        update(table)
        .where(table.c.website_id == bindparam("wid"), table.c.bucket == bucket)
        .values(p95_ms=bindparam("p95")),
        [{"wid": w, "p95": p} for w, p in values],
    )


async def seal_next_hour(conn: AsyncConnection, now: datetime) -> datetime | None:
    """Seal the oldest unsealed hour that is over; ``None`` when there is none."""
    mark = await get_mark(conn, HOURLY_SEALED)
    if mark is None:
        first = await conn.scalar(select(func.min(hourly.c.bucket)))
        mark = first if first is not None else floor_hour(now)
    if mark + HOUR + GRACE > now:
        return None
    await _set_p95(
        conn, hourly, mark, await dialects.of(conn).p95_by_website(conn, mark, mark + HOUR)
    )
    await set_mark(conn, HOURLY_SEALED, mark + HOUR)
    return mark


async def advance_totals(conn: AsyncConnection, now: datetime) -> datetime | None:
    """Move the sliding uptime windows on by one hour once it has started: take the
    hour that fell out of each window off every website's totals. Starts the
    totals (sums the rollups) the first time. ``None`` when there is nothing to do.
    """
    window_end = await get_mark(conn, TOTALS_FROM, lock="update")
    if window_end is None:
        return await _start_totals(conn, floor_hour(now) + HOUR)
    if window_end > now:
        return None
    params = {f"drop_{i}": window_end - w for i, w in enumerate(SLIDING)}
    await conn.execute(_drop_statement(conn.dialect.name), params)
    await set_mark(conn, TOTALS_FROM, window_end + HOUR)
    return window_end


async def _start_totals(conn: AsyncConnection, window_end: datetime) -> datetime:
    await dialects.of(conn).hold_rollup_writers(conn)
    b = hourly.c.bucket
    selected: list[ColumnElement[Any]] = [hourly.c.website_id]
    for window in SLIDING:
        inside = b >= window_end - window
        selected += [func.sum(case((inside, hourly.c[n]), else_=0)) for n in SUMS]
    query = select(*selected).where(b >= window_end - LONGEST_WINDOW).group_by(hourly.c.website_id)
    await conn.execute(delete(totals))
    await conn.execute(totals.insert().from_select(["website_id", *TOTAL_COLUMNS], query))
    await set_mark(conn, TOTALS_FROM, window_end)
    return window_end


@functools.cache
def _drop_statement(dialect: str) -> Any:
    """Built once per dialect (building it costs more than running it)."""
    b = hourly.c.bucket
    drops = [bindparam(f"drop_{i}", type_=b.type) for i in range(len(SLIDING))]
    selected: list[ColumnElement[Any]] = [hourly.c.website_id]
    for drop in drops:
        selected += [func.sum(case((b == drop, -hourly.c[n]), else_=0)) for n in SUMS]
    query = select(*selected).where(b.in_(drops)).group_by(hourly.c.website_id)
    return dialects.add_to_totals(dialect).from_select(["website_id", *TOTAL_COLUMNS], query)


async def seal_next_day(conn: AsyncConnection, now: datetime) -> datetime | None:
    """Sum the oldest unsealed finished day into the daily rollup; ``None`` when none."""
    mark = await get_mark(conn, DAILY_SEALED)
    if mark is None:
        first = await conn.scalar(select(func.min(hourly.c.bucket)))
        mark = floor_day(first) if first is not None else floor_day(now)
    hours_sealed = await get_mark(conn, HOURLY_SEALED)
    if mark + DAY + GRACE > now or hours_sealed is None or hours_sealed < mark + DAY:
        return None
    in_day = (hourly.c.bucket >= mark, hourly.c.bucket < mark + DAY)
    sums = (
        select(
            hourly.c.website_id,
            *(func.sum(hourly.c[n]).label(n) for n in SUMS),
            func.max(hourly.c.max_ms).label("max_ms"),
        )
        .where(*in_day)
        .group_by(hourly.c.website_id)
    )
    rows = [
        {
            "website_id": r["website_id"],
            "bucket": mark,
            "checks": int(r["checks"]),
            "failures": int(r["failures"]),
            "timed": int(r["timed"]),
            "sum_ms": float(r["sum_ms"]),
            "max_ms": r["max_ms"],
        }
        for r in (await conn.execute(sums)).mappings()
    ]
    if rows:
        stmt = dialects.upsert(conn, daily)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[daily.c.website_id, daily.c.bucket],
                set_={c: stmt.excluded[c] for c in SUMMED},
            ),
            rows,
        )
        await _set_p95(
            conn, daily, mark, await dialects.of(conn).p95_by_website(conn, mark, mark + DAY)
        )
    await set_mark(conn, DAILY_SEALED, mark + DAY)
    return mark


Purgeable = Literal["history", "hourly", "daily", "pings"]
# What retention deletes, and the time column that ages each table's rows.
_PURGED: dict[Purgeable, tuple[Table, str]] = {
    "history": (history, "checked_at"),
    "hourly": (hourly, "bucket"),
    "daily": (daily, "bucket"),
    "pings": (heartbeat_pings, "at"),
}


async def purge_batch(engine: AsyncEngine, what: Purgeable, before: datetime, batch: int) -> int:
    """Delete at most ``batch`` rows of ``what`` older than ``before``; the number deleted."""
    table, column = _PURGED[what]
    col = table.c[column]
    key = list(table.primary_key.columns)
    expired = expired_pings(before) if what == "pings" else col < before
    oldest = select(*key).where(expired).order_by(col).limit(batch)
    async with begin_write(engine) as conn:
        if len(key) == 1:
            result = await conn.execute(delete(table).where(key[0].in_(oldest)))
        else:
            result = await conn.execute(delete(table).where(tuple_(*key).in_(oldest)))
    return int(result.rowcount or 0)
