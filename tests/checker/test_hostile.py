"""A hostile website: whatever it sends, ``Prober.check`` returns a result (never
raises), within its memory and time bounds, and sitewatch's own faults are
results of kind ``internal`` rather than failures of the website.

The target is a raw asyncio server, so it can send what no HTTP library would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from sitewatch.checker.expectations import Expectations
from sitewatch.checker.probe import Prober
from sitewatch.checker.target import Target, unusable_target
from sitewatch.config.models import Website

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]
LIMIT = 64 * 1024


def head(extra: str = "", length: int | None = None) -> bytes:
    lines = ["HTTP/1.1 200 OK", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def fixed(headers: str, body: bytes) -> Writer:
    async def respond(w: asyncio.StreamWriter) -> None:
        await send(w, head(headers, len(body)) + body)

    return respond


async def endless(w: asyncio.StreamWriter) -> None:
    await send(w, head("Content-Type: text/plain"))
    chunk = b"x" * 65536
    for _ in range(100_000):  # bounded: ~6.5 GB, far past any limit
        await send(w, chunk)


async def drip(w: asyncio.StreamWriter) -> None:
    await send(w, head("Content-Type: text/plain"))
    for _ in range(600):
        await send(w, b".")
        await asyncio.sleep(0.1)


async def huge_header(w: asyncio.StreamWriter) -> None:
    await send(w, head("X-Huge: " + "h" * 200_000, 2) + b"ok")


async def many_headers(w: asyncio.StreamWriter) -> None:
    lines = "\r\n".join(f"X-H{i}: v" for i in range(20_000))
    await send(w, head(lines, 2) + b"ok")


def bomb(encoding: str) -> Writer:
    raw = b"\0" * (200 << 20)  # 200 MiB of zeros: about 200 KiB compressed
    data = gzip.compress(raw, 9) if encoding == "gzip" else zlib.compress(raw, 9)

    async def respond(w: asyncio.StreamWriter) -> None:
        await send(w, head(f"Content-Encoding: {encoding}\r\nContent-Type: text/plain", len(data)))
        await send(w, data)

    return respond


async def garbage(w: asyncio.StreamWriter) -> None:
    await send(w, b"\x00\xff not http at all \r\n\r\n")


ROUTES: dict[str, Writer] = {
    "/charset-unknown": fixed("Content-Type: text/plain; charset=x-no-such-charset", b"ok here"),
    "/charset-bogus": fixed('Content-Type: text/plain; charset="../../etc"', b"ok here"),
    "/invalid-utf8": fixed("Content-Type: text/plain; charset=utf-8", b"\xff\xfe\xc3 ok here"),
    "/deep-json": fixed("Content-Type: application/json", b"[" * 200_000 + b"]" * 200_000),
    "/deep-object": fixed(
        "Content-Type: application/json", b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    ),
    "/endless": endless,
    "/drip": drip,
    "/huge-header": huge_header,
    "/many-headers": many_headers,
    "/gzip-bomb": bomb("gzip"),
    "/deflate-bomb": bomb("deflate"),
    "/garbage": garbage,
}


class HostileServer:
    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.handlers: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> HostileServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode()
            await ROUTES[path](writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    async with Prober(max_body_bytes=LIMIT) as p:
        yield p


def target(url: str, **spec: Any) -> Target:
    return Target.of(Website.model_validate({"name": "t", "url": url, **spec}), website_id=3)


BODY_CHECK = {"body_contains": "ok"}
JSON_CHECK = {"json_assertions": [{"path": "$.a", "exists": True}]}


@pytest.mark.parametrize(
    ("path", "spec", "kinds"),
    [
        ("/charset-unknown", BODY_CHECK, {None}),
        ("/charset-bogus", BODY_CHECK, {None}),
        ("/invalid-utf8", BODY_CHECK, {None}),
        ("/deep-json", JSON_CHECK, {"assertion", "too_large"}),
        ("/deep-object", JSON_CHECK, {"assertion", "too_large"}),
        ("/endless", BODY_CHECK, {"too_large"}),
        ("/endless", {}, {None}),
        ("/drip", {"timeout": "1s"}, {"timeout"}),
        ("/huge-header", {}, {"http"}),
        ("/many-headers", {}, {"http", "connection"}),
        ("/gzip-bomb", BODY_CHECK, {"too_large"}),
        ("/deflate-bomb", BODY_CHECK, {"too_large"}),
        ("/gzip-bomb", {}, {None}),
        ("/garbage", {}, {"http", "connection"}),
    ],
)
async def test_whatever_the_website_sends_is_a_result(
    hostile: HostileServer, prober: Prober, path: str, spec: dict[str, Any], kinds: set[str | None]
) -> None:
    tracemalloc.start()
    try:
        result = await prober.check(target(hostile.url(path), **spec))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error_kind in kinds, (result.error_kind, result.error_message)
    assert result.ok == (result.error_kind is None)
    # Memory stays bounded by the read limit, whatever the body claims to be.
    assert peak < 40 * LIMIT + (8 << 20), f"peak {peak} bytes"


async def test_a_bug_inside_the_probe_is_an_internal_result(
    hostile: HostileServer, prober: Prober
) -> None:
    def broken(code: int) -> bool:
        raise ZeroDivisionError("a bug of ours")

    t = target(hostile.url("/charset-unknown"))
    t = dataclasses.replace(t, expect=Expectations(status_ok=broken))
    result = await prober.check(t)
    assert (result.ok, result.error_kind) == (False, "internal")
    assert result.error_message is not None and "ZeroDivisionError" in result.error_message


async def test_an_unusable_spec_is_checked_as_internal_results(prober: Prober) -> None:
    t = unusable_target(9, "shop", {"interval": "30s"}, "sitewatch cannot check: TOKEN unset")
    assert t.interval == 30
    result = await prober.check(t)
    assert (result.website_id, result.ok, result.error_kind) == (9, False, "internal")
    assert result.error_message == "sitewatch cannot check: TOKEN unset"


EMFILE_SCRIPT = """
import asyncio, resource, socket
from sitewatch.checker.probe import Prober
from sitewatch.checker.target import Target
from sitewatch.config.models import Website

async def main():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    url = "http://127.0.0.1:%d/" % server.getsockname()[1]
    async with Prober() as prober:
        target = Target.of(Website.model_validate({"name": "t", "url": url}), 1)
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        hog = []
        try:
            while True:
                hog.append(socket.socket())
        except OSError:
            pass
        result = await prober.check(target)
        print(result.error_kind, "|", result.error_message)

asyncio.run(main())
"""


def test_no_file_descriptors_left_is_an_internal_result() -> None:
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [sys.executable, "-c", EMFILE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    kind, _, message = done.stdout.strip().partition(" | ")
    assert kind == "internal", done.stdout
    assert "no file descriptors left" in message
