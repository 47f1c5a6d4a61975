"""Migrations create exactly the tables the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.store.engine import create_engine
from sitewatch.store.migrate import current_revision, head_revision, upgrade
from sitewatch.store.tables import metadata


async def test_head_matches_the_models(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), metadata
            )
        )
    assert diff == []


async def test_downgrade_and_upgrade_again(engine: AsyncEngine) -> None:
    await upgrade_to(engine, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}
    assert await upgrade(engine) == head_revision()


async def upgrade_to(engine: AsyncEngine, revision: str) -> None:
    from alembic import command

    from sitewatch.store.migrate import alembic_config

    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def test_upgrade_is_idempotent(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await upgrade(engine) == head_revision()
        assert await upgrade(engine) == head_revision()
    finally:
        await engine.dispose()
