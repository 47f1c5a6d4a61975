"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``)
driven by Playwright, against a live sitewatch and real targets on loopback.

Every page loads without console errors, light and dark, at 1440 and 375 px
(screenshots saved to ``--screenshots``); a target going down turns its card red
live; the form writes the YAML; validation errors show inline; login works.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from sitewatch.app import create_app
from sitewatch.settings import Settings

# As root, in a sandbox with no network: no Chromium sandbox, no background traffic.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.slow


@dataclass
class Switch:
    """A target whose answer the test changes: 200 until told otherwise."""

    status: int = 200
    hits: int = field(default=0)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(status=self.status, text=f"status {self.status}\n")


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def target() -> AsyncIterator[tuple[Switch, str]]:
    switch = Switch()
    app = web.Application()
    app.router.add_get("/", switch.handle)
    runner, url = await _serve(app)
    yield switch, url
    await runner.cleanup()


def _config(config_dir: Path, target_url: str) -> None:
    (config_dir / "monitors.yaml").write_text(
        textwrap.dedent(
            f"""\
            # Our websites (this comment must survive the dashboard's writes).
            defaults:
              interval: 5s
              timeout: 2s

            websites:
              - name: Local target
                key: local
                url: {target_url}/
                tags: [local, prod]
                alerts: [hook]
              - name: Paused site
                url: https://paused.example.com/
                active: false
            """
        )
    )
    (config_dir / "alerts.yaml").write_text(
        textwrap.dedent(
            """\
            alerts:
              - name: hook
                type: webhook
                url: http://127.0.0.1:9/hook
                secret: ${HOOK_SECRET:-dev-secret}
                reminder_interval: 1h
            """
        )
    )


@pytest.fixture
def chromium(require_tool: Callable[[str, str], Path]) -> Path:
    return require_tool("chromium", "chromium")


@pytest.fixture
def shots(pytestconfig: pytest.Config) -> Path:
    path = Path(pytestconfig.getoption("--screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield b
        await b.close()


@pytest.fixture
async def sitewatch(
    config_dir: Path, database_url: str, target: tuple[Switch, str], request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    _config(config_dir, target[1])
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = Settings(config_dir=config_dir, database_url=database_url, watch=False, **overrides)
    runner, url = await _serve(create_app(settings, environ={}))
    yield url
    await runner.cleanup()


class Console:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


PAGES = [
    ("overview", "/"),
    ("websites", "/websites"),
    ("website", "/websites/local?range=1h"),
    ("website-edit", "/websites/local/edit"),
    ("website-new", "/websites/new"),
    ("alerts", "/alerts"),
    ("alert", "/alerts/hook"),
    ("alert-edit", "/alerts/hook/edit"),
    ("settings", "/settings"),
    ("incidents", "/incidents"),
    ("status-pages", "/status-pages"),
    ("archived", "/websites/archived"),
]
VIEWS = [("desktop", 1440, 900), ("mobile", 375, 812)]


async def test_every_page_loads_cleanly_in_light_and_dark_at_both_sizes(
    browser: Browser, sitewatch: str, target: tuple[Switch, str], shots: Path
) -> None:
    for scheme in ("light", "dark"):
        for view, width, height in VIEWS:
            context = await browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            page = await context.new_page()
            console = Console(page)
            for name, path in PAGES:
                response = await page.goto(sitewatch + path)
                assert response is not None and response.status == 200, path
                title = await page.title()
                assert title.endswith("· sitewatch"), title
                # Nothing wider than the screen: readable at 375 px without zooming out.
                overflow = await page.evaluate(
                    "document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, f"{path} is {overflow}px too wide at {width}px"
                if name == "overview":
                    await page.wait_for_selector("#live-status.flex")  # SSE connected
                await page.screenshot(path=shots / f"{name}-{view}-{scheme}.png", full_page=True)
            assert console.errors == [], console.errors
            await context.close()
    assert target[0].hits > 0  # the checker really checked it


async def test_a_target_going_down_turns_its_card_red_live(
    browser: Browser, sitewatch: str, target: tuple[Switch, str]
) -> None:
    switch, _ = target
    page = await browser.new_page()
    console = Console(page)
    await page.goto(sitewatch + "/")
    card = page.locator("li[data-website-id]", has_text="Local target")
    await page.wait_for_selector("li[data-state=up]", timeout=10_000)
    await page.evaluate("window.__notReloaded = true")
    switch.status = 503
    # One interval (5 s) plus the writer's batch and the hub's one-second tick.
    await page.wait_for_selector("li[data-state=down]", timeout=9_000)
    assert await page.evaluate("window.__notReloaded === true")  # live, not a reload
    assert "Down" in await card.locator("[data-field=badge]").inner_text()  # text, not colour only
    assert "503" in await card.locator("[data-field=error]").inner_text()
    assert await page.locator("#count-down").inner_text() == "1"
    color = await card.evaluate("e => getComputedStyle(e).borderColor")
    assert color != await page.locator("li[data-state=paused]").evaluate(
        "e => getComputedStyle(e).borderColor"
    )
    switch.status = 200
    await page.wait_for_selector("li[data-state=up]", timeout=9_000)
    assert console.errors == []


async def test_creating_a_website_in_the_form_writes_the_yaml(
    browser: Browser, sitewatch: str, config_dir: Path, target: tuple[Switch, str]
) -> None:
    page = await browser.new_page()
    console = Console(page)
    await page.goto(sitewatch + "/websites/new")
    await page.locator("#field-name").fill("Second target")
    await page.locator("#field-url").fill(target[1] + "/?second")
    await page.get_by_label("Tags").fill("prod, second")
    await page.get_by_label("hook").check()
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url("**/websites/second-target?notice=created")
    assert "Saved to the YAML and applied." in await page.locator("#notice").inner_text()
    text = (config_dir / "monitors.yaml").read_text()
    assert text.startswith("# Our websites (this comment must survive the dashboard's writes).")
    assert "  - name: Second target\n    url: " in text
    assert (
        "  - name: Paused site\n    url: https://paused.example.com/\n    active: false\n" in text
    )
    await page.goto(sitewatch + "/")
    assert await page.locator("li[data-website-id]", has_text="Second target").count() == 1
    assert console.errors == []


async def test_a_validation_error_shows_inline(
    browser: Browser, sitewatch: str, config_dir: Path, shots: Path
) -> None:
    before = (config_dir / "monitors.yaml").read_text()
    page = await browser.new_page()
    await page.goto(sitewatch + "/websites/new")
    await page.locator("#field-name").fill("Broken")
    await page.locator("#field-url").fill("ftp://files.example.com/")
    await page.get_by_role("button", name="Save").click()
    error = page.locator("#field-url-err")
    await error.wait_for()
    assert "must be an http:// or https:// URL" in await error.inner_text()
    assert await page.locator("#field-url").get_attribute("aria-invalid") == "true"
    assert await page.locator("#field-url").input_value() == "ftp://files.example.com/"
    assert (config_dir / "monitors.yaml").read_text() == before
    await page.screenshot(path=shots / "website-new-error-desktop-light.png", full_page=True)


@pytest.mark.parametrize(
    "sitewatch",
    [{"api_tokens": "write-token-0123456789", "api_read_tokens": "read-token-0123456789"}],
    indirect=True,
)
async def test_login_is_required_when_tokens_are_set(
    browser: Browser, sitewatch: str, shots: Path
) -> None:
    page = await browser.new_page()
    console = Console(page)
    await page.goto(sitewatch + "/alerts")
    assert page.url.startswith(sitewatch + "/login")
    for scheme in ("light", "dark"):
        for view, width, height in VIEWS:
            context = await browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme
            )
            other = await context.new_page()
            await other.goto(sitewatch + "/login")
            await other.screenshot(path=shots / f"login-{view}-{scheme}.png", full_page=True)
            await context.close()
    await page.get_by_label("Token").fill("wrong")
    await page.get_by_role("button", name="Log in").click()
    assert "not valid" in await page.get_by_role("alert").inner_text()
    await page.get_by_label("Token").fill("write-token-0123456789")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(sitewatch + "/alerts")
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "sitewatch_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/login?notice=loggedout")
    await page.goto(sitewatch + "/")
    assert page.url.startswith(sitewatch + "/login")
    # The 401 of the wrong token is the only console message.
    assert all("401" in e for e in console.errors), console.errors


async def test_on_a_phone_nothing_is_clipped_and_the_chart_opens_at_now(
    browser: Browser, sitewatch: str, target: tuple[Switch, str], shots: Path
) -> None:
    """375 px: every nav item fully visible; the chart scrolled to its newest
    end; a failed check's error readable in the recent-checks table."""
    switch, _ = target
    switch.status = 503
    context = await browser.new_context(viewport={"width": 375, "height": 812})
    page = await context.new_page()
    console = Console(page)
    await page.goto(sitewatch + "/websites/local")
    nav = await page.evaluate(
        """() => {
            const nav = document.querySelector('nav[aria-label=Main]').getBoundingClientRect();
            return [...document.querySelectorAll('nav[aria-label=Main] a')].map(a => {
                const r = a.getBoundingClientRect();
                return [a.textContent.trim(), r.left >= nav.left - 0.5 && r.right <= nav.right + 0.5
                        && r.right <= window.innerWidth];
            });
        }"""
    )
    assert [name for name, _ in nav][-1] == "API"
    assert all(inside for _, inside in nav), nav
    chart = await page.evaluate(
        """() => {
            const box = document.querySelector('[data-chart-scroll]').getBoundingClientRect();
            const svg = document.querySelector('#chart').getBoundingClientRect();
            return [svg.width > box.width, Math.abs(svg.right - box.right)];
        }"""
    )
    assert chart[0], "at 375 px the chart is wider than the screen and scrolls"
    assert chart[1] < 1.5, f"the chart opens {chart[1]}px away from its newest end"

    async def failed_check_shown() -> bool:
        await page.reload()
        return await page.locator("[data-field=error-inline]").count() > 0

    from tests.waiting import eventually

    await eventually(failed_check_shown, what="a failed check in the recent-checks table")
    error = await page.evaluate(
        """() => {
            const e = document.querySelector('[data-field=error-inline]');
            const r = e.getBoundingClientRect();
            return [e.textContent.trim(), r.width > 0 && r.right <= window.innerWidth];
        }"""
    )
    assert "503" in error[0] and error[1], error
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await page.screenshot(path=shots / "website-down-mobile-light.png", full_page=True)
    assert console.errors == [], console.errors
    await context.close()
