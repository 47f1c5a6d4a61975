"""Dashboard render time and page weight with 1,000 or 10,000 websites.

Starts `sitewatch serve` pinned to core 0 (taskset) on a fresh PostgreSQL
database with --websites websites (no checks run: the data is seeded), seeds
30 days of rollups and the uptime totals, a status for every website (2 % down,
with open incidents) and an hour of raw checks for one website; then requests
each page --requests times, one at a time from core 1, and prints p50 / p99
server-side time (the X-Response-Time header is not used: the client measures
the whole request on loopback) and the page's size with its CSS, raw and gzip.

Usage:
  taskset -c 1 .venv/bin/python bench/dashboard.py [--websites 1000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg
from api import free_port, percentile, start_server, write_config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from uptime import seed_rollups

from sitewatch.store.engine import create_engine

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ALERTS = """\
alerts:
  - name: hook
    type: webhook
    url: http://127.0.0.1:9/hook
    websites: "*"
"""


async def wait_reconciled(base: str, websites: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{base}/api/stats/summary?x={time.time()}") as r:
                    if r.status == 200 and (await r.json())["websites"] == websites:
                        return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the server did not apply the config in time")


async def seed(url: str) -> None:
    engine = create_engine(url)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await seed_rollups(conn, 30, now)
        await conn.execute(
            text(
                "INSERT INTO website_status (website_id, state, state_since, streak, last_checked_at,"
                " last_status_code, last_response_ms, last_error_kind, last_error_message)"
                " SELECT id, CASE WHEN id % 50 = 0 THEN 'down' ELSE 'up' END, now() - interval '1 hour',"
                " 3, now() - (id % 60) * interval '1 second', CASE WHEN id % 50 = 0 THEN 503 ELSE 200 END,"
                " 40 + id % 30, CASE WHEN id % 50 = 0 THEN 'status' END,"
                " CASE WHEN id % 50 = 0 THEN 'HTTP 503, expected 2xx' END FROM websites"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO incidents (website_id, alert_id, started_at, confirmed_at, cause_kind,"
                " cause_message, notified) SELECT w.id, a.id, now() - interval '1 hour', now() - interval '59 minutes',"
                " 'status', 'HTTP 503, expected 2xx', true FROM websites w, alerts a WHERE w.id % 50 = 0"
            )
        )
        # An hour of 5-second checks for the first website: its chart draws from raw rows.
        await conn.execute(
            text(
                "INSERT INTO check_histories (website_id, checked_at, ok, status_code, response_time_ms,"
                " dns_ms, connect_ms, tls_ms, first_byte_ms)"
                " SELECT (SELECT min(id) FROM websites), now() - s * interval '5 seconds', s % 97 <> 0,"
                " 200, 40 + s % 17, 1, 3, 12, 30 FROM generate_series(1, 720) s"
            )
        )
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    await engine.dispose()


async def timed(session: aiohttp.ClientSession, url: str, n: int) -> tuple[list[float], bytes]:
    times, body = [], b""
    for _ in range(n):
        start = time.perf_counter()
        async with session.get(url, headers={"Accept-Encoding": "identity"}) as r:
            body = await r.read()
            assert r.status == 200, (url, r.status)
        times.append(1000 * (time.perf_counter() - start))
    return times, body


async def measure(base: str, websites: int, requests: int) -> None:
    async with aiohttp.ClientSession() as session:
        _, page = await timed(session, base + "/", 1)
        css_path = re.search(rb'href="(/static/sitewatch\.[0-9a-f]+\.css)"', page)
        js_path = re.search(rb'src="(/static/live\.[0-9a-f]+\.js)"', page)
        assert css_path and js_path
        _, css = await timed(session, base + css_path.group(1).decode(), 1)
        _, js = await timed(session, base + js_path.group(1).decode(), 1)
        print(
            f"assets: CSS {len(css) / 1024:.1f} KB ({len(gzip.compress(css)) / 1024:.1f} KB gzip),"
            f" script {len(js) / 1024:.1f} KB"
        )
        pages = [
            ("overview", "/"),
            ("overview, middle page", f"/?page={max(1, websites // 120)}"),
            ("overview, search", "/?q=site-12"),
            ("overview, down only", "/?state=down"),
            ("websites table", "/websites"),
            ("website (1 h, raw checks)", "/websites/site-0?range=1h"),
            ("website (30 d, rollup)", "/websites/site-1?range=30d"),
            ("alerts", "/alerts"),
        ]
        for name, path in pages:
            await timed(session, base + path, 5)  # warm-up
            ms, body = await timed(session, base + path, requests)
            total = len(body) + len(css) + len(js)
            zipped = len(gzip.compress(body)) + len(gzip.compress(css)) + len(gzip.compress(js))
            print(
                f"{name:<28} p50 {statistics.median(ms):6.1f} ms  p99 {percentile(ms, 0.99):6.1f} ms"
                f"  page {len(body) / 1024:6.1f} KB, with CSS+JS {total / 1024:6.1f} KB"
                f" ({zipped / 1024:5.1f} KB gzip)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--websites", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sitewatch-dashboard-bench-"))
    write_config(tmp / "config", args.websites)
    # Keys site-0 .. site-N, as write_config names them ("Site 0" -> site-0).
    (tmp / "config" / "alerts.yaml").write_text(ALERTS)
    name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
    url_text = url.render_as_string(hide_password=False)
    port = free_port()
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": url_text,
        "SITEWATCH_LOG_LEVEL": "warning",
        "SITEWATCH_CHECK": "false",
    }
    server = start_server(tmp, port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_reconciled(base, args.websites))
        t0 = time.perf_counter()
        asyncio.run(seed(url_text))
        print(
            f"{args.websites} websites, 30 days of rollups seeded in {time.perf_counter() - t0:.1f} s"
        )
        asyncio.run(measure(base, args.websites, args.requests))
    finally:
        server.terminate()
        server.wait(30)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
