"""The dashboard header's counts: how many websites, how many up and down, and
the last 24 hours of all of them together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.marks import get_mark
from sitewatch.store.tables import in_config, status, websites
from sitewatch.store.uptime import Uptime, _totals_query, uptime
from sitewatch.store.windows import HOUR, SHORTEST_WINDOW, SUMS, TOTALS_FROM, floor_hour


@dataclass(frozen=True, slots=True)
class Summary:
    websites: int
    active: int
    up: int
    down: int
    unknown: int
    checks_24h: int
    failures_24h: int
    mean_response_ms_24h: float | None

    @property
    def uptime_24h(self) -> float | None:
        return Uptime(self.checks_24h, self.failures_24h).ratio


class StateCounts(NamedTuple):
    websites: int
    active: int
    up: int
    down: int


async def state_counts(conn: AsyncConnection) -> StateCounts:
    """(websites, active, up, down): one pass over the websites and their status."""
    counts = (
        (
            await conn.execute(
                select(
                    func.count().label("websites"),
                    func.sum(case((websites.c.active, 1), else_=0)).label("active"),
                    func.sum(
                        case((and_(websites.c.active, status.c.state == "up"), 1), else_=0)
                    ).label("up"),
                    func.sum(
                        case((and_(websites.c.active, status.c.state == "down"), 1), else_=0)
                    ).label("down"),
                )
                .select_from(websites.outerjoin(status, status.c.website_id == websites.c.id))
                .where(in_config(websites))
            )
        )
        .mappings()
        .one()
    )
    return StateCounts(*(int(counts[n] or 0) for n in StateCounts._fields))


async def summary(conn: AsyncConnection, now: datetime | None = None) -> Summary:
    """Counts for a dashboard header: how many websites, how many up and down."""
    now = now or datetime.now(UTC)
    total, active, up, down = await state_counts(conn)
    sums = await _uptime_of_all(conn, now)
    return Summary(
        websites=total,
        active=active,
        up=up,
        down=down,
        unknown=active - up - down,
        checks_24h=sums.checks,
        failures_24h=sums.failures,
        mean_response_ms_24h=sums.mean_ms,
    )


async def _uptime_of_all(conn: AsyncConnection, now: datetime) -> Uptime:
    """The last 24 hours of every website together, summed in the database when
    the sliding totals are current (the usual case), else from ``uptime``."""
    day = timedelta(hours=24)
    end = floor_hour(now) + HOUR
    window_end = await get_mark(conn, TOTALS_FROM)
    if window_end is not None and end - SHORTEST_WINDOW < window_end <= end:
        await dialects.of(conn).tune_for_aggregates(conn)  # as in ``uptime``
        sub = _totals_query([day], window_end, end).subquery()
        query = (
            select(*(func.sum(c).label(n) for c, n in zip(list(sub.c)[1:], SUMS, strict=True)))
            .select_from(sub.join(websites, websites.c.id == sub.c.id))
            .where(in_config(websites))  # a deleted website no longer counts
        )
        row = (await conn.execute(query)).mappings().one()
        return Uptime(
            int(row["checks"] or 0),
            int(row["failures"] or 0),
            int(row["timed"] or 0),
            float(row["sum_ms"] or 0),
        )
    live = set((await conn.execute(select(websites.c.id).where(in_config(websites)))).scalars())
    sums = Uptime(0, 0)
    for website_id, per in (await uptime(conn, [day], now, ids=sorted(live))).items():
        if website_id in live:
            sums = sums.plus(per[day])
    return sums
