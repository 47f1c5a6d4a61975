"""PostgreSQL: bulk writes of check results (one statement per table per batch),
JSONB tags, percentile_disc, row locks that skip.

``executemany`` sends one prepared statement per row: for a batch of 2,000
results that is 6,000 round trips through psycopg's pipeline and most of the
writer's CPU. Here each column travels as one array and ``unnest`` turns the
arrays back into rows on the server, so the client-side cost per result is a few
list appends. The statements do exactly what the ones in ``sqlite.py`` do (the
store tests run both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, Table, func, select, text, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import TableValuedAlias

from sitewatch.store.dialects.columns import HISTORY_COLUMNS, ROLLUP_COLUMNS, STATUS_COLUMNS
from sitewatch.store.tables import history as _history
from sitewatch.store.tables import hourly as _hourly
from sitewatch.store.tables import status as _status
from sitewatch.store.windows import SLIDING, SUMS

NAME = "postgresql"
SKIP_LOCKED = True

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(table: Table, column: str) -> str:
    return str(table.c[column].type.compile(dialect=_PG))


def _unnest(table: Table, columns: Sequence[str]) -> str:
    arrays = ", ".join(f"%b::{_pg_type(table, c)}[]" for c in columns)
    return f"SELECT * FROM unnest({arrays})"


def insert(table: Table) -> postgresql.Insert:
    return postgresql.insert(table)


TOTAL_SUMS = SUMS

HISTORY_SQL = f"INSERT INTO check_histories ({', '.join(HISTORY_COLUMNS)}) " + _unnest(
    _history, HISTORY_COLUMNS
)
STATUS_SQL = (
    f"INSERT INTO website_status AS s ({', '.join(STATUS_COLUMNS)}) "
    + _unnest(_status, STATUS_COLUMNS)
    + " ON CONFLICT (website_id) DO UPDATE SET"
    " state = excluded.state,"
    " state_since = CASE WHEN s.state = excluded.state THEN s.state_since"
    " ELSE excluded.state_since END,"
    " streak = CASE WHEN s.state = excluded.state THEN s.streak + 1 ELSE 1 END,"
    " last_checked_at = excluded.last_checked_at,"
    " last_status_code = excluded.last_status_code,"
    " last_response_ms = excluded.last_response_ms,"
    " last_error_kind = excluded.last_error_kind,"
    " last_error_message = excluded.last_error_message,"
    " cert_expires_at = coalesce(excluded.cert_expires_at, s.cert_expires_at),"
    " last_details = excluded.last_details"
    # Results can arrive out of order (several writers): never go back in time.
    " WHERE s.last_checked_at <= excluded.last_checked_at"
)
ROLLUP_SQL = (
    f"INSERT INTO rollups_hourly AS r ({', '.join(ROLLUP_COLUMNS)}) "
    + _unnest(_hourly, ROLLUP_COLUMNS)
    + " ON CONFLICT (website_id, bucket) DO UPDATE SET"
    " checks = r.checks + excluded.checks,"
    " failures = r.failures + excluded.failures,"
    " timed = r.timed + excluded.timed,"
    " sum_ms = r.sum_ms + excluded.sum_ms,"
    " max_ms = CASE WHEN r.max_ms IS NULL THEN excluded.max_ms"
    " WHEN excluded.max_ms > r.max_ms THEN excluded.max_ms ELSE r.max_ms END"
)


def _totals_sql(suffixes: Sequence[str]) -> str:
    columns = [f"{n}_{s}" for s in suffixes for n in TOTAL_SUMS]
    spread = ", ".join(f"u.{n}" for _s in suffixes for n in TOTAL_SUMS)
    return (
        f"INSERT INTO uptime_totals AS t (website_id, {', '.join(columns)}) "
        f"SELECT u.website_id, {spread} FROM unnest(%s::integer[], %s::integer[],"
        " %s::integer[], %s::integer[], %s::double precision[])"
        f" AS u(website_id, {', '.join(TOTAL_SUMS)})"
        " ON CONFLICT (website_id) DO UPDATE SET "
        + ", ".join(f"{c} = t.{c} + excluded.{c}" for c in columns)
    )


def columns_of(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[list[Any]]:
    """Rows (dicts) to one list per column, in ``names`` order."""
    return [[row[name] for row in rows] for name in names]


async def _execute(conn: AsyncConnection, sql: str, params: list[list[Any]]) -> None:
    raw = await conn.get_raw_connection()
    # The driver's own connection, inside the transaction SQLAlchemy began.
    try:
        async with raw.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            await cursor.execute(sql, params)
    except psycopg.Error as exc:  # as SQLAlchemy would raise it
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


async def insert_history(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _execute(conn, HISTORY_SQL, columns_of(rows, HISTORY_COLUMNS))


async def upsert_status(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _execute(conn, STATUS_SQL, columns_of(rows, STATUS_COLUMNS))


async def upsert_rollups(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _execute(conn, ROLLUP_SQL, columns_of(rows, ROLLUP_COLUMNS))


def per_website(increments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Increments summed per website, over whichever hours they are of: one row
    per website, as one ``ON CONFLICT`` statement may not touch a row twice."""
    out: dict[int, dict[str, Any]] = {}
    for inc in increments:
        row = out.get(inc["website_id"])
        if row is None:
            out[inc["website_id"]] = {"website_id": inc["website_id"]} | {n: inc[n] for n in SUMS}
        else:
            for n in SUMS:
                row[n] += inc[n]
    return list(out.values())


async def add_to_every_window(
    conn: AsyncConnection, increments: Sequence[Mapping[str, Any]]
) -> None:
    """Add each increment to all the sliding windows of its website's totals."""
    sql = _totals_sql(list(SLIDING.values()))
    rows = per_website(increments)
    await _execute(conn, sql, columns_of(rows, ("website_id", *TOTAL_SUMS)))


def each_tag(tags: ColumnElement[Any]) -> TableValuedAlias:
    """A row (``value``) for each tag of a website's ``tags`` (a JSON array)."""
    return func.jsonb_array_elements_text(tags).table_valued("value")


def contains_tag(tags: ColumnElement[Any], tag: str) -> ColumnElement[bool]:
    return type_coerce(tags, postgresql.JSONB).contains([tag])


def epoch_seconds(column: Any) -> Any:
    return func.extract("epoch", column)


async def tune_for_aggregates(conn: AsyncConnection) -> None:
    """For the uptime sums over every website: the planner's estimate crosses
    jit_above_cost, and compiling the query costs more (~50 ms) than running it;
    two workers cost more to start and merge than the 40k-row scan takes."""
    await conn.exec_driver_sql("SET LOCAL jit = off")
    await conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")


async def p95_by_website(
    conn: AsyncConnection, start: datetime, end: datetime
) -> list[tuple[int, float]]:
    h = _history
    p95 = func.percentile_disc(0.95).within_group(h.c.response_time_ms)
    result = await conn.execute(
        select(h.c.website_id, p95)
        .where(h.c.checked_at >= start, h.c.checked_at < end, h.c.response_time_ms.is_not(None))
        .group_by(h.c.website_id)
    )
    return [(website_id, float(value)) for website_id, value in result]


async def hold_rollup_writers(conn: AsyncConnection) -> None:
    """Once in a database's life (starting the totals): hold result writers off
    while summing, so no increment lands between the sum and the mark."""
    await conn.exec_driver_sql("LOCK TABLE rollups_hourly IN SHARE MODE")


async def advisory_lock(conn: AsyncConnection, key: int) -> None:
    """Held until the transaction ends: instances sharing the database take turns."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
