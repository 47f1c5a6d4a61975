"""This instance's place in a cluster of instances sharing one PostgreSQL.

Every ``lease_seconds / 3`` it writes its heartbeat -- which renews its website
leases -- and, if it checks, hands back or takes websites to hold its fair
share (``store.cluster``). The oldest live instance leads: it alone fetches a
followed git remote on the poll (``reconcile.follower``).
The checker checks only the websites this instance holds. On SQLite (one
instance by design) there are no leases: the instance checks everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sitewatch import __version__
from sitewatch.store import cluster as store
from sitewatch.store.engine import DatabaseError, Engine, begin_write
from sitewatch.store.types import utcnow

log = logging.getLogger("sitewatch.cluster")


class Cluster:
    def __init__(
        self,
        engine: Engine,
        role: str,
        *,
        lease_seconds: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.role = role
        self.ttl = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.id = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.enabled = engine.dialect.name == "postgresql"
        self.checks = role in store.CHECKING_ROLES
        self.started_at = clock()
        self.owned: set[int] = set()  # the websites this instance checks (when enabled)
        self.listeners: list[Callable[[], None]] = []  # called when ``owned`` changes
        self.leader = True  # the oldest live instance (alone: this one)
        self.checks_total: Callable[[], int] = lambda: 0
        self.websites: Callable[[], int] = lambda: 0  # how many it checks now
        self._wake = asyncio.Event()
        # Set after the first step (done or failed): until then ``scope`` is not
        # known. Without a cluster it is known from the start: all websites.
        self.joined = asyncio.Event()
        if not self.enabled:
            self.joined.set()

    def wake(self) -> None:
        """Rebalance now (the config changed: new websites wait for no round)."""
        self._wake.set()

    def leads(self) -> bool:
        """Whether this instance is the one that fetches a followed git remote."""
        return self.leader or not self.enabled

    def scope(self) -> set[int] | None:
        """The websites to check: a set, or None for all of them (no cluster)."""
        return self.owned if self.enabled else None

    def row(self, now: datetime) -> store.Instance:
        """This instance as ``instances`` holds it (and /api/cluster shows it)."""
        return store.Instance(
            id=self.id,
            role=self.role,
            version=__version__,
            host=socket.gethostname()[:255],
            started_at=self.started_at,
            heartbeat_at=now,
            websites=self.websites(),
            checks_total=self.checks_total(),
        )

    async def step(self) -> None:
        """One round: heartbeat, forget the silent, rebalance the leases.

        The heartbeat commits on its own, first: it renews every lease of this
        instance, and must not wait behind a rebalance (another instance's
        holds the lease lock for a moment) or a busy event loop in between.
        """
        now = self.clock()
        async with begin_write(self.engine) as conn:
            await store.beat(conn, self.row(now))
            await store.forget(conn, now - 3 * self.ttl)
            alive = await store.live(conn, now - self.ttl)
        oldest = min(alive, key=lambda p: (p["started_at"], p["id"]), default=None)
        self.leader = oldest is None or oldest["id"] == self.id
        if not self.checks:
            return
        checkers = sum(1 for p in alive if p["role"] in store.CHECKING_ROLES)
        async with begin_write(self.engine) as conn:
            owned = await store.rebalance(conn, self.id, now, self.ttl, checkers, self.owned)
        log.debug(
            "heartbeat: %d live checkers, holding %d websites (%.3f s)",
            checkers,
            len(owned),
            (self.clock() - now).total_seconds(),
        )
        if owned != self.owned:
            gained, lost = len(owned - self.owned), len(self.owned - owned)
            self.owned = owned
            log.info(
                "checking %d websites of the cluster (%d taken over, %d handed on)",
                len(owned),
                gained,
                lost,
            )
            for listener in self.listeners:
                listener()

    async def run(self, stop: asyncio.Event) -> None:
        """A step at once, then every ``lease_seconds / 3`` at a fixed rate (a
        slow step does not push the next heartbeat back), or at once when woken."""
        loop = asyncio.get_running_loop()
        period = self.ttl.total_seconds() / 3
        next_at = loop.time()
        while not stop.is_set():
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(
                    waits,
                    timeout=max(next_at - loop.time(), 0.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            for w in waits:
                w.cancel()
            self._wake.clear()
            if stop.is_set():
                break
            next_at = loop.time() + period
            try:
                await self.step()
            except (DatabaseError, OSError) as exc:
                # The leases cannot be renewed, but nobody can take them either:
                # go on checking what this instance holds.
                # The first line: the statement and its parameters (tens of
                # thousands of ids) would follow.
                reason = str(exc).splitlines()[0]
                log.error("could not renew the cluster leases (will retry): %s", reason)
            self.joined.set()

    async def leave(self) -> None:
        """Hand the websites back at once (a clean shutdown)."""
        if not self.enabled:
            return
        try:
            async with begin_write(self.engine) as conn:
                await store.leave(conn, self.id)
        except (DatabaseError, OSError) as exc:
            log.warning("could not hand the leases back (they expire by themselves): %s", exc)

    async def peers(self) -> list[store.Instance]:
        """Every live instance; without a shared database, this one alone."""
        if not self.enabled:
            return [self.row(self.clock())]
        async with self.engine.connect() as conn:
            return await store.live(conn, self.clock() - 3 * self.ttl)
