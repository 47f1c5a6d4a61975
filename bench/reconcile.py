"""Reconcile benchmark: 10,000 websites into SQLite and PostgreSQL.

Measures, per backend:
  cold      first reconcile of the generated config into an empty (migrated) database,
            and the process's peak RSS during it (sampled every 5 ms)
  rerun     the same config again in a fresh process state (parse + validate + diff, no writes)
  warm      the same config again in the same reconciler (parsed files cached)
  edit      saving a one-line edit -> the change committed in the database, through a
            real `sitewatch serve` process and its file watcher (p50/p99 over N edits)

Usage:
  .venv/bin/python bench/reconcile.py [--websites 10000] [--edits 50] [--backends sqlite,postgresql]
PostgreSQL: SITEWATCH_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
from checker import rss_now
from sqlalchemy.engine import make_url

from sitewatch.reconcile.service import Reconciler
from sitewatch.store.engine import create_engine
from sitewatch.store.migrate import upgrade

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def generate(config_dir: Path, count: int) -> None:
    lines = [
        "defaults:",
        "  interval: 30s",
        "  timeout: 10s",
        "  headers: {User-Agent: sitewatch-bench}",
        "websites:",
    ]
    for i in range(count):
        lines += [
            f"  - name: Site {i}",
            f"    url: https://site-{i}.example.com/health",
            f"    tags: [team-{i % 20}, {'prod' if i % 3 else 'staging'}]",
        ]
        if i % 4 == 0:
            lines.append('    body_contains: "ok"')
        if i % 5 == 0:
            lines.append("    expected_status: [200, 301]")
    (config_dir / "monitors.yaml").write_text("\n".join(lines) + "\n")
    (config_dir / "alerts.yaml").write_text(
        "alerts:\n"
        "  - {name: prod-hook, type: webhook, url: 'http://127.0.0.1:9/hook', tags: [prod]}\n"
        "  - {name: team-0-mail, type: email, host: smtp.example, from: s@example.com, "
        "to: [t0@example.com], tags: [team-0]}\n"
    )


class PeakRss:
    """The process's highest RSS between start and stop, sampled every 5 ms."""

    def __init__(self) -> None:
        self.peak = self.before = rss_now()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss_now())

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return max(self.peak, rss_now())


def timed(label: str, results: dict[str, float], seconds: float) -> None:
    results[label] = seconds
    print(f"  {label:<8} {seconds * 1000:9.1f} ms", flush=True)


async def reconcile_numbers(url: str, config_dir: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    engine = create_engine(url)
    await upgrade(engine)
    first = Reconciler(engine, config_dir, {})
    sampler = PeakRss()
    t = time.perf_counter()
    run = await first.reconcile("bench", force=True)
    timed("cold", results, time.perf_counter() - t)
    peak = sampler.stop()
    print(
        f"  cold peak RSS {peak:.0f} MB ({sampler.before:.0f} MB before, {rss_now():.0f} MB after)"
    )
    assert run is not None and run.status == "applied", run
    t = time.perf_counter()
    run = await Reconciler(engine, config_dir, {}).reconcile("bench", force=True)
    timed("rerun", results, time.perf_counter() - t)
    assert run is not None and run.status == "unchanged", run
    t = time.perf_counter()
    run = await first.reconcile("bench", force=True)
    timed("warm", results, time.perf_counter() - t)
    assert run is not None and run.status == "unchanged", run
    await engine.dispose()
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def edit_latencies(url: str, config_dir: Path, count: int, edits: int) -> list[float]:
    port = free_port()
    env = {**os.environ, "SITEWATCH_DATABASE_URL": url, "SITEWATCH_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sitewatch",
            "serve",
            "--config",
            str(config_dir),
            "--port",
            str(port),
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("sitewatch serve did not start") from None
                time.sleep(0.1)
        read_url = reader(url)
        path = config_dir / "monitors.yaml"
        text = path.read_text()
        latencies = []
        for n in range(edits):
            i = (n * 7919) % count
            old = f"https://site-{i}.example.com/health"
            new = f"https://site-{i}.example.com/health?v={n}"
            text = text.replace(old + "\n", new + "\n", 1)
            start = time.perf_counter()
            path.write_text(text)
            while read_url(f"site-{i}") != new:
                if time.perf_counter() - start > 10:
                    raise RuntimeError(f"edit {n} not applied within 10 s")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.2)
        return latencies
    finally:
        proc.terminate()
        proc.wait(30)


def reader(url: str):  # type: ignore[no-untyped-def]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database or "", isolation_level=None)
        return lambda key: (
            conn.execute("SELECT url FROM websites WHERE key = ?", (key,)).fetchone() or [None]
        )[0]
    pg = psycopg.connect(
        parsed.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    )
    return lambda key: (
        pg.execute("SELECT url FROM websites WHERE key = %s", (key,)).fetchone() or [None]
    )[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--websites", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"websites: {args.websites}, edits: {args.edits}")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            config_dir = Path(tmp) / "config"
            config_dir.mkdir()
            generate(config_dir, args.websites)
            dbname = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            else:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{dbname}"')
                url = (
                    make_url(PG_ADMIN)
                    .set(drivername="postgresql+psycopg", database=dbname)
                    .render_as_string(hide_password=False)
                )
            try:
                print(f"\n{backend}:")
                asyncio.run(reconcile_numbers(url, config_dir))
                lat = sorted(edit_latencies(url, config_dir, args.websites, args.edits))
                p50 = statistics.median(lat)
                p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
                print(
                    f"  edit     p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   max {lat[-1] * 1000:7.1f} ms"
                )
            finally:
                if backend != "sqlite":
                    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
