"""The product, measured as bench/checker.py measures the checker alone.

Runs `sitewatch serve` (role all: web server, dashboard, API, metrics,
housekeeping, alerts, reconciler) pinned to core 0, nginx on core 1, on a fresh
PostgreSQL database or SQLite file, with N websites at a --interval (30 s), and
prints:

  start      seconds until /ready says ready, and whether the schedule was
             loaded by then; checks of the first round that started > 50 ms late
  steady     checks/s achieved vs due (from the check history), lag p99 (from
             sitewatch_scheduler_lag_seconds), CPU per check of the process,
             RSS (MB, and MB per 10,000 websites), with a full gzipped /metrics
             scrape every --scrape seconds as Prometheus would
  restart    SIGTERM, a start again after --down seconds: the longest gap
             between two checks of a website across it, and how many websites
             waited longer than the interval + 5 s
  --write N  after the restart, N API writes (PATCH a website's timeout: each
             written to the YAML, validated with the whole config, reconciled):
             each one's latency, the RSS after each, the lag p99 over them

Usage:
  .venv/bin/python bench/serve.py --websites 30000 [--backend postgresql|sqlite]
      [--interval 30] [--seconds 90] [--scrape 15] [--down 2] [--timeline] [--profile FILE]
      [--write 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
from api import free_port
from checker import generate, warn_conntrack
from cluster import (
    LAG_ONLY,
    lag_buckets,
    lag_p99,
    start_nginx,
    tree_cpu_seconds,
)
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from threads import thread_cpu_seconds, thread_shares

from sitewatch.store import tables

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def get(url: str, *, gzipped: bool = False) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzipped else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def read_names(path: Path) -> dict[int, str]:
    """The threads' names bench/profserve.py writes at SIGUSR1 (waited for)."""
    for _ in range(100):
        if path.exists():
            try:
                return {int(k): v for k, v in json.loads(path.read_text()).items()}
            except json.JSONDecodeError:
                pass  # being written
        time.sleep(0.05)
    return {}


def patch(url: str, fields: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url,
        data=json.dumps(fields).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api_writes(serve: Serve, count: int) -> None:
    """``count`` PATCHes through the API, one after the other, as a user would."""
    before = get(f"{serve.base}{LAG_ONLY}")[1].decode()
    rss = [rss_mb(serve.pid)]
    took: list[float] = []
    for n in range(count):
        t = time.monotonic()
        status, body = patch(f"{serve.base}/api/websites/site-{n}", {"timeout": f"{9 - n}s"})
        took.append(time.monotonic() - t)
        if status != 200:
            print(f"api write      PATCH site-{n}: {status} {body[:300]!r}")
        rss.append(rss_mb(serve.pid))
    after = get(f"{serve.base}{LAG_ONLY}")[1].decode()
    late = [late_share(after, b)[0] - late_share(before, b)[0] for b in (0.1, 1.0, 5.0)]
    print(
        f"api writes     {count} PATCHes: {', '.join(f'{t:.1f}' for t in took)} s each; RSS "
        f"{' -> '.join(f'{r:.0f}' for r in rss)} MB; lag p99 over them "
        f"{1000 * lag_p99(before, after):.0f} ms; checks started late > 0.1 / 1 / 5 s: "
        f"{late[0]:,.0f} / {late[1]:,.0f} / {late[2]:,.0f} of "
        f"{late_share(after)[1] - late_share(before)[1]:,.0f}"
    )


SAMPLE = 5.0  # seconds between two lines of the steady window's timeline


def late_share(metrics: str, bound: float = 0.05) -> tuple[float, float]:
    """(checks started more than ``bound`` late, all checks) from the lag histogram."""
    buckets = dict(lag_buckets(metrics))
    total = buckets.get(float("inf"), 0.0)
    return total - buckets.get(bound, 0.0), total


class Serve:
    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        program = [str(Path(__file__).with_name("profserve.py"))]  # names its threads
        self.args = [
            "taskset",
            "-c",
            "0",
            sys.executable,
            *program,
            "serve",
            "--config",
            str(config),
            "--port",
            str(self.port),
        ]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start; seconds until /ready answers 200."""
        started = time.monotonic()
        self.proc = subprocess.Popen(self.args, env=self.env)
        while True:
            status, _ = get(f"{self.base}/ready")
            if status == 200:
                return time.monotonic() - started
            if self.proc.poll() is not None:
                raise SystemExit(f"sitewatch serve exited: {self.proc.returncode}")
            time.sleep(0.1)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--websites", type=int, default=30_000)
    parser.add_argument("--interval", type=int, default=30, help="every website's, seconds")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--scrape", type=float, default=15)
    parser.add_argument("--down", type=float, default=2, help="seconds stopped at the restart")
    parser.add_argument(
        "--timeline", action="store_true", help="checks in each second after the restart"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile of the event loop's thread over the steady window here",
    )
    parser.add_argument("--write", type=int, default=0, help="API writes (PATCH) after the restart")
    args = parser.parse_args()
    interval = args.interval
    os.sched_setaffinity(0, {1})  # this driver beside the target, sitewatch alone
    warn_conntrack()
    tmp = Path(tempfile.mkdtemp(prefix="sitewatch-serve-bench-"))
    (tmp / "config").mkdir()
    generate(tmp / "config", args.websites, interval, 0)
    name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
    if args.backend == "postgresql":
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
        app_url = url.render_as_string(hide_password=False)
        sync_url = app_url
    else:
        app_url = f"sqlite+aiosqlite:///{tmp}/sitewatch.db"
        sync_url = f"sqlite:///{tmp}/sitewatch.db"
    target = start_nginx(["taskset", "-c", "1"], tmp)
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": app_url,
        "SITEWATCH_LOG_LEVEL": "warning",
        "SITEWATCH_WATCH": "false",
    }
    if args.profile is not None:
        env["SITEWATCH_BENCH_PROFILE"] = str(args.profile.resolve())
    env["SITEWATCH_BENCH_THREADS"] = str(tmp / "threads.json")
    serve = Serve(tmp / "config", env)
    try:
        ready = serve.start()
        status, body = get(f"{serve.base}/ready")
        print(
            f"start          ready after {ready:.1f} s (schedule loaded by then: "
            f"{'yes' if status == 200 and b'not loaded' not in body else 'NO'})"
        )
        time.sleep(interval + 5)  # the first round: every website once
        late, first = late_share(get(f"{serve.base}{LAG_ONLY}")[1].decode())
        print(f"first round    {late:,.0f} of {first:,.0f} checks started > 50 ms late")
        # The steady window, scraped as Prometheus would.
        before = get(f"{serve.base}{LAG_ONLY}")[1].decode()
        os.kill(serve.pid, signal.SIGUSR1)  # the threads' names; the profile starts
        names = read_names(tmp / "threads.json")
        cpu0 = tree_cpu_seconds(serve.pid)
        threads0 = thread_cpu_seconds(serve.pid)
        start = time.time()
        scrapes: list[tuple[float, int]] = []
        windows: list[str] = []  # every SAMPLE seconds: checks/s and the threads' CPU
        sample = (time.monotonic(), late_share(before)[1], threads0)
        next_scrape = time.monotonic() + args.scrape  # as bench/checker.py --scrape
        while time.time() - start < args.seconds:
            if time.monotonic() >= next_scrape:
                t = time.monotonic()
                _, text = get(f"{serve.base}/metrics", gzipped=True)
                scrapes.append((time.monotonic() - t, len(text)))
                next_scrape = t + args.scrape
            time.sleep(max(0.0, min(next_scrape, sample[0] + SAMPLE) - time.monotonic()))
            if time.monotonic() >= sample[0] + SAMPLE:
                now, checks = (
                    time.monotonic(),
                    late_share(get(f"{serve.base}{LAG_ONLY}")[1].decode())[1],
                )
                windows.append(
                    f"{(checks - sample[1]) / (now - sample[0]):7.0f}/s  "
                    + thread_shares(serve.pid, sample[2], now - sample[0], names)
                )
                sample = (now, checks, thread_cpu_seconds(serve.pid))
        end = time.time()
        cpu = tree_cpu_seconds(serve.pid) - cpu0
        threads = thread_shares(serve.pid, threads0, end - start, names)
        os.kill(serve.pid, signal.SIGUSR2)
        if args.profile is not None:
            print(f"profile        {args.profile} (python -m pstats {args.profile})")
        after = get(f"{serve.base}{LAG_ONLY}")[1].decode()
        rss = rss_mb(serve.pid)
        time.sleep(2)  # the last batches are written
        engine = create_engine(sync_url)
        history = tables.history
        with engine.connect() as conn:
            checks = conn.execute(
                select(history.c.id).where(
                    history.c.checked_at >= datetime.fromtimestamp(start).astimezone(),
                    history.c.checked_at < datetime.fromtimestamp(end).astimezone(),
                )
            ).all()
        done = len(checks)
        due = args.websites / interval
        print(
            f"steady         {done / (end - start):.1f} checks/s of {due:.1f} due "
            f"({100 * done / (end - start) / due:.1f} %), lag p99 {1000 * lag_p99(before, after):.0f} ms, "
            f"{100 * cpu / (end - start):.1f} % of a core, {1000 * cpu / max(done, 1):.3f} ms CPU a check"
        )
        print(f"threads        {threads}")
        for line in windows:
            print(f"  every {SAMPLE:.0f} s   {line}")
        print(
            f"memory         RSS {rss:.0f} MB: {rss * 10_000 / args.websites:.0f} MB per 10,000 websites"
        )
        if scrapes:
            print(
                f"scrapes        {len(scrapes)} full /metrics (gzip, {scrapes[-1][1] / 1e6:.1f} MB): "
                f"{max(s for s, _ in scrapes):.2f} s the longest, wall clock"
            )
        # The restart.
        stopped = time.time()
        serve.stop()
        stopping = time.time() - stopped
        time.sleep(args.down)
        again = serve.start()
        time.sleep(interval + 10)
        with engine.connect() as conn:
            rows = conn.execute(
                select(history.c.website_id, history.c.checked_at).where(
                    history.c.checked_at
                    >= datetime.fromtimestamp(stopped - 2 * interval).astimezone()
                )
            ).all()
        engine.dispose()
        last_before: dict[int, float] = {}
        first_after: dict[int, float] = {}
        for website_id, checked_at in rows:
            at = checked_at.timestamp()
            if at < stopped:
                last_before[website_id] = max(last_before.get(website_id, 0.0), at)
            else:
                first_after[website_id] = min(first_after.get(website_id, float("inf")), at)
        if args.timeline:
            # Checks each second after the restart's SIGTERM: the catch-up, as it went.
            per_second: dict[int, int] = {}
            for _website_id, checked_at in rows:
                at = checked_at.timestamp() - stopped
                if 0 <= at < 25:
                    per_second[int(at)] = per_second.get(int(at), 0) + 1
            print("timeline       checks in each second after SIGTERM:")
            print("               " + " ".join(f"{per_second.get(s, 0)}" for s in range(25)))
        gaps = [first_after[w] - last_before[w] for w in last_before if w in first_after]
        missing = len(last_before) - len(gaps)
        over = sum(1 for g in gaps if g > interval + 5)
        print(
            f"restart        SIGTERM to exit {stopping:.1f} s, down {args.down:.0f} s, "
            f"ready again after {again:.1f} s: longest gap {max(gaps, default=0):.1f} s; "
            f"{over} of {len(gaps)} websites waited > {interval + 5} s"
            + (f"; {missing} not checked again within {interval + 10} s" if missing else "")
        )
        if args.write:  # after the restart: a write's CPU puts a busy instance behind
            api_writes(serve, args.write)
    finally:
        if serve.proc is not None and serve.proc.poll() is None:
            serve.stop()
        target.terminate()
        target.wait(10)
        if args.backend == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
