"""Progress marks of background jobs (the ``housekeeping`` table): how far sealing
and the sliding windows got, so a restart resumes where it stopped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.dialects import upsert
from sitewatch.store.tables import housekeeping


async def get_mark(conn: AsyncConnection, name: str, *, lock: str | None = None) -> datetime | None:
    """A housekeeping mark; ``lock`` "share" or "update" row-locks it (PostgreSQL)."""
    query = select(housekeeping.c.value).where(housekeeping.c.name == name)
    if lock is not None:
        query = query.with_for_update(read=lock == "share")
    value = await conn.scalar(query)
    return value if isinstance(value, datetime) else None


async def set_mark(conn: AsyncConnection, name: str, value: datetime) -> None:
    stmt = upsert(conn, housekeeping).values(name=name, value=value)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=[housekeeping.c.name], set_={"value": value})
    )
