"""What libcurl brings to HTTP checks, against real servers on loopback: HTTP/2
(nginx, over TLS and cleartext), a proxy with credentials (tinyproxy, plain and
CONNECT), and keep-alive when a website asks for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sitewatch.checker.probe import Prober
from sitewatch.checker.target import Target
from sitewatch.config.models import Website
from tests.targets import LocalCA, TargetServer, leaf_files, make_ca
from tests.webservers import Nginx, TinyProxy


def target(url: str, **spec: Any) -> Target:
    return Target.of(Website.model_validate({"name": "t", "url": url, **spec}), website_id=7)


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return make_ca(tmp_path)


@pytest.fixture
async def nginx(
    tmp_path: Path, ca: LocalCA, require_tool: Callable[[str, str], Path]
) -> AsyncIterator[Nginx]:
    binary = require_tool("nginx", "nginx-light")
    cert, key = leaf_files(tmp_path, ca, not_after=datetime.now(UTC) + timedelta(days=30))
    async with Nginx(tmp_path / "nginx", binary, cert, key) as server:
        yield server


@pytest.mark.parametrize(
    ("scheme", "version", "spoken"),
    [
        ("https", "auto", "HTTP/2.0"),  # offered over TLS (ALPN): taken
        ("https", "1.1", "HTTP/1.1"),
        ("https", 2, "HTTP/2.0"),
        ("http", "auto", "HTTP/1.1"),
        ("http", 2, "HTTP/2.0"),  # cleartext, prior knowledge
    ],
)
async def test_http2_where_offered_or_asked_for(
    nginx: Nginx, ca: LocalCA, scheme: str, version: str | int, spoken: str
) -> None:
    port = nginx.tls_port if scheme == "https" else nginx.h2c_port
    if scheme == "http" and version == "auto":
        port = nginx.plain_port
    async with Prober(ssl_context=ca.client_context()) as prober:
        result = await prober.check(
            target(
                f"{scheme}://localhost:{port}/",
                http_version=version,
                body_contains=spoken,
            )
        )
    assert result.ok, result.error_message
    assert result.timings is not None and result.timings.first_byte_ms is not None


async def test_http2_required_from_a_server_without_it(nginx: Nginx) -> None:
    async with Prober() as prober:
        result = await prober.check(
            target(f"http://127.0.0.1:{nginx.plain_port}/", http_version="1.1")
        )
        assert result.ok, result.error_message
    async with TargetServer() as server, Prober() as prober:
        result = await prober.check(target(server.url("/text"), http_version="2"))
    assert result.error_kind in ("http", "connection"), result.error_message
    assert not result.ok


async def test_through_a_proxy_with_credentials(
    tmp_path: Path, ca: LocalCA, require_tool: Callable[[str, str], Path]
) -> None:
    binary = require_tool("tinyproxy", "tinyproxy")
    not_after = datetime.now(UTC) + timedelta(days=30)
    async with (
        TinyProxy(tmp_path / "proxy", binary, "monitor", "s3cret-pw") as proxy,
        TargetServer() as plain,
        TargetServer(ca.server_context(tmp_path, not_after=not_after)) as tls,
        Prober(ssl_context=ca.client_context()) as prober,
    ):
        through = f"http://monitor:s3cret-pw@127.0.0.1:{proxy.port}"
        result = await prober.check(target(plain.url("/text"), proxy=through))
        assert result.ok, result.error_message
        # https through it: a CONNECT tunnel, the certificate still checked and read.
        secure = await prober.check(target(tls.url("/text", host="localhost"), proxy=through))
        assert secure.ok, secure.error_message
        assert secure.cert_expires_at is not None
        assert secure.timings is not None and secure.timings.tls_ms is not None
        served = proxy.requests()
        assert f"GET {plain.url('/text')}" in served and "CONNECT localhost:" in served
        # Wrong credentials: the proxy refuses (tinyproxy says 401), and the password
        # is nowhere in the result.
        wrong = f"http://monitor:not-it@127.0.0.1:{proxy.port}"
        refused = await prober.check(target(plain.url("/text"), proxy=wrong))
        assert (refused.ok, refused.status_code) == (False, 401)
        assert "not-it" not in (refused.error_message or "")


async def test_a_proxy_that_is_not_there(tmp_path: Path) -> None:
    from tests.targets import closed_port

    async with TargetServer() as server, Prober() as prober:
        result = await prober.check(
            target(server.url("/text"), proxy=f"http://127.0.0.1:{closed_port()}")
        )
    assert result.error_kind in ("refused", "connection"), result.error_message


async def test_connections_are_fresh_unless_reuse_connection(tmp_path: Path) -> None:
    async with TargetServer() as server, Prober() as prober:
        fresh = [await prober.check(target(server.url("/text"))) for _ in range(2)]
        reused = [
            await prober.check(target(server.url("/text"), reuse_connection=True)) for _ in range(2)
        ]
    for result in [*fresh, reused[0]]:
        assert result.ok and result.timings is not None
        assert result.timings.connect_ms is not None  # a new connection
    second = reused[1].timings
    assert reused[1].ok and second is not None
    assert second.connect_ms is None and second.first_byte_ms is not None  # kept alive


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("proxy.example.com:3128", "a proxy URL such as"),
        ("ftp://proxy.example.com", "a proxy URL such as"),
        ("http://", "a proxy URL such as"),
    ],
)
def test_a_proxy_must_be_a_proxy_url(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Website.model_validate({"name": "t", "url": "https://x.example/", "proxy": given})


def test_http_version_reads_yaml_numbers() -> None:
    for given, read in ((2, "2"), (1.1, "1.1"), ("auto", "auto")):
        site = Website.model_validate({"name": "t", "url": "https://x/", "http_version": given})
        assert site.http_version == read
    with pytest.raises(ValueError, match="http_version"):
        Website.model_validate({"name": "t", "url": "https://x/", "http_version": 3})
