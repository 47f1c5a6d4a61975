"""schemathesis against the live application: every operation of the OpenAPI
document, with generated valid and invalid inputs. No 5xx, and every response
(status, content type, body) matches the document."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from sitewatch.app import create_app
from sitewatch.settings import Settings
from tests.web.test_api import ALERTS, MONITORS


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on loopback, served from a thread with its own event loop."""
    root = tmp_path_factory.mktemp("contract")
    config = root / "config"
    config.mkdir()
    (config / "monitors.yaml").write_text(MONITORS)
    (config / "alerts.yaml").write_text(ALERTS)
    app_settings = Settings(
        config_dir=config,
        database_url=f"sqlite+aiosqlite:///{root / 'db.sqlite'}",
        check=False,
        watch=False,
    )
    box: dict[str, Any] = {}
    ready = threading.Event()

    def serve() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(create_app(app_settings, environ={}), access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        box["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30), "the app did not start"
    yield f"http://127.0.0.1:{box['port']}"
    box["loop"].call_soon_threadsafe(box["loop"].stop)
    thread.join(30)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_honours_the_contract(live_url: str, mode: GenerationMode) -> None:
    """Each operation of the document, with generated valid (or invalid) inputs."""
    api = schemathesis.openapi.from_url(f"{live_url}/api/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 33  # every route of the API is in the document
    # Checking a website now would probe whatever URL a generated website has,
    # possibly off this machine: that operation is tested on loopback in test_api.
    operations = [op for op in operations if op.label != "POST /api/websites/{id}/check"]
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # Nothing to get wrong: no body and no query (GET /api/alerts; any
            # non-empty path segment is a valid id or key; any If-Match is valid).
            assert mode is GenerationMode.NEGATIVE and not operation.body, operation.label
            locations = {str(p.location) for p in operation.iter_parameters()}
            assert locations <= {
                "path",
                "header",
                "ParameterLocation.PATH",
                "ParameterLocation.HEADER",
            }, (operation.label, locations)


def test_docs_page_lists_the_operations(live_url: str, tmp_path: Path) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{live_url}/api/docs", timeout=5) as response:
        page = response.read().decode()
    assert "/api/websites/{id}" in page and "openapi.json" in page
