"""Status pages in a real browser (Debian's Chromium, headless): every page state,
light and dark, at 375 px and desktop, without console errors or overflow, with
screenshots; live updates over SSE; and the page without JavaScript."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from sitewatch.checker.result import CheckResult, Timings
from sitewatch.checker.writer import history_row
from sitewatch.keys import ENGINE, LIVE
from sitewatch.store import results
from tests.appclient import Client, start_client, website_id
from tests.dashboard.test_browser import ARGS, Console
from tests.waiting import eventually

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC)
LOCAL = "%Y-%m-%dT%H:%M"
MONITORS = textwrap.dedent(
    """\
    websites:
      - {name: Website, key: web, url: "https://www.example/", tags: [demo]}
      - {name: Checkout, key: checkout, url: "https://shop.example/checkout"}
      - {name: Search, key: search, url: "https://search.example/"}
      - {name: Public API, key: api, url: "https://api.example/"}
      - {name: Webhooks, key: hooks, url: "https://hooks.example/"}
      - {name: Status API, key: status-api, url: "https://s.example/"}
    """
)
PAGE = """\
  - key: {key}
    title: {title}
    description: Live status of Example Inc.'s services
    groups:
      - name: Storefront
        websites: {storefront}
      - name: Platform
        websites: {platform}
    history_days: 90
"""
STATES = {
    # page key -> (storefront, platform, title)
    "operational": (["web"], ["api"], "All up"),
    "degraded": (["web", "search"], ["api"], "Degraded"),
    "partial": (["web", "checkout"], ["api", "hooks"], "Partial outage"),
    "major": (["hooks"], ["status-api", "checkout"], "Major outage"),
    "maintenance": (["web"], ["status-api"], "Maintenance"),
}
NOTES = {
    "2026-db-latency.md": """\
        ---
        title: Slow checkouts
        status: monitoring
        impact: major
        started: {started}
        websites: [checkout, hooks]
        updates:
          - at: {identified}
            status: identified
            message: A missing database index made checkouts **slow**.
          - at: {fixed}
            status: monitoring
            message: The index is back; we are watching the [latency](https://example.com/).
        ---
        Checkouts take longer than usual. We are looking into it.
        """,
    "2026-api-errors.md": """\
        ---
        title: API errors for some customers
        status: resolved
        started: {past_start}
        resolved: {past_end}
        pages: [partial, operational]
        ---
        A faulty deploy returned errors for 12 minutes; it was rolled back.
        """,
}


def _config(config_dir: Path) -> None:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    pages = "status_pages:\n" + "".join(
        PAGE.format(key=key, title=title, storefront=front, platform=platform)
        for key, (front, platform, title) in STATES.items()
    )
    (config_dir / "status-pages.yaml").write_text(pages)
    (config_dir / "alerts.yaml").write_text(
        textwrap.dedent(
            f"""\
            maintenance:
              - name: db-upgrade
                announce: Database upgrade
                start: "{(NOW - timedelta(hours=1)).strftime(LOCAL)}"
                end: "{(NOW + timedelta(hours=2)).strftime(LOCAL)}"
                websites: [status-api]
              - name: nightly
                announce: Network maintenance
                start: "{(NOW + timedelta(days=2)).strftime(LOCAL)}"
                end: "{(NOW + timedelta(days=2, hours=1)).strftime(LOCAL)}"
                websites: [web]
            """
        )
    )
    notes = config_dir / "incidents"
    notes.mkdir()
    times = {
        "started": NOW - timedelta(hours=2),
        "identified": NOW - timedelta(hours=1, minutes=30),
        "fixed": NOW - timedelta(minutes=20),
        "past_start": NOW - timedelta(days=12, hours=3),
        "past_end": NOW - timedelta(days=12, hours=2, minutes=48),
    }
    fields = {k: v.strftime("%Y-%m-%dT%H:%M:%SZ") for k, v in times.items()}
    for name, text in NOTES.items():
        (notes / name).write_text(textwrap.dedent(text).format(**fields))


async def _history(client: Client) -> None:
    """90 days of hourly checks with a few bad days, then the current states."""
    rows = []
    current = {"web": 1, "checkout": 1, "search": -1, "api": 1, "hooks": -2, "status-api": -2}
    for n, key in enumerate(current):
        wid = await website_id(client, key)
        for hours in range(90 * 24, 0, -1):
            at = NOW - timedelta(hours=hours, minutes=10)
            day = hours // 24
            ok = not (day in (3 + n, 40 + 2 * n) and hours % 4 == 0) and not (
                day == 20 and key == "api"
            )
            rows.append(_row(wid, at, ok))
        state = current[key]
        for back in range(abs(state), 0, -1):
            rows.append(_row(wid, NOW - timedelta(seconds=back), state > 0))
    async with client.server.app[ENGINE].begin() as conn:
        await results.record(conn, rows)


def _result(wid: int, at: datetime, ok: bool) -> CheckResult:
    return CheckResult(
        website_id=wid,
        checked_at=at,
        ok=ok,
        status_code=200 if ok else 503,
        error_kind=None if ok else "status",
        error_message=None if ok else "HTTP 503 from the origin",
        timings=Timings(total_ms=80.0 + (wid * 37) % 200),
    )


def _row(wid: int, at: datetime, ok: bool) -> dict[str, object]:
    return history_row(_result(wid, at, ok))


@pytest.fixture
async def client(config_dir: Path, database_url: str) -> AsyncIterator[Client]:
    _config(config_dir)
    c = await start_client(config_dir, database_url)
    await _history(c)
    yield c
    await c.close()


@pytest.fixture
async def browser(require_tool: Callable[[str, str], Path]) -> AsyncIterator[Browser]:
    chromium = require_tool("chromium", "chromium")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield b
        await b.close()


@pytest.fixture
def shots(pytestconfig: pytest.Config) -> Path:
    path = Path(pytestconfig.getoption("--screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


VIEWS = [("desktop", 1280, 900), ("mobile", 375, 812)]
EXPECTED = {
    "operational": "All systems operational",
    "degraded": "Degraded performance",
    "partial": "Partial outage",
    "major": "Major outage",
    "maintenance": "Scheduled maintenance in progress",
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_state_renders_cleanly_light_and_dark_at_both_sizes(
    browser: Browser, client: Client, shots: Path
) -> None:
    base = str(client.make_url(""))
    for scheme in ("light", "dark"):
        for view, width, height in VIEWS:
            context = await browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            page = await context.new_page()
            console = Console(page)
            for key, banner in EXPECTED.items():
                response = await page.goto(f"{base}/status/{key}")
                assert response is not None and response.status == 200, key
                assert (await page.inner_text("main section h2")) == banner, key
                overflow = await page.evaluate(
                    "document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, f"{key} is {overflow}px too wide at {width}px"
                bars = await page.locator("svg.sw-bars").count()
                assert bars >= 2, key
                await page.screenshot(
                    path=shots / f"status-{key}-{view}-{scheme}.png", full_page=True
                )
            assert console.errors == [], console.errors
            await context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_what_each_state_shows(browser: Browser, client: Client) -> None:
    base = str(client.make_url(""))
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base}/status/partial")
    text = await page.inner_text("body")
    assert "Slow checkouts" in text and "Monitoring" in text  # open, at the top
    assert "API errors for some customers" in text  # past
    assert text.index("Slow checkouts") < text.index("Storefront")
    assert "Network maintenance" in text and "Scheduled" in text  # upcoming, covers web
    await page.goto(f"{base}/status/maintenance")
    text = await page.inner_text("body")
    assert "Database upgrade" in text and "In progress" in text
    await page.goto(f"{base}/status/major")
    assert "Network maintenance" not in await page.inner_text("body")  # web is not on it
    # A tap on a day's bar shows its title (phones have no hover).
    await page.goto(f"{base}/status/operational")
    await page.locator("svg.sw-bars rect").first.click()
    tip = await page.locator(".sw-tip").first.inner_text()
    assert "uptime" in tip or "no data" in tip
    await context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_page_updates_live_and_works_without_javascript(
    browser: Browser, client: Client
) -> None:
    base = str(client.make_url(""))
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base}/status/operational")
    assert await page.inner_text("main section h2") == "All systems operational"
    # The API fails twice: the page turns, with no reload, once the hub says so.
    wid = await website_id(client, "api")
    fails = [_result(wid, datetime.now(UTC) - timedelta(seconds=s), False) for s in (2, 1)]
    async with client.server.app[ENGINE].begin() as conn:
        await results.record(conn, [history_row(r) for r in fails])
    client.server.app[LIVE].results(fails)  # what the checker's writer tells the hub

    async def turned() -> bool:
        return await page.inner_text("main section h2") == "Major outage"

    await eventually(turned, what="the page to show the outage")
    await context.close()
    # Without JavaScript: the same server-rendered page, refreshed by <noscript>.
    quiet = await browser.new_context(java_script_enabled=False)
    page = await quiet.new_page()
    await page.goto(f"{base}/status/operational")
    assert await page.inner_text("main section h2") == "Major outage"
    assert await page.locator("svg.sw-bars").count() == 2
    await quiet.close()
