"""Badges: what they say (pure), and the public endpoint on the real app and
database: only ``badge: true`` websites, nothing else leaks, cacheable."""

from __future__ import annotations

import functools
import json
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sitewatch.web.badges import (
    Badge,
    response_badge,
    state_badge,
    svg,
    text_width,
    uptime_badge,
)
from tests.appclient import Client, page_text, record_check, start_client

MONITORS = textwrap.dedent(
    """\
    websites:
      - {name: Shop, url: "https://shop.example/", badge: true}
      - {name: Internal admin, key: admin, url: "https://admin.internal.example/secret-path"}
    """
)


def test_uptime_is_never_rounded_up_and_coloured_by_level() -> None:
    assert uptime_badge("30d", 1.0) == Badge("uptime 30d", "100%", "brightgreen")
    assert uptime_badge("30d", 0.99996).message == "99.99%"
    assert uptime_badge("7d", 0.995).color == "green"
    assert uptime_badge("7d", 0.96).color == "yellow"
    assert uptime_badge("7d", 0.5) == Badge("uptime 7d", "50.00%", "red")
    assert uptime_badge("24h", None) == Badge("uptime 24h", "no data", "lightgrey")


def test_state_and_response_time() -> None:
    assert state_badge("up", True) == Badge("status", "up", "brightgreen")
    assert state_badge("down", True).color == "red"
    assert state_badge("up", False).message == "paused"
    assert state_badge("unknown", True).message == "unknown"
    assert response_badge(123.4) == Badge("response time", "123 ms", "brightgreen")
    assert response_badge(1500).color == "red"


def test_svg_is_well_formed_escaped_and_fits_its_text() -> None:
    drawn = svg(Badge("a<b", "x & y", "blue"))
    root = ET.fromstring(drawn)  # well-formed XML: the text is escaped
    assert root.attrib["aria-label"] == "a<b: x & y"
    assert int(root.attrib["width"]) >= text_width("a<b") + text_width("x & y")


@pytest.fixture
async def client(config_dir: Path, database_url: str) -> AsyncIterator[Client]:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    c = await start_client(config_dir, database_url)
    yield c
    await c.close()


_record = functools.partial(
    record_check, ms=87.0, phases=False, error_message="HTTP 503 from admin.internal.example"
)


async def test_a_published_website_has_badges_and_others_do_not(client: Client) -> None:
    await _record(client, "shop", ok=True)
    await _record(client, "admin", ok=False)
    status = await client.get("/badge/shop/status.svg")
    assert status.status == 200 and status.content_type == "image/svg+xml"
    assert "public" in status.headers["Cache-Control"]
    assert ">up</text>" in await status.text()
    uptime = json.loads(await page_text(client, "/badge/shop/uptime-30d.json"))
    assert uptime == {
        "schemaVersion": 1,
        "label": "uptime 30d",
        "message": "100%",
        "color": "brightgreen",
    }
    assert "87 ms" in await page_text(client, "/badge/shop/response-time.svg")
    # Not published, unknown, or a kind that does not exist: the same 404.
    for path in (
        "/badge/admin/status.svg",
        "/badge/nobody/status.svg",
        "/badge/shop/uptime-2y.svg",
        "/badge/shop/status.png",
    ):
        missing = await client.get(path)
        assert missing.status == 404, path
        text = await missing.text()
        assert "admin" not in text and "internal" not in text


async def test_a_badge_says_nothing_but_its_value(client: Client) -> None:
    await _record(client, "shop", ok=False)
    for kind in ("status", "uptime-24h", "uptime-7d", "uptime-30d", "uptime-1y", "response-time"):
        for ext in ("svg", "json"):
            body = await page_text(client, f"/badge/shop/{kind}.{ext}")
            for secret in ("shop.example", "Shop", "503", "admin"):
                assert secret not in body, (kind, ext, secret)


async def test_a_badge_is_cacheable(client: Client) -> None:
    first = await client.get("/badge/shop/status.svg")
    etag = first.headers["ETag"]
    again = await client.get("/badge/shop/status.svg", headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag
