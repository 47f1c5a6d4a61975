"""Database URL -> async SQLAlchemy engine, with the same behaviour on both engines.

PostgreSQL (psycopg 3) is the production engine; a SQLite file (aiosqlite) is the
embedded default. SQLite gets WAL (readers never block the writer), foreign keys,
a busy timeout, and real ``BEGIN`` statements so transactions mean the same thing
as on PostgreSQL.

Every transaction that writes opens with :func:`begin_write`. On SQLite that is
``BEGIN IMMEDIATE``: a deferred transaction that reads and then writes fails at
once with "database is locked" (``SQLITE_BUSY_SNAPSHOT``, which the busy timeout
does not retry) when another connection committed in between — the checker's
batch writer commits every few hundred milliseconds, so a reconcile or an alert
transaction would lose that race now and then. Taking the write lock at ``BEGIN``
makes the second writer wait its turn instead.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sitewatch.settings import DEFAULT_DATABASE_URL

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Connection",
    "DatabaseError",
    "Engine",
    "begin_write",
    "create_engine",
    "is_sqlite",
    "normalize_url",
    "ping",
    "sqlite_path",
]

# The names the rest of sitewatch uses for the store's handles: an engine (the
# pool), one connection (and its transaction) that store functions take, and
# the error any database call can raise. Nothing outside ``store/`` imports
# SQLAlchemy; a test checks it.
Engine: TypeAlias = AsyncEngine
Connection: TypeAlias = AsyncConnection
DatabaseError = SQLAlchemyError

_WRITE = "sitewatch_write"

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}


def normalize_url(url: str) -> URL:
    """Accept plain ``postgresql://`` and ``sqlite:///`` URLs and pick the async drivers."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+psycopg"):
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use postgresql://… (psycopg 3) or sqlite:///path.db"
        )
    return parsed


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names (``None``: PostgreSQL, or SQLite in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "").expanduser()


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database; raises ``DatabaseError`` or ``OSError``."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def create_engine(url: str, *, echo: bool = False, create_file: bool = True) -> AsyncEngine:
    """The one place engines are made; called by the app factory and the CLI.

    ``create_file=False`` is for read-only commands (``plan``): a SQLite file that
    does not exist yet is read as an empty in-memory database instead of created.
    """
    parsed = normalize_url(url)
    if is_sqlite(parsed):
        database = parsed.database or ""
        if database and database != ":memory:":
            path = Path(database).expanduser()
            if not create_file and not path.exists():
                parsed = parsed.set(database=":memory:")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        parsed, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_recycle=1800
    )


def begin_write(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """``engine.begin()`` for a transaction that will write (see the module docstring)."""
    return engine.execution_options(**{_WRITE: True}).begin()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
