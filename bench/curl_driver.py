"""Which thread drives libcurl: one of its own (the product) or the asyncio loop's.

Issue 22 asked for both to be measured. ``sitewatch.checker.curl.CurlThread``
runs libcurl's multi handle on a dedicated thread with an epoll of its own, new
transfers handed over through a queue and an eventfd, finished ones handed back
to the loop in batches (one ``call_soon_threadsafe`` per batch). ``CurlLoop``
below is the other design, the product's until it was measured here: libcurl's
sockets and timer on the event loop (``add_reader``/``add_writer`` per socket,
``socket_action`` in the loop's thread). The same ``Prober`` (the product's
setup and judgement of every check, timings on) runs on each.

Pinned to core 0 with nginx on core 1 (as bench/probe.py), for each driver:

  saturated  --workers checks always in flight: checks/s, CPU per check (the
             process: both threads), and how late a 5 ms timer on the loop fires
             (p50/p99/max) -- the loop's responsiveness
  paced      --rate checks started per second (below both capacities): CPU per
             check and the timer's lateness at the same work

Usage:
  .venv/bin/python bench/curl_driver.py [--seconds 15] [--workers 200] [--rate 3000 4000 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import pycurl
import uvloop
from checker import start_nginx, warn_conntrack
from probe import urls

from sitewatch.checker.curl import CurlThread, Outcome
from sitewatch.checker.probe import Prober
from sitewatch.checker.target import Target
from sitewatch.config.models import Website

_IN, _OUT = pycurl.POLL_IN, pycurl.POLL_OUT


class CurlLoop:
    """One ``CurlMulti`` on the running asyncio loop: ``await perform(handle)``."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._timer: asyncio.TimerHandle | None = None
        self._watched: dict[int, int] = {}  # fd -> POLL_IN | POLL_OUT bits watched
        self._waiting: dict[pycurl.Curl, asyncio.Future[Outcome]] = {}
        self._closed = False
        self.broken = asyncio.Event()  # as CurlThread's (never set here)

    def take_late(self) -> float:
        """As ``CurlThread.take_late``: socket events run on the loop here, never late
        on a thread of their own."""
        return 0.0

    # -- libcurl asks -------------------------------------------------------------

    def _on_socket(self, what: int, fd: int, _multi: Any, _data: Any) -> None:
        """Watch ``fd`` for what libcurl waits on (or stop watching it)."""
        loop = self.loop
        had = self._watched.pop(fd, 0)
        want = 0 if what == pycurl.POLL_REMOVE else what
        if had & _IN and not want & _IN:
            loop.remove_reader(fd)
        if had & _OUT and not want & _OUT:
            loop.remove_writer(fd)
        if want & _IN and not had & _IN:
            loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
        if want & _OUT and not had & _OUT:
            loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)
        if want:
            self._watched[fd] = want

    def _on_timer(self, ms: int) -> None:
        """Call libcurl back in ``ms`` milliseconds (-1: no timeout pending)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ms >= 0:
            self._timer = self.loop.call_later(ms / 1000, self._act, pycurl.SOCKET_TIMEOUT, 0)

    def _act(self, fd: int, event: int) -> None:
        if self._closed:
            return
        if fd == pycurl.SOCKET_TIMEOUT:
            self._timer = None
        self.multi.socket_action(fd, event)
        self._finished()

    def _finished(self) -> None:
        while True:
            queued, done, failed = self.multi.info_read()
            for handle in done:
                self._settle(handle, (0, ""))
            for handle, code, message in failed:
                self._settle(handle, (code, message))
            if not queued:
                return

    def _settle(self, handle: pycurl.Curl, outcome: Outcome) -> None:
        self.multi.remove_handle(handle)
        future = self._waiting.pop(handle, None)
        if future is not None and not future.done():
            future.set_result(outcome)

    # -- ours ---------------------------------------------------------------------

    async def perform(self, handle: pycurl.Curl) -> Outcome:
        """Run the transfer ``handle`` describes; libcurl's code and message."""
        if self._closed:
            raise RuntimeError("the curl loop is closed")
        future: asyncio.Future[Outcome] = self.loop.create_future()
        self._waiting[handle] = future
        self.multi.add_handle(handle)  # libcurl sets a timer of 0: it starts at once
        try:
            return await future
        finally:
            if self._waiting.pop(handle, None) is not None:  # cancelled: abandon it
                self.multi.remove_handle(handle)

    def close(self) -> None:
        """Abandon every transfer and stop watching (the loop may go on)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for fd, watched in self._watched.items():
            if watched & _IN:
                self.loop.remove_reader(fd)
            if watched & _OUT:
                self.loop.remove_writer(fd)
        self._watched.clear()
        for handle, future in list(self._waiting.items()):
            self.multi.remove_handle(handle)
            if not future.done():
                future.cancel()
        self._waiting.clear()
        self.multi.close()


class Ticker:
    """How late a 5 ms sleep on the loop wakes up: the loop's responsiveness."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.005)
            self.late.append(time.monotonic() - start - 0.005)

    def stop(self) -> str:
        self._task.cancel()
        late = sorted(self.late) or [0.0]
        p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
        return (
            f"timer late p50 {1000 * statistics.median(late):5.2f} ms  "
            f"p99 {1000 * p99:6.2f} ms  max {1000 * late[-1]:6.1f} ms"
        )


async def run(driver: str, *, workers: int, rate: float, seconds: float) -> str:
    targets = [
        Target.of(Website.model_validate({"name": f"s{i}", "url": u}), i + 1)
        for i, u in enumerate(urls())
    ]
    make: Any = CurlLoop if driver == "loop" else CurlThread
    async with Prober(timings=True, curl=make) as prober:
        done = failed = 0

        async def one(i: int) -> None:
            nonlocal done, failed
            result = await prober.check(targets[i % len(targets)])
            done += 1
            failed += not result.ok

        await asyncio.gather(*(one(i) for i in range(200)))  # warm up
        done = failed = 0
        ticker = Ticker()
        deadline = time.monotonic() + seconds
        start, cpu = time.monotonic(), time.process_time()
        if rate:  # paced: start checks at ``rate`` per second
            running: set[asyncio.Task[None]] = set()
            i, step = 0, 1 / rate
            due = start
            while due < deadline:
                now = time.monotonic()
                while due <= now:
                    task = asyncio.create_task(one(i))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    i += 1
                    due += step
                await asyncio.sleep(0.001)
            await asyncio.gather(*running)
        else:

            async def worker(n: int) -> None:
                i = n
                while time.monotonic() < deadline:
                    await one(i)
                    i += workers

            await asyncio.gather(*(worker(n) for n in range(workers)))
        elapsed, used = time.monotonic() - start, time.process_time() - cpu
        lateness = ticker.stop()
    return (
        f"{done / elapsed:7.0f} checks/s  {1000 * used / max(done, 1):.3f} ms CPU/check  "
        f"CPU {100 * used / elapsed:3.0f} %  {failed} failed  {lateness}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--rate", type=float, nargs="+", default=[3000.0])
    parser.add_argument("--switch", type=float, default=0.0005, help="sys.setswitchinterval")
    args = parser.parse_args()
    sys.setswitchinterval(args.switch)  # as sitewatch serve sets it
    os.sched_setaffinity(0, {0})
    warn_conntrack()
    target = start_nginx(["taskset", "-c", "1"])
    try:
        for mode, rate in [("saturated", 0.0)] + [("paced", r) for r in args.rate]:
            for driver in ("thread", "loop"):
                line = uvloop.run(
                    run(driver, workers=args.workers, rate=rate, seconds=args.seconds)
                )
                print(f"{mode:<9} {driver:<6} {line}", flush=True)
    finally:
        target.terminate()


if __name__ == "__main__":
    main()
