"""DNS checks against a real DNS server on a loopback port: Debian's dnsmasq,
started here with its own zone (records that change during the test), plus a
resolver that answers SERVFAIL and one that never answers."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest

from sitewatch.checker.dns import DnsTarget, answer_values, judge, normalise
from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.target import Target
from sitewatch.config.models import DnsCheck, parse_check, resolver_address
from tests.waiting import eventually


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dnsmasq:
    """dnsmasq serving the zone ``test`` on 127.0.0.1:``port`` (UDP and TCP)."""

    def __init__(self, binary: Path, folder: Path) -> None:
        self.binary = binary
        self.hosts = folder / "hosts"
        self.port = free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.hosts.write_text("192.0.2.10 web.test\n192.0.2.11 web.test\n2001:db8::10 web.test\n")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                f"--port={self.port}",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--pid-file=",
                "--user=root",
                "--local=/test/",  # authoritative for test: unknown names are NXDOMAIN
                f"--addn-hosts={self.hosts}",
                "--cname=www.test,web.test",
                "--mx-host=test,mail.test,10",
                "--txt-record=test,v=spf1 -all",
                "--caa-record=test,0,issue,ca.example.net",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Until dnsmasq answers (a generous deadline: a busy machine starts it slowly)."""
        deadline = time.monotonic() + seconds
        query = dns.message.make_query("web.test", "A")
        while True:
            assert self.process is not None and self.process.poll() is None, "dnsmasq exited"
            try:
                dns.query.udp(query, "127.0.0.1", timeout=0.5, port=self.port)
                return
            except (dns.exception.Timeout, OSError):
                if time.monotonic() > deadline:
                    raise

    def change_addresses(self, text: str) -> None:
        """New A/AAAA records; dnsmasq re-reads its hosts file on SIGHUP."""
        assert self.process is not None
        self.hosts.write_text(text)
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def dnsmasq(require_tool: Callable[[str, str], Path], tmp_path: Path) -> Iterator[Dnsmasq]:
    server = Dnsmasq(require_tool("dnsmasq", "dnsmasq"), tmp_path)
    server.start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class _Answering(asyncio.DatagramProtocol):
    """A resolver that answers every query with one response code (or never)."""

    def __init__(self, rcode: int | None) -> None:
        self.rcode = rcode
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.rcode is None or self.transport is None:
            return  # silence: a resolver that times out
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.set_rcode(self.rcode)
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def fake_resolver() -> AsyncIterator[Callable[[int | None], asyncio.Future[int]]]:
    transports: list[asyncio.DatagramTransport] = []
    loop = asyncio.get_running_loop()

    async def start(rcode: int | None) -> int:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Answering(rcode), local_addr=("127.0.0.1", 0)
        )
        transports.append(transport)
        return int(transport.get_extra_info("sockname")[1])

    yield start  # type: ignore[misc]
    for transport in transports:
        transport.close()


async def check(port: int, domain: str, record: str = "A", **fields: object) -> CheckResult:
    spec = {
        "type": "dns",
        "name": "d",
        "domain": domain,
        "record": record,
        "resolver": f"127.0.0.1:{port}",
        **fields,
    }
    async with Prober() as prober:
        return await prober.check(Target.of(parse_check(spec)))


async def test_records_and_expectations(dnsmasq: Dnsmasq) -> None:
    port = dnsmasq.port
    a = await check(port, "web.test", expect=["192.0.2.10", "192.0.2.11"], exact=True)
    assert a.ok, a.error_message
    assert a.details is not None and sorted(a.details["answers"]) == ["192.0.2.10", "192.0.2.11"]
    assert a.details["rcode"] == "NOERROR" and a.details["protocol"] == "udp"
    assert a.timings is not None and a.timings.dns_ms is not None
    aaaa = await check(port, "web.test", "AAAA", expect="2001:db8:0:0::10")
    assert aaaa.ok, aaaa.error_message
    cname = await check(port, "www.test", "CNAME", expect="WEB.test.")
    assert cname.ok, cname.error_message
    mx = await check(port, "test", "MX", expect="10 mail.test")
    assert mx.ok, mx.error_message
    txt = await check(port, "test", "TXT", expect="v=spf1 -all")
    assert txt.ok, txt.error_message
    caa = await check(port, "test", "CAA", expect='0 issue "ca.example.net"')
    assert caa.ok, caa.error_message
    over_tcp = await check(port, "web.test", protocol="tcp", expect="192.0.2.10")
    assert over_tcp.ok and (over_tcp.details or {})["protocol"] == "tcp", over_tcp
    missing = await check(port, "web.test", expect="192.0.2.99")
    assert missing.error_kind == "assertion"
    assert missing.error_message == ("the A answer lacks 192.0.2.99 (got 192.0.2.10, 192.0.2.11)")
    extra = await check(port, "web.test", expect="192.0.2.10", exact=True)
    assert extra.error_kind == "assertion"
    assert "holds more than expected: 192.0.2.11" in (extra.error_message or "")


async def test_a_record_that_changes(dnsmasq: Dnsmasq) -> None:
    port = dnsmasq.port

    async def answers(value: str) -> bool:
        return (await check(port, "web.test", expect=value, exact=True)).ok

    first = await check(port, "web.test", expect="192.0.2.10")
    assert first.ok, first.error_message
    dnsmasq.change_addresses("198.51.100.7 web.test\n")
    await eventually(lambda: answers("198.51.100.7"), what="the changed record")
    moved = await check(port, "web.test", expect="192.0.2.10")
    assert moved.error_kind == "assertion"
    assert "lacks 192.0.2.10 (got 198.51.100.7)" in (moved.error_message or "")


async def test_nxdomain_no_record_and_refused(dnsmasq: Dnsmasq) -> None:
    port = dnsmasq.port
    gone = await check(port, "nothing.test")
    assert gone.error_kind == "nxdomain"
    assert gone.error_message == f"nothing.test does not exist (NXDOMAIN from 127.0.0.1:{port})"
    no_mx = await check(port, "web.test", "MX")
    assert no_mx.error_kind == "dns"
    assert no_mx.error_message == "web.test has no MX record"
    elsewhere = await check(port, "example.org")  # not its zone, and no upstream
    assert elsewhere.error_kind == "dns"
    assert f"127.0.0.1:{port} answered REFUSED for example.org" == elsewhere.error_message


async def test_servfail_and_silence(
    fake_resolver: Callable[[int | None], asyncio.Future[int]],
) -> None:
    failing = await fake_resolver(dns.rcode.SERVFAIL)
    result = await check(failing, "example.org")
    assert result.error_kind == "servfail"
    assert result.error_message == f"127.0.0.1:{failing} failed to resolve example.org (SERVFAIL)"
    silent = await fake_resolver(None)
    quiet = await check(silent, "example.org", timeout="1s")
    assert quiet.error_kind == "timeout"
    assert quiet.error_message == f"no answer from 127.0.0.1:{silent} within 1s"


async def test_the_system_resolvers_are_tried_in_turn(
    fake_resolver: Callable[[int | None], asyncio.Future[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    silent = await fake_resolver(None)
    failing = await fake_resolver(dns.rcode.SERVFAIL)
    spec = {"type": "dns", "name": "d", "domain": "example.org", "timeout": "2s"}
    async with Prober() as prober:
        monkeypatch.setattr(
            prober.resolvers, "servers", lambda: [("127.0.0.1", silent), ("127.0.0.1", failing)]
        )
        result = await prober.check(Target.of(parse_check(spec)))
    # The first said nothing within its half of the time; the second answered.
    assert result.error_kind == "servfail", result
    assert (result.details or {})["resolver"] == f"127.0.0.1:{failing}"


def test_values_compare_as_dig_prints_them() -> None:
    assert normalise("A", "192.0.2.1") == "192.0.2.1"
    assert normalise("AAAA", "2001:DB8::0:1") == "2001:db8::1"
    assert normalise("MX", "10  Mail.Example.org.") == "10 mail.example.org"
    assert normalise("TXT", '"v=spf1 -all"') == "v=spf1 -all"
    assert normalise("CAA", '0 ISSUE "letsencrypt.org"') == "0 issue letsencrypt.org"
    assert normalise("SOA", "ns1.example.org. Host.example.org. 1 2 3 4 5") == (
        "ns1.example.org host.example.org 1 2 3 4 5"
    )
    response = dns.message.make_response(dns.message.make_query("example.org", "NS"))
    response.answer.append(
        dns.rrset.from_text(
            "example.org.", 300, "IN", "NS", "a.iana-servers.net.", "B.iana-servers.net."
        )
    )
    values, ttl = answer_values("NS", response)
    assert sorted(values) == ["a.iana-servers.net", "b.iana-servers.net"] and ttl == 300
    target = DnsTarget.of("example.org", "NS", expect=["a.iana-servers.net."])
    assert judge(target, values) is None


def test_a_dns_entry_validates() -> None:
    check = parse_check(
        {
            "type": "dns",
            "name": "Mail",
            "domain": "example.org",
            "record": "MX",
            "resolver": "[2001:db8::53]:5353",
        }
    )
    assert isinstance(check, DnsCheck)
    assert check.target == "dns://example.org/MX@[2001:db8::53]:5353"
    assert resolver_address("10.0.0.53") == ("10.0.0.53", 53)
    assert resolver_address("[::1]:5353") == ("::1", 5353)
    for bad in ("dns.example.org", "10.0.0.53:99999", "[::1]x"):
        with pytest.raises(ValueError, match="resolver"):
            resolver_address(bad)
    with pytest.raises(ValueError, match="exact: true needs"):
        parse_check({"type": "dns", "name": "x", "domain": "example.org", "exact": True})
    with pytest.raises(ValueError, match="record"):
        parse_check({"type": "dns", "name": "x", "domain": "example.org", "record": "PTR"})
