"""The scheduler in real (scaled-down) time: fixed rate, no overlap, the global
cap, retry_interval, and following config changes."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import pytest

from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.schedule import next_slot, phase
from sitewatch.checker.scheduler import Scheduler
from sitewatch.checker.target import Target
from sitewatch.config.models import Website
from tests.targets import TargetServer
from tests.waiting import eventually


def target(
    website_id: int, interval: float, url: str = "http://127.0.0.1:9/", retry: float | None = None
) -> Target:
    base = Target.of(Website.model_validate({"name": f"w{website_id}", "url": url}), website_id)
    return dataclasses.replace(base, interval=interval, retry_interval=retry)


class Recorder:
    """A check function that records start and end times (the scheduler's seam)."""

    def __init__(
        self, duration: float = 0.0, ok: Callable[[int, int], bool] = lambda wid, n: True
    ) -> None:
        self.duration = duration
        self.ok = ok
        self.starts: dict[int, list[float]] = defaultdict(list)
        self.ends: dict[int, list[float]] = defaultdict(list)
        self.urls: dict[int, list[str]] = defaultdict(list)
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, t: Target) -> CheckResult:
        self.starts[t.website_id].append(time.time())
        self.urls[t.website_id].append(t.url.path)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.duration)
        self.in_flight -= 1
        self.ends[t.website_id].append(time.time())
        from datetime import UTC, datetime

        return CheckResult(
            t.website_id,
            datetime.now(UTC),
            ok=self.ok(t.website_id, len(self.starts[t.website_id])),
        )


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Scheduler], None]]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(s: Scheduler) -> None:
        tasks.append(asyncio.create_task(s.run(stop)))

    yield start
    stop.set()
    await asyncio.gather(*tasks)


async def test_fixed_rate_no_drift(running: Callable[[Scheduler], None]) -> None:
    check = Recorder(duration=0.06)
    sched = Scheduler(check, lambda r: None)
    sched.update({1: target(1, 0.2)}, initial=True)
    running(sched)
    await asyncio.sleep(1.5)
    starts = check.starts[1]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) >= 6
    # each gap is the interval, not interval + run time (0.26)
    assert all(abs(g - 0.2) < 0.03 for g in gaps), gaps


async def test_no_overlap_when_a_check_outlasts_the_interval(
    running: Callable[[Scheduler], None],
) -> None:
    check = Recorder(duration=0.25)
    sched = Scheduler(check, lambda r: None)
    sched.update({1: target(1, 0.1)}, initial=True)
    running(sched)
    await asyncio.sleep(1.2)
    assert check.max_in_flight == 1
    starts, ends = check.starts[1], check.ends[1]
    assert all(s >= e for s, e in zip(starts[1:], ends, strict=False))
    assert sched.skipped_total >= 3


async def test_global_concurrency_cap(running: Callable[[Scheduler], None]) -> None:
    check = Recorder(duration=0.1)
    sched = Scheduler(check, lambda r: None, concurrency=5)
    sched.update({i: target(i, 0.5) for i in range(40)})  # live add: all due within 1 s
    running(sched)
    await asyncio.sleep(1.2)
    assert check.max_in_flight == 5
    assert all(check.starts[i] for i in range(40))


async def test_first_runs_spread_over_one_interval_at_start(
    running: Callable[[Scheduler], None],
) -> None:
    check = Recorder()
    sched = Scheduler(check, lambda r: None)
    sched.update({i: target(i, 1.0) for i in range(200)}, initial=True)
    t0 = time.time()
    running(sched)
    await asyncio.sleep(1.1)
    firsts = sorted(check.starts[i][0] - t0 for i in range(200))
    assert len(firsts) == 200 and firsts[-1] <= 1.05  # everything within one interval
    per_tenth = [sum(1 for f in firsts if k / 10 <= f < (k + 1) / 10) for k in range(10)]
    assert max(per_tenth) < 45, per_tenth  # not all at once


async def test_retry_interval_while_failing(running: Callable[[Scheduler], None]) -> None:
    # Fails on checks 1-3, passes from the 4th: retries every 0.1 s, then back to 0.6 s.
    check = Recorder(ok=lambda wid, n: n >= 4)
    results: list[CheckResult] = []
    sched = Scheduler(check, results.append)
    sched.update({1: target(1, 0.6, retry=0.1)}, failing={1: True})
    running(sched)
    await asyncio.sleep(2.0)
    starts = check.starts[1]
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(starts)]
    assert gaps[:3] == [0.1, 0.1, 0.1], gaps
    # after the pass, the next run is the next point of its own grid, then every 0.6 s
    assert gaps[3] <= 0.6 and gaps[4:] and all(g == 0.6 for g in gaps[4:]), gaps
    assert [r.ok for r in results[:4]] == [False, False, False, True]


async def test_follows_updates(running: Callable[[Scheduler], None]) -> None:
    check = Recorder()
    sched = Scheduler(check, lambda r: None)
    one, two = target(1, 0.3), target(2, 0.3)
    sched.update({1: one, 2: two}, initial=True)
    running(sched)
    await asyncio.sleep(0.7)
    due_before = sched.next_due_of(1)
    # unchanged website 1 keeps its rhythm; 2 is removed; 3 is new
    three = target(3, 0.3)
    assert sched.update({1: one, 3: three}) == (1, 0, 1)
    assert sched.next_due_of(1) == due_before
    added_at = time.time()
    removed_count = len(check.starts[2])
    await asyncio.sleep(1.0)
    assert check.starts[3] and check.starts[3][0] - added_at < 1.0
    assert len(check.starts[2]) == removed_count  # never checked again
    # a changed URL is used from the next run
    moved = dataclasses.replace(one, key="w1")
    moved = dataclasses.replace(moved, url=moved.url.with_path("/moved"))
    assert sched.update({1: moved, 3: three}) == (0, 1, 0)
    check.urls.clear()
    await asyncio.sleep(0.4)
    assert check.urls[1] and set(check.urls[1]) == {"/moved"}


async def test_real_probes_through_the_scheduler() -> None:
    results: list[CheckResult] = []
    async with TargetServer() as server, Prober() as prober:
        sched = Scheduler(prober.check, results.append)
        sched.update(
            {
                i: target(i, 0.25, url=server.url("/status/200" if i % 2 else "/status/503"))
                for i in range(10)
            }
        )
        stop = asyncio.Event()
        task = asyncio.create_task(sched.run(stop))
        await asyncio.sleep(1.2)
        # Stop (and let checks in flight finish) while the target still answers.
        stop.set()
        await task
    assert len({r.website_id for r in results}) == 10
    assert all(r.ok == (r.website_id % 2 == 1) for r in results)
    stats = sched.stats()
    assert stats.checks_total == len(results) and stats.lag_p99 is not None and stats.lag_p99 < 0.1


def test_behind_is_the_wait_of_the_oldest_due_check() -> None:
    now = [1000.0]
    sched = Scheduler(Recorder(), lambda r: None, wall=lambda: now[0], new_spread=1.0)
    assert sched.behind() == 0.0
    sched.update({i: target(i, 30) for i in range(1, 5)})  # live add: due within 1 s
    assert sched.behind() == 0.0  # due now, not waiting yet
    now[0] += 41.0
    assert sched.behind() == 41.0  # the first was due at 1000
    sched.update({i: target(i, 30) for i in range(3, 5)})  # 1 and 2 leave: 3 due at 1000.5
    assert sched.behind() == 40.5
    sched.update({})
    assert sched.behind() == 0.0


def test_a_slot_missed_while_stopped_runs_at_once_the_others_keep_their_grid() -> None:
    """After a restart: a website whose next slot passed while sitewatch was down
    runs within the catch-up window; one whose slot is still ahead waits for it."""
    now = 10_000.0
    sched = Scheduler(Recorder(), lambda r: None, wall=lambda: now, catch_up=2.0)
    targets = {i: target(i, 30, retry=5 if i == 3 else None) for i in range(1, 5)}
    offsets = {i: phase(t.key, 30) for i, t in targets.items()}
    last = {
        1: next_slot(now - 30, 30, offsets[1]) - 30,  # its next slot passed during the stop
        2: next_slot(now - 30, 30, offsets[2]),  # its next slot is ahead: keep it
        3: now - 6,  # failing with a 5 s retry: that retry is past
    }
    assert next_slot(last[2], 30, offsets[2]) > now
    sched.update(targets, {3: True}, initial=True, last_checked=last)
    due = {i: sched.next_due_of(i) for i in targets}
    assert now <= due[1] <= now + 2 and now <= due[3] <= now + 2  # caught up at once
    assert due[2] == next_slot(now, 30, offsets[2])  # its grid
    assert due[4] == next_slot(now, 30, offsets[4])  # never checked: its grid


def test_a_long_outage_catches_up_at_twice_the_usual_rate_at_most() -> None:
    now = 50_000.0
    sched = Scheduler(Recorder(), lambda r: None, wall=lambda: now, catch_up=20.0)
    targets = {i: target(i, 30) for i in range(3000)}  # 100 checks/s
    sched.update(targets, initial=True, last_checked=dict.fromkeys(targets, now - 3600))
    dues = sorted(sched.next_due_of(i) or 0 for i in targets)
    assert dues[0] == now and dues[-1] < now + 15  # 3,000 at 200 a second: 15 s
    assert sum(1 for d in dues if d < now + 1) <= 200  # 200 a second: twice the rate


def test_websites_added_a_part_at_a_time_at_start_get_the_slots_of_one_update() -> None:
    """The checker's first load adds its websites a part at a time (the most
    urgent first): each lands where one update of all of them would put it, and
    the catch-up's spread follows the rate of the whole fleet."""
    now = 20_000.0
    targets = {i: target(i, 30) for i in range(600)}
    last = {i: now - (45 if i % 3 == 0 else 10) for i in targets}  # a third missed a slot
    whole = Scheduler(Recorder(), lambda r: None, wall=lambda: now, catch_up=5.0)
    whole.update(targets, initial=True, last_checked=last)
    parts = Scheduler(Recorder(), lambda r: None, wall=lambda: now, catch_up=5.0)
    ids = sorted(targets, key=lambda i: (i % 3 != 0, i))  # the missed first
    for begin in range(0, len(ids), 100):
        part = {i: targets[i] for i in ids[begin : begin + 100]}
        assert parts.add(part, {}, last, rate=len(targets) / 30) == len(part)
    assert parts.add(targets, {}, last, rate=len(targets) / 30) == 0  # all there already
    missed = {i for i, t in targets.items() if next_slot(last[i], 30, phase(t.key, 30)) <= now}
    assert len(missed) >= 200
    for i in targets:
        due = parts.next_due_of(i)
        assert due is not None
        if i in missed:  # caught up within the window of one update
            assert now <= due <= now + 5
        else:
            assert due == whole.next_due_of(i) == next_slot(now, 30, phase(targets[i].key, 30))
    assert parts.update(targets, initial=True, last_checked=last) == (0, 0, 0)


class _Clock:
    """The two things ``Scheduler._pulse`` asks of the loop, on a hand-set clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, *args: object) -> None:
        return None


def test_the_limit_shrinks_while_the_loop_is_late_and_grows_back_when_it_binds() -> None:
    sched = Scheduler(Recorder(), lambda r: None, concurrency=1000)
    clock = _Clock()
    pulse = functools.partial(sched._pulse, clock)  # type: ignore[arg-type]
    for _ in range(20):  # every pulse 50 ms late: a saturated loop
        clock.now += 0.06
        pulse(clock.now - 0.05)
    assert 16 <= sched.limit < 1000 * 0.9**19
    shrunk = sched.limit
    sched.in_flight = 0
    clock.now += 0.01
    pulse(clock.now)  # on time, but the limit does not bind: it stays
    assert sched.limit == shrunk
    sched.in_flight = int(shrunk)
    for _ in range(400):  # on time and binding: it grows back to the cap
        clock.now += 0.01
        pulse(clock.now)
        sched.in_flight = sched._cap()
    assert sched.limit == 1000


def test_the_limit_follows_the_transfer_thread_being_late_too() -> None:
    """The loop on time, but the thread that runs the transfers handles its socket
    events late (it waits for the GIL on a saturated core): fewer checks start."""
    late = [0.05]
    sched = Scheduler(Recorder(), lambda r: None, concurrency=1000, transfers_late=lambda: late[0])
    clock = _Clock()
    pulse = functools.partial(sched._pulse, clock)  # type: ignore[arg-type]
    for _ in range(20):
        clock.now += 0.01
        pulse(clock.now)  # the loop itself on time
    assert 16 <= sched.limit < 1000 * 0.9**19
    late[0] = 0.0
    for _ in range(400):  # the thread keeps up again, the limit binds: it grows back
        clock.now += 0.01
        sched.in_flight = sched._cap()
        pulse(clock.now)
    assert sched.limit == 1000


async def test_a_saturated_loop_starts_fewer_checks(running: Callable[[Scheduler], None]) -> None:
    """Something holds the loop 30 ms at a time (past capacity, the checks do): the
    limit of checks in flight falls, and the checks started stay under it."""

    async def hog() -> None:
        while True:
            time.sleep(0.03)  # noqa: ASYNC251 -- holding the loop is the point
            await asyncio.sleep(0)

    check = Recorder(duration=1.0)
    sched = Scheduler(check, lambda r: None, concurrency=500, new_spread=5.0)
    sched.update({i: target(i, 30) for i in range(2000)})  # 400 a second for 5 s
    hogging = asyncio.create_task(hog())
    try:
        running(sched)
        await eventually(lambda: sched.limit < 100, what="the limit to shrink")
        limit = sched._cap()
        await asyncio.sleep(1.5)  # the checks started before have ended
        assert check.in_flight <= limit
    finally:
        hogging.cancel()
