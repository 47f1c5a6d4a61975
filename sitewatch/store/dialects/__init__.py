"""What differs between PostgreSQL and SQLite, side by side, one module per database.

Shared query code asks ``of(conn)`` for its database's module instead of
branching on the dialect's name; both modules provide the ``Dialect`` interface,
and the store tests run every query on both.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql as pg_sql
from sqlalchemy.dialects import sqlite as sqlite_sql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import TableValuedAlias

from sitewatch.store.dialects import postgresql, sqlite  # each provides ``Dialect``
from sitewatch.store.tables import totals
from sitewatch.store.windows import TOTAL_COLUMNS

Rows = Sequence[Mapping[str, Any]]


class Dialect(Protocol):
    """The database-specific half of the store (``postgresql.py``, ``sqlite.py``)."""

    NAME: str
    SKIP_LOCKED: bool  # rows another transaction holds can be skipped, not waited for

    def insert(self, table: Table) -> pg_sql.Insert | sqlite_sql.Insert: ...

    async def insert_history(self, conn: AsyncConnection, rows: Rows) -> None: ...

    async def upsert_status(self, conn: AsyncConnection, rows: Rows) -> None: ...

    async def upsert_rollups(self, conn: AsyncConnection, rows: Rows) -> None: ...

    async def add_to_every_window(self, conn: AsyncConnection, increments: Rows) -> None: ...

    def each_tag(self, tags: ColumnElement[Any]) -> TableValuedAlias: ...

    def contains_tag(self, tags: ColumnElement[Any], tag: str) -> ColumnElement[bool]: ...

    def epoch_seconds(self, column: Any) -> Any: ...

    async def tune_for_aggregates(self, conn: AsyncConnection) -> None: ...

    async def p95_by_website(
        self, conn: AsyncConnection, start: datetime, end: datetime
    ) -> list[tuple[int, float]]: ...

    async def hold_rollup_writers(self, conn: AsyncConnection) -> None: ...

    async def advisory_lock(self, conn: AsyncConnection, key: int) -> None: ...


def of(conn: AsyncConnection) -> Dialect:
    """The module for this connection's database."""
    return named(conn.dialect.name)


def named(name: str) -> Dialect:
    return postgresql if name == "postgresql" else sqlite


def upsert(conn: AsyncConnection, table: Table) -> pg_sql.Insert | sqlite_sql.Insert:
    """``INSERT`` that can take ``ON CONFLICT`` on both supported databases."""
    return of(conn).insert(table)


@functools.cache
def add_to_totals(name: str) -> Any:
    """Upsert that adds a row of per-window sums to a website's sliding totals.
    Statements are built once per database: building SQLAlchemy constructs costs
    milliseconds of CPU, and result writes run on the event loop that times probes."""
    stmt = named(name).insert(totals)
    return stmt.on_conflict_do_update(
        index_elements=[totals.c.website_id],
        set_={c: totals.c[c] + stmt.excluded[c] for c in TOTAL_COLUMNS},
    )
