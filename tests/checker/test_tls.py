"""TLS checks against real TLS servers on loopback, with certificates made here:
valid, expired, expiring in 5 days, for another name, self-signed, and a
server that speaks only TLS 1.0 (where the local OpenSSL still can)."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.target import Target
from sitewatch.checker.tls import expiry_problem
from sitewatch.config.models import TlsCheck, parse_check
from tests.targets import LocalCA, closed_port, make_ca, server_context

Serve = Callable[[ssl.SSLContext], Awaitable[int]]


def leaf(
    tmp: Path, signer: LocalCA | None, *, not_after: datetime, name: str = "localhost"
) -> ssl.SSLContext:
    return server_context(tmp, signer, not_after=not_after, name=name)


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return make_ca(tmp_path)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a TLS server on loopback that greets and closes; its port."""
    servers: list[asyncio.Server] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def start(context: ssl.SSLContext) -> int:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def check(ca: LocalCA, port: int, **fields: object) -> CheckResult:
    spec = {"type": "tls", "name": "t", "host": "127.0.0.1", "port": port, **fields}
    async with Prober(ssl_context=ca.client_context()) as prober:
        return await prober.check(Target.of(parse_check(spec)))


NOW = datetime.now(UTC)


async def test_a_valid_certificate(ca: LocalCA, serve: Serve, tmp_path: Path) -> None:
    port = await serve(leaf(tmp_path, ca, not_after=NOW + timedelta(days=90)))
    result = await check(ca, port, server_name="localhost")
    assert result.ok, result.error_message
    t = result.timings
    assert t is not None and t.connect_ms is not None and t.tls_ms is not None
    assert t.dns_ms is None  # an address: nothing to resolve
    facts = result.details or {}
    assert facts["subject"] == "CN=localhost"
    assert facts["issuer"] == "CN=sitewatch test CA"
    assert facts["names"] == ["localhost", "127.0.0.1"]
    assert facts["version"] in ("TLSv1.2", "TLSv1.3")
    assert result.cert_expires_at is not None
    assert abs((result.cert_expires_at - (NOW + timedelta(days=90))).total_seconds()) < 2


async def test_an_expired_certificate(ca: LocalCA, serve: Serve, tmp_path: Path) -> None:
    port = await serve(leaf(tmp_path, ca, not_after=NOW - timedelta(days=2)))
    result = await check(ca, port)
    assert result.error_kind == "tls"
    assert "certificate has expired" in (result.error_message or "")
    # The certificate that failed is still described.
    assert (result.details or {}).get("subject") == "CN=localhost"
    unverified = await check(ca, port, verify_tls=False)
    assert unverified.error_kind == "tls"
    assert (unverified.error_message or "").startswith("the certificate expired on ")


async def test_a_certificate_expiring_in_five_days(
    ca: LocalCA, serve: Serve, tmp_path: Path
) -> None:
    port = await serve(leaf(tmp_path, ca, not_after=NOW + timedelta(days=5, hours=1)))
    soon = await check(ca, port)  # tls_expiry_days defaults to 14
    assert soon.error_kind == "tls"
    assert "expires in 5 days" in (soon.error_message or "")
    assert "within tls_expiry_days (14)" in (soon.error_message or "")
    fine = await check(ca, port, tls_expiry_days=3)
    assert fine.ok, fine.error_message


async def test_a_certificate_for_another_name(ca: LocalCA, serve: Serve, tmp_path: Path) -> None:
    port = await serve(leaf(tmp_path, ca, not_after=NOW + timedelta(days=90), name="db.test"))
    wrong = await check(ca, port, server_name="other.test")
    assert wrong.error_kind == "tls"
    assert "Hostname mismatch" in (wrong.error_message or "")
    right = await check(ca, port, server_name="db.test")
    assert right.ok, right.error_message
    assert right.details is not None and right.details["server_name"] == "db.test"


async def test_a_self_signed_certificate(ca: LocalCA, serve: Serve, tmp_path: Path) -> None:
    port = await serve(leaf(tmp_path, None, not_after=NOW + timedelta(days=90)))
    refused = await check(ca, port)
    assert refused.error_kind == "tls"
    assert "self-signed certificate" in (refused.error_message or "")
    accepted = await check(ca, port, verify_tls=False)
    assert accepted.ok, accepted.error_message
    assert (accepted.details or {})["issuer"] == "CN=localhost"


async def test_a_server_that_speaks_only_tls_1_0(ca: LocalCA, serve: Serve, tmp_path: Path) -> None:
    context = leaf(tmp_path, ca, not_after=NOW + timedelta(days=90))
    try:
        with warnings.catch_warnings():  # TLS 1.0 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"the local OpenSSL cannot serve TLS 1.0: {exc}")
    port = await serve(context)
    old = await check(ca, port, min_version="1.0")
    if not old.ok:
        pytest.skip(f"the local OpenSSL cannot speak TLS 1.0: {old.error_message}")
    assert (old.details or {})["version"] == "TLSv1"
    modern = await check(ca, port)  # min_version 1.2
    assert modern.error_kind == "tls"
    # Python's server drops the connection; OpenSSL servers send an alert first.
    assert "no TLS version from 1.2 up" in (modern.error_message or ""), modern


async def test_what_is_not_a_tls_server(ca: LocalCA) -> None:
    refused = await check(ca, closed_port())
    assert refused.error_kind == "refused"

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # says nothing; until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    silent = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        result = await check(ca, port)
        assert result.error_kind == "tls", result
        assert "does not speak TLS" in (result.error_message or "")
        quiet = await check(ca, silent.sockets[0].getsockname()[1], timeout="1s")
        assert quiet.error_kind == "timeout"
        assert quiet.error_message == "no TLS handshake within 1s"
    finally:
        for s in (server, silent):
            s.close()
            await s.wait_closed()


def test_expiry_wording() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert expiry_problem(now + timedelta(days=30), 14, now) is None
    assert expiry_problem(now + timedelta(days=1, hours=2), 14, now) == (
        "the certificate expires in 1 day (2026-12-04 02:00 UTC), within tls_expiry_days (14)"
    )
    assert expiry_problem(now - timedelta(seconds=1), 0, now) == (
        "the certificate expired on 2026-12-02 23:59 UTC"
    )


def test_a_tls_entry_validates() -> None:
    check = parse_check({"type": "tls", "name": "Mail", "host": "mail.example.org", "port": 465})
    assert isinstance(check, TlsCheck)
    assert check.target == "tls://mail.example.org:465"
    assert check.sni == "mail.example.org" and check.min_version == "1.2"
    numeric = parse_check({"type": "tls", "name": "x", "host": "h", "min_version": 1.3})
    assert isinstance(numeric, TlsCheck) and numeric.min_version == "1.3"  # YAML's 1.3
    with pytest.raises(ValueError, match="min_version"):
        parse_check({"type": "tls", "name": "x", "host": "h", "min_version": "1.4"})
