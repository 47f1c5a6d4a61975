"""Alembic, driven from code: ``sitewatch migrate`` and the upgrade at start.

No ``alembic.ini`` is needed at run time; the scripts ship inside the package.
On PostgreSQL the upgrade runs under an advisory lock, so instances starting
together do not race each other.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.store.engine import begin_write

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5173_7761_7463_6801  # "sitewatch" + 1, an arbitrary 64-bit key


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Bring the schema to ``revision``; returns the revision the database is at."""
    async with begin_write(engine) as conn:
        return await conn.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> str | None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), revision)
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The schema revision of the database, ``None`` when it was never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
