"""Ping checks: ``count`` ICMP echo requests, ``ping_interval`` apart.

Sockets come from icmplib: unprivileged ICMP datagram sockets where the kernel
allows them (``net.ipv4.ping_group_range`` holds the process's group), raw
sockets otherwise (root or ``CAP_NET_RAW``). Which one works is found out on the
first check and kept. The result's response time is the average round trip;
minimum, maximum and loss are kept with it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import Any

from icmplib import (  # type: ignore[import-untyped]
    AsyncSocket,
    ICMPError,
    ICMPLibError,
    ICMPRequest,
    ICMPv4Socket,
    ICMPv6Socket,
    SocketPermissionError,
    TimeoutExceeded,
)
from icmplib.utils import unique_identifier  # type: ignore[import-untyped]

from sitewatch.checker.result import CheckResult, Timings
from sitewatch.checker.tcp import FailedError, resolve
from sitewatch.errors import SitewatchError

log = logging.getLogger("sitewatch.checker")

SOCKET_HELP = (
    "cannot open an ICMP socket: allow unprivileged ping (sysctl "
    "net.ipv4.ping_group_range covering the process's group) or grant CAP_NET_RAW "
    "(see docs/checks.md)"
)


@dataclass(frozen=True, slots=True)
class IcmpTarget:
    host: str
    count: int
    interval: float  # seconds between requests
    max_loss: float  # percent
    max_rtt: float | None  # seconds


class NoIcmpSocketError(SitewatchError, PermissionError):
    """Neither kind of ICMP socket can be opened here: sitewatch's fault, not the host's."""


@dataclass(slots=True)
class Sockets:
    """Which kind of ICMP socket works in this process (found on first use)."""

    privileged: bool | None = None

    def open(self, family6: bool) -> Any:
        kind = ICMPv6Socket if family6 else ICMPv4Socket
        if self.privileged is not None:
            try:
                return AsyncSocket(kind(None, self.privileged))
            except SocketPermissionError:
                raise NoIcmpSocketError(SOCKET_HELP) from None
        for privileged in (False, True):
            try:
                sock = AsyncSocket(kind(None, privileged))
            except SocketPermissionError:
                continue
            self.privileged = privileged
            log.info("ICMP checks use %s sockets", "raw" if privileged else "unprivileged")
            return sock
        raise NoIcmpSocketError(SOCKET_HELP)


def summary(sent: int, rtts: list[float]) -> dict[str, Any]:
    """Loss and round-trip figures (milliseconds) of one check."""
    received = len(rtts)
    return {
        "sent": sent,
        "received": received,
        "loss": round(100.0 * (sent - received) / sent, 1) if sent else 100.0,
        "min_ms": round(min(rtts), 3) if rtts else None,
        "avg_ms": round(sum(rtts) / received, 3) if rtts else None,
        "max_ms": round(max(rtts), 3) if rtts else None,
    }


async def check_icmp(
    website_id: int,
    target: IcmpTarget,
    seconds: float,
    checked_at: datetime,
    sockets: Sockets,
) -> CheckResult:
    """One check of ``target``, all of it within ``seconds``."""
    loop = asyncio.get_running_loop()
    timings = Timings()
    started = perf_counter()
    result = CheckResult(website_id, checked_at, ok=False, timings=timings)
    try:
        addresses = await resolve(target.host, 0, timings, loop)
    except FailedError as failed:
        result.error_kind, result.error_message = failed.kind, failed.message
        timings.total_ms = None
        return result
    address = addresses[0][1]
    left = seconds - (perf_counter() - started)
    # Each reply may take its share of what the pauses leave of the timeout.
    wait = max(0.05, (left - target.interval * (target.count - 1)) / target.count)
    rtts: list[float] = []
    sent = 0
    problem: str | None = None
    ident = unique_identifier()  # raw sockets see every reply: tell ours apart
    with sockets.open(":" in address) as sock:
        for sequence in range(target.count):
            if sequence:
                await asyncio.sleep(target.interval)
            request = ICMPRequest(destination=address, id=ident, sequence=sequence)
            try:
                sock.send(request)
                sent += 1
                reply = await sock.receive(request, wait)
                reply.raise_for_status()
            except TimeoutExceeded:
                continue
            except ICMPError as exc:  # destination unreachable, time exceeded
                problem = str(exc)
                continue
            except ICMPLibError as exc:  # sending failed: no route, network down
                problem = str(exc)
                sent = max(sent, sequence + 1)
                continue
            rtts.append((reply.time - request.time) * 1000)
    figures = summary(sent, rtts)
    result.details = {"address": address, **figures}
    timings.total_ms = figures["avg_ms"]
    if not rtts:
        result.error_kind = "connection" if problem else "timeout"
        result.error_message = (
            f"no reply from {address} to {sent} echo request{'s' if sent != 1 else ''}"
            + (f": {problem}" if problem else f" within {wait:.3g}s each")
        )
    elif figures["loss"] > target.max_loss:
        result.error_kind = "loss"
        result.error_message = (
            f"{figures['loss']:g}% of {sent} echo requests lost, more than max_loss "
            f"({target.max_loss:g}%)"
        )
    elif target.max_rtt is not None and figures["avg_ms"] > target.max_rtt * 1000:
        result.error_kind = "slow"
        result.error_message = (
            f"average round trip {figures['avg_ms']:.1f} ms, more than max_rtt "
            f"({target.max_rtt * 1000:g} ms)"
        )
    else:
        result.ok = True
    return result
