"""``GET /health``: is the process up, can it reach its database, what config is applied."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from sitewatch import __version__
from sitewatch.keys import ALERTING, ENGINE, RECONCILER

DB_TIMEOUT = 2.0


async def database_reachable(engine: AsyncEngine) -> tuple[bool, str | None]:
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        return False, f"{type(exc).__name__}: {exc}".splitlines()[0]
    return True, None


async def health(request: web.Request) -> web.Response:
    """Always 200 while the process serves; ``status`` says ``ok`` or ``degraded``."""
    engine = request.app[ENGINE]
    status = request.app[RECONCILER].status
    reachable, error = await database_reachable(engine)
    config_ok = status.last is None or status.last.ok
    body: dict[str, Any] = {
        "status": "ok" if reachable and config_ok else "degraded",
        "version": __version__,
        "database": {"reachable": reachable, "backend": engine.dialect.name, "error": error},
        "config": {
            "applied_revision": status.applied_revision,
            "applied_git_commit": status.applied.git_commit if status.applied else None,
            "last_reconcile": status.last.to_dict() if status.last else None,
        },
    }
    alerting = request.app.get(ALERTING)
    if alerting is not None:
        # The connectivity guard: why DOWN notifications are held, if they are.
        body["alerts"] = {"notifications_held": alerting.offline}
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health, name="health")
