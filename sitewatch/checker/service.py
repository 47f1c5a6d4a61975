"""The checker: keeps the scheduler in step with the websites in the database,
and wires probe -> scheduler -> result writer.

It reads what to check from the store (what the reconciler applied), not from
the config files, so any instance sharing the database sees the same websites.
Specs are rebuilt into probe targets only when their hash changed, so a reload
of 10,000 unchanged websites costs one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.schedule import first_due
from sitewatch.checker.scheduler import Scheduler
from sitewatch.checker.target import Target, spec_problem, target_from_spec, unusable_target
from sitewatch.checker.writer import ResultWriter
from sitewatch.config.envsubst import EnvError
from sitewatch.config.secrets import Redactor
from sitewatch.errors import SitewatchError
from sitewatch.memory import gc_paused, give_back
from sitewatch.store import catalog, heartbeats, status
from sitewatch.store.engine import DatabaseError, Engine

log = logging.getLogger("sitewatch.checker")


@dataclass(frozen=True, slots=True)
class CheckerOptions:
    concurrency: int = 500
    max_body_bytes: int = 1 << 20
    batch_size: int = 2000
    flush_interval: float = 1.0
    fresh_connections: bool = True
    dns_cache_seconds: int = 0
    timings: bool = True
    # After a reload, collect once and move the survivors (tens of thousands of
    # targets and schedule entries) out of the cyclic collector's sight: a full
    # collection then walks only what checks allocate, instead of pausing the
    # event loop -- and every probe's timing -- for tens of milliseconds.
    # Frozen again once every website has been checked after the reload: the
    # first results create what then lives as long as the website (its metric
    # series, its alert state) -- millions of objects at 40,000 websites, which
    # otherwise every full collection walks, for a second or more.
    # A process-wide act, so the application turns it on, not tests.
    freeze_heap: bool = False


# Checks waiting this long past their slot mean the instance checks more than it
# can: /health and the dashboard say so (the metric always tells).
BEHIND_NOTICE = 5.0

FREEZE_EVERY = 1000  # results between freezes during the first round after a reload
SPEC_CHUNK = 1000  # specs read in one query
# Targets built between two turns of the event loop: ~10 ms, under the lateness at
# which the scheduler starts fewer checks (the first load runs beside the checks).
BUILD_STEP = 100
LOAD_PAUSE = 0.02  # seconds the first load yields after a step while checks wait
LOAD_AHEAD = 2.0  # seconds: a website due sooner is built even while checks wait


class CheckerTaskError(SitewatchError, RuntimeError):
    """One of the checker's own tasks failed; the supervisor restarts the checker."""


class Checker:
    def __init__(
        self,
        engine: Engine,
        environ: Mapping[str, str],
        options: CheckerOptions | None = None,
    ) -> None:
        self.engine = engine
        self.environ = environ
        self.options = options or CheckerOptions()
        self.writer = ResultWriter(
            engine, batch_size=self.options.batch_size, flush_interval=self.options.flush_interval
        )
        self.prober = Prober(
            max_body_bytes=self.options.max_body_bytes,
            fresh_connections=self.options.fresh_connections,
            dns_cache_seconds=self.options.dns_cache_seconds,
            timings=self.options.timings,
            redact=Redactor(environ),
            pings=self._read_pings,
        )
        self.scheduler = Scheduler(
            self.prober.check,
            self._result,
            concurrency=self.options.concurrency,
            transfers_late=self.prober.transfer_late,
        )
        self._targets: dict[int, tuple[str, Target]] = {}  # id -> (spec hash, target)
        self.keys: dict[int, str] = {}  # id -> key of every website being checked
        # In a cluster: the websites this instance holds (None: all of them).
        self.scope: Callable[[], set[int] | None] = lambda: None
        self.scope_known = asyncio.Event()  # set when ``scope`` answers (a cluster joined)
        self.scope_known.set()
        # Called with each result as it is produced (metrics), and after each reload.
        self.observers: list[Callable[[CheckResult], None]] = []
        self.reloaded: list[Callable[[], None]] = []
        self._reload = asyncio.Event()
        # Reload requests counted: the schedule is ready once it holds the state
        # of request ``_ready_from`` (see hold_ready).
        self._requests = 0
        self._loaded_through = 0
        self._ready_from = 0
        self._settle_at: int | None = None  # checks_total at which to freeze again
        self._unfrozen = 0  # results since the last freeze, while settling
        self.unusable: dict[str, str] = {}  # website key -> why it cannot be checked here
        self.running = False
        # Set once the first load is done (the startup reconcile waits for it).
        self.loaded = asyncio.Event()
        self._soon: dict[int, asyncio.Task[None]] = {}  # check_soon's checks in flight

    def _result(self, result: CheckResult) -> None:
        self.writer.add(result)
        for observe in self.observers:
            # One that raises (a metrics bug) must not stop this website's schedule:
            # the scheduler reschedules a check only after its result was taken.
            try:
                observe(result)
            except Exception:
                log.exception("an observer of check results failed (the result is kept)")
        if self._settle_at is not None:
            # Freeze as the first round goes (every FREEZE_EVERY results), not only
            # at its end: what the first results create is then never walked by the
            # full collections that would otherwise come during the round, each
            # longer than the last. No collection first: instant, whatever the heap.
            self._unfrozen += 1
            done = self.scheduler.checks_total >= self._settle_at
            if done or self._unfrozen >= FREEZE_EVERY:
                gc.freeze()
                self._unfrozen = 0
            if done:
                self._settle_at = None
                if log.isEnabledFor(logging.DEBUG):  # counting walks every frozen object
                    log.debug("froze %d objects after the first round", gc.get_freeze_count())

    def behind(self) -> float:
        """Seconds the oldest due check has waited to start (0: on time)."""
        return self.scheduler.behind() if self.running else 0.0

    @property
    def scheduled(self) -> bool:
        """Whether the schedule holds the websites (loaded at least once, and since
        ``hold_ready``): before, a running checker checks nothing or an older
        config, so the instance is not ready."""
        return self.running and self.loaded.is_set() and self._loaded_through >= self._ready_from

    def type_of(self, website_id: int) -> str:
        """The check type of a website checked here (http when not known)."""
        known = self._targets.get(website_id)
        return known[1].type if known else "http"

    async def _read_pings(self, website_id: int) -> heartbeats.PingState | None:
        async with self.engine.connect() as conn:
            return await heartbeats.ping_state(conn, website_id)

    def check_soon(self, website_id: int) -> bool:
        """Check a website now, outside its schedule, if this instance checks it (a
        heartbeat that just got a ping); False when it is not checked here."""
        known = self._targets.get(website_id)
        if not self.running or known is None or website_id in self._soon:
            return False

        async def check(target: Target) -> None:
            try:
                self._result(await self.prober.check(target))
            finally:
                self._soon.pop(website_id, None)

        self._soon[website_id] = asyncio.create_task(check(known[1]), name="sitewatch-check-soon")
        return True

    def request_reload(self) -> None:
        """Called when the reconciler applied a change (from any task, cheaply)."""
        self._requests += 1
        self._reload.set()

    def hold_ready(self) -> None:
        """Not ``scheduled`` until a reload that starts after this call is done: the
        startup reconcile applies the files while the checker already checks the
        stored state, and /ready must not say ready before the schedule holds it."""
        self.request_reload()
        self._ready_from = self._requests

    async def reload(self) -> tuple[int, int, int]:
        """Bring the scheduler in step with the database: (added, changed, removed)."""
        seen = self._requests
        first = not self.loaded.is_set()
        built: dict[int, Target] = {}
        settle = first and self.options.freeze_heap
        if settle:
            # What starting loaded (modules, models, the engine) out of the cyclic
            # collector's sight before the load, and the load's targets and the first
            # results frozen as they come (``_result``): at 120,000 websites, full
            # collections walking the growing heap made reading the websites take
            # 2 s instead of 0.15 s, and building them twice as long, while the
            # slots missed during the restart waited.
            gc.freeze()
            self._settle_at, self._unfrozen = sys.maxsize, 0
        async with self.engine.connect() as conn:
            # For the websites new to this scheduler (all of them at the first load;
            # those taken over from a stopped instance in a cluster): each one's
            # failing state (for its retry interval) and when it was last checked
            # (a slot missed while sitewatch was down or failing over runs at once).
            # At the first load, read while the cluster claims its websites.
            with gc_paused() if settle else contextlib.nullcontext():
                rows = await catalog.active_websites(conn, with_spec=False)
                every = await status.last_checks(conn) if first else None
                await self.scope_known.wait()
            allowed = self.scope()
            if allowed is not None:
                rows = [r for r in rows if r.id in allowed]
            stale = [r for r in rows if self._targets.get(r.id, ("",))[0] != r.spec_hash]
            new = [r.id for r in rows if r.id not in self._targets]
            if every is None:
                every = await status.last_checks(conn, new) if new else {}
            failing = {i: not c.ok for i, c in every.items()}
            checked = {i: c.checked_at.timestamp() for i, c in every.items()}
            if first:
                # At start, the most urgent first, each chunk scheduled as soon as it
                # is built: building 120,000 targets takes seconds, and the slots
                # that went by while sitewatch was down must not wait for all of them.
                now = time.time()
                due_at = {
                    r.id: first_due(r.key, r.interval_seconds, checked.get(r.id), now)
                    for r in stale
                }
                stale.sort(key=lambda r: due_at[r.id])
                rate = sum(1 / r.interval_seconds for r in rows)
            # The changed specs a chunk at a time, the loop's turn between two:
            # building 30,000 targets at once held the loop (and the checks due
            # meanwhile) for 2 s, and every spec at once needs far more memory.
            for begin in range(0, len(stale), SPEC_CHUNK):
                chunk = stale[begin : begin + SPEC_CHUNK]
                specs = await catalog.website_specs(conn, [r.id for r in chunk])
                for at in range(0, len(chunk), BUILD_STEP):
                    step = chunk[at : at + BUILD_STEP]
                    part = {r.id: self._build(r.id, r.key, specs[r.id]) for r in step}
                    built.update(part)
                    if first:
                        for r in step:
                            self._targets[r.id] = (r.spec_hash, part[r.id])
                            self.keys[r.id] = r.key
                        self.scheduler.add(part, failing, checked, rate=rate)
                    await asyncio.sleep(0)
                    if first:
                        # The checks first: while some are due and waiting (the slots
                        # missed while down), the websites due later wait to be built.
                        ahead = begin + at + BUILD_STEP
                        while (  # noqa: ASYNC110 (polls the scheduler and the clock)
                            ahead < len(stale)
                            and due_at[stale[ahead].id] > time.time() + LOAD_AHEAD
                            and self.scheduler.behind() > LOAD_PAUSE
                        ):
                            await asyncio.sleep(LOAD_PAUSE)
                del specs
                if settle:
                    gc.freeze()  # this chunk's targets live as long as the schedule
        targets: dict[int, tuple[str, Target]] = {}
        for r in rows:
            target = built.get(r.id)
            targets[r.id] = (r.spec_hash, target) if target is not None else self._targets[r.id]
        self._targets = targets
        self.keys = {r.id: r.key for r in rows if r.id in targets}
        counts = self.scheduler.update(
            {i: t for i, (_, t) in targets.items()},
            failing,
            initial=first,
            last_checked=checked,
        )
        if first:  # added a chunk at a time above
            counts = (len(targets), 0, counts[2])
        self._loaded_through = seen
        self.loaded.set()
        for listener in self.reloaded:
            listener()
        if any(counts):
            log.info("checking %d websites (%d new, %d changed, %d removed)", len(targets), *counts)
            if self.options.freeze_heap:
                started = time.perf_counter()
                gc.collect()
                gc.freeze()
                give_back()  # what building the targets took and freed
                self._settle_at = self.scheduler.checks_total + len(targets)
                self._unfrozen = 0
                if log.isEnabledFor(logging.DEBUG):  # counting walks every frozen object
                    log.debug(
                        "froze %d objects in %.0f ms",
                        gc.get_freeze_count(),
                        1000 * (time.perf_counter() - started),
                    )
        return counts

    def _build(self, website_id: int, key: str, spec: dict[str, Any]) -> Target:
        """The probe target of a stored spec (a target that says why, when it cannot
        be checked with this process's environment)."""
        try:
            target = target_from_spec(website_id, spec, self.environ)
        except (ValidationError, EnvError) as exc:
            # The spec validated where it was applied, but not with this
            # process's environment: say so on every check (kind "internal").
            reason = spec_problem(exc)
            if self.unusable.get(key) != reason:
                log.error("website %s cannot be checked here: %s", key, reason)
            self.unusable[key] = reason
            return unusable_target(
                website_id, key, spec, f"sitewatch cannot check this website: {reason}"
            )
        self.unusable.pop(key, None)
        return target

    async def run(self, stop: asyncio.Event) -> None:
        """Check until ``stop``; the results still queued are written before return."""
        self.running = True
        try:
            await self._run(stop)
        finally:
            self.running = False

    async def _run(self, stop: asyncio.Event) -> None:
        async with self.prober:
            # The writer stops after the scheduler: the checks in flight at
            # ``stop`` finish first, and their results are written too.
            done_checking = asyncio.Event()
            writer = asyncio.create_task(self.writer.run(done_checking), name="sitewatch-results")
            scheduler = asyncio.create_task(self.scheduler.run(stop), name="sitewatch-scheduler")
            follower = asyncio.create_task(self._follow(stop), name="sitewatch-checker-reload")
            curl = asyncio.create_task(self.prober.watch(), name="sitewatch-curl-watch")
            names = {
                writer: "result writer",
                scheduler: "scheduler",
                follower: "reload loop",
                curl: "curl thread",
            }
            try:
                # Until the scheduler and the follower end (at ``stop``), or any of
                # the four fails: then the supervisor hears of it and restarts.
                while not (scheduler.done() and follower.done()):
                    done, _ = await asyncio.wait(
                        [t for t in names if not t.done()], return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done:
                        if task.cancelled():
                            raise CheckerTaskError(f"the {names[task]} was cancelled")
                        exc = task.exception()
                        if exc is not None:
                            raise CheckerTaskError(f"the {names[task]} failed: {exc!r}") from exc
                    if writer.done():
                        raise CheckerTaskError("the result writer stopped")
            finally:
                for task in (scheduler, follower, curl):
                    task.cancel()
                await asyncio.gather(scheduler, follower, curl, return_exceptions=True)
                done_checking.set()
                await asyncio.gather(writer, return_exceptions=True)

    async def _follow(self, stop: asyncio.Event) -> None:
        if not self.loaded.is_set():
            await self._safe_reload()
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                reload = asyncio.ensure_future(self._reload.wait())
                await asyncio.wait({reload, stopped}, return_when=asyncio.FIRST_COMPLETED)
                reload.cancel()
                if stop.is_set():
                    break
                self._reload.clear()
                await self._safe_reload()
        finally:
            stopped.cancel()

    async def _safe_reload(self) -> None:
        try:
            await self.reload()
        except (DatabaseError, OSError) as exc:
            log.error("could not read the websites to check (will retry): %s", exc)
            await asyncio.sleep(1)
            self._reload.set()


class Progress(Protocol):
    """What ``caught_up`` watches (a Checker)."""

    @property
    def scheduled(self) -> bool: ...

    def behind(self) -> float: ...


async def caught_up(
    checker: Progress, *, calm: int = 5, poll: float = 1.0, wait: float = 300.0
) -> None:
    """Until the checker has caught up with the slots missed while sitewatch was
    down: ``calm`` polls in a row with its schedule loaded and no check waiting
    a poll or more. At most ``wait`` seconds: past its capacity it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    quiet = 0
    while quiet < calm and loop.time() < deadline:
        await asyncio.sleep(poll)
        quiet = quiet + 1 if checker.scheduled and checker.behind() < poll else 0
