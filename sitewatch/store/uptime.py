"""Uptime and mean response time over windows, read from the rollups and totals.

Reads of uptime never touch the raw history, so they cost the same whether a
website has a day of history or a year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, Table, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.marks import get_mark
from sitewatch.store.tables import daily, hourly, totals, websites
from sitewatch.store.windows import (
    DAILY_SEALED,
    DAY,
    HOUR,
    SHORTEST_WINDOW,
    SLIDING,
    SUMS,
    TOTALS_FROM,
    floor_day,
    floor_hour,
)


class Uptime(NamedTuple):
    """Counts over a window (a tuple: ten thousand websites build thirty thousand)."""

    checks: int
    failures: int
    timed: int = 0  # checks with a response time
    sum_ms: float = 0.0

    @property
    def ratio(self) -> float | None:
        """Share of passing checks, ``None`` without checks (not 100 %: unknown)."""
        return (self.checks - self.failures) / self.checks if self.checks else None

    @property
    def mean_ms(self) -> float | None:
        return self.sum_ms / self.timed if self.timed else None

    def plus(self, other: Uptime) -> Uptime:
        return Uptime(
            self.checks + other.checks,
            self.failures + other.failures,
            self.timed + other.timed,
            self.sum_ms + other.sum_ms,
        )


# A few websites' uptime (a page, a badge) is a handful of index reads: tuning the
# planner for a scan of every website would cost two more round trips.
TUNE_ABOVE = 100


async def uptime(
    conn: AsyncConnection,
    windows: Sequence[timedelta],
    now: datetime | None = None,
    *,
    ids: Sequence[int] | None = None,
) -> dict[int, dict[timedelta, Uptime]]:
    """Uptime and mean response time of every website over each window ending now.

    24 h, 7 d and 30 d are rolling windows of whole hours that count the current,
    unfinished hour (``24h`` is this hour and the 23 before it); they read the
    sliding totals plus the hourly rows at their edges. Other windows up to 48 h
    are read from the hourly rollup; longer ones are whole UTC days read from the
    daily rollup (and the hourly rows of days not sealed into it yet). Websites
    without a check in any window are left out: their uptime is unknown.
    ``ids`` limits the answer to those websites (a page of the dashboard).
    """
    now = now or datetime.now(UTC)
    end = floor_hour(now) + HOUR
    if ids is None or len(ids) > TUNE_ABOVE:
        await dialects.of(conn).tune_for_aggregates(conn)
    # (Only the sliding windows need the totals' mark: a year's uptime skips it.)
    window_end = await get_mark(conn, TOTALS_FROM) if any(w in SLIDING for w in windows) else None
    # The totals hold [window_end - w, now]; the windows move on a minute or so
    # after each hour starts. Past a day of lag (downtime), sum the rollup instead.
    fast = [
        w
        for w in windows
        if w in SLIDING and window_end is not None and end - SHORTEST_WINDOW < window_end <= end
    ]
    out: dict[int, dict[timedelta, Uptime]] = {}
    if fast and window_end is not None:
        await _uptime_from_totals(conn, fast, window_end, end, out, ids)
    rolling = [w for w in windows if w not in fast and (w in SLIDING or w <= 2 * DAY)]
    if rolling:
        starts = {w: end - w for w in rolling}
        await _uptime_from_rollup(conn, hourly, starts, None, out, ids)
    days = [w for w in windows if w not in fast and w not in rolling]
    if days:
        await _uptime_in_days(conn, days, now, out, ids)
    if not rolling and not days:
        return out  # only websites with checks came from the totals
    return {
        website_id: per for website_id, per in out.items() if any(u.checks for u in per.values())
    }


def _totals_query(
    windows: list[timedelta],
    window_end: datetime,
    end: datetime,
    ids: Sequence[int] | None = None,
) -> Select[Any]:
    """Window ``[end - w, end)`` = the totals ``[window_end - w, end)`` minus the
    hours ``[window_end - w, end - w)`` that have left it since the totals moved
    on: one row per website, plus one hourly row each just after an hour starts.
    Columns: website id, then ``SUMS`` of each window."""
    b = hourly.c.bucket
    olds = [and_(b >= window_end - w, b < end - w) for w in windows]
    columns: list[ColumnElement[Any]] = [websites.c.id]
    joined = websites.outerjoin(totals, totals.c.website_id == websites.c.id)
    present: ColumnElement[bool] = totals.c.website_id.is_not(None)
    edge_where: ColumnElement[bool] = or_(*olds)
    if ids is not None:
        present = and_(present, websites.c.id.in_(ids))
        edge_where = and_(edge_where, hourly.c.website_id.in_(ids))
    if window_end == end:
        for w in windows:
            columns += [totals.c[f"{n}_{SLIDING[w]}"] for n in SUMS]
    else:
        signs = [case((old, 1), else_=0).label(f"s{i}") for i, old in enumerate(olds)]
        edges = (
            select(hourly.c.website_id, *(hourly.c[n] for n in SUMS), *signs)
            .where(edge_where)
            .subquery()
        )
        gone: list[ColumnElement[Any]] = [edges.c.website_id]
        for i in range(len(windows)):
            gone += [func.sum(edges.c[f"s{i}"] * edges.c[n]) for n in SUMS]
        sub = select(*gone).group_by(edges.c.website_id).subquery()
        joined = joined.outerjoin(sub, sub.c[0] == websites.c.id)
        for i, w in enumerate(windows):
            for j, n in enumerate(SUMS):
                mine = totals.c[f"{n}_{SLIDING[w]}"]
                columns.append(mine - func.coalesce(sub.c[1 + len(SUMS) * i + j], 0))
    return select(*columns).select_from(joined).where(present)


async def _uptime_from_totals(
    conn: AsyncConnection,
    windows: list[timedelta],
    window_end: datetime,
    end: datetime,
    out: dict[int, dict[timedelta, Uptime]],
    ids: Sequence[int] | None = None,
) -> None:
    query = _totals_query(windows, window_end, end, ids)
    k = len(SUMS)
    spans = [(k * i, k * (i + 1)) for i in range(len(windows))]
    counts = [lo for lo, _hi in spans]  # the checks column of each window
    new = tuple.__new__  # Uptime's fields straight from the row: 30,000 of them
    for website_id, *sums in await conn.execute(query):
        if not any(sums[c] for c in counts):
            continue
        values = dict(zip(windows, [new(Uptime, sums[lo:hi]) for lo, hi in spans], strict=True))
        per = out.get(website_id)
        if per is None:
            out[website_id] = values
        else:
            per.update(values)


async def _uptime_from_rollup(
    conn: AsyncConnection,
    table: Table,
    starts: dict[timedelta, datetime],
    until: datetime | None,
    out: dict[int, dict[timedelta, Uptime]],
    ids: Sequence[int] | None = None,
) -> None:
    """Sum a rollup's buckets from each window's start (to ``until``) per website."""
    columns: list[Any] = [table.c.website_id]
    for start in starts.values():
        inside = table.c.bucket >= start
        columns += [func.sum(case((inside, table.c[n]), else_=0)) for n in SUMS]
    condition = table.c.bucket >= min(starts.values())
    if until is not None:
        condition = and_(condition, table.c.bucket < until)
    if ids is not None:
        condition = and_(condition, table.c.website_id.in_(ids))
    result = await conn.execute(select(*columns).where(condition).group_by(table.c.website_id))
    k = len(SUMS)
    for website_id, *sums in result:
        per = out.setdefault(website_id, {})
        for i, window in enumerate(starts):
            checks, failures, timed, sum_ms = sums[k * i : k * (i + 1)]
            part = Uptime(int(checks), int(failures), int(timed), float(sum_ms))
            per[window] = per.get(window, Uptime(0, 0)).plus(part)


async def _uptime_in_days(
    conn: AsyncConnection,
    windows: list[timedelta],
    now: datetime,
    out: dict[int, dict[timedelta, Uptime]],
    ids: Sequence[int] | None = None,
) -> None:
    """Windows of whole UTC days: sealed days from the daily rollup, the rest hourly."""
    today = floor_day(now)
    sealed = min(await get_mark(conn, DAILY_SEALED) or today, today)
    starts = {w: today - (w - DAY) for w in windows}
    await _uptime_from_rollup(conn, daily, starts, sealed, out, ids)
    tail = {w: max(sealed, s) for w, s in starts.items()}
    await _uptime_from_rollup(conn, hourly, tail, None, out, ids)


# A day's counts: (checks, failures). Tuples: 500 websites x 90 days build 45,000.
DayCounts = tuple[int, int]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_number(moment: datetime) -> int:
    """The UTC day of ``moment`` as days since 1970-01-01: how days are keyed here
    (an int from SQL costs nothing to read; 45,000 datetimes cost tens of ms)."""
    return (moment - EPOCH) // DAY


def _day_of(conn: AsyncConnection, bucket: Any) -> Any:
    # +0.5 s: SQLite's julianday() arithmetic may land a hair before midnight.
    return func.floor((dialects.of(conn).epoch_seconds(bucket) + 0.5) / 86400)


async def sealed_through(conn: AsyncConnection, now: datetime) -> datetime | None:
    """Days before this moment are in the daily rollup, the rest still hourly;
    None before the first day is sealed (every day is hourly then)."""
    mark = await get_mark(conn, DAILY_SEALED)
    return None if mark is None else min(mark, floor_day(now))


@dataclass(frozen=True, slots=True)
class SealedDays:
    """A website's sealed days in a range, read without a row per day: the sums,
    the days that have checks, and the counts of the days with a failure (the
    other days with checks are 100 %)."""

    checks: int
    failures: int
    days: range | frozenset[int]  # day numbers with checks
    failed: dict[int, DayCounts]  # day number -> counts, for days with a failure

    def ratio(self, day: int) -> float | None:
        counts = self.failed.get(day)
        if counts is not None:
            return (counts[0] - counts[1]) / counts[0]
        return 1.0 if day in self.days else None


async def sealed_days(
    conn: AsyncConnection, ids: Sequence[int], *, since: datetime, until: datetime
) -> dict[int, SealedDays]:
    """Each website's sealed UTC days in [since, until): they no longer change, so
    a caller may keep them until the next day is sealed. Three small queries
    whatever the range (a year of 500 websites is 182,500 rows, never read)."""
    out: dict[int, SealedDays] = {}
    if not ids or since >= until:
        return out
    day = _day_of(conn, daily.c.bucket)
    where = (daily.c.website_id.in_(ids), daily.c.bucket >= since, daily.c.bucket < until)
    spans = await conn.execute(
        select(
            daily.c.website_id,
            func.min(daily.c.bucket),
            func.max(daily.c.bucket),
            func.count(),
            func.sum(daily.c.checks),
            func.sum(daily.c.failures),
        )
        .where(*where, daily.c.checks > 0)
        .group_by(daily.c.website_id)
    )
    found = {
        int(w): (day_number(a), day_number(b), int(n), int(c), int(f)) for w, a, b, n, c, f in spans
    }
    failed: dict[int, dict[int, DayCounts]] = {}
    rows = await conn.execute(
        select(daily.c.website_id, day, daily.c.checks, daily.c.failures).where(
            *where, daily.c.failures > 0
        )
    )
    for website_id, number, checks, failures in rows:
        failed.setdefault(int(website_id), {})[int(number)] = (int(checks), int(failures))
    gaps = [w for w, (a, b, n, _, _) in found.items() if n != b - a + 1]
    present: dict[int, set[int]] = {}
    if gaps:  # a website paused for a while, or added later: its days one by one
        days_of = await conn.execute(
            select(daily.c.website_id, day).where(
                daily.c.website_id.in_(gaps), *where[1:], daily.c.checks > 0
            )
        )
        for website_id, number in days_of:
            present.setdefault(int(website_id), set()).add(int(number))
    for website_id, (first, last, _, checks, failures) in found.items():
        days: range | frozenset[int] = (
            frozenset(present[website_id]) if website_id in present else range(first, last + 1)
        )
        out[website_id] = SealedDays(checks, failures, days, failed.get(website_id, {}))
    return out


async def open_days(
    conn: AsyncConnection, ids: Sequence[int], *, since: datetime
) -> dict[int, dict[int, DayCounts]]:
    """Each website's counts per UTC day (``day_number``) from ``since`` (a day
    boundary) on, summed from the hourly rollup: the days not sealed yet."""
    out: dict[int, dict[int, DayCounts]] = {}
    if not ids:
        return out
    day = _day_of(conn, hourly.c.bucket)
    result = await conn.execute(
        select(
            hourly.c.website_id,
            day.label("day"),
            func.sum(hourly.c.checks),
            func.sum(hourly.c.failures),
        )
        .where(hourly.c.website_id.in_(ids), hourly.c.bucket >= since)
        .group_by(hourly.c.website_id, day)
    )
    for website_id, number, checks, failures in result:
        out.setdefault(website_id, {})[int(number)] = (int(checks or 0), int(failures or 0))
    return out
