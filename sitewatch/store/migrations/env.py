"""Alembic environment: runs on the connection sitewatch hands over (see migrate.py).

For developers writing a new migration with the alembic CLI, the database comes
from ``SITEWATCH_DATABASE_URL`` (``alembic -c sitewatch/store/alembic.ini revision
--autogenerate -m "..."``).
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection

from sitewatch.store.engine import DEFAULT_DATABASE_URL, create_engine
from sitewatch.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    engine = create_engine(os.environ.get("SITEWATCH_DATABASE_URL", DEFAULT_DATABASE_URL))

    async def go() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(go())


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    _run_standalone()
