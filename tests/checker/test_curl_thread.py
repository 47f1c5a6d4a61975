"""The curl thread (``checker.curl.CurlThread``) against real sockets on loopback:
a check given up lets go of its connection, closing it abandons what is in flight,
and a failure of the thread is reported and survived."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pycurl
import pytest

from sitewatch.checker.curl import CurlClosedError, CurlThread
from sitewatch.checker.probe import Prober
from sitewatch.checker.target import Target
from sitewatch.config.models import Website
from tests.targets import TargetServer
from tests.waiting import eventually


def target(url: str, **spec: Any) -> Target:
    return Target.of(Website.model_validate({"name": "t", "url": url, **spec}), website_id=3)


class Silent:
    """Accepts connections and never answers; tells which are still open."""

    def __init__(self) -> None:
        self.open = 0
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        self.writers.add(writer)
        try:
            await reader.read()  # until the client closes
        finally:
            self.open -= 1
            self.writers.discard(writer)
            writer.close()

    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    s = Silent()
    s.server = await asyncio.start_server(s._handle, "127.0.0.1", 0)
    yield s
    s.server.close()
    for writer in list(s.writers):
        writer.close()
    await s.server.wait_closed()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_cancelled_check_lets_go_of_its_connection(silent: Silent) -> None:
    async with TargetServer() as server, Prober() as prober:
        check = asyncio.create_task(prober.check(target(silent.url(), timeout="60s")))
        await eventually(lambda: silent.open == 1, what="the check connected")
        check.cancel()
        with pytest.raises(asyncio.CancelledError):
            await check
        await eventually(lambda: silent.open == 0, what="the curl thread closed the connection")
        # The thread goes on: the next checks run.
        results = await asyncio.gather(
            *(prober.check(target(server.url("/status/200"))) for _ in range(20))
        )
        assert all(r.ok for r in results), [r.error_message for r in results]


async def test_closing_abandons_the_transfers_in_flight(silent: Silent) -> None:
    before = open_fds()
    prober = Prober()
    await prober.__aenter__()
    checks = [asyncio.create_task(prober.check(target(silent.url()))) for _ in range(5)]
    await eventually(lambda: silent.open == 5, what="five checks connected")
    await prober.__aexit__(None, None, None)
    done = await asyncio.gather(*checks, return_exceptions=True)
    assert all(isinstance(d, asyncio.CancelledError) for d in done), done
    await eventually(lambda: silent.open == 0, what="every connection closed")
    # The thread's epoll and eventfd, both ends of the sockets: all gone.
    await eventually(lambda: open_fds() == before, what=f"{before} open files again")


class FailsOnce(CurlThread):
    """The curl thread with a fault of its own, once: a bug, as it would show."""

    fail = True

    def _take(self) -> None:
        if FailsOnce.fail:
            FailsOnce.fail = False
            raise RuntimeError("a bug in the curl thread")
        super()._take()


async def test_a_failure_of_the_thread_is_reported_and_survived() -> None:
    FailsOnce.fail = True
    async with TargetServer() as server, Prober(curl=FailsOnce) as prober:
        watch = asyncio.create_task(prober.watch())
        first = await prober.check(target(server.url("/status/200")))
        assert first.error_kind == "internal"  # sitewatch's fault, never the website's
        assert first.error_message is not None
        assert "the curl thread failed" in first.error_message
        assert "a bug in the curl thread" in first.error_message
        with pytest.raises(CurlClosedError, match="a bug in the curl thread"):
            await watch  # what the checker's supervisor hears (then restarts it)
        again = await prober.check(target(server.url("/status/200")))
        assert again.ok, again.error_message
        curl = prober._curl
        assert curl is not None
        assert curl.restarts == 1
        assert not curl.broken.is_set()


async def test_a_closed_thread_takes_no_transfer() -> None:
    async with Prober() as prober:
        curl = prober._curl
        assert curl is not None
    handle = pycurl.Curl()
    with pytest.raises(CurlClosedError):
        await curl.perform(handle)


DRIP = """
import socket, sys, threading, time
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
def drip(conn):
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 1000000\\r\\n\\r\\n")
    while True:
        try:
            conn.sendall(b"x")
        except OSError:
            return
        time.sleep(0.001)
while True:
    conn, _ = server.accept()
    threading.Thread(target=drip, args=(conn,), daemon=True).start()
"""


async def test_the_thread_says_how_late_it_handles_socket_events_on_a_busy_core() -> None:
    """While the loop's thread computes, the curl thread waits for the GIL at every
    socket event (the phases it stamps are that late): ``take_late`` says so."""
    drip = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DRIP, stdout=asyncio.subprocess.PIPE
    )
    assert drip.stdout is not None
    port = int(await drip.stdout.readline())
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        async with Prober() as prober:
            url = f"http://127.0.0.1:{port}/"
            checks = [
                asyncio.create_task(prober.check(target(url, timeout="60s"))) for _ in range(5)
            ]
            try:
                await asyncio.sleep(0.3)  # handed over, connected, a byte a millisecond
                prober.transfer_late()
                end = time.monotonic() + 0.5
                while time.monotonic() < end:  # the loop's thread computes: no await
                    pass
                # Every event in that time waited for the GIL's forced switch (5 ms).
                assert prober.transfer_late() >= 0.004
            finally:
                for check in checks:
                    check.cancel()
                await asyncio.gather(*checks, return_exceptions=True)
    finally:
        sys.setswitchinterval(switch)
        drip.kill()
        await drip.wait()
