"""Three ``sitewatch serve`` processes sharing one real PostgreSQL: every website
checked once per interval across them, one notification per event, takeover after
SIGKILL within the lease, the dead instance leaving the cluster view, and a rolling
restart without a gap longer than one interval."""

from __future__ import annotations

import asyncio
import itertools
import signal
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.receivers import WebhookReceiver
from tests.serveproc import Serve
from tests.targets import TargetServer

pytestmark = pytest.mark.slow

INTERVAL = 5.0
LEASE = 4.0
SITES = 12


def _config(config_dir: Path, target: TargetServer, hook: str) -> None:
    lines = ["defaults:", "  interval: 5s", "  timeout: 2s", "websites:"]
    for i in range(SITES):
        lines += [f"  - name: Site {i}", f"    url: {target.url('/status/200')}?site={i}"]
    lines += ["  - name: Broken", f"    url: {target.url('/status/500')}", "    alerts: [hook]"]
    (config_dir / "monitors.yaml").write_text("\n".join(lines) + "\n")
    (config_dir / "alerts.yaml").write_text(
        textwrap.dedent(
            f"""\
            alerts:
              - name: hook
                type: webhook
                url: {hook}
                failure_threshold: 1
                send_on_resolved: false
            """
        )
    )


def _checks(libpq: str, start: datetime, end: datetime) -> dict[str, list[datetime]]:
    with psycopg.connect(libpq) as conn:
        rows = conn.execute(
            "SELECT w.key, h.checked_at FROM check_histories h JOIN websites w ON w.id = h.website_id"
            " WHERE h.checked_at >= %s AND h.checked_at < %s ORDER BY h.checked_at",
            (start, end),
        ).fetchall()
    out: dict[str, list[datetime]] = {}
    for key, at in rows:
        out.setdefault(key, []).append(at)
    return out


async def _cluster(serve: Serve) -> dict[str, Any]:
    status, body = await serve.get("/api/cluster")
    assert status == 200
    result: dict[str, Any] = body
    return result


@pytest.mark.postgres
async def test_three_instances_share_the_work(config_dir: Path, postgres_url: str) -> None:
    libpq = (
        make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    env = {"SITEWATCH_LEASE_SECONDS": str(LEASE)}
    async with TargetServer() as target, WebhookReceiver() as hook:
        _config(config_dir, target, hook.url())
        nodes = [Serve(config_dir, postgres_url, env, name=f"node{i}") for i in range(3)]
        try:
            for node in nodes:
                await node.until("/ready", 200)
            await asyncio.sleep(LEASE)  # the leases settle: a fair share each

            # 1. Steady state: once per interval, across the three.
            view = await _cluster(nodes[0])
            assert len(view["instances"]) == 3 and view["shared"] is True
            shares = sorted(i["websites"] for i in view["instances"])
            assert sum(shares) == SITES + 1 and shares[0] >= 3, shares
            settings_page = (await nodes[0].get("/settings"))[1]
            assert settings_page.count("(this one)") == 1 and settings_page.count("<tr>") == 4
            own = []
            for node in nodes:  # each instance's /metrics reports its own share
                metrics = (await node.get("/metrics"))[1]
                line = next(
                    x for x in metrics.splitlines() if x.startswith("sitewatch_websites_checked ")
                )
                own.append(float(line.split()[1]))
            assert sum(own) == SITES + 1 and min(own) >= 3, own
            start = datetime.now(UTC)
            await asyncio.sleep(4 * INTERVAL)
            end = datetime.now(UTC)
            steady = _checks(libpq, start, end)
            counts = Counter({k: len(v) for k, v in steady.items()})
            assert len(counts) == SITES + 1
            # Every website keeps being checked (a busy machine may start a check late,
            # so the count in a window is 3 to 5), and none twice per interval: two
            # instances checking the same website would leave a gap near zero.
            assert all(3 <= c <= 5 for c in counts.values()), counts
            closest = min(
                (b - a).total_seconds()
                for times in steady.values()
                for a, b in itertools.pairwise(times)
            )
            assert closest >= INTERVAL / 2, f"a website checked twice within {closest:.2f}s"
            total = sum(counts.values())
            print(
                f"steady state: {total} checks of {SITES + 1} websites in 4 intervals: {sorted(counts.values())}"
            )

            # 2. SIGKILL one: its websites are taken over within the lease.
            nodes[2].process.send_signal(signal.SIGKILL)
            nodes[2].process.wait(10)
            killed = datetime.now(UTC)
            await asyncio.sleep(LEASE + LEASE / 3 + INTERVAL + 1.5)
            after = _checks(libpq, killed + timedelta(seconds=LEASE + LEASE / 3), datetime.now(UTC))
            assert len(after) == SITES + 1, sorted(after)  # every website checked again
            deadline = time.monotonic() + 3 * LEASE + 3
            while len((await _cluster(nodes[0]))["instances"]) != 2:
                assert time.monotonic() < deadline, "the dead instance stays in the cluster view"
                await asyncio.sleep(0.5)

            # 3. A rolling restart: replace the dead one, then restart each in turn.
            nodes[2].stop()
            nodes[2] = Serve(config_dir, postgres_url, env, name="node2b")
            await nodes[2].until("/ready", 200)
            rolling = datetime.now(UTC)
            for i in range(3):
                nodes[i].process.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(nodes[i].process.wait, 15) == 0
                nodes[i].stop()
                nodes[i] = Serve(config_dir, postgres_url, env, name=f"node{i}c")
                await nodes[i].until("/ready", 200)
            await asyncio.sleep(INTERVAL)
            seen = _checks(libpq, rolling, datetime.now(UTC))
            gaps = {
                key: max((b - a).total_seconds() for a, b in itertools.pairwise(times))
                for key, times in seen.items()
                if len(times) > 1
            }
            assert len(gaps) == SITES + 1
            # A restart hands the leases back at the start of shutdown; a peer takes
            # them at its next heartbeat. On a busy machine that can take a heartbeat
            # longer, but never as long as a lease plus an interval (a missed check).
            assert max(gaps.values()) <= INTERVAL + LEASE, gaps
            print(f"rolling restart: longest gap {max(gaps.values()):.2f} s")
        finally:
            for node in nodes:
                node.stop()
        # 4. One DOWN for the broken website, whatever moved: sent once, not per instance.
        kinds = hook.types()
        assert kinds == ["down"], [r.json["event_id"] for r in hook.received]


async def test_a_second_instance_on_one_sqlite_file_is_refused(
    config_dir: Path, tmp_path: Path
) -> None:
    (config_dir / "monitors.yaml").write_text("websites: []\nallow_empty: true\n")
    url = f"sqlite:///{tmp_path / 'one.db'}"
    first = Serve(config_dir, url, {}, name="first")
    try:
        await first.until("/ready", 200)
        second = Serve(config_dir, url, {}, name="second")
        code = await asyncio.to_thread(second.process.wait, 20)
        second.stop()
        assert code == 2
        assert "another sitewatch already uses" in second.log.read_text()
        assert "SQLite is for one instance" in second.log.read_text()
    finally:
        first.stop()
