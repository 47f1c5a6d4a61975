"""A one-second response cache with single flight, for the busy list endpoints.

Fifty dashboards polling ``GET /api/websites`` ask the same question many times a
second, and the answer only changes when a batch of results is stored (once a
second) or the config changes. Each distinct URL is computed once per ``ttl``;
concurrent requests for it wait for that one computation. API writes and applied
reconciles clear the cache, so a client always reads its own writes.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class ResponseCache(Generic[T]):
    """Answers (bytes, or any value built once: a body with its ETag) by key."""

    def __init__(
        self,
        ttl: float = 1.0,
        *,
        max_entries: int = 512,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, T]] = {}
        self._flights: dict[str, asyncio.Future[T]] = {}
        self.hits = 0
        self.misses = 0
        # Bumped by clear(): a computation that started before a write and ends
        # after it must neither be stored nor be joined by a request made later.
        self._generation = 0

    def clear(self) -> None:
        self._entries.clear()
        self._flights.clear()
        self._generation += 1

    async def get(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self.clock():
            self.hits += 1
            return entry[1]
        flight = self._flights.get(key)
        if flight is not None:
            self.hits += 1
            return await asyncio.shield(flight)
        self.misses += 1
        generation = self._generation
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            body = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            if self._flights.get(key) is future:
                del self._flights[key]
        future.set_result(body)
        if generation != self._generation:
            return body  # computed (partly) before a change: answer it, never keep it
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self.clock() + self.ttl, body)
        return body


@dataclass(frozen=True, slots=True)
class Encoded:
    """A body as served many times: its ETag and its gzip form computed once
    (a 500-website status page is 850 KiB: hashing and compressing it per
    request would cost more than building it once per cache period)."""

    body: bytes
    content_type: str
    etag: str
    gzipped: bytes | None  # None: too small to be worth it

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Encoded:
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        packed = gzip.compress(body, compresslevel=6, mtime=0) if len(body) > 1024 else None
        return cls(body, content_type, etag, packed)
