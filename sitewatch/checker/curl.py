"""HTTP checks on libcurl, through pycurl's multi interface, driven by the asyncio loop.

libcurl does a request with its full timing breakdown for about a quarter of
the CPU of aiohttp (``docs/benchmarks.md``), and brings HTTP/2, proxies and exact
per-phase timings (``CURLINFO_*_TIME_T``) with it. The multi handle tells the
loop which sockets to watch and when its next timeout is (``M_SOCKETFUNCTION``,
``M_TIMERFUNCTION``); the loop calls ``socket_action`` when one is ready or due.
So there is no thread of ours and no polling, and name resolution happens in
libcurl's resolver threads, never on the loop.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pycurl

# What a finished transfer reports: libcurl's error code (0: it completed) and
# its message.
Outcome = tuple[int, str]

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
