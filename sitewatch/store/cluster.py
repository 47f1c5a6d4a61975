"""Instances sharing one PostgreSQL database: heartbeats and website leases.

Each checking instance holds a lease on the websites it checks. A lease lasts
as long as its holder's heartbeat: it is valid while the holder's row in
``instances`` was beaten within the lease period, so renewing every lease is
one row update (the heartbeat), however many websites an instance checks --
not a rewrite of every lease row, which at 80,000 websites cost PostgreSQL
16,000 row updates a second. A holder whose heartbeat lapses loses all its
leases at once, and another instance takes the websites over.

Claims lock the website rows with ``FOR UPDATE SKIP LOCKED``, so two instances
never claim the same website at once, and the rebalances of the instances take
turns (a transaction-scoped advisory lock, held for milliseconds): a hand-back
and a takeover of the same rows would otherwise lock them in opposite orders,
and PostgreSQL would abort one of them as a deadlock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.tables import in_config, instances, websites
from sitewatch.store.tables import website_leases as leases

CHECKING_ROLES = ("all", "checker")
LEASE_LOCK = 0x5173_7761_7463_6803  # beside MIGRATION_LOCK and RECONCILE_LOCK


async def beat(conn: AsyncConnection, row: Mapping[str, Any]) -> None:
    """Insert or refresh this instance's row (id, role, version, host, started_at,
    heartbeat_at, websites, checks_total); this renews its leases too."""
    insert = dialects.upsert(conn, instances).values(**row)
    changing = {k: insert.excluded[k] for k in ("heartbeat_at", "websites", "checks_total")}
    await conn.execute(insert.on_conflict_do_update(index_elements=["id"], set_=changing))


class Instance(TypedDict):
    """A running ``sitewatch serve`` as ``instances`` holds it."""

    id: str
    role: str  # all | web | checker
    version: str
    host: str
    started_at: datetime
    heartbeat_at: datetime
    websites: int  # how many it checks (holds leases for)
    checks_total: int


async def live(conn: AsyncConnection, since: datetime) -> list[Instance]:
    """Instances whose heartbeat is not older than ``since``, oldest first."""
    query = select(*(instances.c[n] for n in Instance.__annotations__)).where(
        instances.c.heartbeat_at >= since
    )
    result = await conn.execute(query.order_by(instances.c.started_at))
    return [cast(Instance, dict(r)) for r in result.mappings()]


async def forget(conn: AsyncConnection, before: datetime) -> None:
    """Instances silent since ``before`` are gone: their rows go."""
    await conn.execute(delete(instances).where(instances.c.heartbeat_at < before))


async def leave(conn: AsyncConnection, instance_id: str) -> None:
    """A clean shutdown: hand the websites back at once, not at lease expiry
    (the leases go with the instance row)."""
    await conn.execute(delete(instances).where(instances.c.id == instance_id))


def _checkable() -> Any:
    return and_(in_config(websites), websites.c.active)


async def rebalance(
    conn: AsyncConnection,
    me: str,
    now: datetime,
    ttl: timedelta,
    checkers: int,
    held: AbstractSet[int] = frozenset(),
) -> set[int]:
    """Hand back what is above this instance's fair share, claim free websites
    up to it (no lease, or a lease whose holder's heartbeat is older than
    ``ttl``); the ids of the websites it holds.

    ``held`` is what the last rebalance returned: when the database agrees
    (count and sum of the ids) and it is the fair share, nothing more is read
    -- the steady state does not fetch tens of thousands of ids a heartbeat.
    PostgreSQL only (SQLite is single-instance). Call after :func:`beat` at
    ``now``.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEASE_LOCK})
    gone = select(websites.c.id).where(_checkable())
    dropped = await conn.execute(
        delete(leases).where(leases.c.holder == me, leases.c.website_id.not_in(gone))
    )
    total = int(
        await conn.scalar(select(func.count()).select_from(websites).where(_checkable())) or 0
    )
    share = math.ceil(total / max(checkers, 1))
    if held and dropped.rowcount == 0 and len(held) == share:
        count, id_sum = (
            await conn.execute(
                select(func.count(), func.coalesce(func.sum(leases.c.website_id), 0)).where(
                    leases.c.holder == me
                )
            )
        ).one()
        if count == len(held) and id_sum == sum(held):
            return set(held)
    mine = sorted(
        (await conn.execute(select(leases.c.website_id).where(leases.c.holder == me))).scalars()
    )
    if len(mine) > share:
        # One array parameter, however many (a list would hit 65,535 parameters).
        await conn.execute(
            text("DELETE FROM website_leases WHERE holder = :me AND website_id = ANY(:ids)"),
            {"me": me, "ids": mine[share:]},
        )
        return set(mine[:share])
    need = share - len(mine)
    if need <= 0:
        return set(mine)
    cutoff = now - ttl
    holder = instances.alias("holder")
    free = (
        select(websites.c.id)
        .select_from(
            websites.outerjoin(leases, leases.c.website_id == websites.c.id).outerjoin(
                holder, and_(holder.c.id == leases.c.holder, holder.c.heartbeat_at >= cutoff)
            )
        )
        .where(_checkable(), holder.c.id.is_(None))
        .order_by(websites.c.id)
        .limit(need)
        .with_for_update(of=websites, skip_locked=True)
    )
    claimed = list((await conn.execute(free)).scalars())
    if not claimed:
        return set(mine)
    taken = await conn.execute(
        text(
            "INSERT INTO website_leases (website_id, holder)"
            " SELECT unnest(CAST(:ids AS integer[])), :me"
            " ON CONFLICT (website_id) DO UPDATE SET holder = excluded.holder"
            # Held by a live instance meanwhile: leave it.
            " WHERE NOT EXISTS (SELECT 1 FROM instances i"
            "  WHERE i.id = website_leases.holder AND i.heartbeat_at >= :cutoff)"
            " RETURNING website_id"
        ),
        {"ids": claimed, "me": me, "cutoff": cutoff},
    )
    return {*mine, *taken.scalars()}
