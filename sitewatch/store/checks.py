"""Check results: batched writes, and the reads the API and dashboard need.

A batch of results is one transaction: the raw history rows, each website's
latest status, and the hourly rollups (counts and response-time sums grow by
upsert, so any number of writers can add to the same hour). Reads of uptime
and response times go to the rollups, never to the raw history, so they cost
the same whether a website has a day of history or a year.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import bulk
from sitewatch.store.tables import metadata

history = metadata.tables["check_histories"]
status = metadata.tables["website_status"]
hourly = metadata.tables["rollups_hourly"]
daily = metadata.tables["rollups_daily"]
websites = metadata.tables["websites"]
housekeeping = metadata.tables["housekeeping"]
totals = metadata.tables["uptime_totals"]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DAILY_SEALED = "rollups_daily_sealed_until"
HOURLY_SEALED = "rollups_hourly_sealed_until"
# ``uptime_totals`` hold, per window w, every hourly rollup with bucket >= mark - w.
TOTALS_FROM = "uptime_totals_window_end"

# The windows ``uptime_totals`` keeps sliding sums for, and their column suffixes.
SLIDING: dict[timedelta, str] = {
    timedelta(hours=24): "24h",
    timedelta(days=7): "7d",
    timedelta(days=30): "30d",
}
SUMS = ("checks", "failures", "timed", "sum_ms")
TOTAL_COLUMNS = tuple(f"{n}_{suffix}" for suffix in SLIDING.values() for n in SUMS)
LONGEST_WINDOW = max(SLIDING)
SHORTEST_WINDOW = min(SLIDING)

# The columns of a history row, in the form ``record`` takes (a dict per check).
HISTORY_FIELDS = tuple(c.name for c in history.c if c.name != "id")


def upsert(dialect: Dialect, table: Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` that can take ``ON CONFLICT`` on both supported databases."""
    return upsert_for(dialect.name, table)


def upsert_for(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    if dialect == "postgresql":
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
        if row["error_kind"] == "internal":
            continue  # sitewatch could not check: no measure of the website's uptime
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


def per_website(increments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Increments summed per website, over whichever hours they are of."""
    out: dict[int, dict[str, Any]] = {}
    for inc in increments:
        row = out.get(inc["website_id"])
        if row is None:
            out[inc["website_id"]] = {"website_id": inc["website_id"]} | {n: inc[n] for n in SUMS}
        else:
            for n in SUMS:
                row[n] += inc[n]
    return list(out.values())


def window_totals(
    increments: Iterable[Mapping[str, Any]], window_end: datetime
) -> list[dict[str, Any]]:
    """What increments add to each sliding window that still holds their hour.

    Every window takes an increment whose hour is ``>= window_end - w``; an older
    hour (a result that arrives days late) has left the shorter windows already.
    """
    out: dict[int, dict[str, Any]] = {}
    for inc in increments:
        bucket = inc["bucket"]
        for window, suffix in SLIDING.items():
            if bucket < window_end - window:
                continue
            row = out.get(inc["website_id"])
            if row is None:
                row = out[inc["website_id"]] = dict.fromkeys(TOTAL_COLUMNS, 0)
                row["website_id"] = inc["website_id"]
            for name in SUMS:
                row[f"{name}_{suffix}"] += inc[name]
    return list(out.values())


def add_to_totals(dialect: Dialect) -> Any:
    """Upsert that adds a row of per-window sums to a website's sliding totals."""
    return _add_to_totals(dialect.name)


# Statements are built once per dialect: building SQLAlchemy constructs costs
# milliseconds of CPU, and ``record`` runs on the event loop that times probes.
@functools.cache
def _add_to_totals(dialect: str) -> Any:
    stmt = upsert_for(dialect, totals)
    return stmt.on_conflict_do_update(
        index_elements=[totals.c.website_id],
        set_={c: totals.c[c] + stmt.excluded[c] for c in TOTAL_COLUMNS},
    )


@functools.cache
def _add_to_every_window(dialect: str) -> Any:
    """The common case: an increment of a recent hour counts in every window
    (four parameters per row instead of twelve)."""
    values = {
        f"{n}_{suffix}": bindparam(n, type_=totals.c[f"{n}_{suffix}"].type)
        for suffix in SLIDING.values()
        for n in SUMS
    }
    stmt = upsert_for(dialect, totals).values(website_id=bindparam("website_id"), **values)
    return stmt.on_conflict_do_update(
        index_elements=[totals.c.website_id],
        set_={c: totals.c[c] + stmt.excluded[c] for c in TOTAL_COLUMNS},
    )


@functools.cache
def _status_upsert(dialect: str) -> Any:
    new = upsert_for(dialect, status).excluded
    same = status.c.state == new.state
    return upsert_for(dialect, status).on_conflict_do_update(
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


@functools.cache
def _rollup_upsert(dialect: str) -> Any:
    add = upsert_for(dialect, hourly).excluded
    return upsert_for(dialect, hourly).on_conflict_do_update(
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


def state_of(row: Mapping[str, Any]) -> str:
    """up, down, or unknown when sitewatch itself could not check (kind internal)."""
    if row["ok"]:
        return "up"
    return "unknown" if row["error_kind"] == "internal" else "down"


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
                "state": state_of(row),
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
    increments = hourly_increments(rows)
    if dialect.name == "postgresql":
        await bulk.insert_history(conn, rows)
        for round_rows in status_rounds(rows):
            await bulk.upsert_status(conn, round_rows)
        await bulk.upsert_rollups(conn, increments)
    else:
        await conn.execute(history.insert(), list(rows))
        status_stmt = _status_upsert(dialect.name)
        for round_rows in status_rounds(rows):
            await conn.execute(status_stmt, round_rows)
        await conn.execute(_rollup_upsert(dialect.name), increments)
    # Read the mark after the upserts, share-locked: moving the windows on (which
    # locks it for update) then either sees these increments or went first.
    window_end = await get_mark(conn, TOTALS_FROM, lock="share")
    if window_end is None:
        return  # totals not started yet: starting them sums the rollups
    recent = window_end - SHORTEST_WINDOW
    if all(inc["bucket"] >= recent for inc in increments):
        if dialect.name == "postgresql":
            # One row per website: a batch can span two hours of one website.
            await bulk.add_to_every_window(conn, per_website(increments), list(SLIDING.values()))
        else:
            await conn.execute(_add_to_every_window(dialect.name), increments)
    else:
        await conn.execute(add_to_totals(dialect), window_totals(increments, window_end))


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
    tags: tuple[str, ...] = ()
    interval_seconds: float = 0.0
    archived_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusFilter:
    """Which websites a status listing returns (all of them by default)."""

    key: str | None = None
    state: str | None = None  # up | down | unknown
    active: bool | None = None
    tag: str | None = None
    search: str | None = None  # in the name, key or URL, any case
    archived: bool = False  # the deleted websites instead of those in the config


def _status_where(conn: AsyncConnection, f: StatusFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        websites.c.archived_at.is_not(None) if f.archived else websites.c.archived_at.is_(None)
    ]
    if f.key is not None:
        where.append(websites.c.key == f.key)
    if f.state == "unknown":
        where.append(status.c.state.is_(None))
    elif f.state is not None:
        where.append(status.c.state == f.state)
    if f.active is not None:
        where.append(websites.c.active.is_(f.active))
    if f.tag is not None:
        if conn.dialect.name == "postgresql":
            tags = type_coerce(websites.c.tags, postgresql.JSONB)
            where.append(tags.contains([f.tag]))
        else:
            each = func.json_each(websites.c.tags).table_valued("value")
            where.append(select(each.c.value).where(each.c.value == f.tag).exists())
    if f.search:
        needle = (
            "%"
            + f.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        where.append(
            or_(
                *(
                    func.lower(column).like(needle, escape="\\")
                    for column in (websites.c.name, websites.c.key, websites.c.url)
                )
            )
        )
    return where


async def current_status(
    conn: AsyncConnection,
    key: str | None = None,
    *,
    where: StatusFilter | None = None,
    limit: int | None = None,
    offset: int = 0,
    attention_first: bool = False,
    sort: SortOrder | None = None,
) -> list[WebsiteStatus]:
    """Websites in the config (not archived), with their latest check, in natural
    order of their names; filtered and paged in the database. ``attention_first``
    puts the active websites that are down first, then those never checked, then
    paused ones; ``sort`` orders by a column instead."""
    f = where or StatusFilter(key=key)
    order: list[ColumnElement[Any]] = [websites.c.sort_key, websites.c.key]
    joined = websites.outerjoin(status, status.c.website_id == websites.c.id)
    if sort is not None:
        column, joined = _sort_column(sort.column, joined)
        first = column.desc() if sort.descending else column.asc()
        order = [first.nulls_last(), *order]
    elif attention_first:
        rank = case(
            (websites.c.active.is_(False), 3),
            (status.c.state == "down", 0),
            (status.c.state.is_(None), 1),
            else_=2,
        )
        order.insert(0, rank)
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
            websites.c.tags,
            websites.c.interval_seconds,
            websites.c.archived_at,
            websites.c.created_at,
        )
        .select_from(joined)
        .where(*_status_where(conn, f))
        .order_by(*order)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
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
            tags=tuple(r[14] or ()),
            interval_seconds=r[15],
            archived_at=r[16],
            created_at=r[17],
        )
        for r in result
    ]


SORTABLE = ("state", "name", "url", "checked", "response", "uptime", "tags")
ARCHIVED_SORTABLE = ("name", "archived", "checked")


@dataclass(frozen=True, slots=True)
class SortOrder:
    """A listing ordered by one of ``SORTABLE``; ties in natural name order."""

    column: str
    descending: bool = False


def _sort_column(name: str, joined: Any) -> tuple[ColumnElement[Any], Any]:
    if name == "state":
        # down, then never checked, then up; paused last (as the badges read)
        rank = case(
            (websites.c.active.is_(False), 3),
            (status.c.state == "down", 0),
            (status.c.state.is_(None), 1),
            else_=2,
        )
        return rank, joined
    if name == "name":
        return websites.c.sort_key, joined
    if name == "archived":
        return websites.c.archived_at, joined
    if name == "url":
        return websites.c.url, joined
    if name == "checked":
        return status.c.last_checked_at, joined
    if name == "response":
        return status.c.last_response_ms, joined
    if name == "tags":
        return cast(websites.c.tags, Text), joined
    if name == "uptime":
        # the sliding 24 h totals: the share of checks that passed (none: last)
        joined = joined.outerjoin(totals, totals.c.website_id == websites.c.id)
        checks_24h = totals.c["checks_24h"]
        ratio = case(
            (checks_24h > 0, 1.0 - cast(totals.c["failures_24h"], Float) / checks_24h),
            else_=None,
        )
        return ratio, joined
    raise ValueError(f"cannot sort by {name!r}: one of {', '.join(SORTABLE)}")


async def count_status(conn: AsyncConnection, where: StatusFilter) -> int:
    query = (
        select(func.count())
        .select_from(websites.outerjoin(status, status.c.website_id == websites.c.id))
        .where(*_status_where(conn, where))
    )
    return int(await conn.scalar(query) or 0)


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


async def get_mark(conn: AsyncConnection, name: str, *, lock: str | None = None) -> datetime | None:
    """A housekeeping mark; ``lock`` "share" or "update" row-locks it (PostgreSQL)."""
    query = select(housekeeping.c.value).where(housekeeping.c.name == name)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    value = await conn.scalar(query)
    return value if isinstance(value, datetime) else None


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
    if conn.dialect.name == "postgresql":
        # The planner's estimate crosses jit_above_cost, and compiling the query
        # costs more (~50 ms) than running it.
        await conn.exec_driver_sql("SET LOCAL jit = off")
        # Two workers cost more to start and merge than the 40k-row scan takes.
        await conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    window_end = await get_mark(conn, TOTALS_FROM)
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
    spans = [(1 + k * i, 1 + k * (i + 1)) for i in range(len(windows))]
    counts = [lo for lo, _hi in spans]  # the checks column of each window
    new = tuple.__new__  # Uptime's fields straight from the row: 30,000 of them
    for row in (await conn.execute(query)).all():
        if not any(row[c] for c in counts):
            continue
        values = dict(zip(windows, [new(Uptime, row[lo:hi]) for lo, hi in spans], strict=True))
        per = out.get(row[0])
        if per is None:
            out[row[0]] = values
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
    for row in result:
        per = out.setdefault(row[0], {})
        for i, window in enumerate(starts):
            c = 1 + k * i
            part = Uptime(int(row[c]), int(row[c + 1]), int(row[c + 2]), float(row[c + 3]))
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


async def state_counts(conn: AsyncConnection) -> tuple[int, int, int, int]:
    """(websites, active, up, down): one pass over the websites and their status."""
    counts = (
        await conn.execute(
            select(
                func.count(),
                func.sum(case((websites.c.active, 1), else_=0)),
                func.sum(case((and_(websites.c.active, status.c.state == "up"), 1), else_=0)),
                func.sum(case((and_(websites.c.active, status.c.state == "down"), 1), else_=0)),
            )
            .select_from(websites.outerjoin(status, status.c.website_id == websites.c.id))
            .where(websites.c.archived_at.is_(None))
        )
    ).one()
    return int(counts[0] or 0), int(counts[1] or 0), int(counts[2] or 0), int(counts[3] or 0)


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
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET LOCAL jit = off")  # as in ``uptime``
        sub = _totals_query([day], window_end, end).subquery()
        query = (
            select(*(func.sum(c) for c in list(sub.c)[1:]))
            .select_from(sub.join(websites, websites.c.id == sub.c.id))
            .where(websites.c.archived_at.is_(None))  # a deleted website no longer counts
        )
        row = (await conn.execute(query)).one()
        return Uptime(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), float(row[3] or 0))
    live = set(
        (
            await conn.execute(select(websites.c.id).where(websites.c.archived_at.is_(None)))
        ).scalars()
    )
    sums = Uptime(0, 0)
    for website_id, per in (await uptime(conn, [day], now, ids=sorted(live))).items():
        if website_id in live:
            sums = sums.plus(per[day])
    return sums


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
