"""Uptime query benchmark: 24h/7d/30d uptime of every website, on PostgreSQL.

Seeds a fresh database with N websites and 30 days of rollups as the checker
writes them (one hourly row per website and hour, sealed days in the daily
rollup, the sliding uptime totals as housekeeping keeps them), then times
``store.uptime.uptime`` for all websites and all three windows at once: median
and worst of --repeat runs.

Usage:
  .venv/bin/python bench/uptime.py [--websites 10000] [--days 30] [--repeat 20] [--gc freeze|default]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sitewatch.store import uptime as uptime_store
from sitewatch.store import windows
from sitewatch.store.engine import create_engine
from sitewatch.store.marks import set_mark
from sitewatch.store.migrate import upgrade

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def run(url: str, websites: int, days: int, repeat: int, gc_policy: str = "freeze") -> None:
    engine = create_engine(url)
    await upgrade(engine)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO websites (key, name, url, active, interval_seconds, tags, spec, spec_hash,"
                " source_file, created_at, updated_at)"
                " SELECT 'site-' || i, 'Site ' || i, 'http://127.0.0.1/' || i, true, 30, '[]', '{}', 'x',"
                " 'monitors.yaml', now(), now() FROM generate_series(1, :n) i"
            ),
            {"n": websites},
        )
        await seed_rollups(conn, days, now)
    await report(engine, websites, days, repeat, gc_policy, now, t0)


async def seed_rollups(conn: AsyncConnection, days: int, now: datetime) -> None:
    """``days`` of hourly and daily rollups and the sliding uptime totals of every
    website in the table, as the checker and housekeeping leave them (PostgreSQL)."""
    today = windows.floor_day(now)
    start = today - timedelta(days=days)
    # 120 checks an hour (30 s interval); a few failures here and there.
    await conn.execute(
        text(
            "INSERT INTO rollups_hourly (website_id, bucket, checks, failures, timed, sum_ms, max_ms, p95_ms)"
            " SELECT w.id, h, 120, (w.id + extract(epoch from h)::bigint) % 3, 120, 120 * 42.0, 90, 60"
            " FROM websites w, generate_series(:start, :end, interval '1 hour') h"
        ),
        {"start": start, "end": windows.floor_hour(now)},
    )
    await conn.execute(
        text(
            "INSERT INTO rollups_daily (website_id, bucket, checks, failures, timed, sum_ms, max_ms, p95_ms)"
            " SELECT website_id, date_trunc('day', bucket), sum(checks), sum(failures), sum(timed),"
            " sum(sum_ms), max(max_ms), max(p95_ms) FROM rollups_hourly WHERE bucket < :today"
            " GROUP BY website_id, date_trunc('day', bucket)"
        ),
        {"today": today},
    )
    await set_mark(conn, windows.DAILY_SEALED, today)
    # Every finished hour sealed, and the uptime totals as housekeeping
    # leaves them: the windows moved on to the current hour.
    await set_mark(conn, windows.HOURLY_SEALED, windows.floor_hour(now))
    window_end = windows.floor_hour(now) + windows.HOUR
    sums = ", ".join(
        f"sum(CASE WHEN bucket >= :s_{suffix} THEN {n} ELSE 0 END)"
        for suffix in windows.SLIDING.values()
        for n in windows.SUMS
    )
    await conn.execute(
        text(
            f"INSERT INTO uptime_totals (website_id, {', '.join(windows.TOTAL_COLUMNS)})"
            f" SELECT website_id, {sums} FROM rollups_hourly"
            " WHERE bucket >= :oldest GROUP BY website_id"
        ),
        {
            "oldest": window_end - windows.LONGEST_WINDOW,
            **{f"s_{sfx}": window_end - w for w, sfx in windows.SLIDING.items()},
        },
    )
    await set_mark(conn, windows.TOTALS_FROM, window_end)


async def report(
    engine: AsyncEngine,
    websites: int,
    days: int,
    repeat: int,
    gc_policy: str,
    now: datetime,
    t0: float,
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM rollups_hourly), (SELECT count(*) FROM rollups_daily)"
                )
            )
        ).one()
    print(
        f"seeded {websites} websites x {days} days: {counts[0]} hourly + {counts[1]} daily rows in {time.perf_counter() - t0:.1f}s"
    )
    windows = [timedelta(hours=24), timedelta(days=7), timedelta(days=30)]
    if gc_policy == "freeze":
        # As `sitewatch serve` does after each reload: long-lived objects out of
        # the cyclic collector's sight, so collecting the query's garbage is cheap.
        gc.collect()
        gc.freeze()
    times = []
    for _ in range(repeat):
        async with engine.connect() as conn:
            t = time.perf_counter()
            result = await uptime_store.uptime(conn, windows, now)
            times.append(time.perf_counter() - t)
    assert len(result) == websites
    print(
        f"uptime 24h/7d/30d of all {websites} websites: median {1000 * statistics.median(times):.1f} ms, "
        f"worst {1000 * max(times):.1f} ms over {repeat} runs (gc: {gc_policy})"
    )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--websites", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--gc", choices=["freeze", "default"], default="freeze")
    args = parser.parse_args()
    name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
        asyncio.run(
            run(
                url.render_as_string(hide_password=False),
                args.websites,
                args.days,
                args.repeat,
                args.gc,
            )
        )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
