"""Live updates for open dashboard pages, over Server-Sent Events.

The checker's writer tells the hub about every committed batch. The hub keeps
only the latest result per website and, at most once a second, sends each open
page one event with the websites it shows and the header counts. A page that
cannot keep up is dropped (its browser reconnects and reloads the state), so a
slow client never holds memory or the checker back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sitewatch.checker.result import CheckResult
from sitewatch.store import summary as summary_store
from sitewatch.store.engine import Engine
from sitewatch.times import iso_z

log = logging.getLogger("sitewatch.dashboard")

HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 32


@dataclass(eq=False)
class Subscriber:
    ids: frozenset[int] | None  # None: every website (the counts come anyway)
    # A public page (a status page): told only *that* one of its websites has a
    # new result, never what it is; it fetches its own public rendering again.
    public: bool = False
    queue: asyncio.Queue[str | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )


def result_event(r: CheckResult) -> dict[str, Any]:
    """What a page needs of one check to redraw a card or a row."""
    return {
        "id": r.website_id,
        "state": "up" if r.ok else ("unknown" if r.error_kind == "internal" else "down"),
        "checked_at": iso_z(r.checked_at),
        "status_code": r.status_code,
        "response_ms": round(r.timings.total_ms, 1)
        if r.timings and r.timings.total_ms is not None
        else None,
        "error": r.error_message,
    }


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class LiveHub:
    def __init__(self, engine: Engine, *, min_interval: float = 1.0) -> None:
        self.engine = engine
        self.min_interval = min_interval
        self._subscribers: set[Subscriber] = set()
        self._pending: dict[int, CheckResult] = {}
        self._changed = False  # something other than results: counts may differ
        self._wake = asyncio.Event()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    # -- producers (called by the checker's writer and by writes) -------------------

    def results(self, results: Sequence[CheckResult]) -> None:
        if not self._subscribers:
            return
        for r in results:
            self._pending[r.website_id] = r
        self._wake.set()

    def config_changed(self) -> None:
        if self._subscribers:
            self._changed = True
            self._wake.set()

    # -- consumers (SSE handlers) ---------------------------------------------------

    def subscribe(self, ids: frozenset[int] | None, *, public: bool = False) -> Subscriber:
        sub = Subscriber(ids, public)
        if self._closed:
            sub.queue.put_nowait(None)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def close(self) -> None:
        """Shutdown: every open stream ends now, not at the server's timeout."""
        self._closed = True
        for sub in list(self._subscribers):
            self._drop(sub)
        self._wake.set()

    def _drop(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    # -- the publishing loop ----------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``; closing the hub (at shutdown) stops it too."""
        loop = asyncio.get_running_loop()
        try:
            await self._run(stop, loop)
        finally:
            if self._closed:
                stop.set()  # a requested end, not a failure for the supervisor

    async def _run(self, stop: asyncio.Event, loop: asyncio.AbstractEventLoop) -> None:
        while not stop.is_set() and not self._closed:
            waiter = asyncio.create_task(self._wake.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for t in (waiter, stopper):
                t.cancel()
            if stop.is_set() or self._closed:
                break
            self._wake.clear()
            started = loop.time()
            try:
                await self.publish()
            except Exception:  # a failed query must not end live updates for good
                log.exception("could not publish live updates")
            await asyncio.sleep(max(0.0, self.min_interval - (loop.time() - started)))

    async def publish(self) -> None:
        pending, self._pending = self._pending, {}
        changed, self._changed = self._changed, False
        if not self._subscribers or not (pending or changed):
            return
        private = [s for s in self._subscribers if not s.public]
        for sub in [s for s in self._subscribers if s.public]:
            if changed or sub.ids is None or not sub.ids.isdisjoint(pending):
                self._put(sub, "event: changed\ndata: {}\n\n")
        if not private:
            return
        async with self.engine.connect() as conn:
            total, active, up, down = await summary_store.state_counts(conn)
        counts = {
            "websites": total,
            "up": up,
            "down": down,
            "paused": total - active,
            "unknown": active - up - down,
        }
        events = {i: result_event(r) for i, r in pending.items()}
        for sub in private:
            mine = (
                list(events.values())
                if sub.ids is None
                else [events[i] for i in sub.ids if i in events]
            )
            self._put(sub, sse("checks", {"websites": mine, "counts": counts}))

    def _put(self, sub: Subscriber, message: str) -> None:
        try:
            sub.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("dropped a live-update stream that could not keep up")
            self._drop(sub)


async def stream(
    request: web.Request, hub: LiveHub, ids: frozenset[int] | None, *, public: bool = False
) -> web.StreamResponse:
    """The SSE response: events from the hub, a comment every 15 s to keep it open."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # proxies must not buffer the stream
        }
    )
    await response.prepare(request)
    sub = hub.subscribe(ids, public=public)
    try:
        await response.write(b"retry: 5000\n: connected\n\n")
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if message is None:
                break
            await response.write(message.encode())
    except ConnectionResetError:  # the page went away
        return response
    finally:
        hub.unsubscribe(sub)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
