"""``sitewatch serve`` as a process: SIGTERM ends it cleanly within 10 s with the
check in flight finished and stored; JSON logs, request logs, no secrets; and a
PostgreSQL outage under a running sitewatch (the real server stopped and started)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.serveproc import Serve
from tests.targets import TargetServer

pytestmark = pytest.mark.slow


def _monitors(config_dir: Path, url: str, interval: str = "5s", timeout: str = "4s") -> None:
    (config_dir / "monitors.yaml").write_text(
        f"websites:\n  - name: Target\n    url: {url}\n    interval: {interval}\n"
        f"    timeout: {timeout}\n    alerts: [hook]\n"
    )
    (config_dir / "alerts.yaml").write_text(
        textwrap.dedent(
            """\
            alerts:
              - name: hook
                type: webhook
                url: http://127.0.0.1:9/hook
                secret: ${HOOK_SECRET}
            """
        )
    )


async def test_sigterm_finishes_the_check_in_flight_and_exits_0_within_10s(
    config_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "sw.db"
    async with TargetServer() as target:
        _monitors(config_dir, target.url("/delay/3000"))
        serve = Serve(
            config_dir,
            f"sqlite:///{db}",
            {
                "SITEWATCH_LOG_FORMAT": "json",
                "HOOK_SECRET": "supersecret-hook-value",
                "SITEWATCH_API_TOKENS": "supersecret-token",
            },
        )
        try:
            await serve.until("/ready", 200)
            status, _ = await serve.get(
                "/api/websites", headers={"Authorization": "Bearer supersecret-token"}
            )
            assert status == 200
            deadline = time.monotonic() + 10
            while "sitewatch_checks_in_flight 1.0" not in (await serve.get("/metrics"))[1]:
                assert time.monotonic() < deadline, "no check started"
                await asyncio.sleep(0.1)
            started = time.monotonic()
            serve.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(serve.process.wait, 15)
            took = time.monotonic() - started
        finally:
            serve.stop()
    assert code == 0
    assert took < 10, f"shutdown took {took:.1f}s"
    with sqlite3.connect(db) as conn:
        stored = conn.execute(
            "SELECT count(*), max(response_time_ms) FROM check_histories"
        ).fetchone()
    assert stored[0] >= 1 and stored[1] >= 3000  # the slow check in flight was finished and written
    lines = serve.log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r.get("path") == "/api/websites" and r.get("status") == 200 for r in records)
    assert records[-1]["message"] == "sitewatch stopped"
    text = serve.log.read_text()
    assert "supersecret-hook-value" not in text and "supersecret-token" not in text


@pytest.fixture
def postgres_cluster() -> Iterator[list[str]]:
    """The command that controls this machine's PostgreSQL server; it is running
    again after the test whatever happens."""
    versions = sorted(os.listdir("/etc/postgresql"))
    assert versions, "PostgreSQL's cluster tools are needed (pg_ctlcluster)"
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]
    yield command
    subprocess.run([*command, "start"], check=False, capture_output=True)


@pytest.mark.postgres
async def test_a_postgres_outage_is_survived(
    config_dir: Path, postgres_url: str, postgres_cluster: list[str]
) -> None:
    async with TargetServer() as target:
        _monitors(config_dir, target.url("/status/200"), interval="5s", timeout="2s")
        serve = Serve(config_dir, postgres_url, {"HOOK_SECRET": "x"})
        try:
            await serve.until("/ready", 200)
            await asyncio.sleep(6)  # a check or two stored
            await _run(*postgres_cluster, "stop", "-m", "fast")
            down_at = datetime.now(UTC)
            body = await serve.until("/ready", 503, limit=15)
            assert any("database unreachable" in r for r in body["reasons"])
            status, health = await serve.get("/health")
            assert status == 200 and health["status"] == "degraded"  # alive, not ready
            metrics = (await serve.get("/metrics"))[1]
            before = _count(metrics)
            await asyncio.sleep(12)  # a few more checks while the database is away
            assert serve.process.poll() is None
            metrics = (await serve.get("/metrics"))[1]
            assert _count(metrics) > before  # probing went on
            assert "sitewatch_db_errors_total 0.0" not in metrics
            await _run(*postgres_cluster, "start")
            up_at = datetime.now(UTC)
            await serve.until("/ready", 200, limit=30)
            await asyncio.sleep(3)  # the buffered batch is flushed
        finally:
            serve.stop()
    libpq = (
        make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(libpq) as conn:
        during = conn.execute(
            "SELECT count(*) FROM check_histories WHERE checked_at > %s AND checked_at < %s",
            (down_at, up_at),
        ).fetchone()
    assert during is not None and during[0] >= 2  # checked while away, stored after


def _count(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith('sitewatch_checks_total{website="target",result="success"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
