"""Revoked dashboard sessions (logout), shared by every instance on the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.tables import revoked_sessions as revoked


async def revoke(conn: AsyncConnection, sid: str, expires_at: datetime, now: datetime) -> None:
    """Refuse ``sid`` from now on; forget revocations whose cookies have expired."""
    await conn.execute(delete(revoked).where(revoked.c.expires_at < now))
    stmt = dialects.upsert(conn, revoked).values(sid=sid, expires_at=expires_at)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=[revoked.c.sid]))


async def is_revoked(conn: AsyncConnection, sid: str) -> bool:
    return bool(await conn.scalar(select(exists().where(revoked.c.sid == sid))))
