"""Status pages on the real app and database: served at /status/{slug} and on
their own domain, listed, cacheable, as JSON and Atom, live over SSE, with the
last good pages kept through a bad edit; and nothing undeclared ever leaks."""

from __future__ import annotations

import asyncio
import json
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sitewatch.checker.result import CheckResult
from sitewatch.keys import LIVE, RECONCILER
from tests.appclient import Client, page_text, record_check, start_client, website_id
from tests.waiting import eventually

MONITORS = textwrap.dedent(
    """\
    websites:
      - {name: Shop checkout, key: shop-checkout, url: "https://shop.example/checkout"}
      - {name: Landing, key: landing, url: "https://www.example/"}
      - name: Public API
        key: api
        url: "https://api.example/v1/health"
        tags: [api, public]
        headers: {Authorization: "Bearer ${API_TOKEN}"}
      - name: Internal admin
        key: admin
        url: "https://admin.internal.example/secret-path"
        tags: [internal]
    """
)
PAGES = textwrap.dedent(
    """\
    status_pages:
      - key: public
        title: Example Inc. status
        description: Live status of our public services
        slug: status
        domain: status.example.com
        logo: logo.svg
        groups:
          - name: Website
            websites: [shop-checkout, landing]
          - name: API
            tags: [api]
        show_response_times: true
        show_urls: false
        history_days: 30
      - key: team
        title: Team page
        listed: false
        groups:
          - {name: Shop, websites: shop-checkout}
    """
)
NOTE = textwrap.dedent(
    """\
    ---
    title: Slow checkout
    status: identified
    impact: major
    started: 2026-12-01T09:00:00Z
    websites: [shop-checkout]
    updates:
      - at: 2026-12-01T09:20:00Z
        status: identified
        message: "An index was missing. <script>alert(1)</script> [see](javascript:alert(1))"
    ---
    We are looking into **slow** checkouts.
    """
)
PAST = textwrap.dedent(
    """\
    ---
    title: API errors
    status: resolved
    started: 2026-11-20T10:00:00+01:00
    resolved: 2026-11-20T11:00:00+01:00
    groups: [API]
    ---
    Fixed.
    """
)
LOGO = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
# What the pages never show: an undeclared website, URLs (show_urls: false), a
# header's secret, error texts, internal keys and tags.
SECRET = "s3cr3t-t0ken-value"
FORBIDDEN = (
    "Internal admin",
    "admin.internal.example",
    "secret-path",
    "shop.example",
    "api.example",
    "www.example",
    SECRET,
    "Bearer",
    "HTTP 503",
    "connection refused by 10.1.2.3",
    "internal",
    "shop-checkout",  # a key: the page shows names
)


def write_config(config_dir: Path) -> None:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    (config_dir / "status-pages.yaml").write_text(PAGES)
    (config_dir / "logo.svg").write_bytes(LOGO)
    (config_dir / "incidents").mkdir(exist_ok=True)
    (config_dir / "incidents" / "2026-12-01-checkout.md").write_text(NOTE)
    (config_dir / "incidents" / "2026-11-20-api.md").write_text(PAST)


@pytest.fixture
async def client(config_dir: Path, database_url: str) -> AsyncIterator[Client]:
    write_config(config_dir)
    c = await start_client(config_dir, database_url, environ={"API_TOKEN": SECRET})
    yield c
    await c.close()


async def _history(client: Client) -> None:
    await record_check(client, "shop-checkout", ok=True, ms=120.0)
    await record_check(client, "landing", ok=False, error_message="HTTP 503")
    await record_check(
        client, "api", ok=False, ago=3, error_message="connection refused by 10.1.2.3"
    )
    await record_check(client, "api", ok=False, ago=2, error_message="HTTP 503")
    await record_check(client, "admin", ok=False, error_message="HTTP 503 at secret-path")
    for days in (1, 2, 3):
        await record_check(client, "shop-checkout", ok=days != 2, ago=days * 86400)


async def test_a_page_shows_its_groups_states_and_incidents(client: Client) -> None:
    await _history(client)
    html = await page_text(client, "/status/status")
    assert "Example Inc. status" in html and "Live status of our public services" in html
    # Landing failed once (degraded), the API twice (down): 1 of 3 down -> partial.
    assert "Partial outage" in html
    for name in ("Shop checkout", "Landing", "Public API"):
        assert name in html
    assert "Degraded" in html and "Outage" in html and "Operational" in html
    assert "120 ms" in html  # show_response_times
    # The open note first, rendered safely; the resolved one below.
    first, past = 'id="incident-2026-12-01-checkout"', 'id="incident-2026-11-20-api"'
    assert html.index(first) < html.index("Past incidents") < html.index(past)
    assert "<strong>slow</strong>" in html
    assert "<script>alert(1)" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;" in html
    # The daily bars: 30 days, a failed day and the note's day titled.
    assert 'viewBox="0 0 120 24"' in html
    assert "50.00% uptime" in html or "0.00% uptime" in html
    assert "Slow checkout" in html.split('class="sw-bars"', 1)[1]
    assert 'src="/status/status/logo"' in html


async def test_nothing_undeclared_leaks_from_any_page_or_format(client: Client) -> None:
    await _history(client)
    paths = ["/status"]
    for base in ("/status/status", "/status/team"):
        paths += [base, f"{base}/status.json", f"{base}/feed.atom", f"{base}/badge.svg"]
        paths.append(f"{base}/badge.json")
    bodies = {path: await page_text(client, path) for path in paths}
    for host_path in ("/", "/status.json", "/feed.atom", "/badge.svg"):
        response = await client.get(host_path, headers={"Host": "status.example.com"})
        assert response.status == 200, host_path
        bodies[f"status.example.com{host_path}"] = await response.text()
    for path, body in bodies.items():
        for secret in FORBIDDEN:
            assert secret not in body, (path, secret)
    # The team page shows its one website only.
    team = bodies["/status/team"]
    assert "Shop checkout" in team and "Landing" not in team and "Public API" not in team


async def test_the_index_lists_listed_pages_and_unknown_pages_are_404(client: Client) -> None:
    index = await page_text(client, "/status")
    assert "Example Inc. status" in index and "Team page" not in index
    assert "Team page" in await page_text(client, "/status/team")  # unlisted, still public
    for path in ("/status/nope", "/status/public", "/status/nope/status.json"):
        assert (await client.get(path)).status == 404, path  # by slug, never by key


async def test_pages_are_cacheable(client: Client) -> None:
    for path in ("/status/status", "/status/status/status.json", "/status/status/feed.atom"):
        first = await client.get(path)
        assert first.status == 200
        assert first.headers["Cache-Control"].startswith("public, max-age=")
        etag = first.headers["ETag"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status == 304, path
        assert again.headers["ETag"] == etag


async def test_the_json_document_and_the_atom_feed(client: Client) -> None:
    await _history(client)
    doc = json.loads(await page_text(client, "/status/status/status.json"))
    assert doc["schema"] == "sitewatch.status-page.v1"
    assert doc["state"] == "partial_outage"
    assert [g["name"] for g in doc["groups"]] == ["Website", "API"]
    shop = doc["groups"][0]["websites"][0]
    assert shop["name"] == "Shop checkout" and shop["state"] == "up"
    assert "url" not in shop and shop["response_ms"] == 120.0
    assert len(shop["days"]) == 30 and shop["days"][-3] == 0.0 and shop["days"][-2] == 1.0
    assert [n["id"] for n in doc["incidents"]["open"]] == ["2026-12-01-checkout"]
    assert doc["incidents"]["past"][0]["started"] == "2026-11-20T09:00:00Z"
    feed = ET.fromstring(await page_text(client, "/status/status/feed.atom"))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert titles == ["[Identified] Slow checkout", "[Resolved] API errors"]
    assert feed.findtext("a:author/a:name", namespaces=ns) == "Example Inc. status"
    content = feed.find("a:entry/a:content", ns)
    assert content is not None and content.attrib["type"] == "html"
    assert "<script>" not in (content.text or "")


async def test_a_custom_domain_serves_the_page_and_nothing_else(client: Client) -> None:
    headers = {"Host": "status.example.com"}
    home = await client.get("/", headers=headers)
    assert home.status == 200
    html = await home.text()
    assert "Example Inc. status" in html and 'href="/feed.atom"' in html
    assert 'data-events="/events"' in html and 'src="/logo"' in html
    logo = await client.get("/logo", headers=headers)
    assert logo.status == 200 and await logo.read() == LOGO
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    css = html.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert (await client.get(css, headers=headers)).status == 200
    # The API, the dashboard, metrics and health are not on a public page's domain.
    for path in ("/api/websites", "/websites", "/metrics", "/health", "/status/team"):
        assert (await client.get(path, headers=headers)).status == 404, path
    assert (await client.post("/api/websites", json={}, headers=headers)).status == 405
    feed = await (await client.get("/feed.atom", headers=headers)).text()
    assert "<id>http://status.example.com/</id>" in feed  # the domain from the config
    # With a port, in any case, with the trailing dot: the same page.
    for host in ("Status.Example.com:8080", "status.example.com."):
        assert (await client.get("/", headers={"Host": host})).status == 200, host


async def test_page_badges_and_website_badges_of_page_members(client: Client) -> None:
    await _history(client)
    badge = json.loads(await page_text(client, "/status/status/badge.json"))
    assert badge == {
        "schemaVersion": 1,
        "label": "status",
        "message": "partial outage",
        "color": "orange",
    }
    assert "partial outage" in await page_text(client, "/status/status/badge.svg")
    # On a page (listed or by tag): badges; not on any page: the same 404.
    for key in ("shop-checkout", "landing", "api"):
        assert (await client.get(f"/badge/{key}/status.svg")).status == 200, key
    assert (await client.get("/badge/admin/status.svg")).status == 404


async def test_a_bad_edit_keeps_the_last_good_pages(client: Client, config_dir: Path) -> None:
    reconciler = client.server.app[RECONCILER]
    (config_dir / "status-pages.yaml").write_text(PAGES.replace("title: Team page", "titel: x"))
    run = await reconciler.reconcile("test")
    assert run is not None and run.status == "failed"
    assert any("status-pages.yaml:17:5:" in e and "titel" in e for e in run.errors), run.errors
    assert "Team page" in await page_text(client, "/status/team")
    # A good edit applies: the page goes, and so does its route.
    (config_dir / "status-pages.yaml").write_text(PAGES.split("  - key: team")[0])
    run = await reconciler.reconcile("test")
    assert run is not None and run.status == "applied"
    assert (await client.get("/status/team")).status == 404


async def test_live_updates_say_only_that_something_changed(client: Client) -> None:
    response = await client.get("/status/status/events")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)  # retry + connected
    secret = "connection refused by 10.1.2.3"
    hub = client.server.app[LIVE]
    # A website not on the page: nothing. One on it: "changed", and not what.
    hub.results([_result(await website_id(client, "admin"), secret)])
    hub.results([_result(await website_id(client, "api"), secret)])
    message = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
    assert message == b"event: changed\ndata: {}\n\n"
    response.close()


def _result(website: int, error: str) -> CheckResult:
    return CheckResult(
        website_id=website,
        checked_at=datetime.now(UTC),
        ok=False,
        error_kind="connect",
        error_message=error,
    )


async def test_a_note_added_in_the_folder_is_shown_by_the_watcher(
    config_dir: Path, database_url: str
) -> None:
    """The whole loop: a file lands in incidents/ (a merged pull request), the
    watcher sees it, the reconciler applies it, the page shows it."""
    write_config(config_dir)
    client = await start_client(
        config_dir, database_url, environ={"API_TOKEN": SECRET}, watch=True, reload_max_wait_ms=50
    )
    try:
        assert "Database maintenance overran" not in await page_text(client, "/status/team")
        note = NOTE.replace("Slow checkout", "Database maintenance overran")
        (config_dir / "incidents" / "2026-12-02-db.md").write_text(note)

        async def shown() -> bool:
            return "Database maintenance overran" in await page_text(client, "/status/team")

        await eventually(shown, what="the new note on the page")
        (config_dir / "logo.svg").write_bytes(LOGO.replace(b"10", b"12"))

        async def new_logo() -> bool:
            response = await client.get("/status/status/logo")
            return await response.read() == LOGO.replace(b"10", b"12")

        await eventually(new_logo, what="the new logo")
    finally:
        await client.close()
