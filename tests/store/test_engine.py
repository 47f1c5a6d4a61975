"""Transactions that read and then write survive another writer committing in
between, on both engines (SQLite once failed such a reconcile with "database is
locked": a deferred transaction cannot upgrade a stale read snapshot)."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.store import tables
from sitewatch.store.engine import begin_write
from tests.store.test_checks import add_websites


async def test_a_read_then_write_transaction_waits_for_a_concurrent_writer(
    engine: AsyncEngine,
) -> None:
    ids = await add_websites(engine, "a", "b")
    web = tables.websites
    read_done = asyncio.Event()
    other_done = asyncio.Event()

    async def reconcile_like() -> None:
        async with begin_write(engine) as conn:
            # Read first (this is where a deferred SQLite transaction takes its snapshot)…
            assert await conn.scalar(select(web.c.name).where(web.c.id == ids["a"])) == "a"
            read_done.set()
            # …give the other writer every chance to commit in between (on SQLite it
            # cannot: it waits for this transaction's write lock)…
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(other_done.wait(), 0.5)
            # …then write.
            await conn.execute(update(web).where(web.c.id == ids["a"]).values(name="A"))

    async def batch_writer_like() -> None:
        await read_done.wait()
        async with begin_write(engine) as conn:
            await conn.execute(update(web).where(web.c.id == ids["b"]).values(name="B"))
        other_done.set()

    first = asyncio.create_task(reconcile_like())
    second = asyncio.create_task(batch_writer_like())
    assert await asyncio.gather(first, second, return_exceptions=True) == [None, None]
    async with engine.connect() as conn:
        names = dict((await conn.execute(select(web.c.key, web.c.name))).all())
    assert names == {"a": "A", "b": "B"}
