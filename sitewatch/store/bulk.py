"""PostgreSQL bulk writes of check results: one statement per table per batch.

``executemany`` sends one prepared statement per row: for a batch of 2,000
results that is 6,000 round trips through psycopg's pipeline and most of the
writer's CPU. Here each column travels as one array and ``unnest`` turns the
arrays back into rows on the server, so the client-side cost per result is a few
list appends. The statements do exactly what the portable ones in ``checks``
do (the store tests run both on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.tables import metadata

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(table: Table, column: str) -> str:
    return str(table.c[column].type.compile(dialect=_PG))


def _unnest(table: Table, columns: Sequence[str]) -> str:
    arrays = ", ".join(f"%b::{_pg_type(table, c)}[]" for c in columns)
    return f"SELECT * FROM unnest({arrays})"


_history = metadata.tables["check_histories"]
_status = metadata.tables["website_status"]
_hourly = metadata.tables["rollups_hourly"]
_totals = metadata.tables["uptime_totals"]

HISTORY_COLUMNS = tuple(c.name for c in _history.c if c.name != "id")
STATUS_COLUMNS = (
    "website_id",
    "state",
    "state_since",
    "streak",
    "last_checked_at",
    "last_status_code",
    "last_response_ms",
    "last_error_kind",
    "last_error_message",
    "cert_expires_at",
)
ROLLUP_COLUMNS = ("website_id", "bucket", "checks", "failures", "timed", "sum_ms", "max_ms")
TOTAL_SUMS = ("checks", "failures", "timed", "sum_ms")

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
    " cert_expires_at = coalesce(excluded.cert_expires_at, s.cert_expires_at)"
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
    async with raw.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        await cursor.execute(sql, params)


async def insert_history(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _execute(conn, HISTORY_SQL, columns_of(rows, HISTORY_COLUMNS))


async def upsert_status(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _execute(conn, STATUS_SQL, columns_of(rows, STATUS_COLUMNS))


async def upsert_rollups(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    await _execute(conn, ROLLUP_SQL, columns_of(rows, ROLLUP_COLUMNS))


async def add_to_every_window(
    conn: AsyncConnection, rows: Sequence[Mapping[str, Any]], suffixes: Sequence[str]
) -> None:
    """Add each increment to all the sliding windows of its website's totals."""
    sql = _totals_sql(suffixes)
    await _execute(conn, sql, columns_of(rows, ("website_id", *TOTAL_SUMS)))
