"""Keeps the web server from eating the descriptors the checker needs.

A slowloris (connections that open and send their headers a byte at a time, or
never) must not turn into false DOWNs: every open connection is a file
descriptor, and a check needs one too. So the guard, once a second,

- closes connections that have not sent a complete request head within
  ``header_timeout`` seconds of opening (a request in progress is left alone);
- closes the newest connections beyond ``max_connections``.

``descriptor_budget`` works out how many connections the server may keep, given
the process's open-file limit (raised to the hard limit at start) and the
checker's concurrency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger("sitewatch.web")
RESERVE = 200  # the database pool, log files, the config watcher, SMTP and webhooks


def raise_open_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def descriptor_budget(open_files: int, check_concurrency: int, wanted: int) -> int:
    """How many web connections fit beside the checks in flight and a reserve."""
    return max(32, min(wanted, open_files - check_concurrency - RESERVE))


@dataclass
class ConnectionGuard:
    server: web.Server
    max_connections: int
    header_timeout: float
    clock: Callable[[], float] = time.monotonic
    closed_slow: int = 0
    closed_over_limit: int = 0
    _seen: dict[int, float] = field(default_factory=dict)

    def sweep(self) -> None:
        now = self.clock()
        handlers = [
            h for h in self.server.connections if h.transport and not h.transport.is_closing()
        ]
        alive = {id(h) for h in handlers}
        self._seen = {k: v for k, v in self._seen.items() if k in alive}
        for handler in handlers:
            opened = self._seen.setdefault(id(handler), now)
            waiting = getattr(handler, "_request_count", 1) == 0
            if waiting and now - opened > self.header_timeout and handler.transport:
                handler.transport.abort()
                self.closed_slow += 1
        excess = len(handlers) - self.max_connections
        if excess > 0:
            newest = sorted(handlers, key=lambda h: self._seen.get(id(h), now), reverse=True)
            for handler in newest[:excess]:
                if handler.transport:
                    handler.transport.abort()
                    self.closed_over_limit += 1
            log.warning(
                "%d connections over the limit of %d were closed (SITEWATCH_MAX_CONNECTIONS)",
                excess,
                self.max_connections,
            )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sweep()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
