"""Each website's latest status, listings of them, and its checks, page by page."""

from __future__ import annotations

import json
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, Float, Text, case, cast, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.tables import archived, history, in_config, status, totals, websites


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
    type: str = "http"
    details: str | None = None  # of the last check (JSON text): see ``last_details``

    @property
    def last_details(self) -> dict[str, Any] | None:
        """What the last check's type found (a certificate, a DNS answer, round trips)."""
        if not self.details:
            return None
        value = json.loads(self.details)
        return value if isinstance(value, dict) else None

    def __post_init__(self) -> None:
        if not isinstance(self.tags, tuple):  # a JSON list from the database
            object.__setattr__(self, "tags", tuple(self.tags or ()))


# What ``current_status`` selects: exactly ``WebsiteStatus``'s fields, in order.
_STATUS_COLUMNS: tuple[ColumnElement[Any], ...] = (
    websites.c.id.label("website_id"),
    websites.c.key,
    websites.c.name,
    websites.c.url,
    websites.c.active,
    func.coalesce(status.c.state, "unknown").label("state"),
    status.c.state_since,
    func.coalesce(status.c.streak, 0).label("streak"),
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
    websites.c.type,
    status.c.last_details.label("details"),
)
assert [c.name for c in _STATUS_COLUMNS] == list(WebsiteStatus.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class StatusFilter:
    """Which websites a status listing returns (all of them by default)."""

    key: str | None = None
    state: str | None = None  # up | down | unknown
    active: bool | None = None
    tag: str | None = None
    search: str | None = None  # in the name, key or URL, any case
    archived: bool = False  # the deleted websites instead of those in the config
    # Only these keys, and those with any of these tags (a status page's websites).
    members: tuple[frozenset[str], frozenset[str]] | None = None
    type: str | None = None  # only checks of this type (http, tcp, tls, dns, icmp, heartbeat)


def _status_where(conn: AsyncConnection, f: StatusFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [archived(websites) if f.archived else in_config(websites)]
    if f.key is not None:
        where.append(websites.c.key == f.key)
    if f.state == "unknown":
        where.append(status.c.state.is_(None))
    elif f.state is not None:
        where.append(status.c.state == f.state)
    if f.active is not None:
        where.append(websites.c.active.is_(f.active))
    if f.tag is not None:
        where.append(dialects.of(conn).contains_tag(websites.c.tags, f.tag))
    if f.type is not None:
        where.append(websites.c.type == f.type)
    if f.members is not None:
        keys, tags = f.members
        anyof: list[ColumnElement[bool]] = [websites.c.key.in_(sorted(keys))] if keys else []
        anyof += [dialects.of(conn).contains_tag(websites.c.tags, t) for t in sorted(tags)]
        where.append(or_(*anyof) if anyof else false())
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
        select(*_STATUS_COLUMNS)
        .select_from(joined)
        .where(*_status_where(conn, f))
        .order_by(*order)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    result = await conn.execute(query)
    # The columns are the record's fields in order (``_STATUS_COLUMNS``): each row
    # unpacks into one, with no per-column look-up (10,000 rows on a page).
    return [WebsiteStatus(*row) for row in result]


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


class CheckRow(TypedDict):
    """One check as stored in ``check_histories``."""

    id: int
    website_id: int
    checked_at: datetime
    ok: bool
    status_code: int | None
    response_time_ms: float | None
    error_kind: str | None
    error_message: str | None
    dns_ms: float | None
    connect_ms: float | None
    tls_ms: float | None
    first_byte_ms: float | None
    size_bytes: int | None
    final_url: str | None
    cert_expires_at: datetime | None
    details: dict[str, Any] | None  # what the check's type found (stored as JSON text)


async def history_page(
    conn: AsyncConnection,
    website_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[CheckRow]:
    """Checks of one website, newest first; ``before_id`` continues a previous page."""
    query = select(*(history.c[name] for name in CheckRow.__annotations__)).where(
        history.c.website_id == website_id
    )
    if start is not None:
        query = query.where(history.c.checked_at >= start)
    if end is not None:
        query = query.where(history.c.checked_at < end)
    if before_id is not None:
        query = query.where(history.c.id < before_id)
    query = query.order_by(history.c.checked_at.desc(), history.c.id.desc()).limit(limit)
    result = await conn.execute(query)
    rows = [dict(r) for r in result.mappings()]
    for row in rows:
        row["details"] = json.loads(row["details"]) if row["details"] else None
    return [typing.cast(CheckRow, row) for row in rows]


@dataclass(frozen=True, slots=True)
class LastCheck:
    """A website's last check, as the scheduler needs it after a start."""

    ok: bool  # its retry_interval applies while it fails
    checked_at: datetime  # a slot missed since (while sitewatch was down) runs at once


async def last_checks(
    conn: AsyncConnection, ids: Sequence[int] | None = None
) -> dict[int, LastCheck]:
    """website id -> its last check, for the websites ``ids`` (None: all) checked
    at least once; a few added to a large fleet cost a few rows, not all of them."""
    query = select(status.c.website_id, status.c.state, status.c.last_checked_at)
    chunks = [None] if ids is None else [ids[i : i + 1000] for i in range(0, len(ids), 1000)]
    out: dict[int, LastCheck] = {}
    for chunk in chunks:
        where = query if chunk is None else query.where(status.c.website_id.in_(list(chunk)))
        for website_id, state, checked_at in (await conn.execute(where)).all():
            out[website_id] = LastCheck(state == "up", checked_at)
    return out
