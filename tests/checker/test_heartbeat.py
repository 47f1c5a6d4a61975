"""Heartbeats end to end: pings from curl and from a client, on time, late,
failed, start/success with a duration, across a restart and across two
instances sharing PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from sitewatch.keys import ENGINE
from sitewatch.store import status as status_store
from sitewatch.web.accesslog import redact_path
from tests.appclient import Client, start_client
from tests.waiting import eventually

MONITORS = textwrap.dedent(
    """\
    defaults:
      interval: 30s   # not a heartbeat's business: left out for them
    websites:
      - name: Backup
        type: heartbeat
        period: 1h
        grace: 20s
      - name: Quick
        type: heartbeat
        period: 5s
        grace: 1s
      - name: Site
        url: http://127.0.0.1:9/
        active: false
    """
)


async def state_of(client: Client, key: str) -> status_store.WebsiteStatus:
    async with client.server.app[ENGINE].connect() as conn:
        (found,) = await status_store.current_status(conn, key)
    return found


async def until_state(client: Client, key: str, state: str, kind: str | None = None) -> None:
    async def reached() -> bool:
        found = await state_of(client, key)
        return found.state == state and (kind is None or found.last_error_kind == kind)

    await eventually(reached, what=f"{key} {state} ({kind})")


async def ping_url(client: Client, key: str) -> str:
    detail = await (await client.get(f"/api/websites/{key}")).json()
    url = detail["ping_url"]
    assert isinstance(url, str) and url.startswith("http://127.0.0.1:")
    return url


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def curl(url: str, *extra: str) -> str:
    """As a crontab would: ``curl -fsS -m 10 --retry 3 URL``."""
    done = subprocess.run(
        ["curl", "-fsS", "-m", "10", "--retry", "3", *extra, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.slow
async def test_pings_from_curl_and_a_client(
    config_dir: Path, database_url: str, require_tool: Callable[[str, str], Path]
) -> None:
    require_tool("curl", "curl")
    (config_dir / "monitors.yaml").write_text(MONITORS)
    client = await start_client(config_dir, database_url, check=True)
    try:
        url = await ping_url(client, "backup")
        await until_state(client, "backup", "up")  # new: nothing due yet
        # curl from a crontab line, with the job's output as the body.
        assert await asyncio.to_thread(curl, url) == "OK\n"
        await asyncio.to_thread(curl, url + "/start")
        await asyncio.sleep(0.05)
        body = "backup done: 3 files\n" * 1000  # 21 KiB: the first 10 KiB are kept
        assert await asyncio.to_thread(curl, url, "--data-binary", body) == "OK\n"
        pings = await (await client.get("/api/websites/backup/pings")).json()
        assert pings["ping_url"] == url
        latest = pings["items"][0]
        assert latest["kind"] == "success" and latest["duration_ms"] >= 50
        assert latest["body"] == body[: 10 * 1024]
        assert latest["user_agent"].startswith("curl/")
        assert [p["kind"] for p in pings["items"]] == ["success", "start", "success"]
        # A fail ping is DOWN at once (judged by this instance, which checks it).
        here = path_of(url)  # the test client takes paths
        failed = await client.post(here + "/fail", data=b"disk full")
        assert failed.status == 200
        await until_state(client, "backup", "down", "failed")
        found = await state_of(client, "backup")
        assert "the job reported a failure at" in (found.last_error_message or "")
        assert "'disk full'" in (found.last_error_message or "")
        await client.get(here + "/0")  # exit status 0: success
        await until_state(client, "backup", "up")
        await client.get(here + "/3")
        await until_state(client, "backup", "down", "failed")
        assert "with exit status 3" in ((await state_of(client, "backup")).last_error_message or "")
        assert (await client.head(here)).status == 200
        await until_state(client, "backup", "up")
        # Wrong tokens, unknown keys, other types, unknown actions: all the same 404.
        token = url.rsplit("/", 1)[1]
        for bad in (
            url[:-2] + "xx",
            url.replace("/backup/", "/nothing/"),
            url.replace("/backup/", "/site/"),
            url + "/finish",
            url + "/256",
        ):
            answer = await client.get(path_of(bad))
            assert answer.status == 404, bad
            assert await answer.text() == "no such ping URL\n"
        assert redact_path(f"/ping/backup/{token}/fail") == "/ping/backup/…/fail"
        # Silence: "quick" pings every 5 s with 1 s grace; it never pings.
        await until_state(client, "quick", "down", "late")
        found = await state_of(client, "quick")
        assert "expected every 5s, grace 1s" in (found.last_error_message or "")
        assert found.last_details is not None and found.last_details["last_ping"] is None
    finally:
        await client.close()
    # A restart: the pings are in the database, and the heartbeat carries on.
    again = await start_client(config_dir, database_url, check=True)
    try:
        url2 = await ping_url(again, "backup")
        assert url2.rsplit("/", 2)[-2:] == url.rsplit("/", 2)[-2:]  # the same secret
        await asyncio.sleep(0)
        details = None

        async def judged_again() -> bool:
            nonlocal details
            found = await state_of(again, "backup")
            details = found.last_details
            return found.state == "up" and details is not None and details["last_success"]

        await eventually(judged_again, what="the heartbeat judged after the restart")
        assert details is not None and details["last_duration_ms"] >= 50
    finally:
        await again.close()


@pytest.mark.slow
async def test_ping_urls_need_a_token_to_be_seen(config_dir: Path, database_url: str) -> None:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    client = await start_client(config_dir, database_url, api_tokens="s3cret-token-0123456789")
    try:
        beats = await (await client.get("/api/websites?type=heartbeat")).json()
        assert sorted(w["key"] for w in beats["items"]) == ["backup", "quick"]
        assert (await client.get("/api/websites?type=gopher")).status == 400
        anonymous = await (await client.get("/api/websites/backup")).json()
        assert anonymous["ping_url"] is None and anonymous["type"] == "heartbeat"
        assert (await client.get("/api/websites/backup/pings")).status == 401
        auth = {"Authorization": "Bearer s3cret-token-0123456789"}
        detail = await (await client.get("/api/websites/backup", headers=auth)).json()
        assert detail["ping_url"].startswith("http://127.0.0.1:")
        # The ping itself needs no API token: the URL is its own credential.
        assert (await client.get(path_of(detail["ping_url"]))).status == 200
        pings = await (await client.get("/api/websites/backup/pings", headers=auth)).json()
        assert len(pings["items"]) == 1
    finally:
        await client.close()


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_instances_share_the_pings(config_dir: Path, postgres_url: str) -> None:
    (config_dir / "monitors.yaml").write_text(MONITORS)
    first = await start_client(config_dir, postgres_url, check=True, lease_seconds=3)
    second = await start_client(config_dir, postgres_url, check=True, lease_seconds=3)
    try:
        url_one, url_two = await ping_url(first, "backup"), await ping_url(second, "backup")
        path = path_of(url_one)
        assert url_two.endswith(path)  # one secret, in the database, for every instance
        await until_state(first, "backup", "up")
        # A fail ping to each instance in turn: whichever checks the heartbeat
        # sees it (at once, or at its next judgement within grace/4 = 5 s).
        for client in (first, second):
            assert (await client.post(path + "/fail", data=b"boom")).status == 200
            await until_state(first, "backup", "down", "failed")
            assert (await client.get(path)).status == 200
            await until_state(second, "backup", "up")
        async with first.server.app[ENGINE].connect() as conn:
            rows = await conn.exec_driver_sql("SELECT count(*) FROM heartbeat_pings")
            assert rows.scalar() == 4
    finally:
        await second.close()
        await first.close()


@pytest.mark.slow
@pytest.mark.postgres
async def test_a_ping_while_the_database_is_away_is_refused_not_lost(
    config_dir: Path, postgres_url: str, postgres_admin: str
) -> None:
    """The database refuses connections for a while: a ping is answered 503 (curl
    --retry tries again), never acknowledged and dropped; then it is recorded."""
    (config_dir / "monitors.yaml").write_text(MONITORS)
    client = await start_client(config_dir, postgres_url)
    name = make_url(postgres_url).database
    try:
        path = path_of(await ping_url(client, "backup"))
        await client.server.app[ENGINE].dispose()  # no pooled connection survives
        with psycopg.connect(postgres_admin, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        try:
            refused = await client.post(path, data=b"nightly ok")
            assert refused.status == 503
            assert await refused.text() == "the database is unavailable: retry\n"
        finally:
            with psycopg.connect(postgres_admin, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        assert (await client.post(path, data=b"nightly ok")).status == 200
        pings = await (await client.get("/api/websites/backup/pings")).json()
        assert [p["body"] for p in pings["items"]] == ["nightly ok"]
    finally:
        await client.close()
