"""A test client of the whole application (create_app) on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from sitewatch.app import create_app
from sitewatch.checker.result import CheckResult, Timings
from sitewatch.checker.writer import history_row
from sitewatch.keys import ENGINE
from sitewatch.settings import Settings
from sitewatch.store import results
from sitewatch.store import status as status_store

Client = TestClient[Any, Any]


async def start_client(
    config_dir: Path, database_url: str, *, environ: dict[str, str] | None = None, **overrides: Any
) -> Client:
    """Checks and file watching are off unless ``overrides`` turn them on."""
    settings = Settings(
        **{
            "config_dir": config_dir,
            "database_url": database_url,
            "check": False,
            "watch": False,
            **overrides,
        }
    )
    client: Client = TestClient(TestServer(create_app(settings, environ=environ or {})))
    await client.start_server()
    return client


async def page_text(client: Client, path: str, status: int = 200) -> str:
    """GET ``path``; its body, after checking the status (the body says why not)."""
    response = await client.get(path)
    text = await response.text()
    assert response.status == status, text[:2000]
    return text


async def website_id(client: Client, key: str) -> int:
    async with client.server.app[ENGINE].connect() as conn:
        (status,) = await status_store.current_status(conn, key)
    return status.website_id


async def record_check(
    client: Client,
    key: str,
    ok: bool,
    *,
    ago: float = 5.0,
    ms: float = 42.0,
    phases: bool = True,
    error_message: str = "HTTP 503, expected 2xx",
    details: dict[str, Any] | None = None,
) -> None:
    """Store one check of website ``key`` as the checker would, ``ago`` seconds ago."""
    engine = client.server.app[ENGINE]
    async with engine.connect() as conn:
        (status,) = await status_store.current_status(conn, key)
    timings = (
        Timings(dns_ms=1.0, connect_ms=2.0, tls_ms=10.0, first_byte_ms=20.0, total_ms=ms)
        if phases
        else Timings(total_ms=ms)
    )
    result = CheckResult(
        website_id=status.website_id,
        checked_at=datetime.now(UTC) - timedelta(seconds=ago),
        ok=ok,
        status_code=200 if ok else 503,
        error_kind=None if ok else "status",
        error_message=None if ok else error_message,
        timings=timings,
        details=details,
    )
    async with engine.begin() as conn:
        await results.record(conn, [history_row(result)])
