"""Wires the dashboard into the application: routes, the live hub, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from sitewatch.keys import CHECKER, DASHBOARD, ENGINE, LIVE, RECONCILER
from sitewatch.web.auth import TokenPolicy
from sitewatch.web.dashboard import actions, pages
from sitewatch.web.dashboard.assets import Assets
from sitewatch.web.dashboard.live import LiveHub
from sitewatch.web.dashboard.render import Dashboard, environment
from sitewatch.web.dashboard.session import Sessions


def setup(app: web.Application, policy: TokenPolicy) -> None:
    assets = Assets()
    app[DASHBOARD] = Dashboard(environment(assets), assets, Sessions(policy))
    app.cleanup_ctx.append(_live)
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/static/{name}", assets.handle)
    actions.add_routes(app)  # first: /websites/new before /websites/{key}
    pages.add_routes(app)


async def _live(app: web.Application) -> AsyncIterator[None]:
    hub = LiveHub(app[ENGINE])
    app[LIVE] = hub
    if CHECKER in app:
        app[CHECKER].writer.listeners.append(hub.results)
    app[RECONCILER].status.listeners.append(lambda run: hub.config_changed())
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop), name="sitewatch-live")
    yield
    stop.set()
    hub.close()
    await asyncio.gather(task, return_exceptions=True)


async def _close_streams(app: web.Application) -> None:
    """Open event streams end at shutdown instead of holding it up."""
    hub = app.get(LIVE)
    if hub is not None:
        hub.close()
