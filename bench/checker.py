"""Checker benchmark: N websites at a fixed interval, sitewatch pinned to one core.

Starts bench/target.py on core 1, pins itself to core 0, applies a config of N
websites (spread over the target's ports) to a fresh PostgreSQL (or SQLite)
database through the reconciler, then runs the real checker (scheduler, probes
with the timing breakdown, batched writes, rollups) for --seconds, and prints:

  checks/s achieved vs due, scheduling lag p50/p99/max, CPU of this process,
  peak RSS, results written, and the timing accuracy of the --delay-sites
  websites that hit /delay/200 (a bench/target.py of their own on core 1, which
  answers after exactly 200 ms: nothing else to serve, so it answers on time
  whatever the main target's load).

--type tcp makes every website a TCP check of the same target (connect, close);
--type dns a DNS check (an A record) answered by dnsmasq on core 1, which
answers every name under .bench from its own configuration. The line "per core"
is what the CPU per check makes of one core: the capacity of each type.

Usage:
  .venv/bin/python bench/checker.py --websites 10000 --interval 30 --seconds 180
  [--type http|tcp|dns] [--backend postgresql|sqlite] [--no-timings] [--delay-sites 100]
  [--concurrency 2000] [--gc freeze|default] [--metrics] [--scrape 15] [--compare]
  [--target python|nginx] [--profile FILE]
PostgreSQL: SITEWATCH_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import compare
import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from threads import thread_cpu_seconds, thread_shares

from sitewatch import scrape
from sitewatch.app import SWITCH_INTERVAL
from sitewatch.checker.housekeeping import Housekeeper
from sitewatch.checker.result import CheckResult
from sitewatch.checker.service import Checker, CheckerOptions
from sitewatch.memory import give_back
from sitewatch.metrics import Metrics
from sitewatch.reconcile.service import Reconciler
from sitewatch.store import tables
from sitewatch.store.engine import create_engine
from sitewatch.store.migrate import upgrade

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PORTS = range(20000, 20016)
HERE = Path(__file__).resolve().parent


DNS_PORT = 20053


# The timing-accuracy websites' own target (bench/target.py, nothing else to
# serve: its answers leave on time whatever the load on the main target).
DELAY_PORT = 20100


def http_url(i: int, delay_sites: int) -> str:
    """The URL of the HTTP website number ``i`` (the same for the references)."""
    if i < delay_sites:
        return f"http://127.0.0.1:{DELAY_PORT}/delay/200"
    port = PORTS[i % len(PORTS)]
    host = f"127.0.0.{1 + (i // len(PORTS)) % 4}"
    return f"http://{host}:{port}/health/{i}"


def generate(
    config_dir: Path, count: int, interval: int, delay_sites: int, kind: str = "http"
) -> None:
    lines = ["defaults:", f"  interval: {interval}s", "  timeout: 10s", "websites:"]
    hosts = [f"127.0.0.{h}" for h in range(1, 5)]
    for i in range(count):
        port = PORTS[i % len(PORTS)]
        host = hosts[(i // len(PORTS)) % len(hosts)]
        lines.append(f"  - name: Site {i}")
        if kind == "tcp":
            lines += ["    type: tcp", f"    host: {host}", f"    port: {port}"]
        elif kind == "dns":
            lines += [
                "    type: dns",
                f"    domain: site{i}.bench",
                f"    resolver: 127.0.0.1:{DNS_PORT}",
                "    expect: 192.0.2.1",
            ]
        else:
            lines.append(f"    url: {http_url(i, delay_sites)}")
    (config_dir / "monitors.yaml").write_text("\n".join(lines) + "\n")


def start_dnsmasq(pin: list[str]) -> subprocess.Popen[bytes]:
    """dnsmasq on 127.0.0.1:DNS_PORT answering every name under .bench itself."""
    server = subprocess.Popen(
        [
            *pin,
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            f"--port={DNS_PORT}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
            "--user=root",
            "--address=/bench/192.0.2.1",
            "--dns-forward-max=10000",
        ]
    )
    time.sleep(1.0)
    if server.poll() is not None:
        raise SystemExit("dnsmasq did not start (Debian package dnsmasq)")
    return server


def warn_conntrack() -> None:
    """Connection tracking (loaded by Docker's iptables rules, for one) keeps every
    loopback connection for 120 s after it closes: at thousands of checks per
    second its table fills and the kernel drops new connections' packets, which
    reads as checks timing out. Say so, and how to exempt loopback."""
    try:
        tracked = int(Path("/proc/sys/net/netfilter/nf_conntrack_count").read_text())
    except OSError:
        return
    raw = subprocess.run(["iptables", "-t", "raw", "-S"], capture_output=True, text=True)
    if "NOTRACK" not in raw.stdout:
        print(
            f"warning: connection tracking is on ({tracked} entries): at high rates its table"
            " fills and loopback connections time out; exempt loopback first:\n"
            "  iptables -t raw -I OUTPUT -o lo -j NOTRACK;"
            " iptables -t raw -I PREROUTING -i lo -j NOTRACK",
            file=sys.stderr,
        )


def start_nginx(pin: list[str]) -> subprocess.Popen[bytes]:
    """Debian's nginx on every interface's PORTS (one worker, ``pin``: a taskset
    prefix), answering ``200 ok`` and closing: a target far faster than one Python
    core, for measuring the client alone. No /delay (bench/target.py serves it)."""
    root = Path(tempfile.mkdtemp(prefix="sitewatch-bench-nginx-"))
    listens = " ".join(f"listen {port} backlog=4096;" for port in PORTS)
    temp = " ".join(
        f"{kind}_temp_path {root / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (root / "nginx.conf").write_text(
        f"daemon off; worker_processes 1; pid {root / 'nginx.pid'};"
        f" error_log {root / 'error.log'} error;"
        " events { worker_connections 8192; }"
        f" http {{ access_log off; keepalive_timeout 0; {temp}"
        f' server {{ {listens} location / {{ return 200 "ok\\n"; }} }} }}'
    )
    server = subprocess.Popen([*pin, "nginx", "-p", str(root), "-c", str(root / "nginx.conf")])
    time.sleep(1.0)
    if server.poll() is not None:
        raise SystemExit(f"nginx did not start (Debian package nginx-light): {root}/error.log")
    return server


def start_target(pin: list[str], ports: range = PORTS) -> subprocess.Popen[bytes]:
    """bench/target.py on every interface's ``ports`` (``pin``: a taskset prefix);
    returns once it listens."""
    target = subprocess.Popen(
        [
            *pin,
            sys.executable,
            str(HERE / "target.py"),
            "--host",
            "0.0.0.0",
            "--ports",
            f"{ports.start}-{ports.stop - 1}",
        ],
        stdout=subprocess.PIPE,
    )
    assert target.stdout is not None
    if not target.stdout.readline().startswith(b"listening"):  # an old one holds the ports
        raise SystemExit("bench/target.py did not start (is an old one still running?)")
    return target


def rss_now() -> float:
    """This process's resident memory now, in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def run(args: argparse.Namespace, url: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sitewatch-bench-"))
    config = tmp / "config"
    config.mkdir()
    generate(config, args.websites, args.interval, args.delay_sites, args.type)
    engine = create_engine(url)
    await upgrade(engine)
    run = await Reconciler(engine, config, {}).reconcile("bench", force=True)
    gc.collect()
    give_back()  # as `serve` does after each reconcile
    rss_applied = rss_now()
    assert run is not None and run.ok, run
    # As `serve` does at its start: housekeeping starts the sliding uptime
    # totals, which every batch of results then adds to (a fourth upsert).
    await Housekeeper(engine).run_once()
    options = CheckerOptions(
        concurrency=args.concurrency, timings=not args.no_timings, freeze_heap=args.gc == "freeze"
    )
    checker = Checker(engine, {}, options)
    delay_ids: set[int] = set()
    async with engine.connect() as conn:
        rows = await conn.execute(select(tables.websites.c.id, tables.websites.c.url))
        delay_ids = {r[0] for r in rows if "/delay/" in r[1]}
    delay_ms: list[float] = []
    connect_ms: list[float] = []
    last_seen: dict[int, float] = {}
    gaps: list[float] = []  # seconds between two checks of one website, after warm-up
    measuring = [False]

    def observe(results: list[CheckResult]) -> None:
        for r in results:
            at = r.checked_at.timestamp()
            before = last_seen.get(r.website_id)
            last_seen[r.website_id] = at
            if measuring[0] and before is not None:
                gaps.append(at - before)
            if r.website_id in delay_ids and r.timings and r.timings.total_ms and r.ok:
                delay_ms.append(r.timings.total_ms)
                connect_ms.append(r.timings.connect_ms or 0.0)

    checker.writer.listeners.append(observe)
    metrics = Metrics() if args.metrics or args.scrape else None
    if metrics is not None:  # what `serve` does with every result
        checker.observers.append(
            lambda r: metrics.observe(
                checker.keys.get(r.website_id), r, checker.type_of(r.website_id)
            )
        )
        checker.reloaded.append(lambda: metrics.keep(checker.keys.values()))
    # (CPU seconds, wall-clock seconds, text bytes, gzipped bytes)
    scrapes: list[tuple[float, float, int, int]] = []

    async def scrape_now() -> None:
        """What GET /metrics does (sitewatch/web/health.py), its CPU counted alone."""
        assert metrics is not None
        stats = scrape.ScrapeStats()
        pieces = metrics.exposition(openmetrics=False)
        async for _ in scrape.body(pieces, gzipped=True, stats=stats):
            pass
        scrapes.append((stats.cpu_seconds, stats.wall_seconds, stats.text_bytes, stats.body_bytes))

    async def scraping() -> None:
        while True:
            await asyncio.sleep(args.scrape)
            await scrape_now()

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    gc.callbacks.append(on_gc)
    stop = asyncio.Event()
    task = asyncio.create_task(checker.run(stop))
    # Warm-up: the first interval fills the grid (and the first round after a start
    # costs more); measure the intervals after --warmup of them.
    await asyncio.sleep(args.interval * args.warmup)
    rss_warm = rss_now()
    scraper = asyncio.create_task(scraping()) if args.scrape else None
    measuring[0] = True
    sched = checker.scheduler
    sched.reset_lags()
    delay_ms.clear()
    connect_ms.clear()
    for p in pauses.values():
        p.clear()
    c0, t0 = sched.checks_total, time.monotonic()
    cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    threads0 = thread_cpu_seconds(os.getpid())
    profile = cProfile.Profile() if args.profile is not None else None
    if profile is not None:
        profile.enable()
    await asyncio.sleep(args.seconds)
    elapsed = time.monotonic() - t0
    cpu = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - cpu0
    threads = thread_shares(os.getpid(), threads0, elapsed)
    if profile is not None:
        profile.disable()
        profile.dump_stats(args.profile)
    done = sched.checks_total - c0
    stats = sched.stats()
    behind = sched.behind()
    if scraper is not None:
        scraper.cancel()
    stop.set()
    await task
    async with engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(tables.history))
        failed = await conn.scalar(
            select(func.count()).select_from(tables.history).where(tables.history.c.ok.is_(False))
        )
    await engine.dispose()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_end = rss_now()
    due = args.websites / args.interval
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"backend {make_url(url).get_backend_name()}, {args.websites} {args.type} checks every {args.interval}s, "
        f"measured {elapsed:.0f}s after a {args.interval * args.warmup:g}s warm-up, timings {'off' if args.no_timings else 'on'}"
    )
    print(
        f"checks/s       {done / elapsed:8.1f} achieved  vs {due:.1f} due ({100 * done / elapsed / due:.1f} %)"
    )
    print(
        f"lag            p50 {1000 * (stats.lag_p50 or 0):.1f} ms  p99 {1000 * (stats.lag_p99 or 0):.1f} ms  max {1000 * (stats.lag_max or 0):.1f} ms"
    )
    print(
        f"behind         {behind:.1f} s at the end (the oldest due check's wait); "
        f"in flight {stats.in_flight}, limit {sched.limit:.0f} of {args.concurrency}"
    )
    if gaps:
        ivs = sorted(g / args.interval for g in gaps)
        print(
            f"gaps           p50 {percentile(ivs, 0.5):.2f}  p99 {percentile(ivs, 0.99):.2f}  "
            f"max {ivs[-1]:.2f} intervals between two checks of a website; "
            f"{len(last_seen)} of {args.websites} websites checked"
        )
    print(f"cpu            {100 * cpu / elapsed:.1f} % of one core ({threads})")
    if done:
        per_check = cpu / done
        print(
            f"per check      {1000 * per_check:.3f} ms CPU -> {1 / per_check:,.0f} checks/s per core"
        )
    print(
        f"rss            peak {rss_mb:.0f} MB; after the config applied {rss_applied:.0f} MB,"
        f" after the first round {rss_warm:.0f} MB, at the end {rss_end:.0f} MB"
    )
    print(
        f"stored         {stored} results ({failed} failed), {checker.writer.dropped_total} dropped, skipped runs {stats.skipped_total}"
    )
    print(
        "gc pauses      "
        + "  ".join(
            f"gen{g} {len(p)}x max {1000 * max(p, default=0):.1f} ms" for g, p in pauses.items()
        )
        + f"  (policy: {args.gc})"
    )
    if scrapes:
        cpus = [c for c, _, _, _ in scrapes]
        walls = [w for _, w, _, _ in scrapes]
        _, _, size, packed = scrapes[-1]
        print(
            f"scrapes        {len(scrapes)} full /metrics every {args.scrape}s: CPU "
            f"p50 {statistics.median(cpus):.3f} s max {max(cpus):.3f} s each, "
            f"wall clock max {max(walls):.2f} s "
            f"({size / 1e6:.1f} MB, {packed / 1e6:.1f} MB gzipped; "
            f"{metrics.websites.series_count() if metrics else 0:,} series)"
        )
    if args.compare and args.type == "http":
        # The references, at the same rate on the same URLs (bench/compare.py).
        urls = [http_url(i, 0) for i in range(args.websites)]
        print(
            f"sitewatch      {done / elapsed:8.1f} checks/s, {1000 * cpu / max(done, 1):.3f} ms CPU a check (the run above)"
        )
        traced = await compare.aiohttp_traced(urls, due, args.seconds)
        print(traced.line(due))
        box = await compare.blackbox(urls, due, args.seconds)
        print(box if isinstance(box, str) else box.line(due))
        mine = cpu / max(done, 1) * 1000
        print(
            f"ratio          CPU a check: aiohttp+trace / sitewatch {traced.cpu_ms / mine:.2f}x"
            + ("" if isinstance(box, str) else f", blackbox / sitewatch {box.cpu_ms / mine:.2f}x")
        )
    if delay_ms:
        errs = [abs(d - 200) for d in delay_ms]
        print(
            f"200ms target   p50 {statistics.median(delay_ms):.1f} ms (|err| p50 {percentile(errs, 0.5):.1f}, p99 {percentile(errs, 0.99):.1f} ms) over {len(delay_ms)} checks"
        )
        print(
            f"  its connect  p50 {percentile(connect_ms, 0.5):.1f} ms  p99 {percentile(connect_ms, 0.99):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--websites", type=int, default=10_000)
    parser.add_argument("--type", choices=["http", "tcp", "dns"], default="http")
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument(
        "--warmup", type=float, default=1, help="intervals run before the measured window"
    )
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--concurrency", type=int, default=2000)
    parser.add_argument("--delay-sites", type=int, default=100)
    parser.add_argument("--no-timings", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile of the event loop's thread over the measured window here",
    )
    parser.add_argument(
        "--target",
        choices=["python", "nginx"],
        default="python",
        help="the main target: python (bench/target.py) or nginx (faster, for runs past "
        "~5,000 checks/s); the timing-accuracy websites have their own either way",
    )
    parser.add_argument(
        "--metrics", action="store_true", help="feed the Prometheus metrics, as serve does"
    )
    parser.add_argument(
        "--scrape",
        type=float,
        default=0,
        help="also build the full /metrics text every SECONDS (implies --metrics)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="then run a bare aiohttp loop with tracing and blackbox_exporter at the same "
        "rate on the same URLs (bench/compare.py) and print the ratios",
    )
    parser.add_argument(
        "--gc",
        choices=["freeze", "default"],
        default="freeze",
        help="freeze: what `sitewatch serve` does (freeze the heap after a reload)",
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin to core 0 / target to core 1"
    )
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL)  # as sitewatch serve sets it (the curl thread)
    if not args.no_pin:
        os.sched_setaffinity(0, {0})
    pin = ["taskset", "-c", "1"] if not args.no_pin else []
    warn_conntrack()
    if args.type != "http":
        args.delay_sites = 0
    target = start_target(pin) if args.target == "python" else start_nginx(pin)
    delays = start_target(pin, range(DELAY_PORT, DELAY_PORT + 1)) if args.delay_sites else None
    dnsmasq = start_dnsmasq(pin) if args.type == "dns" else None
    name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
    try:
        if args.backend == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = (
                make_url(PG_ADMIN)
                .set(drivername="postgresql+psycopg", database=name)
                .render_as_string(hide_password=False)
            )
        else:
            url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
        import uvloop

        uvloop.run(run(args, url))
    finally:
        if dnsmasq is not None:
            dnsmasq.terminate()
            dnsmasq.wait(10)
        for server in (target, delays):
            if server is not None:
                server.terminate()
                out, _ = server.communicate(timeout=10)
                if out:
                    print(out.decode().strip())
        if args.backend == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
