"""Cluster benchmark: one sitewatch instance against two sharing one PostgreSQL.

For each website count given, starts bench/target.py and N `sitewatch serve
--role checker` processes, instance i pinned to core i (taskset), on a fresh
PostgreSQL database; waits until the leases cover every website, lets it run
--warmup seconds, then measures --seconds:

  checks/s achieved vs due (from the check history), duplicates (a website
  checked more than once in one interval), the scheduling lag p99 of each
  instance (from its /metrics histogram), and PostgreSQL's CPU (its processes'
  CPU seconds over the window) and commits per second.

A count "holds" when at least 98 % of the due checks happen (the window's edges
cost about 1 %) and every
instance's lag p99 is under 1 s. Capacity = the largest count that holds;
scaling efficiency = two-instance capacity / (2 x one-instance capacity).

Usage:
  .venv/bin/python bench/cluster.py --instances 1 --websites 20000 30000 40000
  .venv/bin/python bench/cluster.py --instances 2 --websites 40000 60000 80000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
from api import free_port
from checker import generate, start_target
from sqlalchemy.engine import make_url

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HERE = Path(__file__).resolve().parent
INTERVAL = 30


def lag_buckets(metrics: str) -> list[tuple[float, float]]:
    out = []
    for line in metrics.splitlines():
        if line.startswith("sitewatch_scheduler_lag_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    return out


def lag_p99(before: str, after: str) -> float:
    """The 99th percentile of sitewatch_scheduler_lag_seconds over the window (the
    upper bound of the bucket holding it), from the histogram's two readings."""
    old = dict(lag_buckets(before))
    window = [(bound, count - old.get(bound, 0.0)) for bound, count in lag_buckets(after)]
    total = window[-1][1] if window else 0.0
    for bound, count in window:
        if total and count >= 0.99 * total:
            return bound
    return float("nan")


def postgres_cpu_seconds() -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm.startswith("postgres"):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return str(response.read().decode())


def run(instances: int, websites: int, warmup: float, seconds: float) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="sitewatch-cluster-bench-"))
    (tmp / "config").mkdir()
    generate(tmp / "config", websites, INTERVAL, 0)
    name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
    libpq = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    # One instance: it on core 0, the target on core 1 (as bench/checker.py).
    # Two: one per core, and the target and PostgreSQL share the cores with them.
    pin = ["taskset", "-c", "1"] if instances == 1 else []
    target = start_target(pin)
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": url.render_as_string(hide_password=False),
        "SITEWATCH_LOG_LEVEL": "warning",
        "SITEWATCH_CHECK_CONCURRENCY": "5000",
        "SITEWATCH_WATCH": "false",
    }
    ports = [free_port() for _ in range(instances)]
    servers = [
        subprocess.Popen(
            [
                "taskset",
                "-c",
                str(i % os.cpu_count()),
                sys.executable,
                "-m",
                "sitewatch",
                "serve",  # type: ignore[operator]
                "--config",
                str(tmp / "config"),
                "--port",
                str(port),
                "--role",
                "checker",
            ],
            env=env,
            cwd=tmp,
        )
        for i, port in enumerate(ports)
    ]
    try:
        deadline = time.monotonic() + 300
        while True:
            assert time.monotonic() < deadline, "the leases did not cover every website"
            try:
                with psycopg.connect(libpq) as conn:
                    held = conn.execute("SELECT count(*) FROM website_leases").fetchone()
                if held and held[0] == websites:
                    break
            except psycopg.Error:
                pass
            time.sleep(1)
        time.sleep(warmup)
        before_lag = [fetch(f"http://127.0.0.1:{p}/metrics") for p in ports]
        cpu0 = postgres_cpu_seconds()
        with psycopg.connect(libpq) as conn:
            commits0 = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        start = time.time()
        time.sleep(seconds)
        end = time.time()
        cpu1 = postgres_cpu_seconds()
        after = [fetch(f"http://127.0.0.1:{p}/metrics") for p in ports]
        time.sleep(3)  # the last batches are written
        with psycopg.connect(libpq) as conn:
            commits1 = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            done, dupes = conn.execute(
                "SELECT count(*), coalesce(sum(greatest(n - 1, 0)), 0) FROM ("
                " SELECT website_id, floor(extract(epoch FROM checked_at) / %s) AS slot, count(*) AS n"
                " FROM check_histories WHERE checked_at >= to_timestamp(%s) AND checked_at < to_timestamp(%s)"
                " GROUP BY website_id, slot) s",
                (INTERVAL, start, end),
            ).fetchone() or (0, 0)
            total = conn.execute(
                "SELECT count(*) FROM check_histories WHERE checked_at >= to_timestamp(%s)"
                " AND checked_at < to_timestamp(%s)",
                (start, end),
            ).fetchone()
        checks = float(total[0]) if total else 0.0
        return {
            "due_per_s": websites / INTERVAL,
            "checks_per_s": checks / (end - start),
            "duplicates": float(dupes) / checks if checks else 0.0,
            "lag_p99_max": max(lag_p99(b, a) for b, a in zip(before_lag, after, strict=True)),
            "pg_cpu": (cpu1 - cpu0) / (end - start),
            "commits_per_s": (commits1[0] - commits0[0]) / (end - start)
            if commits0 and commits1
            else 0.0,
            "slots": float(done),
        }
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(60)
        target.terminate()
        target.wait(10)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--websites", type=int, nargs="+", default=[20000])
    parser.add_argument("--warmup", type=float, default=45)
    parser.add_argument("--seconds", type=float, default=90)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.instances} instance(s), interval {INTERVAL}s", flush=True)
    for count in args.websites:
        r = run(args.instances, count, args.warmup, args.seconds)
        holds = r["checks_per_s"] >= 0.98 * r["due_per_s"] and r["lag_p99_max"] < 1.0
        print(
            f"{count:>6} websites: {r['checks_per_s']:7.0f}/{r['due_per_s']:5.0f} checks/s,"
            f" duplicates {100 * r['duplicates']:.3f} %, lag p99 (worst instance) <= {r['lag_p99_max']} s,"
            f" PostgreSQL {r['pg_cpu']:.2f} cores, {r['commits_per_s']:.0f} commits/s"
            f" -> {'holds' if holds else 'does not hold'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
