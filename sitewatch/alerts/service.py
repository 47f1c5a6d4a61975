"""The alerting service: keeps the alert book in step with the database, applies
results (called by the result writer, in its transaction), runs the dispatcher
and the optional canary probe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sitewatch.alerts import messages
from sitewatch.alerts.channels import Channel
from sitewatch.alerts.dispatcher import Dispatcher, RetryPolicy
from sitewatch.alerts.engine import AlertEngine, EngineOptions, Outcome, build_book
from sitewatch.alerts.messages import Rendered
from sitewatch.errors import SitewatchError
from sitewatch.store import alerting as store
from sitewatch.store import catalog
from sitewatch.store.engine import Connection, DatabaseError, Engine, begin_write

log = logging.getLogger("sitewatch.alerts")


class UnknownAlertError(SitewatchError, LookupError):
    """No alert with that key in the config."""


class Alerting:
    def __init__(
        self,
        engine: Engine,
        environ: Mapping[str, str],
        channels: Mapping[str, Channel],
        options: EngineOptions | None = None,
        *,
        retry: RetryPolicy | None = None,
        canary: Callable[[], Awaitable[bool]] | None = None,
        canary_interval: float = 30.0,
        poll: float = 1.0,
    ) -> None:
        self.engine = engine
        self.environ = environ
        self.alerts = AlertEngine(options)
        self.dispatcher = Dispatcher(engine, environ, channels, retry=retry, poll=poll)
        self.canary = canary
        self.canary_interval = canary_interval
        self._reload = asyncio.Event()
        self._queued_seen = 0

    # -- the book -------------------------------------------------------------------

    def request_reload(self) -> None:
        self._reload.set()

    async def reload(self) -> None:
        async with self.engine.connect() as conn:
            bindings = await store.bindings(conn)
            windows = await catalog.maintenance_specs(conn)
            active = [w.id for w in await catalog.active_websites(conn, with_spec=False)]
        self.alerts.set_book(build_book(bindings, windows, self.environ), active)

    # -- results (the writer calls these) --------------------------------------------

    async def apply(self, conn: Connection, results: Sequence[Outcome]) -> None:
        await self.alerts.apply(conn, results)

    def committed(self, results: Sequence[Outcome]) -> None:
        """After the writer's commit: wake the dispatcher if anything was queued."""
        if self.alerts.enqueued_total != self._queued_seen:
            self._queued_seen = self.alerts.enqueued_total
            self.dispatcher.wake()

    # -- tests and status ----------------------------------------------------------------

    async def send_test(self, alert_key: str) -> str:
        """Queue a test notification through the outbox; its event id."""
        async with begin_write(self.engine) as conn:
            alert_id = await catalog.alert_id(conn, alert_key)
            if alert_id is None:
                raise UnknownAlertError(alert_key)
            event_id = await self.alerts.test_message(conn, alert_id, alert_key)
        self.dispatcher.wake()
        return event_id

    async def preview(self, alert_key: str, kind: str) -> Rendered:
        """What the alert sends for an event of ``kind`` (a sample event; a test as
        it is sent), rendered off the event loop."""
        async with self.engine.connect() as conn:
            row = await catalog.find_alert(conn, alert_key, by_key=True)
        if row is None:
            raise UnknownAlertError(alert_key)
        url = self.alerts.options.dashboard_url
        return await asyncio.to_thread(messages.preview, row.spec, kind, url)

    @property
    def offline(self) -> str | None:
        """Why notifications are held for sitewatch's own sake, or None."""
        return self.alerts.verdict.reason if self.alerts.verdict.offline else None

    # -- running -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self._safe_reload()
        tasks = [
            asyncio.create_task(self.dispatcher.run(stop), name="sitewatch-outbox"),
            asyncio.create_task(self._follow(stop), name="sitewatch-alerts-reload"),
        ]
        if self.canary is not None:
            tasks.append(asyncio.create_task(self._watch_canary(stop), name="sitewatch-canary"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            waits = [asyncio.ensure_future(self._reload.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
            if stop.is_set():
                return
            self._reload.clear()
            await self._safe_reload()

    async def _safe_reload(self) -> None:
        try:
            await self.reload()
        except (DatabaseError, OSError) as exc:
            log.error("could not read the alerts (will retry): %s", exc)
            self._reload.set()
            await asyncio.sleep(1)

    async def _watch_canary(self, stop: asyncio.Event) -> None:
        assert self.canary is not None
        while not stop.is_set():
            ok = await self.canary()
            if ok != self.alerts.canary_ok:
                log.log(
                    logging.INFO if ok else logging.WARNING,
                    "canary %s",
                    "answers" if ok else "fails: DOWN notifications are held",
                )
            self.alerts.canary_ok = ok
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.canary_interval)
