"""What a new user tripped over in the first hour, on the real application and a
real database: banners for held notifications and rejected configs, archived
websites, the incident timeline, sorting, natural order, recent-checks bars,
renaming that keeps the key, read-only forms, placeholders from defaults, and
paused websites that are not checked."""

from __future__ import annotations

import functools
import html
import re
import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sitewatch.alerts.guard import Verdict
from sitewatch.checker.result import CheckResult, Timings
from sitewatch.checker.writer import history_row
from sitewatch.keys import ALERTING, ENGINE, RECONCILER
from sitewatch.store import alerting as alert_store
from sitewatch.store import results, tables
from sitewatch.store import status as status_store
from tests.appclient import Client, page_text, record_check, start_client

MONITORS = textwrap.dedent(
    """\
    defaults:
      interval: 45s
    websites:
      - name: Site 10
        url: https://ten.example.com/
        alerts: [hook]
      - name: Site 2
        url: https://two.example.com/
        alerts: [hook]
      - name: Site 1
        url: https://one.example.com/
        alerts: [hook]
      - name: Gone soon
        url: https://gone.example.com/
        alerts: [hook]
    """
)
ALERTS = textwrap.dedent(
    """\
    alerts:
      - name: hook
        type: webhook
        url: http://127.0.0.1:9/hook
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


_record = functools.partial(record_check, ms=40.0, phases=False)


async def _reconcile(client: Client) -> None:
    await client.server.app[RECONCILER].reconcile("test", force=True)  # watching is off


async def test_held_notifications_show_on_every_page_the_alert_and_metrics(
    client: Client,
) -> None:
    app = client.server.app
    engine = app[ENGINE]
    async with engine.connect() as conn:
        (site,) = await status_store.current_status(conn, "site-2")
        hook = await conn.scalar(tables.alerts.select().with_only_columns(tables.alerts.c.id))
    assert hook is not None
    async with engine.begin() as conn:
        await alert_store.open_incident(
            conn,
            website_id=site.website_id,
            alert_id=int(hook),
            started_at=datetime.now(UTC) - timedelta(minutes=3),
            confirmed_at=datetime.now(UTC) - timedelta(minutes=2),
            cause_kind="refused",
            cause_message="connection refused",
            notified=False,
            held_reason="sitewatch's own network looks down (9 of 10 websites are unreachable)",
        )
    alerting = app[ALERTING]
    alerting.alerts.verdict = Verdict(True, "9 of 10 websites are unreachable at once")
    alerting.alerts.held_total = 1
    for path in ("/", "/websites", "/alerts", "/incidents", "/settings", "/websites/site-2"):
        page = await page_text(client, path)
        assert 'id="notifications-held"' in page, path
        assert "9 of 10 websites are unreachable at once" in page
    alert_page = await page_text(client, "/alerts/hook")
    assert 'id="held"' in alert_page and "DOWN notifications held (1)" in alert_page
    assert "9 of 10 websites are unreachable)" in html.unescape(alert_page)
    timeline = await page_text(client, "/incidents")
    assert "DOWN held" in timeline
    metrics = await (await client.get("/metrics")).text()
    assert "sitewatch_alert_guard_holding 1.0" in metrics
    assert "sitewatch_alert_notifications_held_total 1.0" in metrics
    alerting.alerts.verdict = Verdict(False)
    assert 'id="notifications-held"' not in await page_text(client, "/")
    assert "sitewatch_alert_guard_holding 0.0" in await (await client.get("/metrics")).text()


async def test_a_rejected_config_shows_on_every_page_until_a_good_one_applies(
    client: Client, config_dir: Path
) -> None:
    assert 'id="config-rejected"' not in await page_text(client, "/")
    (config_dir / "monitors.yaml").write_text(MONITORS.replace("url: https://two", "url: two"))
    await client.server.app[RECONCILER].reconcile("test")
    for path in ("/", "/websites", "/alerts/hook", "/incidents"):
        page = html.unescape(await page_text(client, path))
        assert 'id="config-rejected"' in page, path
        assert "The config change was rejected" in page and "stays applied" in page
        assert "monitors.yaml:8:10: websites[1].url" in page  # file:line:col of the error
    (config_dir / "monitors.yaml").write_text(MONITORS)
    await client.server.app[RECONCILER].reconcile("test")
    assert 'id="config-rejected"' not in await page_text(client, "/")


async def test_archived_websites_are_listed_with_their_history_and_how_to_restore(
    client: Client, config_dir: Path
) -> None:
    await _record(client, "gone-soon", ok=False)
    await _record(client, "gone-soon", ok=True, ago=2)
    (config_dir / "monitors.yaml").write_text(MONITORS.split("  - name: Gone soon")[0])
    await _reconcile(client)
    listed = html.unescape(await page_text(client, "/websites/archived"))
    assert "Gone soon" in listed and "(1)" in listed
    assert "Last 2 checks: 1 passed, 1 failed" in listed  # its recent-checks bar
    assert '- {name: "Gone soon", key: gone-soon, url: "https://gone.example.com/"}' in listed
    page = html.unescape(await page_text(client, "/websites/gone-soon"))
    assert 'id="archived"' in page and "key: gone-soon" in page
    assert "Check now" not in page and "✎ Edit" not in page  # nothing to act on
    assert "Last 2 checks" in page  # the history stays
    assert "Gone soon" not in await page_text(client, "/websites")
    # Putting the key back restores it, with its history.
    (config_dir / "monitors.yaml").write_text(MONITORS)
    await _reconcile(client)
    assert "Gone soon" not in await page_text(client, "/websites/archived")
    assert "Last 2 checks" in await page_text(client, "/websites/gone-soon")


async def test_lists_sort_by_any_column_and_names_sort_naturally(client: Client) -> None:
    await _record(client, "site-1", ok=True, ms=300.0)
    await _record(client, "site-2", ok=True, ms=100.0)
    await _record(client, "site-10", ok=True, ms=200.0)
    await _record(client, "gone-soon", ok=True, ms=50.0)

    def order(page: str) -> list[str]:
        found = re.findall(r'href="/websites/([a-z0-9-]+)">', page)
        return [k for k in found if k != "archived"]

    overview = await page_text(client, "/")
    assert order(overview)[:4] == ["gone-soon", "site-1", "site-2", "site-10"]
    by_name = await page_text(client, "/websites?sort=name&dir=asc")
    assert order(by_name) == ["gone-soon", "site-1", "site-2", "site-10"]
    assert 'aria-sort="ascending"' in by_name
    by_name_desc = await page_text(client, "/websites?sort=name&dir=desc")
    assert order(by_name_desc) == ["site-10", "site-2", "site-1", "gone-soon"]
    by_response = await page_text(client, "/websites?sort=response")
    assert order(by_response) == ["gone-soon", "site-2", "site-10", "site-1"]
    for column in ("state", "url", "checked", "uptime", "tags"):
        for direction in ("asc", "desc"):
            page = await page_text(client, f"/websites?sort={column}&dir={direction}")
            assert sorted(order(page)) == ["gone-soon", "site-1", "site-10", "site-2"]
    assert order(await page_text(client, "/websites?sort=bogus"))  # ignored, not an error
    # each row has its recent-checks bar
    table = await page_text(client, "/websites")
    assert table.count('class="row-bar') == 4 and "Last 1 checks: 1 passed" in table


async def test_incident_timeline_lists_filters_and_sorts(client: Client) -> None:
    engine = client.server.app[ENGINE]
    async with engine.connect() as conn:
        rows = {s.key: s.website_id for s in await status_store.current_status(conn)}
        hook = int(
            await conn.scalar(tables.alerts.select().with_only_columns(tables.alerts.c.id)) or 0
        )
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        past = await alert_store.open_incident(
            conn,
            website_id=rows["site-1"],
            alert_id=hook,
            started_at=now - timedelta(hours=5),
            confirmed_at=now - timedelta(hours=5),
            cause_kind="timeout",
            cause_message="no answer within 10 s",
            notified=True,
        )
        await alert_store.update_incidents(
            conn,
            [{"incident_id": past, "resolved_at": now - timedelta(hours=3), "notified": True}],
        )
        await alert_store.open_incident(
            conn,
            website_id=rows["site-2"],
            alert_id=hook,
            started_at=now - timedelta(minutes=10),
            confirmed_at=now - timedelta(minutes=9),
            cause_kind="status",
            cause_message="HTTP 503, expected 2xx",
            notified=True,
        )

    def table(page: str) -> str:
        return html.unescape(page.split('id="incidents"', 1)[1])  # after the filters

    page = table(await page_text(client, "/incidents"))
    assert page.index(">Site 2<") < page.index(">Site 1<")  # newest first
    assert "2 h" in page and "✕ open" in page  # the past one lasted 2 h
    open_only = table(await page_text(client, "/incidents?state=open"))
    assert "Site 2" in open_only and ">Site 1<" not in open_only
    one = table(await page_text(client, "/incidents?website=site-1"))
    assert ">Site 1<" in one and ">Site 2<" not in one
    longest = table(await page_text(client, "/incidents?sort=duration&dir=desc"))
    assert longest.index(">Site 1<") < longest.index(">Site 2<")
    assert "no incident matches" in (await page_text(client, "/incidents?alert=nope")).lower()
    assert "/incidents?website=site-2" in await page_text(client, "/websites/site-2")


async def test_renaming_in_the_form_keeps_the_key_and_its_history(
    client: Client, config_dir: Path
) -> None:
    await _record(client, "site-2", ok=True)
    form = await page_text(client, "/websites/site-2/edit")
    assert 'id="rename-note"' in form and "keeps the key <code>site-2</code>" in form
    assert 'placeholder="default: 45s"' in form  # the interval from defaults:
    token = CSRF.search(form)
    etag = re.search(r'name="etag" value="([^"]+)"', form)
    assert token and etag
    response = await client.post(
        "/websites/site-2/edit",
        data={
            "csrf": token.group(1),
            "etag": html.unescape(etag.group(1)),
            "name": "Site Two",
            "url": "https://two.example.com/",
            "alerts": "hook",
            "active": "true",
            "follow_redirects": "true",
            "verify_tls": "true",
        },
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"].startswith("/websites/site-2?")
    written = (config_dir / "monitors.yaml").read_text()
    entry = written.split("- name: Site Two\n", 1)[1].split("  - name:", 1)[0]
    assert "    key: site-2\n" in entry, written
    page = await page_text(client, "/websites/site-2")
    assert "Site Two" in page and "Last 1 checks" in page  # the same website, its history
    assert "Site Two" not in await page_text(client, "/websites/archived")


async def test_a_read_token_session_sees_read_only_forms(
    make_client: Callable[..., Any],
) -> None:
    client = await make_client(
        api_tokens="write-tok-0123456789", api_read_tokens="read-tok-0123456789"
    )
    try:
        await client.post("/login", data={"token": "read-tok-0123456789", "next": "/"})
        for path in ("/websites/site-2/edit", "/websites/new", "/alerts/hook/edit"):
            form = await page_text(client, path)
            assert 'id="read-only"' in form and "read token" in form, path
            assert re.search(r"<fieldset[^>]*\"\s+disabled", form), path
            assert ">Save<" not in form
        await client.post("/logout", data={"csrf": CSRF.search(form).group(1)})  # type: ignore[union-attr]
        await client.post("/login", data={"token": "write-tok-0123456789", "next": "/"})
        form = await page_text(client, "/websites/site-2/edit")
        assert 'id="read-only"' not in form and ">Save<" in form
        assert not re.search(r"<fieldset[^>]*\"\s+disabled", form)
    finally:
        await client.close()


async def test_the_status_bar_caption_says_the_interval_in_effect(
    client: Client, config_dir: Path
) -> None:
    (config_dir / "monitors.yaml").write_text(
        MONITORS.replace(
            "url: https://two.example.com/\n",
            "url: https://two.example.com/\n    retry_interval: 10s\n",
        )
    )
    await _reconcile(client)
    await _record(client, "site-2", ok=True)
    assert "Every 45 s;" in await page_text(client, "/websites/site-2")
    engine = client.server.app[ENGINE]
    async with engine.connect() as conn:
        (site,) = await status_store.current_status(conn, "site-2")
    result = CheckResult(
        site.website_id, datetime.now(UTC), False, "status", "HTTP 503", 503, Timings(total_ms=5)
    )
    async with engine.begin() as conn:
        await results.record(conn, [history_row(result)])
    caption = await page_text(client, "/websites/site-2")
    assert "Every 10 s while failing" in caption and "every 45 s when up" in caption


async def test_the_alerts_and_archived_lists_sort_too(client: Client, config_dir: Path) -> None:
    (config_dir / "alerts.yaml").write_text(
        ALERTS + "  - name: b-mail\n    type: email\n    host: 127.0.0.1\n    from: a@example.com\n"
        "    to: [b@example.com]\n    failure_threshold: 5\n    websites: [site-1]\n"
    )
    await _reconcile(client)

    def names(page: str) -> list[str]:
        return re.findall(r'href="/alerts/([a-z0-9-]+)">', page)

    assert names(await page_text(client, "/alerts")) == ["b-mail", "hook"]
    assert names(await page_text(client, "/alerts?sort=name&dir=desc")) == ["hook", "b-mail"]
    assert names(await page_text(client, "/alerts?sort=rule")) == ["hook", "b-mail"]
    assert names(await page_text(client, "/alerts?sort=websites&dir=desc")) == ["hook", "b-mail"]
    assert names(await page_text(client, "/alerts?sort=channel")) == ["b-mail", "hook"]
    (config_dir / "monitors.yaml").write_text(
        "websites:\n  - name: Site 10\n    url: https://ten.example.com/\n"
        "  - name: Site 1\n    url: https://one.example.com/\n"
    )
    await _reconcile(client)

    def archived(page: str) -> list[str]:
        table = page.split('id="archived"', 1)[1]
        return list(re.findall(r'href="/websites/([a-z0-9-]+)">', table))

    by_name = archived(await page_text(client, "/websites/archived?sort=name"))
    assert by_name == ["gone-soon", "site-2"]
    assert archived(await page_text(client, "/websites/archived?sort=name&dir=desc")) == [
        "site-2",
        "gone-soon",
    ]


async def test_small_labels_read_right(client: Client) -> None:
    docs = await page_text(client, "/api/docs")
    assert "Create an alert" in docs and "Create a website" in docs
    assert "a alert" not in docs
