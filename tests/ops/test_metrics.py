"""/metrics on the real application with a real checker and real targets:
the series the issue lists, promtool's verdict, series of removed websites
going away, and a real Prometheus scraping sitewatch and answering a query."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.appclient import Client, start_client
from tests.targets import TargetServer, closed_port


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in the text format, or None."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


@pytest.fixture
def promtool(require_tool: Callable[[str, str], Path]) -> Path:
    return require_tool("promtool", "prometheus")


@pytest.fixture
def prometheus_bin(require_tool: Callable[[str, str], Path]) -> Path:
    return require_tool("prometheus", "prometheus")


@pytest.fixture
async def checked(config_dir: Path, tmp_path: Path) -> AsyncIterator[tuple[Client, Path]]:
    async with TargetServer() as target:
        (config_dir / "monitors.yaml").write_text(
            textwrap.dedent(
                f"""\
                defaults:
                  interval: 5s
                  timeout: 2s
                websites:
                  - name: Up
                    url: {target.url("/status/200")}
                  - name: Down
                    url: {target.url("/status/503")}
                """
            )
        )
        client = await start_client(
            config_dir, f"sqlite+aiosqlite:///{tmp_path / 'sw.db'}", check=True
        )
        try:
            yield client, config_dir
        finally:
            await client.close()


async def _until(predicate: Callable[[], Awaitable[bool]], limit: float) -> None:
    """A bounded wait for an async condition (not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {limit}s")
        await asyncio.sleep(0.1)


async def _metrics(client: Client) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return await response.text()


@pytest.mark.slow
async def test_the_listed_series_are_exposed_and_promtool_finds_no_problem(
    checked: tuple[Client, Path], promtool: Path
) -> None:
    client, _ = checked

    async def both_checked() -> bool:
        text = await _metrics(client)
        return _sample(text, "sitewatch_website_up", website="down") == 0.0 and (
            _sample(text, "sitewatch_website_up", website="up") == 1.0
        )

    await _until(both_checked, 10)
    text = await _metrics(client)
    assert _sample(text, "sitewatch_checks_total", website="up", result="success")
    assert _sample(text, "sitewatch_checks_total", website="down", result="failure")
    assert _sample(text, "sitewatch_check_duration_seconds_count", website="up", phase="total")
    assert (
        _sample(text, "sitewatch_check_duration_seconds_count", website="up", phase="dns") is None
    )
    for phase in ("connect", "first_byte", "total"):
        fleet = "sitewatch_check_phase_duration_seconds_count"
        assert _sample(text, fleet, type="http", phase=phase)
    assert _sample(text, "sitewatch_website_last_check_timestamp_seconds", website="up")
    assert _sample(text, "sitewatch_config_last_reload_successful") == 1.0
    assert _sample(text, "sitewatch_config_last_reload_timestamp_seconds")
    assert re.search(r'^sitewatch_config_info\{revision="[0-9a-f]{12,}"\} 1\.0$', text, re.M)
    assert _sample(text, "sitewatch_scheduler_lag_seconds_count")
    assert _sample(text, "sitewatch_checks_in_flight") is not None
    assert (
        _sample(text, "sitewatch_alert_notifications_total", channel="webhook", result="failure")
        == 0.0
    )
    assert _sample(text, "sitewatch_alert_outbox_pending") == 0.0
    assert _sample(text, "sitewatch_db_errors_total") == 0.0
    assert _sample(text, "process_resident_memory_bytes")
    assert "url=" not in text and "127.0.0.1" not in text  # keys only, no URLs as labels
    lint = await asyncio.create_subprocess_exec(
        str(promtool),
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await lint.communicate(text.encode())
    assert (lint.returncode, out, err) == (0, b"", b"")
    open_metrics = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await open_metrics.text()).endswith("# EOF\n")
    # gzip when the scraper accepts it (Prometheus does): the client's own negotiation.
    import gzip

    raw = await client.get("/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in raw.headers["Vary"]
    unzipped = gzip.decompress(await raw.read()).decode()
    assert "sitewatch_alert_outbox_pending" in unzipped
    plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers

    # name[] limits the answer to those series (a cheap read of a few numbers).
    some = await client.get(
        "/metrics?name[]=sitewatch_scheduler_lag_seconds_bucket&name[]=sitewatch_checks_in_flight"
    )
    names = {
        line.split("{")[0].split(" ")[0]
        for line in (await some.text()).splitlines()
        if not line.startswith("#")
    }
    assert names == {"sitewatch_scheduler_lag_seconds_bucket", "sitewatch_checks_in_flight"}
    process = await (await client.get("/metrics?name[]=process_resident_memory_bytes")).text()
    assert _sample(process, "process_resident_memory_bytes")

    # The website leaves the config: its series go with it.
    removed = await client.delete("/api/websites/down")
    assert removed.status == 204

    async def gone() -> bool:
        return 'website="down"' not in await _metrics(client)

    await _until(gone, 5)
    assert _sample(await _metrics(client), "sitewatch_website_up", website="up") == 1.0


@pytest.mark.slow
async def test_a_real_prometheus_scrapes_sitewatch(
    checked: tuple[Client, Path], tmp_path: Path, prometheus_bin: Path
) -> None:
    client, _ = checked
    port = closed_port()
    (tmp_path / "prometheus.yml").write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: sitewatch
                static_configs:
                  - targets: ["127.0.0.1:{client.port}"]
            """
        )
    )
    prometheus = await asyncio.create_subprocess_exec(
        str(prometheus_bin),
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    query = f"http://127.0.0.1:{port}/api/v1/query?query=sitewatch_website_up"

    def fetch() -> list[dict[str, object]]:
        try:
            with urllib.request.urlopen(query, timeout=2) as response:
                result: list[dict[str, object]] = json.load(response)["data"]["result"]
                return result
        except OSError:
            return []

    try:
        for _ in range(60):
            series = await asyncio.to_thread(fetch)
            if len(series) == 2:
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail("Prometheus did not scrape sitewatch_website_up within 30 s")
        values = {s["metric"]["website"]: s["value"][1] for s in series}  # type: ignore[index]
        assert values == {"up": "1", "down": "0"}
        assert {s["metric"]["job"] for s in series} == {"sitewatch"}  # type: ignore[index]
    finally:
        prometheus.terminate()
        await asyncio.wait_for(prometheus.wait(), 10)
