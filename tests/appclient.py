"""A test client of the whole application (create_app) on a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from sitewatch.app import create_app
from sitewatch.settings import Settings

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
