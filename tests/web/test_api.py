"""The REST API on the real application (create_app), a real database and real
files: write-back that touches only the entry, ETags, auth, problem+json."""

from __future__ import annotations

import asyncio
import difflib
import json
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.appclient import Client, start_client

MONITORS = textwrap.dedent(
    """\
    # Our websites.   (odd spacing kept)
    defaults: &defaults
      interval: 30s
      headers:
        User-Agent: "sitewatch"   # double quotes stay

    websites:
      # The shop: money.
      - name: Shop
        url: 'https://shop.example.com/'     # single quotes stay
        tags: [prod, eu]

      - name: Blog
        key: blog
        url: https://blog.example.com/
        expected_status:
          - 200
          - 301


      - {name: Docs, url: "https://docs.example.com/"}   # a flow mapping
    """
)
ALERTS = textwrap.dedent(
    """\
    alerts:
      - name: hook
        type: webhook
        url: http://127.0.0.1:9/hook
        secret: plain-secret-in-yaml
        websites: [shop]
      - name: mail
        type: email
        host: 127.0.0.1
        from: sw@example.com
        to: ops@example.com
        password: ${SMTP_PASSWORD:-x}
        username: sw
        websites: "*"
    """
)


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


def diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]


async def test_list_get_and_status(client: Client) -> None:
    response = await client.get("/api/websites", params={"tag": "prod"})
    assert response.status == 200
    body = await response.json()
    assert body["total"] == 1 and body["items"][0]["key"] == "shop"
    page = await (
        await client.get("/api/websites", params={"active": "true", "limit": "2", "offset": "1"})
    ).json()
    assert page["total"] == 3 and [i["key"] for i in page["items"]] == ["docs", "shop"]
    found = await (await client.get("/api/websites", params={"q": "SHOP.example"})).json()
    assert [i["key"] for i in found["items"]] == ["shop"]  # the URL matched, any case
    assert (await client.get("/api/websites", params={"q": "x" * 201})).status == 400
    unknown = await (await client.get("/api/websites", params={"status": "unknown"})).json()
    down = await (await client.get("/api/websites", params={"status": "down"})).json()
    assert (unknown["total"], down["total"]) == (3, 0)
    assert body["items"][0]["status"]["state"] == "unknown"
    one = await client.get("/api/websites/shop")
    assert one.headers["ETag"].startswith('"')
    detail = await one.json()
    assert (
        detail["source_file"] == "monitors.yaml"
        and detail["spec"]["url"] == "https://shop.example.com/"
    )
    by_id = await client.get(f"/api/websites/{detail['id']}")
    assert (await by_id.json())["key"] == "shop"
    status = await (await client.get("/api/websites/shop/status")).json()
    assert status["uptime"] == {"24h": None, "7d": None, "30d": None}
    summary = await (await client.get("/api/stats/summary")).json()
    assert (summary["websites"], summary["unknown"]) == (3, 3)
    config = await (await client.get("/api/config")).json()
    assert config["read_only"] is False and config["applied_revision"]
    health = await (await client.get("/health")).json()
    assert health["alerts"] == {"notifications_held": None}


async def test_create_update_delete_touch_only_the_entry(client: Client, config_dir: Path) -> None:
    path = config_dir / "monitors.yaml"
    assert (await (await client.get("/api/websites")).json())["total"] == 3  # now cached
    created = await client.post(
        "/api/websites",
        json={"name": "Status page", "url": "https://status.example.com/", "tags": ["prod"]},
    )
    assert created.status == 201, await created.text()
    assert created.headers["Location"] == "/api/websites/status-page"
    after_create = path.read_text()
    assert diff(MONITORS, after_create) == [
        "+",
        "+  - name: Status page",
        "+    url: https://status.example.com/",
        "+    tags: [prod]",
    ]
    assert (await created.json())["status"]["state"] == "unknown"  # applied already
    listed = await (await client.get("/api/websites")).json()
    assert listed["total"] == 4  # a write clears the cache: clients read their writes

    etag = (await client.get("/api/websites/shop")).headers["ETag"]
    updated = await client.put(
        "/api/websites/shop",
        json={
            "name": "Shop",
            "url": "https://shop.example.com/",
            "tags": ["prod", "eu", "pay"],
            "interval": "1m",
        },
        headers={"If-Match": etag},
    )
    assert updated.status == 200, await updated.text()
    after_update = path.read_text()
    assert diff(after_create, after_update) == [
        "-    tags: [prod, eu]",
        "+    tags: [prod, eu, pay]",
        "+    interval: 1m",
    ]
    assert (await updated.json())["interval_seconds"] == 60.0

    patched = await client.patch("/api/websites/blog", json={"expected_status": [200, 302]})
    assert patched.status == 200, await patched.text()
    after_patch = path.read_text()
    assert diff(after_update, after_patch) == ["-      - 301", "+      - 302"]

    deleted = await client.delete("/api/websites/blog")
    assert deleted.status == 204
    after_delete = path.read_text()
    assert diff(after_patch, after_delete) == [
        "-  - name: Blog",
        "-    key: blog",
        "-    url: https://blog.example.com/",
        "-    expected_status:",
        "-      - 200",
        "-      - 302",
        "-",
    ]
    assert (await client.get("/api/websites/blog")).status == 404
    # comments, quotes, the anchor and the flow mapping are all still there
    for kept in (
        "# Our websites.   (odd spacing kept)",
        "&defaults",
        "'https://shop.example.com/'",
        '"sitewatch"   # double quotes stay',
        '- {name: Docs, url: "https://docs.example.com/"}',
    ):
        assert kept in after_delete


async def test_if_match_detects_a_hand_edit(client: Client, config_dir: Path) -> None:
    path = config_dir / "monitors.yaml"
    etag = (await client.get("/api/websites/shop")).headers["ETag"]
    path.write_text(path.read_text().replace("# The shop: money.", "# The shop: edited by hand."))
    stale = await client.patch(
        "/api/websites/shop", json={"tags": ["x"]}, headers={"If-Match": etag}
    )
    assert stale.status == 412
    assert stale.content_type == "application/problem+json"
    assert "changed since you read it" in (await stale.json())["detail"]
    assert "edited by hand" in path.read_text() and "tags: [prod, eu]" in path.read_text()
    fresh = (await client.get("/api/websites/shop")).headers["ETag"]
    assert fresh != etag
    ok = await client.patch("/api/websites/shop", json={"tags": ["x"]}, headers={"If-Match": fresh})
    assert ok.status == 200
    assert "edited by hand" in path.read_text()  # the hand edit survives


async def test_invalid_body_gets_the_yaml_message_and_changes_nothing(
    client: Client, config_dir: Path
) -> None:
    path = config_dir / "monitors.yaml"
    before = path.read_text()
    bad = await client.patch("/api/websites/shop", json={"interval": "1s", "colour": "red"})
    assert bad.status == 422
    problem = await bad.json()
    assert problem["title"] == "Invalid entry"
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert fields["interval"] == 'must be at least 5s (got "1s")'
    assert "colour" in fields and "unknown key" in fields["colour"]
    assert path.read_text() == before
    dup = await client.post("/api/websites", json={"name": "Shop", "url": "https://x.example.com/"})
    assert dup.status == 409 and "exists already" in (await dup.json())["detail"]


async def test_problem_json_for_bad_requests(client: Client) -> None:
    cases = [
        (client.get("/api/websites/nope"), 404),
        (client.get("/api/websites", params={"status": "sideways"}), 400),
        (client.get("/api/websites", params={"limit": "lots"}), 400),
        (client.post("/api/websites", data="name=x", headers={"Content-Type": "text/plain"}), 415),
        (
            client.post(
                "/api/websites", data="{not json", headers={"Content-Type": "application/json"}
            ),
            400,
        ),
        (client.post("/api/websites", json=["a", "list"]), 422),
        (client.request("TRACE", "/api/websites"), 405),
        (client.get("/api/nothing-here"), 404),
    ]
    for call, status in cases:
        response = await call
        assert response.status == status, (status, await response.text())
        assert response.content_type == "application/problem+json"
        body = await response.json()
        assert body["status"] == status and body["detail"]


async def test_body_size_limit(make_client: Callable[..., Any]) -> None:
    client = await make_client(max_request_bytes=2048)
    try:
        response = await client.post("/api/websites", json={"name": "x" * 5000, "url": "http://x/"})
        assert response.status == 413
        assert response.content_type == "application/problem+json"
    finally:
        await client.close()


async def test_tokens(make_client: Callable[..., Any]) -> None:
    client = await make_client(
        api_tokens="w-token-0123456789", api_read_tokens="r-token-0123456789"
    )
    try:
        assert (await client.get("/api/websites")).status == 200  # reads are open by default
        new = {"name": "A", "url": "https://a.example.com/"}
        assert (await client.post("/api/websites", json=new)).status == 401
        read = {"Authorization": "Bearer r-token-0123456789"}
        assert (await client.post("/api/websites", json=new, headers=read)).status == 403
        bad = {"Authorization": "Bearer nope"}
        assert (await client.post("/api/websites", json=new, headers=bad)).status == 401
        write = {"Authorization": "Bearer w-token-0123456789"}
        assert (await client.post("/api/websites", json=new, headers=write)).status == 201
    finally:
        await client.close()
    closed = await make_client(api_tokens="w-token-0123456789", api_open_reads=False)
    try:
        denied = await closed.get("/api/websites")
        assert denied.status == 401 and denied.headers["WWW-Authenticate"].startswith("Bearer")
        allowed = await closed.get(
            "/api/websites", headers={"Authorization": "Bearer w-token-0123456789"}
        )
        assert allowed.status == 200
    finally:
        await closed.close()


async def test_read_only_mode(make_client: Callable[..., Any], config_dir: Path) -> None:
    client = await make_client(read_only=True)
    try:
        response = await client.post(
            "/api/websites", json={"name": "A", "url": "https://a.example.com/"}
        )
        assert response.status == 409
        assert "change the YAML in git" in (await response.json())["detail"]
        assert (await (await client.get("/api/config")).json())["read_only"] is True
    finally:
        await client.close()


async def test_secrets_are_masked_and_references_kept(client: Client) -> None:
    hook = await (await client.get("/api/alerts/hook")).json()
    assert hook["spec"]["secret"] == "********" and hook["websites"] == ["shop"]
    mail = await (await client.get("/api/alerts/mail")).json()
    assert mail["spec"]["password"] == "${SMTP_PASSWORD:-x}"
    listed = await (await client.get("/api/alerts")).json()
    assert "plain-secret-in-yaml" not in str(listed)


async def test_concurrent_writes_lose_nothing(client: Client, config_dir: Path) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/websites", json={"name": f"Site {i}", "url": f"https://s{i}.example.com/"}
            )
            for i in range(6)
        )
    )
    assert sorted(r.status for r in responses) == [201] * 6
    text = (config_dir / "monitors.yaml").read_text()
    assert all(f"name: Site {i}" in text for i in range(6))
    listed = await (await client.get("/api/websites", params={"limit": "100"})).json()
    assert listed["total"] == 9


async def test_test_notification_and_deliveries(client: Client) -> None:
    queued = await client.post("/api/alerts/hook/test")
    assert queued.status == 202
    event_id = (await queued.json())["event_id"]
    deliveries = await (await client.get("/api/alerts/hook/deliveries")).json()
    assert deliveries["items"][0]["event_id"] == event_id


async def test_preview_renders_each_event_without_sending(client: Client) -> None:
    got = await client.get("/api/alerts/hook/preview", params={"event": "down"})
    assert got.status == 200
    shown = await got.json()
    assert shown["alert"] == "hook" and shown["event"] == "down" and shown["problems"] == []
    body = json.loads(shown["parts"]["body"])  # a json webhook: the event itself
    assert body["type"] == "down" and body["website"]["name"] == "Example"
    test = await (await client.get("/api/alerts/hook/preview")).json()
    assert json.loads(test["parts"]["body"])["type"] == "test"
    bad = await client.get("/api/alerts/hook/preview", params={"event": "sideways"})
    assert bad.status == 400 and "down, reminder, up, test" in (await bad.json())["detail"]
    assert (await client.get("/api/alerts/nope/preview")).status == 404
    deliveries = await (await client.get("/api/alerts/hook/deliveries")).json()
    assert deliveries["items"] == []  # a preview sends nothing


async def test_alert_write_back_keeps_masked_secrets(client: Client, config_dir: Path) -> None:
    path = config_dir / "alerts.yaml"
    got = await client.get("/api/alerts/hook")
    spec = (await got.json())["entry"]  # the entry as written: PUT it back edited
    assert spec["secret"] == "********"
    spec["failure_threshold"] = 5
    put = await client.put("/api/alerts/hook", json=spec, headers={"If-Match": got.headers["ETag"]})
    assert put.status == 200, await put.text()
    text = path.read_text()
    assert "secret: plain-secret-in-yaml" in text and "failure_threshold: 5" in text
    assert diff(ALERTS, text) == ["+    failure_threshold: 5"]
    created = await client.post(
        "/api/alerts",
        json={
            "name": "pager",
            "type": "webhook",
            "url": "https://pager.example.com/",
            "tags": ["prod"],
        },
    )
    assert created.status == 201, await created.text()
    assert (await created.json())["websites"] == ["shop"]
    unset = await client.post(
        "/api/alerts",
        json={
            "name": "x",
            "type": "webhook",
            "url": "https://x.example.com/",
            "secret": "********",
            "websites": "*",
        },
    )
    assert unset.status == 409 and "mask" in (await unset.json())["detail"]
    assert (await client.delete("/api/alerts/pager")).status == 204
    assert "pager" not in path.read_text()


async def test_cors_off_by_default_and_on_for_listed_origins(
    client: Client, make_client: Callable[..., Any]
) -> None:
    plain = await client.get("/api/websites", headers={"Origin": "https://ops.example.com"})
    assert "Access-Control-Allow-Origin" not in plain.headers
    cors = await make_client(cors_origins="https://ops.example.com")
    try:
        ok = await cors.get("/api/websites", headers={"Origin": "https://ops.example.com"})
        assert ok.headers["Access-Control-Allow-Origin"] == "https://ops.example.com"
        assert "ETag" in ok.headers["Access-Control-Expose-Headers"]
        other = await cors.get("/api/websites", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
        pre = await cors.options(
            "/api/websites/shop",
            headers={
                "Origin": "https://ops.example.com",
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "authorization, if-match",
            },
        )
        assert pre.status == 204 and "PATCH" in pre.headers["Access-Control-Allow-Methods"]
        assert "If-Match" in pre.headers["Access-Control-Allow-Headers"]
        denied = await cors.options(
            "/api/websites",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert denied.status == 403
    finally:
        await cors.close()


def git(folder: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


async def test_git_mode_commits_each_write(
    make_client: Callable[..., Any], config_dir: Path
) -> None:
    git(config_dir, "init", "-q")
    git(config_dir, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(config_dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (config_dir / "notes.txt").write_text("a file someone staged by hand\n")
    git(config_dir, "add", "notes.txt")
    client = await make_client(git_mode=True, git_author="Ops Bot <ops@example.com>")
    try:
        created = await client.post(
            "/api/websites", json={"name": "A", "url": "https://a.example.com/"}
        )
        assert created.status == 201, await created.text()
        commit = (await created.json())["commit"]
        assert (
            commit == git(config_dir, "rev-parse", "HEAD") == created.headers["X-Sitewatch-Commit"]
        )
        assert git(config_dir, "log", "-1", "--format=%an <%ae>|%s") == (
            "Ops Bot <ops@example.com>|sitewatch API: create website a in monitors.yaml"
        )
        assert git(config_dir, "show", "--name-only", "--format=", "HEAD") == "monitors.yaml"
        assert git(config_dir, "status", "--porcelain") == "A  notes.txt"  # left staged
        deleted = await client.delete("/api/websites/a")
        assert deleted.status == 204
        assert git(config_dir, "log", "-1", "--format=%s").startswith(
            "sitewatch API: delete website a"
        )
        config = await (await client.get("/api/config")).json()
        assert config["applied_git_commit"].startswith(git(config_dir, "rev-parse", "HEAD"))
    finally:
        await client.close()


async def test_git_mode_outside_a_work_tree_refuses_writes(
    make_client: Callable[..., Any], tmp_path: Path
) -> None:
    client = await make_client(git_mode=True)
    try:
        response = await client.post(
            "/api/websites", json={"name": "A", "url": "https://a.example.com/"}
        )
        assert (
            response.status == 409 and "not in a git work tree" in (await response.json())["detail"]
        )
    finally:
        await client.close()


async def test_tokens_file(make_client: Callable[..., Any], tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(
        "# ops\nfile-writer-0123456789#x\nread file-reader-0123456789   # the dashboard\n"
    )
    client = await make_client(api_tokens_file=tokens, api_open_reads=False)
    try:
        new = {"name": "A", "url": "https://a.example.com/"}
        reader = {"Authorization": "Bearer file-reader-0123456789"}
        assert (await client.get("/api/websites", headers=reader)).status == 200
        assert (await client.post("/api/websites", json=new, headers=reader)).status == 403
        writer = {"Authorization": "Bearer file-writer-0123456789#x"}
        assert (await client.post("/api/websites", json=new, headers=writer)).status == 201
    finally:
        await client.close()
    from sitewatch.errors import SettingsError
    from sitewatch.web.auth import TokenPolicy

    with pytest.raises(SettingsError, match="line 2"):
        TokenPolicy.of("", "", True, "ok-token-0123456789\nwrite too many words\n")


def test_named_tokens_name_their_writes() -> None:
    from sitewatch.web.auth import TokenPolicy
    from sitewatch.web.dashboard.session import Sessions

    policy = TokenPolicy.of(
        "", "", True, "write ci-bot ci-token-0123456789\nread grafana ro-token-0123456789\n"
    )
    assert policy.role("ci-token-0123456789") == "write"
    assert policy.role("ro-token-0123456789") == "read"
    assert policy.name("ci-token-0123456789") == "ci-bot"
    assert policy.name("nope-0123456789abc") is None
    sessions = Sessions(policy, key=b"k" * 32)
    session = sessions.login("ci-token-0123456789")
    assert session is not None and session.name == "ci-bot"
    assert sessions.decode(sessions.encode(session)) == session


async def test_fragments_are_edited_where_the_entry_lives(client: Client, config_dir: Path) -> None:
    created = await client.post(
        "/api/websites",
        params={"fragment": "team-a"},
        json={"name": "Team A", "url": "https://a.example.com/"},
    )
    assert created.status == 201, await created.text()
    fragment = config_dir / "monitors.d" / "team-a.yaml"
    assert fragment.read_text() == "websites:\n  - name: Team A\n    url: https://a.example.com/\n"
    assert (await created.json())["source_file"] == "monitors.d/team-a.yaml"
    main_before = (config_dir / "monitors.yaml").read_text()
    patched = await client.patch("/api/websites/team-a", json={"tags": ["team-a"]})
    assert patched.status == 200
    assert "tags: [team-a]" in fragment.read_text()
    assert (config_dir / "monitors.yaml").read_text() == main_before
    bad = await client.post(
        "/api/websites",
        params={"fragment": "../escape"},
        json={"name": "X", "url": "https://x.example.com/"},
    )
    assert bad.status == 422


async def test_the_watcher_does_not_apply_an_api_write_twice(
    make_client: Callable[..., Any], database_url: str
) -> None:
    client = await make_client(watch=True)
    try:
        created = await client.post(
            "/api/websites", json={"name": "A", "url": "https://a.example.com/"}
        )
        assert created.status == 201
        revision = (await created.json())["revision"]
        await asyncio.sleep(2.5)  # the watcher's debounce has long passed
        config = await (await client.get("/api/config")).json()
        assert config["applied_revision"] == revision
    finally:
        await client.close()
    from sqlalchemy import func, select

    from sitewatch.store.engine import create_engine
    from sitewatch.store.runs import reconcile_runs

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            runs = await conn.scalar(
                select(func.count())
                .select_from(reconcile_runs)
                .where(reconcile_runs.c.revision == revision)
            )
    finally:
        await engine.dispose()
    assert runs == 1  # applied once, by the API; the watcher's reconcile changed nothing


async def test_check_now_probes_and_returns_the_result(client: Client) -> None:
    from tests.targets import TargetServer

    async with TargetServer() as target:
        created = await client.post(
            "/api/websites", json={"name": "Local", "url": target.url("/status/200")}
        )
        assert created.status == 201
        response = await client.post("/api/websites/local/check", json={})
        assert response.status == 200, await response.text()
        result = await response.json()
        assert result["ok"] is True and result["status_code"] == 200
        assert result["timings_ms"]["total_ms"] > 0
        assert result["stored"] is False  # no checker in this app: returned only
        failing = await client.patch("/api/websites/local", json={"url": target.url("/status/503")})
        assert failing.status == 200
        bad = await (await client.post("/api/websites/local/check", json={})).json()
        assert (bad["ok"], bad["error_kind"]) == (False, "status")
    assert (await client.post("/api/websites/nope/check", json={})).status == 404


async def test_clients_of_the_seed_api_keep_working(client: Client, config_dir: Path) -> None:
    """Flat created_at / last_checked / last_status on website responses, and
    check_interval (seconds) accepted as interval."""
    body = await (await client.get("/api/websites/shop")).json()
    assert body["created_at"].endswith("Z")
    assert body["last_checked"] is None and body["last_status"] is None  # not checked yet
    listed = await (await client.get("/api/websites")).json()
    assert all({"created_at", "last_checked", "last_status"} <= set(i) for i in listed["items"])

    created = await client.post(
        "/api/websites",
        json={"name": "Legacy", "url": "https://legacy.example.com/", "check_interval": 120},
    )
    assert created.status == 201, await created.text()
    assert (await created.json())["interval_seconds"] == 120
    assert "interval: 120" in (config_dir / "monitors.yaml").read_text()
    assert "check_interval" not in (config_dir / "monitors.yaml").read_text()
    patched = await client.patch("/api/websites/legacy", json={"check_interval": 300})
    assert patched.status == 200 and (await patched.json())["interval_seconds"] == 300
    both = await client.patch("/api/websites/legacy", json={"check_interval": 60, "interval": "1m"})
    assert both.status == 400
    assert "not both" in (await both.json())["detail"]
