"""Hostile requests get a 4xx problem, never a 500; addressing is unambiguous;
a write the reconciler would refuse never reaches the file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sitewatch.config.loader import load_config
from sitewatch.errors import ConfigError, SettingsError
from sitewatch.web.auth import TokenPolicy
from sitewatch.web.cache import ResponseCache
from tests.appclient import Client, start_client
from tests.factories import write

MONITORS = "websites:\n  - name: Shop\n    url: https://shop.example.com/\n"
NEW = '{"name": "B", "url": "https://b.example.com/"'


@pytest.fixture
async def client(config_dir: Path, tmp_path: Path) -> AsyncIterator[Client]:
    write(config_dir, "monitors.yaml", MONITORS)
    c = await start_client(config_dir, f"sqlite+aiosqlite:///{tmp_path / 'sw.db'}")
    yield c
    await c.close()


async def post(client: Client, body: str, query: str = "") -> tuple[int, dict[str, object]]:
    response = await client.post(
        "/api/websites" + query, data=body, headers={"Content-Type": "application/json"}
    )
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (NEW + ', "interval": NaN}', 400, "not a number JSON allows"),
        (NEW + ', "timeout": Infinity}', 400, "not a number JSON allows"),
        (NEW + ', "interval": -Infinity}', 400, "not a number JSON allows"),
        (NEW + ', "interval": 1e999}', 422, "finite"),
        (NEW + ', "tls_expiry_days": ' + "9" * 400 + "}", 422, "tls_expiry_days"),
        (NEW + ', "headers": ' + '{"a":' * 600 + "1" + "}" * 600 + "}", 400, "nested deeper"),
        ("[" * 100_000 + "]" * 100_000, 400, "nested deeper"),
        ("null", 422, "JSON object"),
    ],
)
async def test_hostile_bodies_get_a_4xx_problem(
    client: Client, body: str, status: int, says: str
) -> None:
    got, problem = await post(client, body)
    assert got == status, problem
    assert says in str(problem), problem


@pytest.mark.parametrize(
    "fragment", ["te\x00am", "te\nam", "*", "team[1]", "a" * 300, "../x", ".hidden", "a?b"]
)
async def test_bad_fragment_names_get_422(client: Client, fragment: str) -> None:
    from urllib.parse import quote

    got, problem = await post(client, NEW + "}", "?fragment=" + quote(fragment, safe=""))
    assert got == 422, problem
    assert "fragment must be a file name" in str(problem["detail"])


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1900-01-01T00:00:00Z", "x" * 500],
)
async def test_out_of_range_dates_get_400(client: Client, moment: str) -> None:
    response = await client.get("/api/websites/shop/history", params={"start": moment})
    assert response.status == 400, await response.text()


def test_all_digit_keys_are_refused(config_dir: Path) -> None:
    write(
        config_dir,
        "monitors.yaml",
        MONITORS
        + "  - name: One\n    key: '1'\n    url: https://1.example.com/\n  - name: '2024'\n    url: https://y.example.com/\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, {})
    text = str(info.value)
    assert "websites[1].key: a key cannot be all digits" in text
    assert "websites[2].name: name '2024' gives the all-digit key '2024'" in text


async def test_deleting_the_last_website_is_refused_before_the_file_changes(
    client: Client, config_dir: Path
) -> None:
    before = (config_dir / "monitors.yaml").read_bytes()
    response = await client.delete("/api/websites/shop")
    assert response.status == 409
    assert "last website" in (await response.json())["detail"]
    assert (config_dir / "monitors.yaml").read_bytes() == before


async def test_a_computation_started_before_a_write_is_not_cached() -> None:
    cache = ResponseCache(ttl=60)
    release = asyncio.Event()

    async def slow_old() -> bytes:
        await release.wait()
        return b"old"

    async def fresh() -> bytes:
        return b"new"

    first = asyncio.create_task(cache.get("k", slow_old))
    await asyncio.sleep(0)
    cache.clear()  # a write lands while the old answer is being computed
    assert await cache.get("k", fresh) == b"new"  # not joined to the old flight
    release.set()
    assert await first == b"old"
    assert await cache.get("k", fresh) == b"new"  # the old answer was not stored


@pytest.mark.parametrize(
    ("write_tokens", "read_tokens", "file", "names"),
    [
        ("short", "", None, "SITEWATCH_API_TOKENS"),
        ("", "r" * 15, None, "SITEWATCH_API_READ_TOKENS"),
        ("", "", "ok-token-0123456789\nread tiny\n", "SITEWATCH_API_TOKENS_FILE line 2"),
    ],
)
def test_short_tokens_are_refused_naming_the_setting(
    write_tokens: str, read_tokens: str, file: str | None, names: str
) -> None:
    with pytest.raises(SettingsError, match=names) as info:
        TokenPolicy.of(write_tokens, read_tokens, True, file)
    assert "tiny" not in str(info.value) and "short" not in str(info.value)


def _serve(config_dir: Path, tmp_path: Path, **env: str) -> Any:
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "sitewatch", "serve", "--config", str(config_dir)]
    command += ["--port", "0", "--database-url", f"sqlite:///{tmp_path / 'sw.db'}"]
    return subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_serve_reports_a_startup_error_under_its_own_setting(
    config_dir: Path, tmp_path: Path
) -> None:
    write(config_dir, "monitors.yaml", MONITORS)
    done = _serve(config_dir, tmp_path, SITEWATCH_API_TOKENS_FILE=str(tmp_path / "missing"))
    assert done.returncode == 2
    assert "SITEWATCH_API_TOKENS_FILE: cannot read" in done.stderr
    done = _serve(config_dir, tmp_path, SITEWATCH_API_TOKENS="short")
    assert done.returncode == 2
    assert "SITEWATCH_API_TOKENS: token 1 is 5 characters long" in done.stderr
    assert "TOKENS_FILE" not in done.stderr


async def test_git_mode_asks_git_off_the_event_loop(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page and API read asks ``refusal()``; in git mode it must not run git."""
    import subprocess

    from sitewatch.keys import EDITOR

    write(config_dir, "monitors.yaml", MONITORS)
    await asyncio.to_thread(subprocess.run, ["git", "init", "-q", str(config_dir)], check=True)
    client = await start_client(
        config_dir, f"sqlite+aiosqlite:///{tmp_path / 'sw.db'}", git_mode=True
    )
    try:
        editor = client.server.app[EDITOR]

        def no_process(*args: object, **kwargs: object) -> None:
            raise AssertionError("a process was started on the event loop")

        with monkeypatch.context() as patch:
            patch.setattr(subprocess, "run", no_process)
            assert editor.refusal() is None
            assert (await client.get("/api/config")).status == 200
            assert (await client.get("/settings")).status == 200
    finally:
        await client.close()
