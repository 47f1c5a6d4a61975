"""Cluster benchmark: one sitewatch instance against two sharing one PostgreSQL.

For each website count given, starts the target (nginx, or bench/target.py)
and N `sitewatch serve --role checker` processes, instance i pinned to core i
(taskset), on a fresh PostgreSQL database; waits until the leases cover every
website, lets it run --warmup seconds (the first interval after a start costs
more: every website's first result creates its series and alert state), then
measures --seconds:

  checks/s achieved vs due (from the check history), duplicates (a website
  checked more than once in one interval), the scheduling lag p99 of each
  instance (from its sitewatch_scheduler_lag_seconds histogram, read with
  /metrics?name[]=... so the reading itself costs nothing), the CPU of each
  instance, of the target and of PostgreSQL's processes (from /proc), and
  PostgreSQL's commits per second.

A count "holds" when at least 98 % of the due checks happen (the window's edges
cost about 1 %) and every instance's lag p99 is under 1 s. Capacity = the
largest count that holds; scaling efficiency = two-instance capacity /
(2 x one-instance capacity).

Usage:
  .venv/bin/python bench/cluster.py --instances 1 --websites 40000 50000 60000
  .venv/bin/python bench/cluster.py --instances 2 --websites 80000 100000 120000
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from api import free_port
from checker import PORTS, generate, start_target
from sqlalchemy.engine import make_url

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HERE = Path(__file__).resolve().parent
INTERVAL = 30
# Only the lag histogram: the full text of tens of thousands of websites' series
# takes seconds of this core to build, which the window would then measure.
LAG_ONLY = "/metrics?name[]=sitewatch_scheduler_lag_seconds_bucket"


def lag_buckets(metrics: str) -> list[tuple[float, float]]:
    out = []
    for line in metrics.splitlines():
        if line.startswith("sitewatch_scheduler_lag_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    return out


def lag_p99(before: str, after: str) -> float:
    """The 99th percentile of sitewatch_scheduler_lag_seconds over the window, from
    the histogram's two readings, interpolated within its bucket as Prometheus'
    histogram_quantile() does (inf: beyond the last finite bucket)."""
    old = dict(lag_buckets(before))
    window = [(bound, count - old.get(bound, 0.0)) for bound, count in lag_buckets(after)]
    total = window[-1][1] if window else 0.0
    if not total:
        return float("nan")
    rank = 0.99 * total
    lower, below = 0.0, 0.0
    for bound, count in window:
        if count >= rank:
            if bound == float("inf"):
                return bound
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return float("inf")


def cpu_seconds(match: Callable[[int, str, int], bool]) -> float:
    """CPU seconds (user + system) of the processes ``match(pid, comm, ppid)`` accepts."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if match(int(pid), comm, int(fields[1])):
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return total


def postgres_cpu_seconds() -> float:
    return cpu_seconds(lambda _pid, comm, _ppid: comm.startswith("postgres"))


def tree_cpu_seconds(root: int) -> float:
    """A process and its children (nginx's master and worker)."""
    return cpu_seconds(lambda pid, _comm, ppid: root in (pid, ppid))


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (/proc/stat: user, nice,
    system, irq, softirq, steal) -- loopback TCP's kernel work included, which
    no process's own counters fully show."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


NGINX = Path("/usr/sbin/nginx")


def start_nginx(pin: list[str], folder: Path) -> subprocess.Popen[bytes]:
    """nginx (Debian's nginx-light) answering 200 on every PORTS of every
    interface, closing each connection as bench/target.py does -- but in C,
    so on a two-core machine the target takes as little as possible of the
    cores the sitewatch instances are pinned to."""
    for port in PORTS:  # a stale target would answer in nginx's place
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx does
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                raise SystemExit(f"port {port} is taken (an old target still running?)") from None
    listen = "\n".join(f"    listen {port} backlog=4096;" for port in PORTS)
    (folder / "nginx.conf").write_text(
        f"""worker_processes 1;
daemon off;
master_process on;
pid {folder}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  keepalive_timeout 0;
  server {{
{listen}
    location / {{ default_type text/plain; return 200 "ok\n"; }}
  }}
}}
"""
    )
    server = subprocess.Popen([*pin, str(NGINX), "-c", str(folder / "nginx.conf"), "-e", "stderr"])
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORTS[-1]}/", timeout=1):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("nginx did not start (is an old target still running?)") from None
            time.sleep(0.1)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as response:
        return str(response.read().decode())


def run(
    instances: int, websites: int, warmup: float, seconds: float, target_kind: str
) -> dict[str, float]:
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
    target = start_nginx(pin, tmp) if target_kind == "nginx" else start_target(pin)
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": url.render_as_string(hide_password=False),
        "SITEWATCH_LOG_LEVEL": os.environ.get("SITEWATCH_LOG_LEVEL", "warning"),
        "SITEWATCH_WATCH": "false",
    }
    ports = [free_port() for _ in range(instances)]
    servers = [
        subprocess.Popen(
            [
                "taskset",
                "-c",
                str(i % (os.cpu_count() or 1)),
                sys.executable,
                "-m",
                "sitewatch",
                "serve",
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
        before_lag = [fetch(f"http://127.0.0.1:{p}{LAG_ONLY}") for p in ports]
        cpu0 = postgres_cpu_seconds()
        own0 = [tree_cpu_seconds(s.pid) for s in servers]
        target0 = tree_cpu_seconds(target.pid)
        busy0 = machine_busy_seconds()
        with psycopg.connect(libpq) as conn:
            commits0 = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        start = time.time()
        time.sleep(seconds)
        end = time.time()
        cpu1 = postgres_cpu_seconds()
        own1 = [tree_cpu_seconds(s.pid) for s in servers]
        target1 = tree_cpu_seconds(target.pid)
        busy1 = machine_busy_seconds()
        after = [fetch(f"http://127.0.0.1:{p}{LAG_ONLY}") for p in ports]
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
                "SELECT count(*), count(*) FILTER (WHERE NOT ok) FROM check_histories"
                " WHERE checked_at >= to_timestamp(%s) AND checked_at < to_timestamp(%s)",
                (start, end),
            ).fetchone()
        checks = float(total[0]) if total else 0.0
        failed = float(total[1]) if total else 0.0
        return {
            "due_per_s": websites / INTERVAL,
            "checks_per_s": checks / (end - start),
            "duplicates": float(dupes) / checks if checks else 0.0,
            # Checks that failed (a timeout under overload): they are retried
            # sooner, which would feed the overload.
            "failed": failed / checks if checks else 0.0,
            "lag_p99_max": max(lag_p99(b, a) for b, a in zip(before_lag, after, strict=True)),
            "pg_cpu": (cpu1 - cpu0) / (end - start),
            # CPU milliseconds per check, all instances together: the cost of
            # a check, which coordination would raise if it were not cheap.
            "cpu_ms_per_check": 1000 * (sum(own1) - sum(own0)) / checks if checks else 0.0,
            "instance_cpu_max": max(b - a for a, b in zip(own0, own1, strict=True)) / (end - start),
            "target_cpu": (target1 - target0) / (end - start),
            "machine_cpu": (busy1 - busy0) / (end - start),
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
    parser.add_argument("--warmup", type=float, default=90)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument(
        "--target",
        choices=("nginx", "python"),
        default="nginx" if NGINX.exists() else "python",
        help="what the websites point at: nginx (cheapest) or bench/target.py",
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.instances} instance(s), interval {INTERVAL}s", flush=True)
    for count in args.websites:
        r = run(args.instances, count, args.warmup, args.seconds, args.target)
        holds = r["checks_per_s"] >= 0.98 * r["due_per_s"] and r["lag_p99_max"] < 1.0
        print(
            f"{count:>6} websites: {r['checks_per_s']:7.0f}/{r['due_per_s']:5.0f} checks/s,"
            f" duplicates {100 * r['duplicates']:.3f} %, failed {100 * r['failed']:.2f} %, lag p99 (worst instance) {r['lag_p99_max']:.3f} s,"
            f" PostgreSQL {r['pg_cpu']:.2f} cores, {r['commits_per_s']:.0f} commits/s,"
            f" busiest instance {r['instance_cpu_max']:.2f} cores,"
            f" {r['cpu_ms_per_check']:.2f} ms CPU a check, target {r['target_cpu']:.2f} cores,"
            f" machine {r['machine_cpu']:.2f} of {os.cpu_count()} cores busy"
            f" -> {'holds' if holds else 'does not hold'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
