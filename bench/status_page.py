"""Status page render time: a page of 50 and of 500 websites, 90 days of bars.

Builds the whole application in this process (no checker), pinned to one core
(``taskset -c 0`` is applied to itself), on SQLite and on PostgreSQL. Each
website has 90 sealed days in the daily rollup, today's hours in the hourly
rollup, a current status, and the page one open incident note. Then, per size
and database, times GET /status/{slug} in three ways:

- cold:   nothing cached (the published pages, the sealed days, the answer)
- warm:   the sealed days and the published pages kept, the answer computed
          (what every request costs once per two seconds)
- cached: the answer from the two-second response cache (what a crowd gets)

and prints p50 / p95 / max in milliseconds and the page's size.

Usage:
  .venv/bin/python bench/status_page.py [--sizes 50,500] [--runs 40] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from sitewatch.app import create_app
from sitewatch.checker.result import CheckResult, Timings
from sitewatch.checker.writer import history_row
from sitewatch.keys import ENGINE, STATUS_PAGES
from sitewatch.settings import Settings
from sitewatch.store import marks, results, tables
from sitewatch.store import status as status_store
from sitewatch.store.windows import DAILY_SEALED, HOURLY_SEALED

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DAYS = 90


def write_config(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    lines = ["websites:"]
    for i in range(count):
        lines += [f"  - name: Service {i}", f"    url: http://127.0.0.1:9/{i}", "    interval: 60s"]
    (folder / "monitors.yaml").write_text("\n".join(lines) + "\n")
    groups = 10 if count >= 100 else 5
    per = count // groups
    page = ["status_pages:", "  - key: bench", "    title: Bench status", "    groups:"]
    for g in range(groups):
        keys = ", ".join(f"service-{i}" for i in range(g * per, (g + 1) * per))
        page += [f"      - name: Group {g}", f"        websites: [{keys}]"]
    (folder / "status-pages.yaml").write_text("\n".join(page) + "\n")
    (folder / "incidents").mkdir()
    (folder / "incidents" / "slow.md").write_text(
        textwrap.dedent(
            f"""\
            ---
            title: Slow responses
            status: identified
            started: {(datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            websites: [service-0, service-1]
            ---
            We are on it.
            """
        )
    )


async def fill(client: TestClient[Any, Any], count: int) -> None:
    """90 sealed days, today's hours, and a current status for every website."""
    engine = client.server.app[ENGINE]
    now = datetime.now(UTC)
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    async with engine.connect() as conn:
        found = await status_store.current_status(conn)
    daily: list[dict[str, Any]] = []
    hourly: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for n, s in enumerate(found):
        for d in range(1, DAYS):
            bad = 30 if (d + n) % 37 == 0 else 0
            daily.append(_rollup(s.website_id, today - timedelta(days=d), 1440, bad))
        for h in range(now.hour):
            hourly.append(_rollup(s.website_id, today + timedelta(hours=h), 60, 0))
        result = CheckResult(
            website_id=s.website_id,
            checked_at=now - timedelta(seconds=5),
            ok=n % 50 != 7,
            status_code=200,
            timings=Timings(total_ms=80.0 + n % 90),
        )
        checks.append(history_row(result))
    async with engine.begin() as conn:
        for start in range(0, len(daily), 5000):
            await conn.execute(insert(tables.daily), daily[start : start + 5000])
        for start in range(0, len(hourly), 5000):
            await conn.execute(insert(tables.hourly), hourly[start : start + 5000])
        await marks.set_mark(conn, DAILY_SEALED, today)
        await marks.set_mark(conn, HOURLY_SEALED, today + timedelta(hours=now.hour))
    async with engine.begin() as conn:
        await results.record(conn, checks)


def _rollup(website_id: int, bucket: datetime, checks: int, failures: int) -> dict[str, Any]:
    return {
        "website_id": website_id,
        "bucket": bucket,
        "checks": checks,
        "failures": failures,
        "timed": checks - failures,
        "sum_ms": 100.0 * (checks - failures),
        "max_ms": 300.0,
        "p95_ms": 200.0,
    }


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(int(0.95 * len(ordered)), len(ordered) - 1)]
    return f"p50 {statistics.median(ordered):7.2f}  p95 {p95:7.2f}  max {ordered[-1]:7.2f}"


async def measure(database_url: str, count: int, runs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="sitewatch-status-bench-")) / "config"
    write_config(folder, count)
    settings = Settings(config_dir=folder, database_url=database_url, check=False, watch=False)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings, environ={})))
    await client.start_server()
    try:
        await fill(client, count)
        publisher = client.server.app[STATUS_PAGES]
        size = 0

        async def get() -> float:
            nonlocal size
            started = time.perf_counter()
            response = await client.get("/status/bench")
            body = await response.read()
            assert response.status == 200, body[:500]
            size = len(body)
            return (time.perf_counter() - started) * 1000

        await get()  # imports, template compilation
        cold, warm, cached = [], [], []
        for _ in range(runs):
            publisher.forget()
            publisher._sealed.clear()
            cold.append(await get())
        for _ in range(runs):
            publisher.responses.clear()
            warm.append(await get())
        for _ in range(runs):
            cached.append(await get())
        backend = make_url(database_url).get_backend_name()
        print(f"{backend:10} {count:4} websites  page {size / 1024:6.0f} KiB")
        print(f"  cold    {summary(cold)} ms")
        print(f"  warm    {summary(warm)} ms")
        print(f"  cached  {summary(cached)} ms")
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="50,500")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # one core, as `taskset -c 0` would
    print(f"one core (taskset -c 0), {DAYS} days of bars, {args.runs} runs each")
    for backend in args.backends.split(","):
        for count in (int(c) for c in args.sizes.split(",")):
            if backend == "sqlite":
                path = Path(tempfile.mkdtemp()) / "bench.db"
                asyncio.run(measure(f"sqlite+aiosqlite:///{path}", count, args.runs))
                continue
            name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
            try:
                asyncio.run(measure(url.render_as_string(hide_password=False), count, args.runs))
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
