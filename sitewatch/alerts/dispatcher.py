"""Delivers the outbox: apart from the checks, with retries, every attempt recorded.

Each alert (channel) delivers its notifications in order: only the oldest
pending row of an alert is tried, so a DOWN waiting out an SMTP outage is never
overtaken by its UP. A failed attempt is retried with exponential backoff and
jitter until the row's deadline (``alert_retry_for``), then marked failed.
Delivery is at least once: a crash between sending and recording sends again,
with the same event id for receivers to de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from sitewatch.alerts.channels import AnyAlert, Channel, DeliveryError, Progress
from sitewatch.config.envsubst import EnvError, resolve
from sitewatch.config.models import ALERT_TYPES
from sitewatch.config.secrets import Redactor
from sitewatch.store import alerting as store
from sitewatch.store.alerting import AlertSpec, OutboxItem
from sitewatch.store.engine import DatabaseError, Engine, begin_write
from sitewatch.store.types import utcnow

log = logging.getLogger("sitewatch.alerts")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: float = 10.0  # seconds before the second attempt
    factor: float = 2.0
    cap: float = 900.0  # never wait longer than this between attempts


# How long a claimed row is left to the instance sending it; if that instance
# dies mid-send, another sends it after this (at least once, same event id).
CLAIM = timedelta(seconds=60)


def backoff(attempt: int, policy: RetryPolicy, draw: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential,
    capped, with jitter (50-100 % of the step) so receivers are not hit in waves."""
    step = min(policy.cap, policy.first * policy.factor ** (attempt - 1))
    return step * (0.5 + 0.5 * draw())


def _first_error(exc: ValidationError) -> str:
    """Where and what, never the input (it holds resolved values)."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return "does not validate"
    first = errors[0]
    return ".".join(str(p) for p in first["loc"]) + ": " + first["msg"]


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        environ: Mapping[str, str],
        channels: Mapping[str, Channel],
        *,
        retry: RetryPolicy | None = None,
        concurrency: int = 16,
        poll: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.environ = environ
        self.redact = Redactor(environ)  # delivery errors quote URLs: never a resolved secret
        self.channels = channels
        self.retry = retry or RetryPolicy()
        self.poll = poll
        self.clock = clock
        self.concurrency = concurrency  # rows in flight at once (one per alert)
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.delivered_total = 0
        self.failed_attempts_total = 0
        # Called after every attempt with the channel type and whether it worked.
        self.listeners: list[Callable[[str, bool], None]] = []

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop``. Rows are sent in tasks of their own: the loop
        goes on claiming while a slow receiver answers, so one alert's slow
        service never holds back the next notification of another alert."""
        try:
            while not stop.is_set():
                try:
                    self._start_due(await self._claim(self._free()))
                except (DatabaseError, OSError) as exc:
                    log.error("could not read the outbox (will retry): %s", exc)
                self._wake.clear()
                waits = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait(
                        waits, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED
                    )
                for w in waits:
                    w.cancel()
        finally:
            # A send in flight is finished and recorded (each is bounded by its
            # channel's timeout); cancelled, it would be sent again after CLAIM.
            if self._running:
                await asyncio.wait(set(self._running))

    def _free(self) -> int:
        return max(0, self.concurrency - len(self._running))

    def _start_due(self, claimed: tuple[list[OutboxItem], Mapping[int, AlertSpec]]) -> None:
        rows, specs = claimed
        for row in rows:
            task = asyncio.create_task(self._deliver(row, specs), name="sitewatch-delivery")
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a slot is free, and the alert's next row may be due
        if not task.cancelled() and task.exception() is not None:
            # The attempt could not be recorded (the database went away): the row
            # stays claimed and is tried again once the claim runs out.
            log.error("could not record a delivery attempt: %s", task.exception())

    async def _claim(self, limit: int) -> tuple[list[OutboxItem], Mapping[int, AlertSpec]]:
        """Claim up to ``limit`` due rows (one per alert): only as many as can be sent
        now, since a claim lasts ``CLAIM`` and a row waiting longer for a slot
        would be sent a second time by another instance."""
        if limit <= 0:
            return [], {}
        async with begin_write(self.engine) as conn:
            # Claimed in the transaction: another instance's dispatcher skips them.
            rows = await store.claim_due(conn, self.clock(), CLAIM, limit)
            specs = await store.alert_specs(conn) if rows else {}
        return rows, specs

    async def deliver_due(self) -> int:
        """Try every row that is due now (one per alert) and wait for the
        attempts; how many were tried."""
        rows, specs = await self._claim(self.concurrency)
        await asyncio.gather(*(self._deliver(row, specs) for row in rows))
        return len(rows)

    async def _deliver(self, row: OutboxItem, specs: Mapping[int, AlertSpec]) -> None:
        started = time.perf_counter()
        spec = specs.get(row["alert_id"])
        progress = Progress(spec.spec if spec else {}, set(row.get("sent_to") or ()))
        before = set(progress.sent)
        try:
            ok, detail = await self._attempt(row, spec, progress)
        except Exception as exc:  # a bug of ours: recorded as a failed attempt, retried
            log.exception("internal error delivering %s", row["event_id"])
            ok, detail = False, f"internal error in sitewatch: {type(exc).__name__}: {exc}"
        detail = self.redact(detail)
        duration_ms = 1000 * (time.perf_counter() - started)
        channel = str(spec.spec.get("type", "unknown")) if spec else "unknown"
        for listener in self.listeners:
            try:  # a metrics bug must not keep the attempt from being recorded
                listener(channel, ok)
            except Exception:
                log.exception("a listener of deliveries failed")
        now = self.clock()
        attempt = row["attempts"] + 1
        status, next_at = "delivered", None
        if ok:
            self.delivered_total += 1
            log.info(
                "delivered %s of %s (%s): %s", row["kind"], row["event_id"], row["alert_id"], detail
            )
        else:
            self.failed_attempts_total += 1
            next_at = now + timedelta(seconds=backoff(attempt, self.retry))
            if next_at > row["deadline_at"]:
                status, next_at = "failed", None
                log.error(
                    "gave up on %s notification %s after %d attempts: %s",
                    row["kind"],
                    row["event_id"],
                    attempt,
                    detail,
                )
            else:
                status = "pending"
                log.warning(
                    "%s notification %s failed (attempt %d, next in %.0fs): %s",
                    row["kind"],
                    row["event_id"],
                    attempt,
                    (next_at - now).total_seconds(),
                    detail,
                )
        async with begin_write(self.engine) as conn:
            await store.record_attempt(
                conn,
                row["id"],
                at=now,
                ok=ok,
                duration_ms=duration_ms,
                detail=detail,
                status=status,
                next_attempt_at=next_at,
                sent_to=sorted(progress.sent) if progress.sent != before else None,
            )

    async def _attempt(
        self, row: OutboxItem, spec: AlertSpec | None, progress: Progress
    ) -> tuple[bool, str]:
        if spec is None:
            return False, "the alert is no longer in the config"
        stored = spec.spec
        try:
            # Off the loop: validating parses Apprise URLs and renders the templates
            # on their samples (in the template worker).
            model = ALERT_TYPES[stored["type"]]
            alert: AnyAlert = await asyncio.to_thread(
                model.model_validate, resolve(stored, self.environ)
            )
        except EnvError as exc:
            return False, str(exc).splitlines()[0]
        except ValidationError as exc:
            return False, f"the alert's config is not usable here: {_first_error(exc)}"
        channel = self.channels.get(alert.type)
        if channel is None:
            return False, f"no channel for alert type {alert.type!r}"
        try:
            return True, await channel.send(alert, row["payload"], progress)
        except DeliveryError as exc:
            return False, str(exc)
