"""Background upkeep of check data: seal finished hours and days, purge old rows.

Each pass does bounded steps (one hour, one day, one purge batch at a time),
each in its own short transaction, pausing between purge batches so a large
backlog never stalls the result writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sitewatch.store import rollups
from sitewatch.store.engine import DatabaseError, Engine, begin_write
from sitewatch.store.types import utcnow

log = logging.getLogger("sitewatch.housekeeping")

SEALS_PER_TRANSACTION = 24


@dataclass(frozen=True, slots=True)
class Retention:
    history_days: float = 30
    rollup_days: float = 365
    batch: int = 5000
    pause: float = 0.05  # seconds between purge batches


class Housekeeper:
    def __init__(
        self,
        engine: Engine,
        retention: Retention | None = None,
        *,
        every: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.retention = retention or Retention()
        self.every = every
        self.clock = clock
        self.purged_total = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once(stop)
            except (DatabaseError, OSError) as exc:
                log.error("housekeeping failed (will retry): %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

    async def run_once(self, stop: asyncio.Event | None = None) -> None:
        """Seal everything that is due and purge everything that is expired."""
        while await self._step(rollups.advance_totals):
            if stop is not None and stop.is_set():
                return
        while await self._step(rollups.seal_next_hour):
            if stop is not None and stop.is_set():
                return
        while await self._step(rollups.seal_next_day):
            if stop is not None and stop.is_set():
                return
        now = self.clock()
        r = self.retention
        purges: list[tuple[rollups.Purgeable, datetime]] = [
            ("history", now - timedelta(days=r.history_days)),
            ("hourly", now - timedelta(days=r.rollup_days)),
            ("daily", now - timedelta(days=r.rollup_days)),
            ("pings", now - timedelta(days=r.history_days)),
        ]
        for what, before in purges:
            while True:
                deleted = await rollups.purge_batch(self.engine, what, before, r.batch)
                self.purged_total += deleted
                if deleted < r.batch or (stop is not None and stop.is_set()):
                    break
                await asyncio.sleep(r.pause)

    async def _step(self, seal: Callable[..., Awaitable[datetime | None]]) -> bool:
        """Seal up to ``SEALS_PER_TRANSACTION`` periods in one short transaction
        (one commit per hour would make catching up after downtime slow)."""
        last: datetime | None = None
        async with begin_write(self.engine) as conn:
            for _ in range(SEALS_PER_TRANSACTION):
                sealed = await seal(conn, self.clock())
                if sealed is None:
                    break
                last = sealed
        if last is not None:
            log.debug("sealed rollups up to %s", last)
        return last is not None
