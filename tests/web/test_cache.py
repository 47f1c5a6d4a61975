"""The response cache: time to live, one computation for concurrent requests,
errors not cached, clear()."""

from __future__ import annotations

import asyncio

import pytest

from sitewatch.web.cache import ResponseCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_ttl_and_clear() -> None:
    clock = Clock()
    cache = ResponseCache(ttl=1.0, clock=clock)
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        return b"%d" % calls

    assert await cache.get("/a", compute) == b"1"
    assert await cache.get("/a", compute) == b"1"
    assert await cache.get("/b", compute) == b"2"
    clock.now += 1.01
    assert await cache.get("/a", compute) == b"3"
    cache.clear()
    assert await cache.get("/a", compute) == b"4"


async def test_concurrent_requests_compute_once() -> None:
    cache = ResponseCache(ttl=1.0)
    started = 0
    gate = asyncio.Event()

    async def slow() -> bytes:
        nonlocal started
        started += 1
        await gate.wait()
        return b"body"

    waiting = [asyncio.create_task(cache.get("/x", slow)) for _ in range(20)]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*waiting) == [b"body"] * 20
    assert started == 1 and (cache.misses, cache.hits) == (1, 19)


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    cache = ResponseCache(ttl=1.0)
    gate = asyncio.Event()

    async def broken() -> bytes:
        await gate.wait()
        raise RuntimeError("database down")

    waiting = [asyncio.create_task(cache.get("/x", broken)) for _ in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def fine() -> bytes:
        return b"ok"

    assert await cache.get("/x", fine) == b"ok"
    with pytest.raises(RuntimeError):
        await asyncio.gather(cache.get("/y", broken), asyncio.sleep(0, gate.set()))
