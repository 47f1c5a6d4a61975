"""API latency: GET /api/websites and GET /api/stats/summary with 1,000 websites.

Starts `sitewatch serve` pinned to core 0 (taskset) on a fresh PostgreSQL
database with 1,000 websites checked every 60 s against bench/target.py (core 1),
waits until every website has a result, then fires --requests requests per
endpoint from --connections concurrent connections (the client runs on core 1)
and prints p50 / p99 / max latency and requests per second; then the cost of
one uncached answer (sequential requests that each miss the 1 s response cache).
First it times the badges (every website has ``badge: true``): 500 requests of
each kind, one at a time, each for another website.

Usage:
  .venv/bin/python bench/api.py [--websites 1000] [--connections 50] [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
from sqlalchemy.engine import make_url

PG_ADMIN = os.environ.get(
    "SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HERE = Path(__file__).resolve().parent
PORTS = range(20000, 20016)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, count: int) -> None:
    folder.mkdir()
    lines = ["defaults:", "  interval: 60s", "  timeout: 5s", "  badge: true", "websites:"]
    for i in range(count):
        lines += [
            f"  - name: Site {i}",
            f"    url: http://127.0.0.1:{PORTS[i % len(PORTS)]}/health/{i}",
            f"    tags: [{'prod' if i % 2 else 'staging'}]",
        ]
    (folder / "monitors.yaml").write_text("\n".join(lines) + "\n")


def start_server(folder: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`sitewatch serve` on core 0 alone, with the config in ``folder/config``."""
    command = ["taskset", "-c", "0", sys.executable, "-m", "sitewatch", "serve"]
    command += ["--config", str(folder / "config"), "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=folder)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def wait_ready(base: str, websites: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/api/stats/summary") as r:
                    body = await r.json()
                    if r.status == 200 and body["unknown"] == 0 and body["websites"] == websites:
                        return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(1)
    raise SystemExit("the server did not check every website in time")


async def hammer(url: str, connections: int, requests: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    todo = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for _ in todo:
                start = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return latencies, time.perf_counter() - began


async def cold(url: str, requests: int) -> list[float]:
    """Sequential requests that each miss the one-second response cache (a unique
    query string): what one computation of the answer costs."""
    latencies = []
    joiner = "&" if "?" in url else "?"
    async with aiohttp.ClientSession() as session:
        for n in range(requests):
            start = time.perf_counter()
            async with session.get(f"{url}{joiner}nocache={n}") as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append(1000 * (time.perf_counter() - start))
    return latencies


async def measure(base: str, args: argparse.Namespace) -> None:
    await wait_ready(base, args.websites, 180)
    await badges(base, args.websites, 500)
    for path in ("/api/websites", "/api/websites?limit=1000", "/api/stats/summary"):
        ms = await cold(base + path, 200)
        print(
            f"GET {path:<28} uncached, one at a time: p50 {statistics.median(ms):6.1f} ms"
            f"  p99 {percentile(ms, 0.99):6.1f} ms",
            flush=True,
        )
    for path in ("/api/websites", "/api/websites?limit=1000", "/api/stats/summary"):
        await hammer(base + path, args.connections, min(500, args.requests))  # warm-up
        latencies, took = await hammer(base + path, args.connections, args.requests)
        ms = [1000 * v for v in latencies]
        print(
            f"GET {path:<28} p50 {statistics.median(ms):6.1f} ms  p99 {percentile(ms, 0.99):6.1f} ms"
            f"  max {max(ms):6.1f} ms  {len(ms) / took:7.0f} req/s  ({len(ms)} requests, "
            f"{args.connections} connections)",
            flush=True,
        )


async def badges(base: str, websites: int, requests: int) -> None:
    """Each badge of a different website, one at a time (a badge is computed per
    request: no server-side cache), then one badge under 50 connections."""
    for kind in ("status", "uptime-30d", "uptime-1y", "response-time"):
        ms = []
        async with aiohttp.ClientSession() as session:
            for n in range(requests):
                start = time.perf_counter()
                async with session.get(f"{base}/badge/site-{n % websites}/{kind}.svg") as r:
                    await r.read()
                    assert r.status == 200, r.status
                ms.append(1000 * (time.perf_counter() - start))
        print(
            f"{'GET /badge/{key}/' + kind + '.svg':<37}one at a time: p50 {statistics.median(ms):6.1f} ms"
            f"  p99 {percentile(ms, 0.99):6.1f} ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--websites", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})  # the client on core 1, the server alone on core 0
    tmp = Path(tempfile.mkdtemp(prefix="sitewatch-api-bench-"))
    write_config(tmp / "config", args.websites)
    name = f"sitewatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
    port = free_port()
    target = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            sys.executable,
            str(HERE / "target.py"),
            "--ports",
            f"{PORTS.start}-{PORTS.stop - 1}",
        ],
        stdout=subprocess.PIPE,
    )
    env = {
        **os.environ,
        "SITEWATCH_DATABASE_URL": url.render_as_string(hide_password=False),
        "SITEWATCH_LOG_LEVEL": "warning",
    }
    server = start_server(tmp, port, env)
    try:
        asyncio.run(measure(f"http://127.0.0.1:{port}", args))
    finally:
        server.terminate()
        server.wait(30)
        target.terminate()
        target.wait(10)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
