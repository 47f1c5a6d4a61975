"""Status pages and incident notes through the API: every write goes to the files
(only the entry changes, comments stay), If-Match, errors with their place, and
what is written is what the public page shows."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sitewatch.keys import RECONCILER
from tests.appclient import Client, page_text, start_client
from tests.web.test_api import git

MONITORS = textwrap.dedent(
    """\
    websites:
      - {name: Shop, key: shop, url: "https://shop.example/"}
      - {name: Blog, key: blog, url: "https://blog.example/"}
    """
)
PAGES = textwrap.dedent(
    """\
    # Our public pages (this comment stays).
    status_pages:
      - key: public
        title: Example status
        groups:
          - name: Web
            websites: [shop]   # the shop only, for now
    """
)
NOTE = {
    "title": "Slow shop",
    "status": "investigating",
    "impact": "major",
    "started": "2026-12-03T09:00:00Z",
    "websites": ["shop"],
    "body": "We are looking into **slow** pages.",
}


@pytest.fixture
async def client(config_dir: Path, database_url: str) -> AsyncIterator[Client]:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    (config_dir / "status-pages.yaml").write_text(PAGES)
    c = await start_client(config_dir, database_url)
    yield c
    await c.close()


async def test_pages_are_read_and_edited_in_the_yaml(client: Client, config_dir: Path) -> None:
    listed = await (await client.get("/api/status-pages")).json()
    assert [p["key"] for p in listed["items"]] == ["public"]
    one = await client.get("/api/status-pages/public")
    assert one.status == 200
    detail = await one.json()
    assert detail["entry"]["groups"][0]["websites"] == ["shop"]
    assert detail["spec"]["history_days"] == 90 and detail["url"] == "/status/public"
    etag = one.headers["ETag"]
    changed = await client.patch(
        "/api/status-pages/public",
        json={
            "title": "Example Inc. status",
            "groups": [{"name": "Web", "websites": ["shop", "blog"]}],
        },
        headers={"If-Match": etag},
    )
    assert changed.status == 200, await changed.text()
    text = (config_dir / "status-pages.yaml").read_text()
    assert "# Our public pages (this comment stays)." in text
    assert "title: Example Inc. status" in text
    page = await page_text(client, "/status/public")
    assert "Example Inc. status" in page and "Blog" in page
    # The old ETag is stale now.
    stale = await client.patch(
        "/api/status-pages/public", json={"title": "x"}, headers={"If-Match": etag}
    )
    assert stale.status == 412


async def test_creating_and_deleting_a_page(client: Client, config_dir: Path) -> None:
    created = await client.post(
        "/api/status-pages",
        json={"key": "team", "title": "Team", "groups": [{"name": "All", "websites": ["blog"]}]},
        params={"fragment": "team"},
    )
    assert created.status == 201, await created.text()
    assert created.headers["Location"] == "/api/status-pages/team"
    assert "key: team" in (config_dir / "status-pages.d" / "team.yaml").read_text()
    assert "Blog" in await page_text(client, "/status/team")
    bad = await client.post(
        "/api/status-pages",
        json={"key": "broken", "title": "B", "groups": [{"name": "G", "websites": ["nope"]}]},
    )
    assert bad.status == 422
    problem = await bad.json()
    assert any("unknown website 'nope'" in e["message"] for e in problem["errors"])
    assert "broken" not in (config_dir / "status-pages.yaml").read_text()  # nothing written
    gone = await client.delete("/api/status-pages/team")
    assert gone.status == 204
    assert (await client.get("/status/team")).status == 404
    assert (await client.get("/api/status-pages/team")).status == 404


async def test_a_note_is_written_updated_and_deleted_as_a_file(
    client: Client, config_dir: Path
) -> None:
    created = await client.put("/api/incident-notes/2026-12-03-slow-shop", json=NOTE)
    assert created.status == 201, await created.text()
    path = config_dir / "incidents" / "2026-12-03-slow-shop.md"
    text = path.read_text()
    assert text.startswith("---\ntitle: Slow shop\n") and text.endswith("**slow** pages.\n")
    # A hand-written comment survives an update posted through the API.
    path.write_text(text.replace("title: Slow shop\n", "# on call: Ana\ntitle: Slow shop\n"))
    await client.server.app[RECONCILER].reconcile("test")
    read = await client.get("/api/incident-notes/2026-12-03-slow-shop")
    assert read.status == 200
    etag = read.headers["ETag"]
    updated = await client.post(
        "/api/incident-notes/2026-12-03-slow-shop/updates",
        json={
            "status": "resolved",
            "message": "Fixed:\nthe index is back.",
            "at": "2026-12-03T10:00:00Z",
        },
        headers={"If-Match": etag},
    )
    assert updated.status == 200, await updated.text()
    body = await updated.json()
    assert body["status"] == "resolved" and body["resolved"] == "2026-12-03T10:00:00Z"
    text = path.read_text()
    assert "# on call: Ana" in text and "status: resolved" in text
    assert "message: |-\n    Fixed:\n    the index is back." in text
    page = await page_text(client, "/status/public")
    assert "Past incidents" in page and "the index is back." in page
    listed = await (await client.get("/api/incident-notes")).json()
    assert [(n["key"], n["open"]) for n in listed["items"]] == [("2026-12-03-slow-shop", False)]
    # A stale If-Match is refused, and nothing is written.
    again = await client.post(
        "/api/incident-notes/2026-12-03-slow-shop/updates",
        json={"status": "monitoring", "message": "x"},
        headers={"If-Match": etag},
    )
    assert again.status == 412
    assert (await client.delete("/api/incident-notes/2026-12-03-slow-shop")).status == 204
    assert not path.exists()
    assert (await client.get("/api/incident-notes/2026-12-03-slow-shop")).status == 404


async def test_bad_notes_are_refused_with_where(client: Client, config_dir: Path) -> None:
    unknown = await client.put("/api/incident-notes/x", json={**NOTE, "websites": ["nope"]})
    assert unknown.status == 422
    problem = await unknown.json()
    assert any("unknown website 'nope'" in e["message"] for e in problem["errors"])
    no_tz = await client.put("/api/incident-notes/x", json={**NOTE, "started": "2026-12-03T09:00"})
    assert no_tz.status == 422
    assert (await no_tz.json())["errors"][0]["field"] == "started"
    bad_key = await client.put("/api/incident-notes/Bad%20Key", json=NOTE)
    assert bad_key.status == 422
    missing = await client.post(
        "/api/incident-notes/nope/updates", json={"status": "resolved", "message": "x"}
    )
    assert missing.status == 404
    assert not (config_dir / "incidents").exists() or not any((config_dir / "incidents").iterdir())


async def test_git_mode_commits_each_note_and_page_write(
    config_dir: Path, database_url: str, require_tool: Callable[[str, str], Path]
) -> None:
    require_tool("git", "git")
    (config_dir / "monitors.yaml").write_text(MONITORS)
    (config_dir / "status-pages.yaml").write_text(PAGES)
    git(config_dir, "init", "-q")
    git(config_dir, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(config_dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    client = await start_client(
        config_dir, database_url, git_mode=True, git_author="Ops Bot <ops@example.com>"
    )
    try:
        created = await client.put("/api/incident-notes/slow-shop", json=NOTE)
        assert created.status == 201, await created.text()
        assert created.headers["X-Sitewatch-Commit"] == git(config_dir, "rev-parse", "HEAD")
        assert git(config_dir, "log", "-1", "--format=%an|%s") == (
            "Ops Bot|sitewatch API: create incident note slow-shop"
        )
        assert git(config_dir, "show", "--name-only", "--format=", "HEAD") == (
            "incidents/slow-shop.md"
        )
        update = {"status": "monitoring", "message": "Better.", "at": "2026-12-03T10:00:00Z"}
        posted = await client.post("/api/incident-notes/slow-shop/updates", json=update)
        assert posted.status == 200
        assert git(config_dir, "log", "-1", "--format=%s") == (
            "sitewatch API: update incident note slow-shop"
        )
        page = await client.patch("/api/status-pages/public", json={"title": "New title"})
        assert page.status == 200
        assert git(config_dir, "log", "-1", "--format=%s") == (
            "sitewatch API: update status page public in status-pages.yaml"
        )
        assert (await client.delete("/api/incident-notes/slow-shop")).status == 204
        assert git(config_dir, "log", "-1", "--format=%s") == (
            "sitewatch API: delete incident note slow-shop"
        )
        assert git(config_dir, "status", "--porcelain") == ""  # every write committed
    finally:
        await client.close()
