"""The references bench/checker.py measures sitewatch against, at the same rate.

Both drive the same target URLs for the same seconds, a fresh connection a
request, and count the CPU of the one process doing the work (pinned to core 0,
where sitewatch's checker ran):

  aiohttp    a bare aiohttp loop with a TraceConfig taking DNS, connect and
             first-byte times (what sitewatch's checker did before libcurl), in
             this process: nothing stored, no scheduler, no assertions.
  blackbox   Prometheus' blackbox_exporter (the Debian package), one /probe
             request per check from a driver in this process, moved to core 1
             for the run; the CPU counted is the exporter's own.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

BLACKBOX_CONFIG = """\
modules:
  http_2xx:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


@dataclass(frozen=True)
class Reference:
    name: str
    done: int
    failed: int
    seconds: float
    cpu: float  # seconds of CPU of the process doing the checks

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / max(self.done, 1)

    def line(self, due: float) -> str:
        return (
            f"{self.name:<14} {self.rate:8.1f} checks/s of {due:.1f} due "
            f"({100 * self.rate / due:.1f} %), {self.failed} failed, "
            f"{self.cpu_ms:.3f} ms CPU a check -> {1000 / self.cpu_ms:,.0f} checks/s per core"
        )


async def paced(
    step: Callable[[int], Awaitable[bool]], rate: float, seconds: float, in_flight: int
) -> tuple[int, int, float]:
    """Start ``rate`` steps a second (a batch every 5 ms, at most ``in_flight`` at
    once) for ``seconds``: (done, failed, elapsed)."""
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(in_flight)
    done = failed = started = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        nonlocal done, failed
        try:
            ok = await step(n)
        except Exception:
            ok = False
        finally:
            limit.release()
        done += 1
        failed += not ok

    t0 = loop.time()
    while (now := loop.time()) - t0 < seconds:
        while started < rate * (now - t0):
            if limit.locked():
                break  # saturated: the rate it reaches is the result
            await limit.acquire()
            task = asyncio.ensure_future(one(started))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            started += 1
        await asyncio.sleep(0.005)
    elapsed = loop.time() - t0
    counted = done, failed
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    return counted[0], counted[1], elapsed


async def aiohttp_traced(urls: list[str], rate: float, seconds: float) -> Reference:
    trace = aiohttp.TraceConfig()
    marks: dict[str, float] = {}

    async def dns_start(*_: object) -> None:
        marks["dns"] = time.perf_counter()

    async def conn_start(*_: object) -> None:
        marks["connect"] = time.perf_counter()

    async def chunk(*_: object) -> None:
        marks["first_byte"] = time.perf_counter()

    trace.on_dns_resolvehost_start.append(dns_start)
    trace.on_connection_create_start.append(conn_start)
    trace.on_response_chunk_received.append(chunk)
    connector = aiohttp.TCPConnector(force_close=True, limit=0, use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trace_configs=[trace]
    ) as session:

        async def step(n: int) -> bool:
            async with session.get(urls[n % len(urls)]) as response:
                await response.read()
                return response.status == 200

        cpu0 = _own_cpu()
        done, failed, elapsed = await paced(step, rate, seconds, 2000)
        cpu = _own_cpu() - cpu0
    return Reference("aiohttp+trace", done, failed, elapsed, cpu)


async def blackbox(urls: list[str], rate: float, seconds: float) -> Reference | str:
    """blackbox_exporter's figures, or why it could not run."""
    exe = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if exe is None:
        return "blackbox_exporter not installed (apt-get install prometheus-blackbox-exporter)"
    tmp = Path(tempfile.mkdtemp(prefix="sitewatch-blackbox-"))
    (tmp / "blackbox.yml").write_text(BLACKBOX_CONFIG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        "taskset",
        "-c",
        "0",
        exe,
        f"--config.file={tmp / 'blackbox.yml'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=error",
        env={**os.environ, "GOMAXPROCS": "1"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {1})  # the driver beside the target, the exporter alone
    try:
        base = f"http://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=15)
        ) as session:
            for _ in range(100):
                try:
                    async with session.get(f"{base}/metrics") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

            async def step(n: int) -> bool:
                params = {"module": "http_2xx", "target": urls[n % len(urls)]}
                async with session.get(f"{base}/probe", params=params) as r:
                    return "\nprobe_success 1\n" in await r.text()

            cpu0 = _cpu_of(proc.pid)
            done, failed, elapsed = await paced(step, rate, seconds, 2000)
            cpu = _cpu_of(proc.pid) - cpu0
        return Reference("blackbox", done, failed, elapsed, cpu)
    finally:
        os.sched_setaffinity(0, mine)
        proc.terminate()
        await proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
