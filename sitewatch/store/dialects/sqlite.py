"""SQLite (the embedded default): result writes as prepared statements run per row
(``executemany``, cheap in-process), tags through ``json_each``, percentiles in
Python. Each statement does what its PostgreSQL twin in ``postgresql.py`` does.

The result writes skip SQLAlchemy's per-row parameter handling, which cost the
event loop about 10 µs per row and statement (four statements a check: a sixth
of the loop's time at capacity, ``bench/checker.py --backend sqlite``): each
statement is compiled once, rows become parameter lists through the same bind
processors SQLAlchemy applies, and the driver runs them in its thread.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, case, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import TableValuedAlias

from sitewatch.store.dialects.columns import HISTORY_COLUMNS, ROLLUP_COLUMNS, STATUS_COLUMNS
from sitewatch.store.tables import history, hourly, status, totals
from sitewatch.store.windows import SLIDING, SUMS, TOTAL_COLUMNS

NAME = "sqlite"
SKIP_LOCKED = False  # one writer at a time: nothing to skip


def insert(table: Table) -> sqlite.Insert:
    return sqlite.insert(table)


# Statements are built once: building SQLAlchemy constructs costs milliseconds of
# CPU, and result writes run on the event loop that times probes.
@functools.cache
def _status_upsert() -> Any:
    new = sqlite.insert(status).excluded
    same = status.c.state == new.state
    return sqlite.insert(status).on_conflict_do_update(
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
            "last_details": new.last_details,
        },
        # Results can arrive out of order (several writers): never go back in time.
        where=status.c.last_checked_at <= new.last_checked_at,
    )


@functools.cache
def _rollup_upsert() -> Any:
    add = sqlite.insert(hourly).excluded
    return sqlite.insert(hourly).on_conflict_do_update(
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


@functools.cache
def _add_to_every_window() -> Any:
    """An increment of a recent hour counts in every window (four parameters per
    row instead of twelve)."""
    values = {
        f"{n}_{suffix}": bindparam(n, type_=totals.c[f"{n}_{suffix}"].type)
        for suffix in SLIDING.values()
        for n in SUMS
    }
    stmt = sqlite.insert(totals).values(website_id=bindparam("website_id"), **values)
    return stmt.on_conflict_do_update(
        index_elements=[totals.c.website_id],
        set_={c: totals.c[c] + stmt.excluded[c] for c in TOTAL_COLUMNS},
    )


_DIALECT = sqlite.dialect()


class Many:
    """A statement compiled once, run with ``executemany`` on the driver's own
    connection (inside the transaction SQLAlchemy began) for rows given as
    dicts with ``keys``. Parameters go through the bind processors SQLAlchemy
    would apply (dates to its text form, booleans to integers), so the stored
    values are the same as ``conn.execute(statement, rows)`` stores."""

    def __init__(self, statement: Any, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=_DIALECT, column_keys=list(keys))
        self.sql = str(compiled)
        names: list[str] = list(compiled.positiontup or ())
        wanted = set(keys)
        self.constants: list[tuple[int, Any]] = []  # literals of the statement itself
        taken: list[str] = []
        self.processors: list[tuple[int, Callable[[Any], Any]]] = []
        for position, name in enumerate(names):
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
            if name not in wanted:
                value = bind.effective_value
                self.constants.append((position, process(value) if process else value))
                continue
            if process is not None:
                self.processors.append((len(taken), process))
            taken.append(name)
        self._get: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _getter(taken)

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        get, processors, constants = self._get, self.processors, self.constants
        out: list[list[Any]] = []
        for row in rows:
            values = list(get(row))
            for i, process in processors:
                value = values[i]
                if value is not None:
                    values[i] = process(value)
            for position, value in constants:
                values.insert(position, value)
            out.append(values)
        return out

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        params = self.params(rows)
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection  # aiosqlite's connection
        try:
            cursor = await driver.executemany(self.sql, params)
            await cursor.close()
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it
            raise DBAPIError.instance(self.sql, None, exc, sqlite3.Error) from exc


def _getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(names) == 1:
        one = itemgetter(names[0])
        return lambda row: (one(row),)
    return itemgetter(*names)


_STATEMENTS: dict[str, tuple[Callable[[], Any], Sequence[str]]] = {
    "history": (history.insert, HISTORY_COLUMNS),
    "status": (_status_upsert, STATUS_COLUMNS),
    "rollups": (_rollup_upsert, ROLLUP_COLUMNS),
    "totals": (_add_to_every_window, ("website_id", *SUMS)),
}


@functools.cache
def _many(name: str) -> Many:
    """Compiled at first use, once per process."""
    build, keys = _STATEMENTS[name]
    return Many(build(), keys)


async def insert_history(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _many("history").run(conn, rows)


async def upsert_status(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _many("status").run(conn, rows)


async def upsert_rollups(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _many("rollups").run(conn, rows)


async def add_to_every_window(
    conn: AsyncConnection, increments: Sequence[Mapping[str, Any]]
) -> None:
    await _many("totals").run(conn, increments)


def each_tag(tags: ColumnElement[Any]) -> TableValuedAlias:
    """A row (``value``) for each tag of a website's ``tags`` (a JSON array)."""
    return func.json_each(tags).table_valued("value")


def contains_tag(tags: ColumnElement[Any], tag: str) -> ColumnElement[bool]:
    each = each_tag(tags)
    return select(each.c.value).where(each.c.value == tag).exists()


def epoch_seconds(column: Any) -> Any:
    return (func.julianday(column) - 2440587.5) * 86400.0


async def tune_for_aggregates(conn: AsyncConnection) -> None:
    """Nothing to tune: SQLite plans these queries well as they are."""


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (what PostgreSQL's ``percentile_disc`` returns)."""
    rank = max(math.ceil(q * len(sorted_values)), 1)
    return sorted_values[rank - 1]


async def p95_by_website(
    conn: AsyncConnection, start: datetime, end: datetime
) -> list[tuple[int, float]]:
    h = history
    result = await conn.execute(
        select(h.c.website_id, h.c.response_time_ms)
        .where(h.c.checked_at >= start, h.c.checked_at < end, h.c.response_time_ms.is_not(None))
        .order_by(h.c.website_id, h.c.response_time_ms)
    )
    out: list[tuple[int, float]] = []
    current: int | None = None
    values: list[float] = []
    for website_id, ms in result:
        if website_id != current:
            if values and current is not None:
                out.append((current, percentile(values, 0.95)))
            current, values = website_id, []
        values.append(ms)
    if values and current is not None:
        out.append((current, percentile(values, 0.95)))
    return out


async def hold_rollup_writers(conn: AsyncConnection) -> None:
    """Nothing to do: a SQLite write transaction (BEGIN IMMEDIATE) excludes the others."""


async def advisory_lock(conn: AsyncConnection, key: int) -> None:
    """Nothing to do: the write transaction (BEGIN IMMEDIATE) is the lock."""
