"""The probe against real servers on loopback: every failure kind, the timing
breakdown, redirects, body limits and certificates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sitewatch.checker.probe import Prober
from sitewatch.checker.result import CheckResult
from sitewatch.checker.target import Target
from sitewatch.config.models import Website
from tests.targets import LocalCA, TargetServer, closed_port, make_ca


def target(url: str, **spec: Any) -> Target:
    return Target.of(Website.model_validate({"name": "t", "url": url, **spec}), website_id=7)


@pytest.fixture
async def server() -> AsyncIterator[TargetServer]:
    async with TargetServer() as s:
        yield s


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    async with Prober(max_body_bytes=64 * 1024) as p:
        yield p


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return make_ca(tmp_path)


async def test_passing_check_has_status_size_and_timings(
    server: TargetServer, prober: Prober
) -> None:
    result = await prober.check(target(server.url("/text")))
    assert result.ok, result.error_message
    assert (result.status_code, result.size_bytes, result.error_kind) == (200, 16, None)
    assert result.website_id == 7
    t = result.timings
    assert t is not None and t.total_ms is not None
    assert t.dns_ms is None  # an IP address: no lookup
    assert t.tls_ms is None  # plain http
    assert t.connect_ms is not None and t.first_byte_ms is not None
    assert 0 < t.connect_ms < t.total_ms and 0 < t.first_byte_ms < t.total_ms
    assert result.final_url is None and result.cert_expires_at is None


async def test_host_name_is_resolved_and_timed(server: TargetServer, prober: Prober) -> None:
    result = await prober.check(target(server.url("/text", host="localhost")))
    assert result.ok, result.error_message
    assert result.timings is not None and result.timings.dns_ms is not None
    assert result.timings.dns_ms > 0


async def test_waiting_server_is_timed_as_first_byte(server: TargetServer, prober: Prober) -> None:
    result = await prober.check(target(server.url("/delay/200")))
    t = result.timings
    assert t is not None and t.first_byte_ms is not None and t.total_ms is not None
    assert (
        195 <= t.first_byte_ms <= t.total_ms
    )  # the server waits 200 ms; no upper bound: a busy machine


@pytest.mark.parametrize(
    ("path", "spec", "kind", "message"),
    [
        ("/status/500", {}, "status", "got 500, expected 2xx"),
        (
            "/status/404",
            {"expected_status": [200, "3xx"]},
            "status",
            "got 404, expected 200 or 3xx",
        ),
        ("/status/404", {"expected_status": 404}, None, None),
        ("/text", {"body_contains": "goodbye"}, "assertion", "body_contains: 'goodbye' not found"),
        ("/text?body=v2.4", {"body_regex": r"v\d+\.\d+$"}, None, None),
        ("/text", {"body_regex": "^nope"}, "assertion", "body_regex: /^nope/ does not match"),
        ("/delay/300", {"max_response_time": "100ms"}, "slow", "over max_response_time 100ms"),
        ("/delay/2000", {"timeout": "300ms"}, "timeout", "no complete answer within 300ms"),
        ("/large/70000", {}, None, None),  # over the limit, but nothing needs the body
        ("/large/70000", {"body_contains": "x"}, "too_large", "larger than the read limit"),
        ("/drop", {}, "connection", "closed the connection"),
        ("/redirect/12", {}, "http", "more than 10 redirects"),
        ("/redirect", {"follow_redirects": False}, "status", "got 302"),
    ],
)
async def test_failure_kinds(
    server: TargetServer,
    prober: Prober,
    path: str,
    spec: dict[str, Any],
    kind: str | None,
    message: str | None,
) -> None:
    result = await prober.check(target(server.url(path), **spec))
    assert result.error_kind == kind, result.error_message
    assert result.ok is (kind is None)
    if message is not None:
        assert result.error_message is not None and message in result.error_message


async def test_refused(prober: Prober) -> None:
    port = closed_port()
    result = await prober.check(target(f"http://127.0.0.1:{port}/"))
    assert (result.error_kind, result.error_message) == (
        "refused",
        f"connection refused by 127.0.0.1:{port}",
    )
    assert result.timings is not None and result.timings.first_byte_ms is None


async def test_dns_failure(prober: Prober) -> None:
    # .invalid never resolves (RFC 2606); the lookup stays on this machine.
    result = await prober.check(target("http://sitewatch-test.invalid/"))
    assert result.error_kind == "dns"
    assert result.error_message is not None
    assert result.error_message.startswith("cannot resolve sitewatch-test.invalid")


async def test_redirect_records_final_url(server: TargetServer, prober: Prober) -> None:
    result = await prober.check(target(server.url("/redirect/3?to=/text")))
    assert result.ok and result.final_url == server.url("/text")


@pytest.mark.parametrize(
    ("assertion", "failure"),
    [
        ({"path": "$.status", "equals": "ok"}, None),
        ({"path": "$.status", "equals": "degraded"}, '$.status is "ok", expected "degraded"'),
        ({"path": "$.checks[0].ok", "equals": True}, None),
        ({"path": "$.checks[*].name", "matches": "^d"}, None),
        ({"path": "$.load", "less_than": 0.3}, "$.load is 0.4, expected less than 0.3"),
        ({"path": "$.missing", "exists": False}, None),
        ({"path": "$.missing", "equals": 1}, "$.missing does not exist"),
        ({"path": "$.version", "contains": "2.4"}, None),
    ],
)
async def test_json_assertions(
    server: TargetServer, prober: Prober, assertion: dict[str, Any], failure: str | None
) -> None:
    result = await prober.check(target(server.url("/json"), json_assertions=[assertion]))
    if failure is None:
        assert result.ok, result.error_message
    else:
        assert (result.error_kind, result.error_message) == (
            "assertion",
            f"json_assertions: {failure}",
        )


async def test_json_assertion_on_a_body_that_is_not_json(
    server: TargetServer, prober: Prober
) -> None:
    spec = {"json_assertions": [{"path": "$.a", "exists": True}]}
    result = await prober.check(target(server.url("/text"), **spec))
    assert result.error_kind == "assertion"
    assert result.error_message is not None and "the body is not JSON" in result.error_message


# -- TLS ------------------------------------------------------------------------


async def tls_check(
    ca: LocalCA, tmp_path: Path, not_after: datetime, *, trust: bool = True, **spec: Any
) -> CheckResult:
    async with TargetServer(ca.server_context(tmp_path, not_after=not_after)) as server:
        context = ca.client_context() if trust else None
        async with Prober(ssl_context=context) as prober:
            return await prober.check(target(server.url("/text", host="localhost"), **spec))


async def test_https_reports_tls_time_and_certificate_expiry(ca: LocalCA, tmp_path: Path) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=90)
    result = await tls_check(ca, tmp_path, expires)
    assert result.ok, result.error_message
    t = result.timings
    assert t is not None and t.tls_ms is not None and t.connect_ms is not None
    assert t.tls_ms > 0 and t.connect_ms > 0
    assert t.dns_ms is not None
    assert result.cert_expires_at == expires


async def test_certificate_expiring_soon_fails_tls_expiry_days(ca: LocalCA, tmp_path: Path) -> None:
    expires = datetime.now(UTC) + timedelta(days=5, hours=1)
    result = await tls_check(ca, tmp_path, expires, tls_expiry_days=14)
    assert result.error_kind == "tls"
    assert result.error_message is not None
    assert result.error_message.startswith("the certificate expires in 5.0 days")
    assert "within tls_expiry_days 14" in result.error_message


async def test_expired_certificate_is_a_tls_failure(ca: LocalCA, tmp_path: Path) -> None:
    result = await tls_check(ca, tmp_path, datetime.now(UTC) - timedelta(days=2))
    assert (result.error_kind, result.error_message) == (
        "tls",
        "certificate rejected: certificate has expired",
    )


async def test_untrusted_certificate_is_a_tls_failure(ca: LocalCA, tmp_path: Path) -> None:
    result = await tls_check(ca, tmp_path, datetime.now(UTC) + timedelta(days=30), trust=False)
    assert result.error_kind == "tls"
    assert result.error_message is not None and "certificate rejected" in result.error_message


async def test_insecure_check_still_reads_expiry_of_an_expired_certificate(
    ca: LocalCA, tmp_path: Path
) -> None:
    expired = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    result = await tls_check(ca, tmp_path, expired, trust=False, verify_tls=False)
    assert result.ok and result.cert_expires_at == expired


async def test_request_method_headers_and_body_are_sent(server: TargetServer) -> None:
    seen: list[dict[str, str]] = []

    from aiohttp import web

    async def echo(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "auth": request.headers.get("Authorization", ""),
                "body": await request.text(),
            }
        )
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with Prober() as prober:
            spec = {"method": "post", "headers": {"Authorization": "Bearer t0k"}, "body": '{"q":1}'}
            result = await prober.check(target(f"http://127.0.0.1:{port}/", **spec))
    finally:
        await runner.cleanup()
    assert result.ok
    assert seen == [
        {
            "method": "POST",
            "auth": "Bearer t0k",
            "body": json.dumps({"q": 1}, separators=(",", ":")),
        }
    ]
