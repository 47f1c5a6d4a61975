"""TCP checks: resolve the host, connect (both timed), optionally send a text,
and read the reply until it matches the ``expect`` pattern (RE2), the peer
closes, 64 KiB or the timeout. A failure is a result of its kind, never an
exception; what the peer sent is shown only as a short, printable excerpt.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import TypeVar

from sitewatch.checker.result import CheckResult, ErrorKind, Timings
from sitewatch.config.regex import Pattern
from sitewatch.errors import SitewatchError

T = TypeVar("T")

MAX_REPLY = 64 << 10
CLOSE_WAIT = 1.0  # seconds to wait for a polite close; then the socket is dropped


@dataclass(frozen=True, slots=True)
class TcpTarget:
    host: str
    port: int
    send: bytes | None
    expect: Pattern | None

    @property
    def pattern(self) -> str:
        return self.expect.pattern if self.expect is not None else ""


class FailedError(SitewatchError):
    """A failure of the peer's, of one kind (caught inside this module)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def excerpt(data: bytes, limit: int = 80) -> str:
    """A peer's bytes as a short, printable, quoted text (never control characters)."""
    text = data[: limit * 4].decode("utf-8", "replace")
    shown = "".join(c if c.isprintable() else "\ufffd" if c not in "\r\n\t" else " " for c in text)
    shown = " ".join(shown.split())
    return repr(shown[:limit] + ("…" if len(shown) > limit or len(data) > limit * 4 else ""))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def check_tcp(
    website_id: int, tcp: TcpTarget, seconds: float, checked_at: datetime
) -> CheckResult:
    """One check of ``tcp``, all of it within ``seconds``."""
    loop = asyncio.get_running_loop()
    timings = Timings()
    started = perf_counter()
    result = CheckResult(website_id, checked_at, ok=False, timings=timings)
    phase = "connect"
    received = bytearray()  # what the peer sent, for the messages
    try:
        async with asyncio.timeout(seconds):
            addresses = await resolve(tcp.host, tcp.port, timings, loop)
            begun = perf_counter()
            reader, writer = await connect(addresses, tcp.port)
            timings.connect_ms = (perf_counter() - begun) * 1000
            try:
                if tcp.send is not None:
                    phase = "send"
                    writer.write(tcp.send)
                    await writer.drain()
                if tcp.expect is not None:
                    phase = "reply"
                    await _expect(reader, tcp, timings, begun, received)
            finally:
                writer.close()
                with contextlib.suppress(OSError, TimeoutError):
                    async with asyncio.timeout(CLOSE_WAIT):
                        await writer.wait_closed()
    except FailedError as failed:
        result.error_kind, result.error_message = failed.kind, failed.message
    except TimeoutError:
        result.error_kind = "timeout"
        what = {
            "connect": f"no connection to port {tcp.port}",
            "send": "could not send",
            "reply": f"no reply matching {tcp.pattern!r}",
        }[phase]
        got = f" (got {excerpt(bytes(received))})" if received else ""
        result.error_message = f"{what} within {seconds:g}s{got}"
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            raise  # sitewatch's own fault: the prober reports it as internal
        result.error_kind, result.error_message = classify_os_error(exc, tcp.port)
    else:
        result.ok = True
    timings.total_ms = (perf_counter() - started) * 1000
    return result


async def resolve(
    host: str, port: int, timings: Timings, loop: asyncio.AbstractEventLoop
) -> list[tuple[int, str]]:
    """(family, address) of ``host`` in the resolver's order; the lookup is timed
    (``dns_ms``) unless ``host`` is an address. ``FailedError`` of kind dns."""
    if _is_ip(host):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return [(family, host)]
    begun = perf_counter()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FailedError("dns", f"{host} does not resolve: {exc.strerror}") from None
    timings.dns_ms = (perf_counter() - begun) * 1000
    seen: dict[str, int] = {}
    for family, _, _, _, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), family)
    if not seen:
        raise FailedError("dns", f"{host} has no address")
    return [(family, address) for address, family in seen.items()]


async def first_answering(
    addresses: list[tuple[int, str]], port: int, open_one: Callable[[str, int], Awaitable[T]]
) -> T:
    """``open_one`` each address in turn (as resolved); the last error if none answers."""
    error: OSError | None = None
    for _, address in addresses:
        try:
            return await open_one(address, port)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise
            error = exc
    assert error is not None
    raise error


async def connect(
    addresses: list[tuple[int, str]], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await first_answering(
        addresses, port, lambda host, p: asyncio.open_connection(host, p, limit=MAX_REPLY)
    )


async def _expect(
    reader: asyncio.StreamReader,
    tcp: TcpTarget,
    timings: Timings,
    begun: float,
    received: bytearray,
) -> None:
    assert tcp.expect is not None
    while len(received) < MAX_REPLY:
        chunk = await reader.read(MAX_REPLY - len(received))
        if timings.first_byte_ms is None and chunk:
            timings.first_byte_ms = (perf_counter() - begun) * 1000
        if not chunk:
            break
        received += chunk
        if tcp.expect.search(received.decode("utf-8", "replace")):
            return
    if not received:
        raise FailedError(
            "connection", f"the connection closed without a reply to match {tcp.pattern!r}"
        )
    raise FailedError(
        "assertion", f"the reply does not match {tcp.pattern!r}: got {excerpt(bytes(received))}"
    )


def classify_os_error(exc: OSError, port: int) -> tuple[ErrorKind, str]:
    """The kind and message of a failed connection (``EMFILE`` is not one of them)."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused", f"connection refused on port {port}"
    if isinstance(exc, ConnectionResetError):
        return "connection", "the connection was reset"
    return "connection", f"cannot connect: {exc.strerror or exc}"
