"""HTTP checks on libcurl, through pycurl's multi interface, on a thread of its own.

libcurl does a request with its full timing breakdown for about a quarter of
the CPU of aiohttp (``docs/benchmarks.md``), and brings HTTP/2, proxies and exact
per-phase timings (``CURLINFO_*_TIME_T``) with it.

Which thread drives it was measured (``bench/curl_driver.py``): with libcurl's
sockets and timer on the asyncio loop, every fresh connection costs the loop a
watcher added and removed per direction, and one ``socket_action`` per event;
here libcurl's multi handle lives on a dedicated thread with an epoll of its
own, takes new transfers from a queue (one wake-up per burst), and hands the
finished ones back to the loop in batches, one ``call_soon_threadsafe`` per
batch. The same checker did 5,921 checks per second of one core instead of 4,824
(150,000 websites at 30 s), and the loop stays responsive past the loop
driver's capacity. At a low rate the thread costs more (a wake-up and a GIL
hand-off per burst of checks: 0.295 against 0.251 ms a check in ``serve`` at
1,000 checks/s), CPU that is not scarce there.
Name resolution happens in libcurl's resolver threads, never on either.

Only the curl thread touches the multi handle and the handles it runs: a
handle is set up before ``perform`` hands it over and read after it comes back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import select
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pycurl

# What a finished transfer reports: libcurl's error code (0: it completed) and
# its message.
Outcome = tuple[int, str]

log = logging.getLogger("sitewatch.checker")

_EPOLL = {
    pycurl.POLL_IN: select.EPOLLIN,
    pycurl.POLL_OUT: select.EPOLLOUT,
    pycurl.POLL_INOUT: select.EPOLLIN | select.EPOLLOUT,
}
_ERR = select.EPOLLERR | select.EPOLLHUP


class CurlClosedError(RuntimeError):
    """The curl thread is closed (or stopped on a failure): no transfer runs."""


class CurlThread:
    """One ``CurlMulti`` on a thread of its own: ``await perform(handle)`` on the loop.

    A transfer abandoned by its caller (cancelled) is removed by the thread, and
    its handle closed there: the caller must not reuse it. Should the thread ever
    fail, every transfer in flight fails with the reason (the checks report an
    internal error, visible on the dashboard and in the metrics) and the next
    ``perform`` starts a new thread.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._closed = False
        self.restarts = 0  # threads started again after a failure
        self.broken = asyncio.Event()  # set while the thread is down after a failure
        self._start()

    def _start(self) -> None:
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._epoll = select.epoll()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wake, select.EPOLLIN)
        self._woken = False  # a wake-up is pending: the thread will read the queue
        self._registered: set[int] = set()
        self._deadline: float | None = None  # libcurl's timer (monotonic), or none
        # (handle, future): run it; (handle, None): abandon it
        self._queue: collections.deque[tuple[pycurl.Curl, asyncio.Future[Outcome] | None]] = (
            collections.deque()
        )
        self._running: dict[pycurl.Curl, asyncio.Future[Outcome]] = {}
        self._stop = False
        self._late = 0.0  # the longest batch of socket events since ``take_late``
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="sitewatch-curl", daemon=True)
        self._thread.start()

    # -- the loop's thread --------------------------------------------------------

    async def perform(self, handle: pycurl.Curl) -> Outcome:
        """Run the transfer ``handle`` describes; libcurl's code and message."""
        if self._closed:
            raise CurlClosedError("the curl thread is closed")
        if self.failure is not None:  # the thread failed: its transfers were told
            self._restart()
        future: asyncio.Future[Outcome] = self.loop.create_future()
        self._send(handle, future)
        try:
            return await future
        except asyncio.CancelledError:
            if self.failure is None and not self._closed:
                self._send(handle, None)  # the thread removes and closes it
            raise

    def _send(self, handle: pycurl.Curl, future: asyncio.Future[Outcome] | None) -> None:
        self._queue.append((handle, future))
        if not self._woken:  # after the append: the thread clears it before reading
            self._woken = True
            # One wake-up for all the checks this turn of the loop starts: the
            # scheduler starts them in bursts, and each wake-up is a GIL hand-off.
            self.loop.call_soon(self._wake_up)

    def take_late(self) -> float:
        """Seconds the thread took, at most, to handle one batch of socket events
        since the last call: the last event of a batch is stamped that late. Each
        event's handling gives the GIL up and waits to get it back, so on a busy
        core this is how late libcurl reads its phases (the scheduler starts
        fewer checks while it is high, see ``Scheduler``)."""
        late, self._late = self._late, 0.0
        return late

    def _wake_up(self) -> None:
        if not self._closed:
            os.eventfd_write(self._wake, 1)

    def _failed(self, exc: BaseException) -> None:
        """The thread ended on ``exc``: fail what it held and what waits for it
        (on the loop, so no ``perform`` can slip in between)."""
        self.failure = exc
        self.broken.set()
        reason = f"the curl thread failed: {exc!r}"
        self._fail(list(self._running.values()), reason)
        self._fail([f for _, f in list(self._queue) if f is not None], reason)

    def _restart(self) -> None:
        self.restarts += 1
        log.error("starting the curl thread again after it failed: %r", self.failure)
        self._thread.join()
        self._release()
        self._start()
        self.broken.clear()

    def _settle(self, batch: list[tuple[asyncio.Future[Outcome], Outcome]]) -> None:
        for future, outcome in batch:
            if not future.done():
                future.set_result(outcome)

    def _fail(self, futures: list[asyncio.Future[Outcome]], reason: str) -> None:
        for future in futures:
            if not future.done():
                future.set_exception(CurlClosedError(reason))

    def close(self) -> None:
        """Abandon every transfer and stop the thread (the loop may go on)."""
        if self._closed:
            return
        self._closed = True
        self._stop = True
        os.eventfd_write(self._wake, 1)
        self._thread.join()
        self._fail([f for _, f in self._queue if f is not None], "the curl thread is closed")
        self._queue.clear()
        for future in self._running.values():
            future.cancel()
        self._release()

    def _release(self) -> None:
        """Free what the stopped thread held (on the loop, after it ended)."""
        for handle in self._running:
            with contextlib.suppress(pycurl.error):
                self.multi.remove_handle(handle)
        self._running.clear()
        self.multi.close()
        self._epoll.close()
        os.close(self._wake)

    # -- the curl thread ----------------------------------------------------------

    def _on_socket(self, what: int, fd: int, _multi: Any, _data: Any) -> None:
        """Watch ``fd`` for what libcurl waits on (or stop watching it)."""
        if what == pycurl.POLL_REMOVE:
            if fd in self._registered:
                self._registered.discard(fd)
                with contextlib.suppress(OSError):  # libcurl may have closed it first
                    self._epoll.unregister(fd)
            return
        mask = _EPOLL[what]
        try:
            if fd in self._registered:
                self._epoll.modify(fd, mask)
            else:
                self._epoll.register(fd, mask)
        except FileNotFoundError:  # closed without a REMOVE, the number used again
            self._epoll.register(fd, mask)
        except FileExistsError:
            self._epoll.modify(fd, mask)
        self._registered.add(fd)

    def _on_timer(self, ms: int) -> None:
        """Call libcurl back in ``ms`` milliseconds (-1: no timeout pending)."""
        self._deadline = None if ms < 0 else time.monotonic() + ms / 1000

    def _main(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            log.exception("the curl thread failed")
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self.loop.call_soon_threadsafe(self._failed, exc)

    def _run(self) -> None:
        multi, epoll, wake = self.multi, self._epoll, self._wake
        while not self._stop:
            deadline = self._deadline
            timeout = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
            events_ready = epoll.poll(timeout)
            started = time.monotonic()
            for fd, events in events_ready:
                if fd == wake:  # read at once: a wake-up never spins the poll
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(wake)
                    continue
                flags = 0
                if events & select.EPOLLIN:
                    flags |= pycurl.CSELECT_IN
                if events & select.EPOLLOUT:
                    flags |= pycurl.CSELECT_OUT
                if events & _ERR:
                    flags |= pycurl.CSELECT_ERR
                multi.socket_action(fd, flags)
            late = time.monotonic() - started
            if late > self._late:
                self._late = late
            if self._woken:
                self._take()
            if self._deadline is not None and time.monotonic() >= self._deadline:
                self._deadline = None
                multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)
            batch = self._finished()
            if batch:
                self.loop.call_soon_threadsafe(self._settle, batch)

    def _take(self) -> None:
        """Start the transfers handed over, remove the abandoned ones."""
        self._woken = False  # before reading the queue: a later send wakes us again
        queue, multi = self._queue, self.multi
        while queue:
            handle, future = queue.popleft()
            if future is not None:
                self._running[handle] = future
                multi.add_handle(handle)  # libcurl sets a timer of 0: it starts at once
            elif self._running.pop(handle, None) is not None:
                multi.remove_handle(handle)
                handle.close()

    def _finished(self) -> list[tuple[asyncio.Future[Outcome], Outcome]]:
        batch: list[tuple[asyncio.Future[Outcome], Outcome]] = []
        multi, running = self.multi, self._running
        while True:
            queued, done, failed = multi.info_read()
            for handle in done:
                multi.remove_handle(handle)
                batch.append((running.pop(handle), (0, "")))
            for handle, code, message in failed:
                multi.remove_handle(handle)
                batch.append((running.pop(handle), (code, message)))
            if not queued:
                return batch


@dataclass(frozen=True, slots=True)
class Phases:
    """libcurl's timings of a transfer, microseconds from its start (0: not reached);
    across redirects each is the sum over the requests."""

    namelookup: int
    connect: int
    appconnect: int
    pretransfer: int
    starttransfer: int
    total: int


def phases(handle: pycurl.Curl) -> Phases:
    info: Callable[[int], int] = handle.getinfo
    return Phases(
        info(pycurl.NAMELOOKUP_TIME_T),
        info(pycurl.CONNECT_TIME_T),
        info(pycurl.APPCONNECT_TIME_T),
        info(pycurl.PRETRANSFER_TIME_T),
        info(pycurl.STARTTRANSFER_TIME_T),
        info(pycurl.TOTAL_TIME_T),
    )


def ca_bundle(context: ssl.SSLContext | None) -> bytes | None:
    """PEM of the CAs ``context`` trusts, for ``CAINFO_BLOB``; None: the system's."""
    if context is None:
        return None
    return "".join(
        ssl.DER_cert_to_PEM_cert(der) for der in context.get_ca_certs(binary_form=True)
    ).encode()


def system_cafile() -> str | None:
    """The system's CA bundle, as Python's ``ssl`` finds it: the libcurl in
    pycurl's wheel was built elsewhere and would look for a path of its own."""
    paths = ssl.get_default_verify_paths()
    return paths.cafile or paths.openssl_cafile
