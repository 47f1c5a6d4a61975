"""Ping checks: 127.0.0.1, and a host in a network namespace made here (a veth
pair into it) that answers, then is taken down. Where namespaces cannot be
made (no CAP_NET_ADMIN), that half is skipped, saying why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sitewatch.checker.icmp import Sockets, summary
from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.target import Target
from sitewatch.config.models import IcmpCheck, parse_check
from tests.waiting import eventually


async def ping(host: str, prober: Prober | None = None, **fields: object) -> CheckResult:
    spec = {"type": "icmp", "name": "p", "host": host, "ping_interval": "50ms", **fields}
    target = Target.of(parse_check(spec))
    if prober is not None:
        return await prober.check(target)
    async with Prober() as fresh:
        return await fresh.check(target)


async def test_ping_loopback() -> None:
    result = await ping("127.0.0.1", count=3)
    if result.internal:
        pytest.skip(f"no ICMP socket here: {result.error_message}")
    assert result.ok, result.error_message
    facts = result.details or {}
    assert facts["sent"] == 3 and facts["received"] == 3 and facts["loss"] == 0.0
    assert facts["min_ms"] <= facts["avg_ms"] <= facts["max_ms"]
    assert result.timings is not None and result.timings.total_ms == facts["avg_ms"]
    slow = await ping("127.0.0.1", count=2, max_rtt="1ms", timeout="5s")
    # Loopback answers in microseconds; a busy machine may still take 1 ms.
    assert slow.ok or slow.error_kind == "slow"
    named = await ping("localhost", count=1)
    assert named.ok and named.timings is not None and named.timings.dns_ms is not None


NAMESPACE = f"swtest{os.getpid()}"
OUTSIDE, INSIDE = "10.231.7.1", "10.231.7.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespace(require_tool: Callable[[str, str], Path]) -> Iterator[tuple[str, str]]:
    """A network namespace holding INSIDE, reached over a veth pair: its name and
    the name of the pair's outer end."""
    require_tool("ip", "iproute2")
    try:
        _ip("netns", "add", NAMESPACE)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot make a network namespace here: {exc.stderr.decode().strip()}")
    outer, inner = f"swo{os.getpid() % 100000}", f"swi{os.getpid() % 100000}"
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", NAMESPACE)
        _ip("addr", "add", f"{OUTSIDE}/30", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("-n", NAMESPACE, "addr", "add", f"{INSIDE}/30", "dev", inner)
        _ip("-n", NAMESPACE, "link", "set", inner, "up")
        _ip("-n", NAMESPACE, "link", "set", "lo", "up")
        yield NAMESPACE, outer
    finally:
        subprocess.run(["ip", "netns", "del", NAMESPACE], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", outer], capture_output=True, timeout=30)


async def test_a_host_that_answers_then_goes_away(namespace: tuple[str, str]) -> None:
    name, outer = namespace
    async with Prober() as prober:
        there = await ping(INSIDE, prober, count=3)
        if there.internal:
            pytest.skip(f"no ICMP socket here: {there.error_message}")
        assert there.ok, there.error_message
        assert (there.details or {})["received"] == 3
        _ip("netns", "del", name)  # the host, its link and its route go...

        def link_gone() -> bool:
            shown = subprocess.run(["ip", "link", "show", outer], capture_output=True, timeout=30)
            return shown.returncode != 0

        await eventually(link_gone, what="the namespace torn down")  # ...a moment later
        gone = await ping(INSIDE, prober, count=2, timeout="2s")
        assert not gone.ok
        assert gone.error_kind in ("timeout", "connection"), gone
        assert (gone.error_message or "").startswith(f"no reply from {INSIDE} to 2 echo requests")
        assert (gone.details or {})["loss"] == 100.0
        assert gone.timings is not None and gone.timings.total_ms is None


def test_loss_and_round_trips_add_up() -> None:
    assert summary(4, [1.0, 3.0]) == {
        "sent": 4,
        "received": 2,
        "loss": 50.0,
        "min_ms": 1.0,
        "avg_ms": 2.0,
        "max_ms": 3.0,
    }
    assert summary(0, [])["loss"] == 100.0


def test_an_icmp_entry_validates() -> None:
    check = parse_check({"type": "icmp", "name": "Gateway", "host": "10.0.0.1", "max_loss": "20%"})
    assert isinstance(check, IcmpCheck)
    assert check.max_loss == 20.0 and check.count == 3 and check.target == "icmp://10.0.0.1"
    with pytest.raises(ValueError, match="a percentage is between 0% and 100%"):
        parse_check({"type": "icmp", "name": "x", "host": "h", "max_loss": "120%"})
    with pytest.raises(ValueError, match="need more than the timeout"):
        parse_check({"type": "icmp", "name": "x", "host": "h", "count": 50, "ping_interval": "1s"})


def test_the_socket_kind_is_found_once() -> None:
    sockets = Sockets()
    try:
        first = sockets.open(False)
    except PermissionError as exc:
        pytest.skip(str(exc))
    first.close()
    assert sockets.privileged is not None
    again = sockets.open(False)
    again.close()
