"""The dashboard's status pages and incident notes: open an incident, post an
update, edit a page's entry; every change lands in the files, errors show."""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.appclient import Client, page_text, start_client

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ETAG = re.compile(r'name="etag" value="([^"]+)"')
MONITORS = textwrap.dedent(
    """\
    websites:
      - {name: Shop, key: shop, url: "https://shop.example/"}
      - {name: Blog, key: blog, url: "https://blog.example/"}
    """
)
PAGES = textwrap.dedent(
    """\
    status_pages:
      # The customers' page.
      - key: public
        title: Example status
        groups:
          - {name: Web, websites: [shop]}
    """
)


@pytest.fixture
async def client(config_dir: Path, database_url: str) -> AsyncIterator[Client]:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    (config_dir / "status-pages.yaml").write_text(PAGES)
    c = await start_client(config_dir, database_url)
    yield c
    await c.close()


async def _token(client: Client, path: str) -> tuple[str, str | None]:
    text = await page_text(client, path)
    csrf = CSRF.search(text)
    assert csrf, "no CSRF token"
    etag = ETAG.search(text)
    return csrf.group(1), html.unescape(etag.group(1)) if etag else None


async def test_an_incident_is_opened_updated_and_shown(client: Client, config_dir: Path) -> None:
    listing = await page_text(client, "/status-pages")
    assert "Example status" in listing and "/status/public" in listing
    csrf, _ = await _token(client, "/status-pages")
    opened = await client.post(
        "/incident-notes/new",
        data={
            "csrf": csrf,
            "title": "Slow shop",
            "status": "investigating",
            "impact": "major",
            "websites": "shop",
            "body": "Pages load **slowly**.",
            "key": "slow-shop",
        },
        allow_redirects=False,
    )
    assert opened.status == 303, await opened.text()
    assert opened.headers["Location"] == "/incident-notes/slow-shop?notice=created"
    path = config_dir / "incidents" / "slow-shop.md"
    assert "title: Slow shop" in path.read_text()
    public = await page_text(client, "/status/public")
    assert "Slow shop" in public and "Partial outage" in public  # impact: major
    csrf, etag = await _token(client, "/incident-notes/slow-shop")
    posted = await client.post(
        "/incident-notes/slow-shop/update",
        data={"csrf": csrf, "etag": etag or "", "status": "resolved", "message": "All fixed."},
        allow_redirects=False,
    )
    assert posted.status == 303, await posted.text()
    assert "status: resolved" in path.read_text()
    public = await page_text(client, "/status/public")
    assert "All systems operational" in public and "All fixed." in public


async def test_a_bad_incident_shows_its_errors_and_writes_nothing(
    client: Client, config_dir: Path
) -> None:
    csrf, _ = await _token(client, "/status-pages")
    refused = await client.post(
        "/incident-notes/new",
        data={"csrf": csrf, "title": "", "status": "investigating", "impact": "minor"},
    )
    assert refused.status == 422
    text = await refused.text()
    assert "title" in text and "✕" in text
    assert not (config_dir / "incidents").exists()


async def test_a_page_entry_is_edited_as_yaml(client: Client, config_dir: Path) -> None:
    form = await page_text(client, "/status-pages/public/edit")
    assert "title: Example status" in form
    csrf, etag = await _token(client, "/status-pages/public/edit")
    entry = "key: public\ntitle: Example Inc. status\ngroups:\n  - {name: Web, websites: [shop, blog]}\n"
    saved = await client.post(
        "/status-pages/public/edit",
        data={"csrf": csrf, "etag": etag or "", "entry": entry},
        allow_redirects=False,
    )
    assert saved.status == 303, await saved.text()
    text = (config_dir / "status-pages.yaml").read_text()
    assert "# The customers' page." in text and "title: Example Inc. status" in text
    assert "Blog" in await page_text(client, "/status/public")
    # An unknown website: the error, with where, and nothing written.
    bad = entry.replace("blog", "nope")
    refused = await client.post(
        "/status-pages/public/edit", data={"csrf": csrf, "etag": "", "entry": bad}
    )
    assert refused.status == 422
    assert "unknown website &#39;nope&#39;" in await refused.text()
    assert "nope" not in (config_dir / "status-pages.yaml").read_text()
