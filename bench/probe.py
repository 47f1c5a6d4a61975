"""Probe throughput at saturation on one core, against the ceiling of the stack.

Pinned to core 0, the target (nginx, one worker, or bench/target.py) on core 1, uvloop. For --seconds each, with
--workers checks always in flight, it measures checks (requests) per second, the
CPU time per check of this process (core 0) and the checks that failed, of:

  bare      a minimal aiohttp fetch loop, fresh connection per request
  probe     sitewatch's Prober (libcurl) without the timing breakdown
  timings   the Prober with the timing breakdown
  stored    the Prober with timings, every result written in batches to PostgreSQL

Usage:
  .venv/bin/python bench/probe.py [--seconds 15] [--workers 200] [--profile stored]
--profile MODE runs that mode under pyinstrument (if installed) and prints the profile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import psycopg
import uvloop
from checker import PORTS, start_nginx, start_target, warn_conntrack
from sqlalchemy.engine import make_url

from sitewatch.checker.probe import Prober
from sitewatch.checker.target import Target
from sitewatch.checker.writer import ResultWriter
from sitewatch.config.models import Website
from sitewatch.store import tables
from sitewatch.store.engine import create_engine
from sitewatch.store.migrate import upgrade

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HERE = Path(__file__).resolve().parent


def urls() -> list[str]:
    return [f"http://127.0.0.{h}:{p}/health" for h in range(1, 5) for p in PORTS]


class Run:
    """What one mode did: checks per second, CPU per check, failed checks."""

    def __init__(self, done: int, failed: int, seconds: float, cpu: float) -> None:
        self.rate = done / seconds
        self.cpu_ms = 1000 * cpu / max(done, 1)
        self.failed = failed

    def __str__(self) -> str:
        why = "; ".join(f"{n}x {reason}" for reason, n in FAILURES.most_common(3))
        FAILURES.clear()
        return (
            f"{self.rate:8.0f} checks/s  {self.cpu_ms:6.3f} ms CPU/check  {self.failed} failed"
            + (f" ({why})" if why else "")
        )


FAILURES: Counter[str] = Counter()  # why checks failed, in the mode that just ran


async def saturate(step: Callable[[int], Awaitable[bool]], workers: int, seconds: float) -> Run:
    """``workers`` loops calling ``step`` for ``seconds``; a step that returns False
    failed (the target too busy to accept, at saturation: see docs/benchmarks.md)."""
    done = failed = 0
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal done, failed
        i = n
        while time.monotonic() < deadline:
            if not await step(i):
                failed += 1
            done += 1
            i += workers

    start, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(worker(n) for n in range(workers)))
    return Run(done, failed, time.monotonic() - start, time.process_time() - cpu)


async def bare(workers: int, seconds: float) -> Run:
    targets = urls()
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def step(i: int) -> bool:
            try:
                async with session.get(targets[i % len(targets)]) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                FAILURES[type(exc).__name__] += 1
                return False
            return response.status == 200

        return await saturate(step, workers, seconds)


async def probe(workers: int, seconds: float, *, timings: bool, url: str | None = None) -> Run:
    targets = [
        Target.of(Website.model_validate({"name": f"s{i}", "url": u}), i + 1)
        for i, u in enumerate(urls())
    ]
    writer: ResultWriter | None = None
    stop = asyncio.Event()
    flusher = None
    if url is not None:
        engine = create_engine(url)
        await upgrade(engine)
        async with engine.begin() as conn:
            from sqlalchemy import insert

            from sitewatch.store.types import utcnow

            now = utcnow()
            await conn.execute(
                insert(tables.websites),
                [
                    {
                        "id": t.website_id,
                        "key": t.key,
                        "name": t.key,
                        "url": str(t.url),
                        "active": True,
                        "interval_seconds": 30,
                        "tags": [],
                        "spec": {},
                        "spec_hash": "x",
                        "source_file": "m.yaml",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for t in targets
                ],
            )
        writer = ResultWriter(engine)
        flusher = asyncio.create_task(writer.run(stop))
    async with Prober(timings=timings) as prober:

        async def step(i: int) -> bool:
            result = await prober.check(targets[i % len(targets)])
            if writer is not None:
                writer.add(result)
            if not result.ok:
                FAILURES[f"{result.error_kind}: {result.error_message}"] += 1
            return result.ok

        rate = await saturate(step, workers, seconds)
    if flusher is not None and writer is not None:
        stop.set()
        await flusher
        await engine.dispose()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--profile", choices=["bare", "probe", "timings", "stored"])
    parser.add_argument(
        "--target",
        choices=["nginx", "python"],
        default="nginx",
        help="nginx (one worker): the client is what is measured; python: bench/target.py",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    pin = ["taskset", "-c", "1"]
    warn_conntrack()
    target = start_nginx(pin) if args.target == "nginx" else start_target(pin)
    name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = (
        make_url(PG_ADMIN)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    modes: dict[str, Callable[[], Awaitable[Run]]] = {
        "bare": lambda: bare(args.workers, args.seconds),
        "probe": lambda: probe(args.workers, args.seconds, timings=False),
        "timings": lambda: probe(args.workers, args.seconds, timings=True),
        "stored": lambda: probe(args.workers, args.seconds, timings=True, url=url),
    }
    try:
        if args.profile:
            from pyinstrument import Profiler

            with Profiler(async_mode="enabled") as profiler:
                done = uvloop.run(modes[args.profile]())
            print(f"{args.profile}: {done}")
            profiler.print(show_all=False)
            return
        for mode, run in modes.items():
            print(f"{mode:<8} {uvloop.run(run())}", flush=True)
    finally:
        target.terminate()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
