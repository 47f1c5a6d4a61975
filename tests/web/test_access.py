"""Access: logout revokes, Secure cookies behind trusted proxies only, wrong
tokens slow down, DNS rebinding and cross-origin writes refused while the API
is open, /metrics follows closed reads, and slow connections are closed."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from sitewatch.keys import LIMITER
from sitewatch.web.access import FailureLimiter
from sitewatch.web.guard import ConnectionGuard, descriptor_budget
from tests.appclient import Client, start_client
from tests.factories import write

W = "write-token-0123456789"
MONITORS = "websites:\n  - name: Shop\n    url: https://shop.example.com/\n"


@pytest.fixture
def make(config_dir: Path, database_url: str) -> Any:
    write(config_dir, "monitors.yaml", MONITORS)

    async def start(**overrides: Any) -> Client:
        return await start_client(config_dir, database_url, **overrides)

    return start


async def _login(client: Client, token: str, **headers: str) -> Any:
    return await client.post(
        "/login", data={"token": token, "next": "/"}, allow_redirects=False, headers=headers
    )


async def test_logout_revokes_the_session_on_the_server(make: Any) -> None:
    client = await make(api_tokens=W)
    try:
        logged_in = await _login(client, W)
        assert logged_in.status == 303
        cookie = logged_in.cookies["sitewatch_session"].value
        jar = {"Cookie": f"sitewatch_session={cookie}"}
        page = await client.get("/settings", headers=jar, allow_redirects=False)
        assert page.status == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert csrf is not None
        out = await client.post(
            "/logout", data={"csrf": csrf.group(1)}, headers=jar, allow_redirects=False
        )
        assert out.status == 303
        client.session.cookie_jar.clear()
        again = await client.get("/settings", headers=jar, allow_redirects=False)
        assert again.status == 303 and again.headers["Location"].startswith("/login")
    finally:
        await client.close()


async def test_the_cookie_is_secure_behind_a_trusted_proxy_only(make: Any) -> None:
    trusting = await make(api_tokens=W, trusted_proxies="127.0.0.1/32")
    try:
        https = await _login(trusting, W, **{"X-Forwarded-Proto": "https"})
        assert "Secure" in https.headers["Set-Cookie"]
        plain = await _login(trusting, W)
        assert "Secure" not in plain.headers["Set-Cookie"]
    finally:
        await trusting.close()
    untrusting = await make(api_tokens=W, trusted_proxies="10.9.9.9")
    try:
        spoofed = await _login(untrusting, W, **{"X-Forwarded-Proto": "https"})
        assert "Secure" not in spoofed.headers["Set-Cookie"]
    finally:
        await untrusting.close()


async def test_wrong_tokens_slow_down_with_429_and_retry_after(make: Any) -> None:
    client = await make(api_tokens=W, api_open_reads=False)
    client.server.app[LIMITER].clock = lambda: 0.0  # no waiting runs out during the test
    try:
        bad = {"Authorization": "Bearer wrong-token-0123456789"}
        statuses = [(await client.get("/api/websites", headers=bad)).status for _ in range(7)]
        assert statuses == [401] * 5 + [429] * 2, statuses
        limited = await client.get("/api/websites", headers=bad)
        assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
        logins = [(await _login(client, "nope-nope-nope-nope")).status for _ in range(3)]
        assert logins[-1] == 429, logins  # the same address, the same count
    finally:
        await client.close()


def test_the_limiter_doubles_and_forgets_on_success() -> None:
    now = [0.0]
    limiter = FailureLimiter(free=2, longest=8, clock=lambda: now[0])
    for _ in range(2):
        limiter.failed("a")
    assert limiter.retry_after("a") == 1
    limiter.failed("a")
    assert limiter.retry_after("a") == 2
    limiter.failed("a")
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == 8  # 2**4 capped at 8
    now[0] += 8
    assert limiter.retry_after("a") == 0
    limiter.succeeded("a")
    assert limiter.retry_after("a") == 0 and limiter.retry_after("b") == 0


@pytest.mark.parametrize(
    ("host", "allowed", "status"),
    [
        ("evil.example", "", 403),
        ("evil.example:8080", "", 403),
        ("localhost:8080", "", 200),
        ("127.0.0.1:1", "", 200),
        ("[::1]:8080", "", 200),
        ("monitor.internal", "monitor.internal", 200),
        ("MONITOR.internal.:80", "monitor.internal", 200),
    ],
)
async def test_open_api_refuses_unknown_hosts(
    make: Any, host: str, allowed: str, status: int
) -> None:
    client = await make(allowed_hosts=allowed)
    try:
        response = await client.get("/api/websites", headers={"Host": host})
        assert response.status == status, await response.text()
        assert (await client.get("/", headers={"Host": host})).status == status
    finally:
        await client.close()


async def test_open_api_refuses_cross_origin_writes_and_bodyless_posts(make: Any) -> None:
    client = await make()
    try:
        new = {"name": "B", "url": "https://b.example.com/"}
        evil = await client.post(
            "/api/websites", json=new, headers={"Origin": "http://evil.example"}
        )
        assert evil.status == 403
        own = f"http://{client.host}:{client.port}"
        ok = await client.post("/api/websites", json=new, headers={"Origin": own})
        assert ok.status == 201, await ok.text()
        form = await client.post("/api/websites/shop/check", data="x=1")
        assert form.status == 415
    finally:
        await client.close()


async def test_closed_reads_close_metrics_and_health_details(make: Any) -> None:
    client = await make(api_tokens=W, api_open_reads=False)
    try:
        assert (await client.get("/metrics")).status == 401
        token = {"Authorization": f"Bearer {W}"}
        assert (await client.get("/metrics", headers=token)).status == 200
        health = await (await client.get("/health")).json()
        assert set(health) == {"status", "version"}
        assert "database" in await (await client.get("/health", headers=token)).json()
        ready = await client.get("/ready")
        assert set(await ready.json()) == {"ready"}
    finally:
        await client.close()


async def test_slow_and_excess_connections_are_closed(make: Any) -> None:
    client = await make()
    try:
        runner = client.server.runner
        assert runner is not None and runner.server is not None
        now = [0.0]
        guard = ConnectionGuard(runner.server, 8, header_timeout=10, clock=lambda: now[0])
        loop = asyncio.get_running_loop()
        slow = []
        for _ in range(12):
            sock = socket.create_connection((client.host, client.port))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # never finished
            sock.setblocking(False)
            slow.append(sock)
        await asyncio.sleep(0.2)
        guard.sweep()  # 12 open, 8 allowed: the 4 newest go
        assert guard.closed_over_limit == 4
        now[0] = 11
        guard.sweep()  # the rest sent no complete request head within 10 s
        assert guard.closed_slow == 8
        closed = 0
        for sock in slow:
            try:
                closed += (await asyncio.wait_for(loop.sock_recv(sock, 1), 5)) == b""
            except (ConnectionResetError, TimeoutError):
                closed += 1
            sock.close()
        assert closed == 12
        assert (await client.get("/health")).status == 200  # the server still serves
    finally:
        await client.close()


def test_the_descriptor_budget_keeps_room_for_checks() -> None:
    assert descriptor_budget(20000, 500, 1000) == 1000
    assert descriptor_budget(1024, 500, 1000) == 324
    assert descriptor_budget(256, 500, 1000) == 32
