"""Check results: batched writes, and the reads the API and dashboard need.

A batch of results is one transaction: the raw history rows, each website's
latest status, and the hourly rollups (counts and response-time sums grow by
upsert, so any number of writers can add to the same hour). Reads of uptime
and response times go to the rollups, never to the raw history, so they cost
the same whether a website has a day of history or a year.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.tables import metadata

history = metadata.tables["check_histories"]
status = metadata.tables["website_status"]
hourly = metadata.tables["rollups_hourly"]
daily = metadata.tables["rollups_daily"]
websites = metadata.tables["websites"]
housekeeping = metadata.tables["housekeeping"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DAILY_SEALED = "rollups_daily_sealed_until"
HOURLY_SEALED = "rollups_hourly_sealed_until"

# The columns of a history row, in the form ``record`` takes (a dict per check).
HISTORY_FIELDS = tuple(c.name for c in history.c if c.name != "id")


def upsert(dialect: Dialect, table: Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` that can take ``ON CONFLICT`` on both supported databases."""
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# -- writes -------------------------------------------------------------------


@dataclass(slots=True)
class _Sum:
    checks: int = 0
    failures: int = 0
    timed: int = 0
    sum_ms: float = 0.0
    max_ms: float | None = None


def hourly_increments(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a batch adds to each (website, hour) rollup. Pure, so it is tested alone."""
    sums: dict[tuple[int, datetime], _Sum] = {}
    for row in rows:
        key = (row["website_id"], floor_hour(row["checked_at"]))
        s = sums.get(key)
        if s is None:
            s = sums[key] = _Sum()
        s.checks += 1
        if not row["ok"]:
            s.failures += 1
        ms = row["response_time_ms"]
        if ms is not None:
            s.timed += 1
            s.sum_ms += ms
            if s.max_ms is None or ms > s.max_ms:
                s.max_ms = ms
    return [
        {
            "website_id": website_id,
            "bucket": bucket,
            "checks": s.checks,
            "failures": s.failures,
            "timed": s.timed,
            "sum_ms": s.sum_ms,
            "max_ms": s.max_ms,
        }
        for (website_id, bucket), s in sums.items()
    ]


def status_rounds(rows: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """Status rows in rounds that name each website at most once, in check order,
    so one executemany never updates a row twice and streaks count every check."""
    rounds: list[list[dict[str, Any]]] = []
    seen: dict[int, int] = {}
    for row in sorted(rows, key=lambda r: r["checked_at"]):
        n = seen.get(row["website_id"], 0)
        seen[row["website_id"]] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(
            {
                "website_id": row["website_id"],
                "state": "up" if row["ok"] else "down",
                "state_since": row["checked_at"],
                "streak": 1,
                "last_checked_at": row["checked_at"],
                "last_status_code": row["status_code"],
                "last_response_ms": row["response_time_ms"],
                "last_error_kind": row["error_kind"],
                "last_error_message": row["error_message"],
                "cert_expires_at": row["cert_expires_at"],
            }
        )
    return rounds


async def record(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Store a batch of check results (history dicts with ``HISTORY_FIELDS``)."""
    if not rows:
        return
    dialect = conn.dialect
    await conn.execute(history.insert(), list(rows))
    new = upsert(dialect, status).excluded
    same = status.c.state == new.state
    status_stmt = upsert(dialect, status).on_conflict_do_update(
        index_elements=[status.c.website_id],
        set_={
            "state": new.state,
            "state_since": case((same, status.c.state_since), else_=new.state_since),
            "streak": case((same, status.c.streak + 1), else_=1),
            "last_checked_at": new.last_checked_at,
            "last_status_code": new.last_status_code,
            "last_response_ms": new.last_response_ms,
            "last_error_kind": new.last_error_kind,
            "last_error_message": new.last_error_message,
            "cert_expires_at": func.coalesce(new.cert_expires_at, status.c.cert_expires_at),
        },
        # Results can arrive out of order (several writers): never go back in time.
        where=status.c.last_checked_at <= new.last_checked_at,
    )
    for round_rows in status_rounds(rows):
        await conn.execute(status_stmt, round_rows)
    add = upsert(dialect, hourly).excluded
    rollup_stmt = upsert(dialect, hourly).on_conflict_do_update(
        index_elements=[hourly.c.website_id, hourly.c.bucket],
        set_={
            "checks": hourly.c.checks + add.checks,
            "failures": hourly.c.failures + add.failures,
            "timed": hourly.c.timed + add.timed,
            "sum_ms": hourly.c.sum_ms + add.sum_ms,
            "max_ms": case(
                (hourly.c.max_ms.is_(None), add.max_ms),
                (add.max_ms > hourly.c.max_ms, add.max_ms),
                else_=hourly.c.max_ms,
            ),
        },
    )
    await conn.execute(rollup_stmt, hourly_increments(rows))


# -- reads --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebsiteStatus:
    website_id: int
    key: str
    name: str
    url: str
    active: bool
    state: str  # up | down | unknown (never checked)
    state_since: datetime | None
    streak: int
    last_checked_at: datetime | None
    last_status_code: int | None
    last_response_ms: float | None
    last_error_kind: str | None
    last_error_message: str | None
    cert_expires_at: datetime | None


async def current_status(conn: AsyncConnection, key: str | None = None) -> list[WebsiteStatus]:
    """Every website that is in the config (not archived), with its latest check."""
    query = (
        select(
            websites.c.id,
            websites.c.key,
            websites.c.name,
            websites.c.url,
            websites.c.active,
            status.c.state,
            status.c.state_since,
            status.c.streak,
            status.c.last_checked_at,
            status.c.last_status_code,
            status.c.last_response_ms,
            status.c.last_error_kind,
            status.c.last_error_message,
            status.c.cert_expires_at,
        )
        .select_from(websites.outerjoin(status, status.c.website_id == websites.c.id))
        .where(websites.c.archived_at.is_(None))
        .order_by(websites.c.key)
    )
    if key is not None:
        query = query.where(websites.c.key == key)
    result = await conn.execute(query)
    return [
        WebsiteStatus(
            website_id=r[0],
            key=r[1],
            name=r[2],
            url=r[3],
            active=r[4],
            state=r[5] or "unknown",
            state_since=r[6],
            streak=r[7] or 0,
            last_checked_at=r[8],
            last_status_code=r[9],
            last_response_ms=r[10],
            last_error_kind=r[11],
            last_error_message=r[12],
            cert_expires_at=r[13],
        )
        for r in result
    ]


async def history_page(
    conn: AsyncConnection,
    website_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Checks of one website, newest first; ``before_id`` continues a previous page."""
    query = select(history).where(history.c.website_id == website_id)
    if start is not None:
        query = query.where(history.c.checked_at >= start)
    if end is not None:
        query = query.where(history.c.checked_at < end)
    if before_id is not None:
        query = query.where(history.c.id < before_id)
    query = query.order_by(history.c.checked_at.desc(), history.c.id.desc()).limit(limit)
    result = await conn.execute(query)
    return [dict(r._mapping) for r in result]


@dataclass(frozen=True, slots=True)
class Uptime:
    checks: int
    failures: int

    @property
    def ratio(self) -> float | None:
        """Share of passing checks, ``None`` without checks (not 100 %: unknown)."""
        return (self.checks - self.failures) / self.checks if self.checks else None


async def get_mark(conn: AsyncConnection, name: str) -> datetime | None:
    value = await conn.scalar(select(housekeeping.c.value).where(housekeeping.c.name == name))
    return value if isinstance(value, datetime) else None


async def uptime(
    conn: AsyncConnection, windows: Sequence[timedelta], now: datetime | None = None
) -> dict[int, dict[timedelta, Uptime]]:
    """Uptime of every website over each window ending now, from the rollups.

    Windows are whole hours (up to 48 h) or whole UTC days (longer), counting the
    current, unfinished hour or day: ``24h`` is this hour and the 23 before it.
    Days not yet sealed into the daily rollup are read from the hourly one.
    """
    now = now or datetime.now(UTC)
    hour = floor_hour(now)
    today = floor_day(now)
    sealed = await get_mark(conn, DAILY_SEALED) or today
    sealed = min(sealed, today)
    hourly_starts: dict[timedelta, datetime] = {}
    daily_starts: dict[timedelta, datetime] = {}
    for window in windows:
        if window <= 2 * DAY:
            hourly_starts[window] = hour - (window - HOUR)
        else:
            daily_starts[window] = today - (window - DAY)
    # A long window takes the hourly rows of the days the daily rollup lacks.
    tail = {w: max(sealed, s) for w, s in daily_starts.items()}
    parts: list[tuple[Table, dict[timedelta, datetime], datetime | None]] = []
    if hourly_starts or tail:
        parts.append((hourly, {**hourly_starts, **tail}, None))
    if daily_starts:
        parts.append((daily, daily_starts, sealed))
    out: dict[int, dict[timedelta, Uptime]] = {}
    for table, starts, until in parts:
        columns: list[Any] = [table.c.website_id]
        for start in starts.values():
            inside = table.c.bucket >= start
            columns.append(func.sum(case((inside, table.c.checks), else_=0)))
            columns.append(func.sum(case((inside, table.c.failures), else_=0)))
        condition = table.c.bucket >= min(starts.values())
        if until is not None:
            condition = and_(condition, table.c.bucket < until)
        result = await conn.execute(select(*columns).where(condition).group_by(table.c.website_id))
        for row in result:
            per = out.setdefault(row[0], {})
            for i, window in enumerate(starts):
                prev = per.get(window, Uptime(0, 0))
                per[window] = Uptime(
                    prev.checks + int(row[1 + 2 * i]), prev.failures + int(row[2 + 2 * i])
                )
    return out


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    checks: int
    failures: int
    mean_ms: float | None
    max_ms: float | None
    p95_ms: float | None  # None until the bucket is over and sealed


async def series(
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
    return [Bucket(r[0], r[1], r[2], r[4] / r[3] if r[3] else None, r[5], r[6]) for r in result]


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


async def summary(conn: AsyncConnection, now: datetime | None = None) -> Summary:
    """Counts for a dashboard header: how many websites, how many up and down."""
    now = now or datetime.now(UTC)
    live = websites.c.archived_at.is_(None)
    counts = (
        await conn.execute(
            select(
                func.count(),
                func.sum(case((websites.c.active, 1), else_=0)),
                func.sum(case((and_(websites.c.active, status.c.state == "up"), 1), else_=0)),
                func.sum(case((and_(websites.c.active, status.c.state == "down"), 1), else_=0)),
            )
            .select_from(websites.outerjoin(status, status.c.website_id == websites.c.id))
            .where(live)
        )
    ).one()
    total, active = int(counts[0] or 0), int(counts[1] or 0)
    up, down = int(counts[2] or 0), int(counts[3] or 0)
    since = floor_hour(now) - 23 * HOUR
    sums = (
        await conn.execute(
            select(
                func.sum(hourly.c.checks),
                func.sum(hourly.c.failures),
                func.sum(hourly.c.timed),
                func.sum(hourly.c.sum_ms),
            ).where(hourly.c.bucket >= since)
        )
    ).one()
    timed = int(sums[2] or 0)
    return Summary(
        websites=total,
        active=active,
        up=up,
        down=down,
        unknown=active - up - down,
        checks_24h=int(sums[0] or 0),
        failures_24h=int(sums[1] or 0),
        mean_response_ms_24h=float(sums[3]) / timed if timed else None,
    )


async def last_states(conn: AsyncConnection) -> dict[int, bool]:
    """website id -> did its last check pass (the scheduler's retry_interval needs it)."""
    result = await conn.execute(select(status.c.website_id, status.c.state))
    return {r[0]: r[1] == "up" for r in result}


@dataclass(frozen=True, slots=True)
class ActiveWebsite:
    id: int
    key: str
    spec_hash: str
    spec: dict[str, Any]


async def active_websites(conn: AsyncConnection) -> list[ActiveWebsite]:
    """The websites to check: in the config and not paused."""
    result = await conn.execute(
        select(websites.c.id, websites.c.key, websites.c.spec_hash, websites.c.spec).where(
            websites.c.archived_at.is_(None), websites.c.active
        )
    )
    return [ActiveWebsite(r[0], r[1], r[2], r[3]) for r in result]
