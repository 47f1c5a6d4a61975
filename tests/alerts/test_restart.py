"""A real ``sitewatch serve`` killed with SIGKILL mid-incident and started again
sends no second DOWN: the state and its notification were durable."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sitewatch.store import alerting as store
from sitewatch.store import tables
from sitewatch.store.engine import create_engine
from tests.receivers import WebhookReceiver
from tests.targets import closed_port
from tests.waiting import eventually


def write_config(folder: Path, hook_url: str, port: int) -> Path:
    folder.mkdir()
    (folder / "monitors.yaml").write_text(
        "websites:\n"
        "  - name: Shop\n"
        f"    url: http://127.0.0.1:{port}/\n"
        "    interval: 5s\n"
        "    timeout: 1s\n"
        "    alerts: hook\n"
    )
    (folder / "alerts.yaml").write_text(
        "alerts:\n"
        "  - name: hook\n"
        "    type: webhook\n"
        f"    url: {hook_url}\n"
        "    failure_threshold: 1\n"
    )
    return folder


async def wait_recorded(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        for _ in range(200):
            async with engine.connect() as conn:
                status = await conn.scalar(select(store.outbox.c.status))
            if status == "delivered":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the delivery was not recorded")
    finally:
        await engine.dispose()


def serve(config: Path, database_url: str, cwd: Path) -> subprocess.Popen[str]:
    # On PostgreSQL the killed instance's website lease must expire before the new
    # instance takes the website over: a short lease keeps the test short.
    env = {**os.environ, "SITEWATCH_DATABASE_URL": database_url, "SITEWATCH_LEASE_SECONDS": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "sitewatch", "serve", "--config", str(config), "--port", "0"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
async def test_sigkill_mid_incident_sends_no_second_down(database_url: str, tmp_path: Path) -> None:
    async with WebhookReceiver() as hook:
        config = write_config(tmp_path / "config", hook.url(), closed_port())
        first = serve(config, database_url, tmp_path)
        try:
            await eventually(lambda: len(hook.received) >= 1, limit=30)
            # Killed mid-incident, after the DOWN was delivered *and recorded*
            # (killed between the two, the same event would be sent again:
            # at-least-once, with the same event id, see docs/alerts.md).
            await wait_recorded(database_url)
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=10)
        restarted = datetime.now(UTC)
        second = serve(config, database_url, tmp_path)
        try:
            # Restarted, the website is checked again within one interval (5 s) and
            # fails again; give it two more intervals to (wrongly) send anything.
            await asyncio.sleep(12)
        finally:
            second.send_signal(signal.SIGTERM)
            out, _ = second.communicate(timeout=20)
    assert second.returncode == 0, out
    assert "checking 1 websites" in out
    assert hook.types() == ["down"], [d.json["event_id"] for d in hook.received]
    assert hook.received[0].json["incident"]["cause"]["kind"] == "refused"
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            failed_after = await conn.scalar(
                select(func.count())
                .select_from(tables.history)
                .where(tables.history.c.checked_at > restarted, tables.history.c.ok.is_(False))
            )
    finally:
        await engine.dispose()
    assert failed_after >= 1  # the restarted instance did check, and it failed again
