"""Wires the dashboard into the application: routes, the live hub, shutdown."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from sitewatch.keys import DASHBOARD, ENGINE, LIMITER, LIVE, SUPERVISOR
from sitewatch.store import sessions as session_store
from sitewatch.store.engine import begin_write
from sitewatch.web.auth import TokenPolicy
from sitewatch.web.dashboard import actions, pages
from sitewatch.web.dashboard.assets import Assets
from sitewatch.web.dashboard.render import Dashboard, environment
from sitewatch.web.dashboard.session import Session, Sessions


def setup(app: web.Application, policy: TokenPolicy) -> None:
    assets = Assets()
    supervisor = app[SUPERVISOR]
    app[DASHBOARD] = Dashboard(
        environment(assets),
        assets,
        Sessions(policy, revocations=_Revocations(app)),
        problems=lambda: supervisor.down(core_only=False),
        limiter=app[LIMITER],
    )
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/static/{name}", assets.handle)
    actions.add_routes(app)  # first: /websites/new before /websites/{key}
    pages.add_routes(app)


class _Revocations:
    """Logged-out sessions in the database: every instance refuses them."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def revoke(self, session: Session) -> None:
        expires = datetime.fromtimestamp(session.expires, UTC)
        async with begin_write(self.app[ENGINE]) as conn:
            await session_store.revoke(conn, session.sid, expires, datetime.now(UTC))

    async def is_revoked(self, sid: str) -> bool:
        async with self.app[ENGINE].connect() as conn:
            return await session_store.is_revoked(conn, sid)


async def _close_streams(app: web.Application) -> None:
    """Open event streams end at shutdown instead of holding it up."""
    hub = app.get(LIVE)
    if hub is not None:
        hub.close()
