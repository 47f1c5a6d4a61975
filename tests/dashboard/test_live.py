"""The live-update hub on a real database: one event per tick per page, only the
page's websites, slow pages dropped, every stream ended at shutdown."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch.checker.result import CheckResult, Timings
from sitewatch.web.dashboard.live import QUEUE_SIZE, LiveHub


def result(website_id: int, ok: bool) -> CheckResult:
    return CheckResult(
        website_id=website_id,
        checked_at=datetime(2026, 11, 28, 10, tzinfo=UTC),
        ok=ok,
        status_code=200 if ok else 503,
        error_message=None if ok else "HTTP 503, expected 2xx",
        timings=Timings(total_ms=12.345),
    )


def payload(message: str | None) -> dict[str, object]:
    assert message is not None and message.startswith("event: checks\ndata: ")
    data: dict[str, object] = json.loads(message.split("data: ", 1)[1])
    return data


async def test_each_page_gets_its_websites_and_the_counts(engine: AsyncEngine) -> None:
    hub = LiveHub(engine)
    hub.results([result(1, False)])  # nobody listens: nothing is kept
    mine, everything = hub.subscribe(frozenset({2})), hub.subscribe(None)
    hub.results([result(1, True), result(2, False), result(2, True)])  # the latest counts
    await hub.publish()
    got = payload(mine.queue.get_nowait())
    assert got["websites"] == [
        {
            "id": 2,
            "state": "up",
            "checked_at": "2026-11-28T10:00:00Z",
            "status_code": 200,
            "response_ms": 12.3,
            "error": None,
        }
    ]
    assert got["counts"] == {"websites": 0, "up": 0, "down": 0, "paused": 0, "unknown": 0}
    assert [w["id"] for w in payload(everything.queue.get_nowait())["websites"]] == [1, 2]  # type: ignore[index,union-attr]
    await hub.publish()  # nothing new: no event
    assert mine.queue.empty()
    hub.unsubscribe(mine)
    hub.unsubscribe(everything)
    assert hub.subscribers == 0


async def test_a_page_that_cannot_keep_up_is_dropped(engine: AsyncEngine) -> None:
    hub = LiveHub(engine)
    slow = hub.subscribe(None)
    for n in range(QUEUE_SIZE + 1):
        hub.results([result(n, True)])
        await hub.publish()
    assert hub.subscribers == 0
    assert slow.queue.get_nowait() is None  # its stream ends; the browser reconnects


async def test_the_loop_batches_and_close_ends_every_stream(engine: AsyncEngine) -> None:
    hub = LiveHub(engine, min_interval=0.2)
    sub = hub.subscribe(frozenset({1}))
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop))
    for _ in range(5):
        hub.results([result(1, False)])
    first = payload(await asyncio.wait_for(sub.queue.get(), 2))
    assert first["websites"][0]["state"] == "down"  # type: ignore[index]
    hub.close()
    assert await asyncio.wait_for(sub.queue.get(), 2) is None
    await asyncio.wait_for(task, 2)
    late = hub.subscribe(None)
    assert late.queue.get_nowait() is None
