"""The scheduler: runs each website's check on its grid, under a global cap.

One heap of (due time, job) for all websites and one loop that starts every
job that is due while fewer than ``concurrency`` checks are in flight. Each
check is a task; when it ends, the job's next due time is computed (see
``schedule``) and pushed back. A job is never in the heap while its check
runs, so two checks of one website never overlap.

The loop wakes at most once per ``tick`` (a few milliseconds), starting every
job due by then: at thousands of checks a second that batches the wake-ups
instead of paying one timer per check.

Past capacity (more due than the CPU can check) the cap alone would fill up:
thousands of checks in flight on a saturated loop, each one's timings inflated
by the loop's queue, each costing more, and the backlog never shrinking. So the
number started is also held to what the loop can serve: a pulse measures how
late the loop runs its callbacks, and the limit of checks in flight shrinks
(x0.9) while the loop is more than ``LOOP_LATE`` late and grows back (+1/32)
while it is on time and the limit binds. The thread that runs the transfers is
watched the same way (``transfers_late``, more than ``TRANSFERS_LATE``): on a
saturated core it waits for the GIL at every socket event, and the phases it
stamps are that late. Due checks
then wait in due order, the oldest first, so lateness is shared fairly and the
throughput stays near what one core does.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from array import array
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sitewatch.checker.result import CheckResult
from sitewatch.checker.schedule import next_due, next_slot, phase
from sitewatch.checker.target import Target

log = logging.getLogger("sitewatch.checker")

LAG_SAMPLES = 1 << 16
PULSE = 0.01  # seconds between two measures of the loop's lateness
LOOP_LATE = 0.01  # a loop this late is saturated: start fewer checks
LOOP_ON_TIME = 0.003
MIN_LIMIT = 16
# The thread running the transfers this late over a batch of socket events: the
# phases it stamps are that late (at 10 ms, 6,000 checks/s read a 200 ms target
# 8-10 ms high at p50; at 5 ms, 4 ms high, and the checks cost less CPU).
TRANSFERS_LATE = 0.005
TRANSFERS_ON_TIME = 0.0015


class Job:
    __slots__ = (
        "due",
        "failing",
        "offset",
        "removed",
        "running",
        "target",
        "version",
        "website_id",
    )

    def __init__(
        self, website_id: int, target: Target, offset: float, due: float, failing: bool
    ) -> None:
        self.website_id = website_id
        self.target = target
        self.offset = offset
        self.due = due
        self.failing = failing
        self.running = False
        self.removed = False
        self.version = 0

    def next_run(self, due: float, now: float) -> float:
        """When to run after the run due at ``due`` ended at ``now`` (see next_due)."""
        target = self.target
        return next_due(
            due=due,
            now=now,
            interval=target.interval,
            offset=self.offset,
            failing=self.failing,
            retry_interval=target.retry_interval,
        )


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    websites: int
    in_flight: int
    checks_total: int
    skipped_total: int  # runs dropped because the previous one still ran
    lag_p50: float | None  # seconds late, over the last ``LAG_SAMPLES`` checks
    lag_p99: float | None
    lag_max: float | None


class Scheduler:
    def __init__(
        self,
        check: Callable[[Target], Awaitable[CheckResult]],
        sink: Callable[[CheckResult], None],
        *,
        concurrency: int = 500,
        wall: Callable[[], float] = time.time,
        tick: float = 0.005,
        new_spread: float = 1.0,
        catch_up: float = 1.0,
        transfers_late: Callable[[], float] | None = None,
    ) -> None:
        self._check = check
        self._transfers_late = transfers_late
        self._sink = sink
        self.concurrency = concurrency
        self._wall = wall
        self._tick = tick
        self._new_spread = new_spread
        self._catch_up = catch_up
        self._jobs: dict[int, Job] = {}
        # (due, push number, website id): numbers only, so the garbage collector
        # stops tracking the entries (a heap of 60,000 tracked tuples made every
        # full collection pause the loop for tens of milliseconds).
        self._heap: list[tuple[float, int, int]] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiter: asyncio.Future[None] | None = None
        self._wake_at = 0.0  # when the sleeping loop means to wake up
        self._pulse_handle: asyncio.TimerHandle | None = None
        self.in_flight = 0
        self.limit = float(concurrency)  # checks in flight the loop can serve (adaptive)
        self.checks_total = 0
        self.skipped_total = 0
        self._lags = array("d")
        self._lag_pos = 0

    # -- what to check --------------------------------------------------------

    def update(
        self,
        targets: Mapping[int, Target],
        failing: Mapping[int, bool] | None = None,
        *,
        initial: bool = False,
        last_checked: Mapping[int, float] | None = None,
    ) -> tuple[int, int, int]:
        """Follow the config: (added, changed, removed).

        Unchanged websites keep their rhythm. A changed interval applies from the
        next run (sooner, if the new grid has an earlier slot). New websites are
        checked within ``new_spread`` seconds, except at start or when more than
        ``concurrency`` arrive at once: those run at their next slot. One whose
        slot passed since ``last_checked`` (while sitewatch was stopped, or its
        instance failed over) runs within ``catch_up`` seconds instead, so no
        website waits more than an interval and a few seconds across a restart.
        """
        failing = failing or {}
        last_checked = last_checked or {}
        now = self._wall()
        removed = 0
        for website_id in list(self._jobs):
            if website_id not in targets:
                self._jobs.pop(website_id).removed = True
                removed += 1
        added_ids = [i for i in targets if i not in self._jobs]
        changed = 0
        for website_id, job in self._jobs.items():
            target = targets[website_id]
            if target is job.target:
                continue
            changed += 1
            old, job.target = job.target, target
            if (target.interval, target.key) != (old.interval, old.key):
                job.offset = phase(target.key, target.interval)
                sooner = next_slot(now, target.interval, job.offset)
                if not job.running and sooner < job.due:
                    self._push(job, sooner)
        spread = initial or len(added_ids) > self.concurrency
        self._add(added_ids, targets, failing, last_checked, spread=spread, now=now)
        return len(added_ids), changed, removed

    def add(
        self,
        targets: Mapping[int, Target],
        failing: Mapping[int, bool],
        last_checked: Mapping[int, float],
        *,
        rate: float,
    ) -> int:
        """Add websites at start, a part at a time (those not here yet): each runs
        at its next slot, or within ``catch_up`` seconds when its slot passed since
        ``last_checked``. ``rate``: the checks a second of every website to come,
        for the catch-up's spread. The number added."""
        added_ids = [i for i in targets if i not in self._jobs]
        self._add(
            added_ids, targets, failing, last_checked, spread=True, now=self._wall(), rate=rate
        )
        return len(added_ids)

    def _add(
        self,
        added_ids: list[int],
        targets: Mapping[int, Target],
        failing: Mapping[int, bool],
        last_checked: Mapping[int, float],
        *,
        spread: bool,
        now: float,
        rate: float | None = None,
    ) -> None:
        missed: list[Job] = []
        for n, website_id in enumerate(added_ids):
            target = targets[website_id]
            offset = phase(target.key, target.interval)
            job = Job(website_id, target, offset, now, failing.get(website_id, False))
            self._jobs[website_id] = job
            last = last_checked.get(website_id)
            if last is not None and self._missed(job, last, now):
                missed.append(job)
            elif spread:
                self._push(job, next_slot(now, target.interval, offset))
            else:
                self._push(job, now + self._new_spread * n / max(len(added_ids), 1))
        if missed:
            # Spread over a window that keeps the catch-up within twice the usual
            # rate (a quarter of a second at least, at most ``catch_up``): a long outage
            # makes every website late, and they must not all start at once.
            if rate is None:
                rate = sum(1 / j.target.interval for j in self._jobs.values())
            window = min(max(len(missed) / (2 * rate), 0.25), self._catch_up)
            for n, job in enumerate(missed):
                self._push(job, now + window * n / len(missed))

    @staticmethod
    def _missed(job: Job, last: float, now: float) -> bool:
        """Whether the website's next run after its last check is already past."""
        return job.next_run(last, last) <= now

    def _push(self, job: Job, due: float) -> None:
        job.version = next(self._seq)
        job.due = due
        heapq.heappush(self._heap, (due, job.version, job.website_id))
        if due < self._wake_at - self._tick:
            self._wake()

    # -- running --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start checks as they fall due until ``stop`` is set; then wait for the
        checks in flight (each ends by its own timeout)."""
        loop = asyncio.get_running_loop()
        stopper = asyncio.ensure_future(stop.wait())
        stopper.add_done_callback(lambda _: self._wake())
        self._pulse_handle = loop.call_later(PULSE, self._pulse, loop, loop.time() + PULSE)
        try:
            while not stop.is_set():
                now = self._wall()
                self._start_due(now)
                heap = self._heap
                if self.in_flight >= self._cap() or not heap:
                    delay = 1.0  # woken early by a finished check or an update
                else:
                    delay = min(max(heap[0][0] - now, self._tick), 1.0)
                self._wake_at = now + delay
                waiter = self._waiter = loop.create_future()
                handle = loop.call_later(delay, _resolve, waiter)
                await waiter
                handle.cancel()
        finally:
            stopper.cancel()
            if self._pulse_handle is not None:
                self._pulse_handle.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start_due(self, now: float) -> None:
        heap = self._heap
        cap = self._cap()
        while heap and heap[0][0] <= now and self.in_flight < cap:
            due, version, website_id = heapq.heappop(heap)
            job = self._jobs.get(website_id)
            if job is None or version != job.version:
                continue  # removed, or moved by an update: a newer entry stands
            if job.running:  # an update moved it while it ran: its end reschedules it
                self.skipped_total += 1
                continue
            job.running = True
            self.in_flight += 1
            task = asyncio.ensure_future(self._run(job, due, now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job, due: float, started: float) -> None:
        result: CheckResult | None = None
        try:
            result = await self._check(job.target)
        except Exception:  # our fault, not the website's: log it, keep the schedule
            log.exception("check of %s crashed", job.target.key)
        finally:
            job.running = False
            self.in_flight -= 1
            if self.in_flight == self._cap() - 1:
                self._wake()
        if result is not None:
            lag = started - due
            result.lag_seconds = lag
            self._record_lag(lag)
            self.checks_total += 1
            job.failing = not result.ok
            if not job.removed:
                self._sink(result)
        if job.removed:
            return
        now = self._wall()
        nxt = job.next_run(due, now)
        missed = int((now - due) // job.target.interval) if not job.failing else 0
        self.skipped_total += max(missed, 0)
        self._push(job, nxt)

    def _cap(self) -> int:
        return min(self.concurrency, int(self.limit))

    def _pulse(self, loop: asyncio.AbstractEventLoop, expected: float) -> None:
        """Measure how late the loop runs a callback; follow it with the limit."""
        now = loop.time()
        late = now - expected
        transfers = self._transfers_late() if self._transfers_late is not None else 0.0
        if late > LOOP_LATE or transfers > TRANSFERS_LATE:
            self.limit = max(MIN_LIMIT, self.limit * 0.9)
        elif (
            late < LOOP_ON_TIME
            and transfers < TRANSFERS_ON_TIME
            and self.in_flight >= self._cap() - 1
        ):
            self.limit = min(float(self.concurrency), self.limit + max(1.0, self.limit / 32))
            self._wake()
        self._pulse_handle = loop.call_later(PULSE, self._pulse, loop, now + PULSE)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- observing ------------------------------------------------------------

    def _record_lag(self, lag: float) -> None:
        if len(self._lags) < LAG_SAMPLES:
            self._lags.append(lag)
        else:
            self._lags[self._lag_pos] = lag
            self._lag_pos = (self._lag_pos + 1) % LAG_SAMPLES

    def behind(self) -> float:
        """How long the oldest due check has been waiting to start, in seconds (0
        when none waits): above a tick or two, this instance checks more than it can."""
        heap = self._heap
        while heap:
            due, version, website_id = heap[0]
            job = self._jobs.get(website_id)
            if job is not None and job.version == version:
                return max(self._wall() - due, 0.0)
            heapq.heappop(heap)  # removed or moved: the scheduler would skip it too
        return 0.0

    def next_due_of(self, website_id: int) -> float | None:
        job = self._jobs.get(website_id)
        return None if job is None or job.running else job.due

    def stats(self) -> SchedulerStats:
        lags = sorted(self._lags)

        def pct(q: float) -> float | None:
            return lags[min(int(q * len(lags)), len(lags) - 1)] if lags else None

        return SchedulerStats(
            websites=len(self._jobs),
            in_flight=self.in_flight,
            checks_total=self.checks_total,
            skipped_total=self.skipped_total,
            lag_p50=pct(0.5),
            lag_p99=pct(0.99),
            lag_max=lags[-1] if lags else None,
        )

    def reset_lags(self) -> None:
        self._lags = array("d")
        self._lag_pos = 0


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
