"""Dashboard pages on the real application and a real database (both engines):
rendering, filters and paging, forms that write the YAML, CSRF, login, assets,
and live updates over SSE from a real checker against a real target."""

from __future__ import annotations

import asyncio
import html
import re
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from sitewatch.keys import RECONCILER
from tests.appclient import Client, page_text, record_check, start_client
from tests.factories import website_yaml
from tests.targets import TargetServer

MONITORS = textwrap.dedent(
    """\
    # Production websites: keep this comment.
    defaults:
      interval: 30s

    websites:
      # The shop makes the money.
      - name: Shop
        url: https://shop.example.com/    # trailing comment
        tags: [prod, eu]
        alerts: [hook]
      - name: Blog
        url: https://blog.example.com/
        tags: [marketing]
      - name: Old site
        url: https://old.example.com/
        active: false
    """
)
ALERTS = textwrap.dedent(
    """\
    alerts:
      - name: hook
        type: webhook
        url: http://127.0.0.1:9/hook
        secret: s3cret-value
    """
)

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def make_client(config_dir: Path, database_url: str) -> Callable[..., Any]:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    (config_dir / "alerts.yaml").write_text(ALERTS)

    async def make(**overrides: Any) -> Client:
        return await start_client(config_dir, database_url, **overrides)

    return make


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> AsyncIterator[Client]:
    c = await make_client()
    yield c
    await c.close()


async def _csrf(client: Client, path: str = "/") -> str:
    match = CSRF.search(await page_text(client, path))
    assert match, "no CSRF token in the page"
    return match.group(1)


_record = record_check


async def test_every_page_renders(client: Client) -> None:
    await _record(client, "shop", ok=False)
    await _record(client, "blog", ok=True)
    overview = await page_text(client, "/")
    assert "<title>Overview · sitewatch</title>" in overview
    # Down first, then never checked... : Shop (down) before Blog (up), paused last.
    assert overview.index(">Shop<") < overview.index(">Blog<") < overview.index(">Old site<")
    assert "HTTP 503, expected 2xx" in overview  # the down card says why
    assert 'http-equiv="refresh" content="60"' in overview  # without JavaScript
    assert 'aria-label="Response time of Shop, last 24 hours"' in overview
    for path, needle in [
        ("/websites", "Websites"),
        ("/websites/shop", "Response time"),
        ("/websites/shop?range=30d", "Hourly rollup"),
        ("/websites/shop?range=1h", "Time to first byte"),
        ("/alerts", "hook"),
        ("/alerts/hook", "Delivery log"),
        ("/settings", "Applied revision"),
        ("/websites/new", "New website"),
        ("/websites/shop/edit", "Edit website shop"),
        ("/alerts/new", "New alert"),
        ("/alerts/hook/edit", "Edit alert hook"),
        ("/websites/blog/delete", "Delete blog?"),
    ]:
        assert needle in await page_text(client, path), path
    detail = await page_text(client, "/websites/shop")
    assert "Last 2 checks" not in detail and "Last 1 checks: 0 passed, 1 failed" in detail
    assert "s3cret-value" not in await page_text(client, "/alerts/hook")
    assert "s3cret-value" not in await page_text(client, "/alerts/hook/edit")
    chart = await client.get("/websites/shop/chart?range=24h")
    assert chart.content_type == "image/svg+xml" and "<svg" in await chart.text()
    await page_text(client, "/websites/nope", 404)


async def test_filters_search_and_pages(client: Client, config_dir: Path) -> None:
    many = "websites:\n" + "".join(website_yaml(f"site-{i:03d}") for i in range(70))
    (config_dir / "monitors.yaml").write_text(
        many + "  - {name: Shop, url: 'https://shop/', tags: [prod]}\n"
    )
    await client.server.app[RECONCILER].reconcile("test", force=True)  # watching is off
    first = await page_text(client, "/")
    assert first.count("data-website-id=") == 60
    assert "Page 1 of 2 · 71 websites" in first
    second = await page_text(client, "/?page=2")
    assert second.count("data-website-id=") == 11
    assert await page_text(client, "/?page=99")  # clamps to the last page
    found = await page_text(client, "/?q=SITE-06")
    assert found.count("data-website-id=") == 10  # site-060 .. site-069
    tagged = await page_text(client, "/?tag=prod")
    assert tagged.count("data-website-id=") == 1 and ">Shop<" in tagged
    assert (await page_text(client, "/?state=down")).count("data-website-id=") == 0
    assert "No website matches" in await page_text(client, "/websites?q=%25_nothing")
    table = await page_text(client, "/websites?page=1")
    assert table.count("data-website-id=") == 71


async def test_tags_and_windows_before_the_config_is_read(
    make_client: Callable[..., Any], config_dir: Path
) -> None:
    """After a restart the config is read through later (``Reconciler.resume``), and
    a config that does not validate is never taken: the tag filter comes from the
    database then, and the maintenance windows always (as the alert engine has them)."""
    (config_dir / "alerts.yaml").write_text(
        ALERTS
        + "maintenance:\n"
        + "  - {name: deploy, timezone: Asia/Kathmandu, days: [mon], start: '02:00',"
        + " duration: 1h, websites: '*'}\n"
        + "  - {name: move, start: '2026-12-24T22:00', end: '2026-12-25T03:00', tags: [eu]}\n"
    )
    client = await make_client()
    try:
        status = client.server.app[RECONCILER].status
        assert status.snapshot is not None and status.snapshot.tags == ("eu", "marketing", "prod")
        status.snapshot = None  # as after a restart, before the read-through
        overview = await page_text(client, "/")
        for tag in ("eu", "marketing", "prod"):
            assert f'<option value="{tag}" >{tag}</option>' in overview
        tagged = await page_text(client, "/?tag=eu")
        assert tagged.count("data-website-id=") == 1 and ">Shop<" in tagged
        alerts = await page_text(client, "/alerts")
        assert "deploy</span> · Asia/Kathmandu · mon 02:00 for 1h" in alerts
        assert "move</span> · UTC · 2026-12-24T22:00 to 2026-12-25T03:00" in alerts
    finally:
        await client.close()


async def test_create_in_the_form_writes_the_yaml_and_shows_up(
    client: Client, config_dir: Path
) -> None:
    token = await _csrf(client, "/websites/new")
    response = await client.post(
        "/websites/new",
        data={
            "csrf": token,
            "name": "Status page",
            "url": "https://status.example.com/",
            "interval": "1m",
            "tags": "prod, status",
            "alerts": "hook",
            "active": "true",
            "follow_redirects": "true",
            "verify_tls": "true",
        },
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/websites/status-page?notice=created"
    text = (config_dir / "monitors.yaml").read_text()
    assert text.startswith(MONITORS)  # every comment and line before stays
    assert "  - name: Status page\n    url: https://status.example.com/\n    interval: 1m\n" in text
    assert "tags:" in text.split("Status page")[1] and "alerts:" in text.split("Status page")[1]
    overview = await page_text(client, "/")
    assert ">Status page<" in overview
    assert "Saved to the YAML and applied." in await page_text(
        client, "/websites/status-page?notice=created"
    )


async def test_an_invalid_form_shows_the_error_inline_and_writes_nothing(
    client: Client, config_dir: Path
) -> None:
    before = (config_dir / "monitors.yaml").read_text()
    token = await _csrf(client, "/websites/new")
    response = await client.post(
        "/websites/new",
        data={"csrf": token, "name": "Broken", "url": "ftp://nope", "interval": "1s"},
    )
    page = await response.text()
    assert response.status == 422
    assert (config_dir / "monitors.yaml").read_text() == before
    url_error = re.search(r'id="field-url-err"[^>]*>(.*?)</p>', page, re.S)
    assert url_error
    assert 'must be an http:// or https:// URL (got "ftp://nope")' in html.unescape(
        url_error.group(1)
    )
    interval_error = re.search(r'id="field-interval-err"[^>]*>(.*?)</p>', page, re.S)
    assert interval_error, page
    assert 'must be at least 5s (got "1s")' in html.unescape(interval_error.group(1))
    assert 'value="ftp://nope"' in page  # what was typed stays
    assert "monitors.yaml:" in page  # the CLI's file:line wording, too


async def test_edit_pause_delete_and_check_now(client: Client, config_dir: Path) -> None:
    token = await _csrf(client, "/websites/shop/edit")
    page = await page_text(client, "/websites/shop/edit")
    etag = re.search(r'name="etag" value="([^"]+)"', page)
    assert etag
    response = await client.post(
        "/websites/shop/edit",
        data={
            "csrf": token,
            "etag": html.unescape(etag.group(1)),
            "name": "Shop",
            "url": "https://shop.example.com/",
            "tags": "prod",
            "alerts": "hook",
            "active": "true",
            "follow_redirects": "true",
            "verify_tls": "true",
            "max_response_time": "2s",
        },
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    text = (config_dir / "monitors.yaml").read_text()
    assert "# The shop makes the money." in text and "max_response_time: 2s" in text
    assert "tags: [prod]" in text or "- prod" in text
    # The same stale revision again: refused, nothing lost.
    stale = await client.post(
        "/websites/shop/edit",
        data={
            "csrf": token,
            "etag": html.unescape(etag.group(1)),
            "name": "Shop",
            "url": "https://x/",
        },
    )
    assert stale.status == 412 and "changed since you read it" in await stale.text()
    paused = await client.post(
        "/websites/blog/pause", data={"csrf": token, "active": "false"}, allow_redirects=False
    )
    assert paused.status == 303
    assert "active: false" in (config_dir / "monitors.yaml").read_text().split("Blog")[1]
    deleted = await client.post(
        "/websites/blog/delete", data={"csrf": token}, allow_redirects=False
    )
    assert deleted.status == 303 and deleted.headers["Location"] == "/?notice=deleted"
    assert "Blog" not in (config_dir / "monitors.yaml").read_text()
    tested = await client.post("/alerts/hook/test", data={"csrf": token}, allow_redirects=False)
    assert tested.headers["Location"] == "/alerts/hook?notice=tested"
    log = await page_text(client, "/alerts/hook?notice=tested")
    assert "Test notification queued" in log and '<td class="py-1.5 pr-4">test</td>' in log
    async with TargetServer() as target:
        token2 = await _csrf(client, "/websites/new")
        await client.post(
            "/websites/new",
            data={"csrf": token2, "name": "Local", "url": target.url("/status/503")},
        )
        checked = await client.post(
            "/websites/local/check", data={"csrf": token2}, allow_redirects=False
        )
        assert checked.headers["Location"] == "/websites/local?notice=checked_down"


async def test_forms_need_the_csrf_token(client: Client, config_dir: Path) -> None:
    before = (config_dir / "monitors.yaml").read_text()
    await page_text(client, "/")  # has a session cookie now
    for path, data in [
        ("/websites/new", {"name": "X", "url": "https://x.example.com/"}),
        ("/websites/shop/delete", {}),
        ("/websites/shop/pause", {"active": "false"}),
    ]:
        response = await client.post(path, data={**data, "csrf": "forged"})
        assert response.status == 403 and "CSRF" in await response.text()
        response = await client.post(path, data=data)
        assert response.status == 403
    assert (config_dir / "monitors.yaml").read_text() == before


async def test_login_when_tokens_are_configured(
    make_client: Callable[..., Any], config_dir: Path
) -> None:
    client = await make_client(
        api_tokens="write-tok-0123456789", api_read_tokens="read-tok-0123456789"
    )
    try:
        first = await client.get("/websites?tag=prod", allow_redirects=False)
        assert first.status == 303
        location = URL(first.headers["Location"])
        assert location.path == "/login" and location.query["next"] == "/websites?tag=prod"
        assert (await client.get("/events", allow_redirects=False)).status == 303
        bad = await client.post("/login", data={"token": "nope", "next": "/"})
        assert bad.status == 401 and "not valid" in await bad.text()
        ok = await client.post(
            "/login",
            data={"token": "read-tok-0123456789", "next": "//evil.example/"},
            allow_redirects=False,
        )
        assert ok.status == 303 and ok.headers["Location"] == "/"  # no open redirect
        cookie = ok.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        page = await page_text(client, "/")
        assert "Log out" in page and "+ Add website" not in page  # read-only session
        token = CSRF.search(page)
        assert token
        refused = await client.post(
            "/websites/shop/pause", data={"csrf": token.group(1), "active": "false"}
        )
        assert refused.status == 403 and "read token" in await refused.text()
        out = await client.post("/logout", data={"csrf": token.group(1)}, allow_redirects=False)
        assert out.status == 303 and out.headers["Location"].startswith("/login")
        assert (await client.get("/", allow_redirects=False)).status == 303
        # The API keeps its bearer tokens; a session cookie is no API credential.
        assert (await client.get("/api/websites")).status == 200  # open reads
    finally:
        await client.close()


async def test_assets_are_fingerprinted_and_cached_for_a_year(client: Client) -> None:
    page = await page_text(client, "/")
    css = re.search(r'href="(/static/sitewatch\.[0-9a-f]{12}\.css)"', page)
    js = re.search(r'src="(/static/live\.[0-9a-f]{12}\.js)"', page)
    assert css and js, "the CSS is built by the package build (pip install -e .)"
    for url in (css.group(1), js.group(1)):
        response = await client.get(url)
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    body = await (await client.get(css.group(1))).read()
    assert len(body) < 80_000 and b"https://" not in body.replace(b"https://tailwindcss.com", b"")
    assert (await client.get("/static/sitewatch.000000000000.css")).status == 404
    response = await client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.slow
async def test_live_updates_reach_an_open_page(
    make_client: Callable[..., Any], config_dir: Path
) -> None:
    async with TargetServer() as target:
        (config_dir / "monitors.yaml").write_text(
            f"websites:\n  - name: Local\n    url: {target.url('/status/500')}\n    interval: 5s\n    timeout: 2s\n"
        )
        client = await make_client(check=True)
        try:
            page = await page_text(client, "/")
            ids = re.search(r'data-live-ids="([0-9,]+)"', page)
            assert ids, page[:3000]
            response = await client.get(f"/events?ids={ids.group(1)}")
            assert response.headers["Content-Type"] == "text/event-stream"
            seen = ""
            async with asyncio.timeout(10):
                while '"state":"down"' not in seen:
                    seen += (await response.content.readany()).decode()
            assert "event: checks" in seen and '"counts":{"websites":1,"up":0,"down":1' in seen
            response.close()
        finally:
            await client.close()


async def test_an_apprise_alert_made_in_the_form_and_its_messages_previewed(
    client: Client, config_dir: Path
) -> None:
    token = await _csrf(client, "/alerts/new")
    form = await page_text(client, "/alerts/new")
    assert 'data-groups="apprise"' in form and 'data-groups="pagerduty opsgenie"' in form
    made = await client.post(
        "/alerts/new",
        data={
            "csrf": token,
            "name": "phone",
            "type": "apprise",
            "urls": "ntfy://ntfy.example.com/t0p1cSecr3t\ntgram://123456789:AAbbCCddEEffGGhh/12345",
            "message_format": "markdown",
            "websites": "shop",
        },
        allow_redirects=False,
    )
    assert made.status == 303, await made.text()
    written = (config_dir / "alerts.yaml").read_text()
    assert "type: apprise" in written and "t0p1cSecr3t" in written and "format: markdown" in written
    page = await page_text(client, "/alerts/phone")
    # URLs carry tokens: written in the file, they are masked on every page.
    assert "AAbbCCddEEffGGhh" not in page and "t0p1cSecr3t" not in page
    assert "What it sends" in page
    assert "DOWN: Example" in page and "Example is down: got 503, expected 2xx" in page
    assert "Example is back up after 24m" in page
    # "Send a test" shows the message first, then sends it through the outbox.
    preview = await page_text(client, "/alerts/phone/test")
    assert "TEST: sitewatch alert phone" in preview
    assert "A test from sitewatch: alert phone reaches you." in preview
    sent = await client.post("/alerts/phone/test", data={"csrf": token}, allow_redirects=False)
    assert sent.headers["Location"] == "/alerts/phone?notice=tested"
