"""``sitewatch check URL``: one probe, printed with its timing breakdown."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.rcode

from tests.targets import TargetServer, make_ca


async def sitewatch(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sitewatch",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_check_prints_timings_and_passes() -> None:
    async with TargetServer() as server:
        code, out, _ = await sitewatch(
            "check", server.url("/text", host="localhost"), "--contains", "hello"
        )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"GET {server.url('/text', host='localhost')} -> 200 OK"
    for label in ("DNS", "connect", "first byte", "total"):
        assert any(re.fullmatch(rf"  {label} +\d+\.\d ms", line) for line in lines), (label, out)
    assert "TLS" not in out
    assert lines[-1] == "OK: every expectation holds"


async def test_check_fails_with_kind_and_message() -> None:
    async with TargetServer() as server:
        code, out, _ = await sitewatch(
            "check", server.url("/status/503"), "--expect", "200,301", "--method", "head"
        )
    assert code == 1
    assert out.splitlines()[0].endswith("-> 503 Service Unavailable")
    assert out.splitlines()[-1] == "FAIL status: got 503, expected 200 or 301"


async def test_check_rejects_bad_arguments() -> None:
    code, _, err = await sitewatch("check", "http://127.0.0.1/", "--timeout", "soon")
    assert code == 2
    assert "timeout: expected a duration such as 30s, 5m or 1h" in err
    code, _, err = await sitewatch("check", "http://127.0.0.1/", "--header", "novalue")
    assert code == 2 and "expected Name: value" in err


async def test_check_probes_every_type(tmp_path: Path) -> None:
    """TLS (a server with a certificate made here), DNS (a resolver answering on
    loopback), ping and the refusals, as a person would run them."""
    ca = make_ca(tmp_path)
    context = ca.server_context(tmp_path, not_after=datetime.now(UTC) + timedelta(days=90))
    server = await asyncio.start_server(_closing, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        code, out, _ = await sitewatch("check", f"tls://127.0.0.1:{port}", "--insecure")
    finally:
        server.close()
        await server.wait_closed()
    assert code == 0, out
    assert re.match(
        rf"TLS tls://127\.0\.0\.1:{port} -> handshake TLSv1\.[23]$", out.splitlines()[0]
    )
    assert "  subject    CN=localhost" in out and "  issuer     CN=sitewatch test CA" in out
    assert re.search(r"  TLS +\d+\.\d ms", out) and "certificate expires in 89 days" in out

    code, out, _ = await sitewatch("check", "icmp://127.0.0.1", "--ping-interval", "10ms")
    if "ICMP socket" not in out:  # where the kernel allows no ICMP socket at all
        assert code == 0, out
        assert out.splitlines()[0] == "ICMP icmp://127.0.0.1 -> 3/3 replies from 127.0.0.1"
        assert re.search(r"  min/avg/max [\d.]+/[\d.]+/[\d.]+ ms, 0% loss", out)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _Refusing, local_addr=("127.0.0.1", 0)
    )
    resolver = transport.get_extra_info("sockname")[1]
    try:
        code, out, _ = await sitewatch(
            "check",
            "--type",
            "dns",
            "example.org",
            "--record",
            "mx",
            "--resolver",
            f"127.0.0.1:{resolver}",
            "--timeout",
            "5s",
        )
    finally:
        transport.close()
    assert code == 1, out
    assert (
        out.splitlines()[0]
        == "DNS dns://example.org/MX@127.0.0.1:" + str(resolver) + " -> REFUSED, 0 answers"
    )
    assert out.splitlines()[-1] == (
        f"FAIL dns: 127.0.0.1:{resolver} answered REFUSED for example.org"
    )

    code, _, err = await sitewatch("check", "heartbeat://backup")
    assert code == 2 and "a heartbeat is not probed" in err
    code, _, err = await sitewatch("check", "ftp://example.org/")
    assert code == 2 and "expected an http(s)://, tcp://, tls://, dns:// or icmp:// URL" in err
    code, _, err = await sitewatch("check", "--type", "tcp", "tls://h:1")
    assert code == 2 and "is not a tcp URL" in err
    code, _, err = await sitewatch("check", "--type", "dns", "example.org", "--record", "PTR")
    assert code == 2 and "record" in err


async def _closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


class _Refusing(asyncio.DatagramProtocol):
    """A resolver that refuses every query."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        answer = dns.message.make_response(query)
        answer.set_rcode(dns.rcode.REFUSED)
        self.transport.sendto(answer.to_wire(), addr)  # type: ignore[attr-defined]
