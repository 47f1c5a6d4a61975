"""Instances sharing one PostgreSQL database: heartbeats and website leases.

Each checking instance holds a lease on the websites it checks and renews it
while it lives. A lease that is not renewed expires, and another instance takes
the website over. Claims lock the website rows with ``FOR UPDATE SKIP LOCKED``,
so two instances never claim the same website at once. The rebalances of the
instances take turns (a transaction-scoped advisory lock, held for tens of
milliseconds): one instance renewing its leases while another takes the same
rows over -- a lease that just expired -- would otherwise lock the rows in
opposite orders, and PostgreSQL would abort one of them as a deadlock (seen
with two instances of 40,000 websites each).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.checks import upsert_for
from sitewatch.store.tables import metadata

instances = metadata.tables["instances"]
leases = metadata.tables["website_leases"]
websites = metadata.tables["websites"]
CHECKING_ROLES = ("all", "checker")
LEASE_LOCK = 0x5173_7761_7463_6803  # beside MIGRATION_LOCK and RECONCILE_LOCK


async def beat(conn: AsyncConnection, row: Mapping[str, Any]) -> None:
    """Insert or refresh this instance's row (id, role, version, host, started_at,
    heartbeat_at, websites, checks_total)."""
    insert = upsert_for(conn.dialect.name, instances).values(**row)
    changing = {k: insert.excluded[k] for k in ("heartbeat_at", "websites", "checks_total")}
    await conn.execute(insert.on_conflict_do_update(index_elements=["id"], set_=changing))


async def live(conn: AsyncConnection, since: datetime) -> list[dict[str, Any]]:
    """Instances whose heartbeat is not older than ``since``, oldest first."""
    query = select(instances).where(instances.c.heartbeat_at >= since)
    return [dict(r._mapping) for r in await conn.execute(query.order_by(instances.c.started_at))]


async def forget(conn: AsyncConnection, before: datetime) -> None:
    """Instances silent since ``before`` are gone: their rows go."""
    await conn.execute(delete(instances).where(instances.c.heartbeat_at < before))


async def leave(conn: AsyncConnection, instance_id: str) -> None:
    """A clean shutdown: hand the websites back at once, not at lease expiry."""
    await conn.execute(delete(leases).where(leases.c.holder == instance_id))
    await conn.execute(delete(instances).where(instances.c.id == instance_id))


def _checkable() -> Any:
    return and_(websites.c.archived_at.is_(None), websites.c.active)


async def rebalance(
    conn: AsyncConnection, me: str, now: datetime, ttl: timedelta, checkers: int
) -> set[int]:
    """Renew this instance's leases, hand back what is above its fair share,
    claim free or expired websites up to it; the ids of the websites it holds.

    PostgreSQL only (SQLite is single-instance). Call in a transaction.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEASE_LOCK})
    until = now + ttl
    await conn.execute(update(leases).where(leases.c.holder == me).values(expires_at=until))
    gone = select(websites.c.id).where(_checkable())
    await conn.execute(
        delete(leases).where(leases.c.holder == me, leases.c.website_id.not_in(gone))
    )
    total = int(
        await conn.scalar(select(func.count()).select_from(websites).where(_checkable())) or 0
    )
    share = math.ceil(total / max(checkers, 1))
    mine = sorted(
        r[0] for r in await conn.execute(select(leases.c.website_id).where(leases.c.holder == me))
    )
    if len(mine) > share:
        # One array parameter, however many (a list would hit 65,535 parameters).
        await conn.execute(
            text("DELETE FROM website_leases WHERE holder = :me AND website_id = ANY(:ids)"),
            {"me": me, "ids": mine[share:]},
        )
        return set(mine[:share])
    need = share - len(mine)
    if need > 0:
        free = (
            select(websites.c.id)
            .select_from(websites.outerjoin(leases, leases.c.website_id == websites.c.id))
            .where(_checkable(), or_(leases.c.website_id.is_(None), leases.c.expires_at < now))
            .order_by(websites.c.id)
            .limit(need)
            .with_for_update(of=websites, skip_locked=True)
        )
        claimed = [r[0] for r in await conn.execute(free)]
        if claimed:
            taken = await conn.execute(
                text(
                    "INSERT INTO website_leases (website_id, holder, expires_at)"
                    " SELECT unnest(CAST(:ids AS integer[])), :me, :until"
                    " ON CONFLICT (website_id) DO UPDATE"
                    " SET holder = excluded.holder, expires_at = excluded.expires_at"
                    " WHERE website_leases.expires_at < :now"  # taken meanwhile: leave it
                    " RETURNING website_id"
                ),
                {"ids": claimed, "me": me, "until": until, "now": now},
            )
            return {*mine, *(r[0] for r in taken)}
    return set(mine)
