"""Website leases and outbox claims on a real PostgreSQL: fair shares, no
website held twice, expired leases taken over, surplus handed back, and an
outbox row claimed by one transaction only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from sitewatch.store import alerting, tables
from sitewatch.store import cluster as store
from sitewatch.store.migrate import upgrade
from tests.store.test_checks import add_websites

T = datetime(2026, 11, 28, 12, tzinfo=UTC)
TTL = timedelta(seconds=15)


@pytest.fixture
async def pg(postgres_url: str) -> AsyncEngine:
    engine = create_async_engine(postgres_url)
    await upgrade(engine)
    return engine


async def _rebalance(
    engine: AsyncEngine, me: str, now: datetime, checkers: int, held: set[int] | None = None
) -> set[int]:
    """One instance's round at ``now``: its heartbeat, then its leases."""
    async with engine.begin() as conn:
        await store.beat(conn, _row(me, now))
        return await store.rebalance(conn, me, now, TTL, checkers, held or set())


def _row(me: str, now: datetime) -> dict[str, object]:
    return {
        "id": me,
        "role": "checker",
        "version": "test",
        "host": "test",
        "started_at": T,
        "heartbeat_at": now,
        "websites": 0,
        "checks_total": 0,
    }


@pytest.mark.postgres
async def test_fair_shares_takeover_and_handing_back(pg: AsyncEngine) -> None:
    ids = set((await add_websites(pg, *(f"w{i}" for i in range(10)))).values())
    a = await _rebalance(pg, "a", T, 1)
    assert a == ids  # alone: everything
    b = await _rebalance(pg, "b", T, 2)
    assert b == set()  # all held and not expired: nothing free yet
    a = await _rebalance(pg, "a", T + timedelta(seconds=5), 2)
    assert len(a) == 5  # a sees two checkers: hands the surplus back
    b = await _rebalance(pg, "b", T + timedelta(seconds=6), 2)
    assert len(b) == 5 and not a & b and a | b == ids
    # b dies: its leases expire; a takes everything over, not before.
    a = await _rebalance(pg, "a", T + timedelta(seconds=10), 1)
    assert len(a) == 5
    a = await _rebalance(pg, "a", T + timedelta(seconds=22), 1)
    assert a == ids
    async with pg.connect() as conn:
        holders = (await conn.execute(select(store.leases.c.holder))).scalars().all()
    assert set(holders) == {"a"} and len(holders) == 10
    await pg.dispose()


@pytest.mark.postgres
async def test_the_heartbeat_renews_the_leases_without_rewriting_them(pg: AsyncEngine) -> None:
    """Steady state costs one row update an instance, not one per website; a
    clean stop hands every website back at once."""
    ids = set((await add_websites(pg, *(f"w{i}" for i in range(10)))).values())
    assert await _rebalance(pg, "a", T, 1) == ids

    async def versions() -> dict[int, str]:
        async with pg.connect() as conn:
            rows = await conn.execute(text("SELECT website_id, xmin::text FROM website_leases"))
            return {r[0]: r[1] for r in rows}

    before = await versions()
    for beat in range(1, 10):  # 45 s of heartbeats: three lease periods
        assert await _rebalance(pg, "a", T + beat * TTL / 3, 1) == ids
    assert await versions() == before  # no lease row written again
    assert await _rebalance(pg, "a", T + 3 * TTL, 1, ids) == ids  # the steady state
    assert await _rebalance(pg, "b", T + 3 * TTL, 2) == set()  # a is alive: nothing free
    async with pg.begin() as conn:
        await store.leave(conn, "a")
    assert await versions() == {}
    assert await _rebalance(pg, "b", T + 3 * TTL + timedelta(seconds=1), 1) == ids
    await pg.dispose()


@pytest.mark.postgres
async def test_an_instance_learns_what_it_lost_while_silent(pg: AsyncEngine) -> None:
    """``held`` (what the last rebalance returned) is trusted only while the
    database agrees: leases taken over while the instance was silent are gone."""
    ids = set((await add_websites(pg, *(f"w{i}" for i in range(10)))).values())
    a = await _rebalance(pg, "a", T, 1)
    b = await _rebalance(pg, "b", T, 2)
    a = await _rebalance(pg, "a", T + timedelta(seconds=5), 2, a)
    b = await _rebalance(pg, "b", T + timedelta(seconds=6), 2, b)
    assert len(a) == len(b) == 5
    # a falls silent for longer than the lease; b, alone, takes everything.
    b = await _rebalance(pg, "b", T + timedelta(seconds=25), 1, b)
    assert b == ids
    # a is back; b is alive and holds them all: a must not go on checking its five.
    assert await _rebalance(pg, "a", T + timedelta(seconds=26), 2, a) == set()
    await pg.dispose()


@pytest.mark.postgres
async def test_concurrent_claims_never_overlap(pg: AsyncEngine) -> None:
    ids = set((await add_websites(pg, *(f"w{i}" for i in range(60)))).values())
    held = await asyncio.gather(*(_rebalance(pg, f"i{n}", T, 3) for n in range(3)))
    assert sum(len(h) for h in held) <= 60
    assert not (held[0] & held[1]) and not (held[0] & held[2]) and not (held[1] & held[2])
    held = await asyncio.gather(*(_rebalance(pg, f"i{n}", T + TTL / 3, 3) for n in range(3)))
    assert set().union(*held) == ids and all(len(h) == 20 for h in held)
    await pg.dispose()


@pytest.mark.postgres
async def test_an_outbox_row_is_claimed_once(pg: AsyncEngine) -> None:
    (website,) = (await add_websites(pg, "shop")).values()
    async with pg.begin() as conn:
        alert_id = (
            await conn.execute(
                insert(tables.alerts)
                .values(
                    key="hook",
                    type="webhook",
                    enabled=True,
                    spec={},
                    spec_hash="x",
                    source_file="alerts.yaml",
                    created_at=T,
                    updated_at=T,
                )
                .returning(tables.alerts.c.id)
            )
        ).scalar_one()
        await alerting.enqueue(
            conn,
            [
                {
                    "event_id": "e1",
                    "alert_id": alert_id,
                    "website_id": website,
                    "incident_id": None,
                    "kind": "down",
                    "payload": {},
                    "created_at": T,
                    "next_attempt_at": T,
                    "deadline_at": T + timedelta(hours=1),
                },
            ],
        )
    first = await pg.connect()
    await first.begin()
    claimed = await alerting.claim_due(first, T, timedelta(seconds=60))
    assert [r["event_id"] for r in claimed] == ["e1"]
    async with pg.begin() as other:  # while the first transaction holds it
        assert await alerting.claim_due(other, T, timedelta(seconds=60)) == []
    await first.commit()
    await first.close()
    async with pg.begin() as later:  # set aside for the sender: not due again yet
        assert (
            await alerting.claim_due(later, T + timedelta(seconds=30), timedelta(seconds=60)) == []
        )
        assert (
            len(await alerting.claim_due(later, T + timedelta(seconds=61), timedelta(seconds=60)))
            == 1
        )
    await pg.dispose()


@pytest.mark.postgres
async def test_claiming_more_websites_than_a_statement_has_parameters(pg: AsyncEngine) -> None:
    """70,000 websites in one claim (a VALUES list would need 210,000 parameters)."""
    async with pg.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO websites (key, name, url, active, interval_seconds, tags, spec,"
                " spec_hash, source_file, created_at, updated_at) SELECT 'w' || i, 'W' || i,"
                " 'http://x/', true, 30, '[]', '{}', 'x', 'monitors.yaml', now(), now()"
                " FROM generate_series(1, 70000) i"
            )
        )
    assert len(await _rebalance(pg, "a", T, 1)) == 70_000
    assert len(await _rebalance(pg, "a", T + timedelta(seconds=5), 2)) == 35_000
    await pg.dispose()


@pytest.mark.postgres
async def test_rebalances_take_turns(pg: AsyncEngine) -> None:
    """A renewal and a takeover of the same rows must not run at once (they
    would lock them in opposite orders: a deadlock): a rebalance waits while
    another holds the lease lock, and goes on when it is released."""
    ids = set((await add_websites(pg, "w1", "w2")).values())
    async with pg.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": store.LEASE_LOCK})
        waiting = asyncio.ensure_future(_rebalance(pg, "a", T, 1))
        done, _ = await asyncio.wait({waiting}, timeout=0.5)
        assert not done  # it waits for its turn
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": store.LEASE_LOCK})
        assert await asyncio.wait_for(waiting, 10) == ids
    await pg.dispose()
