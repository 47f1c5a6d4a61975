"""Wires the dashboard into the application: routes, the live hub, shutdown."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from sitewatch.checker.service import BEHIND_NOTICE
from sitewatch.keys import (
    ALERTING,
    CHECKER,
    DASHBOARD,
    ENGINE,
    LIMITER,
    LIVE,
    RECONCILER,
    SUPERVISOR,
)
from sitewatch.store import sessions as session_store
from sitewatch.store.engine import begin_write
from sitewatch.web.auth import TokenPolicy
from sitewatch.web.dashboard import actions, pages, publishing
from sitewatch.web.dashboard.assets import Assets
from sitewatch.web.dashboard.render import Dashboard, RejectedConfig, environment
from sitewatch.web.dashboard.session import Session, Sessions


def setup(app: web.Application, policy: TokenPolicy) -> None:
    assets = Assets()
    supervisor = app[SUPERVISOR]
    app[DASHBOARD] = Dashboard(
        environment(assets),
        assets,
        Sessions(policy, revocations=_Revocations(app)),
        problems=lambda: supervisor.down(core_only=False),
        held=lambda: _held(app),
        behind=lambda: _behind(app),
        rejected=lambda: _rejected(app),
        limiter=app[LIMITER],
    )
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/static/{name}", assets.handle)
    actions.add_routes(app)  # first: /websites/new before /websites/{key}
    pages.add_routes(app)
    publishing.add_routes(app)


def _held(app: web.Application) -> str | None:
    alerting = app.get(ALERTING)
    return alerting.offline if alerting is not None else None


def _behind(app: web.Application) -> float | None:
    checker = app.get(CHECKER)
    if checker is None:
        return None
    behind = checker.behind()
    return behind if behind >= BEHIND_NOTICE else None


def _rejected(app: web.Application) -> RejectedConfig | None:
    reconciler = app.get(RECONCILER)
    if reconciler is None:
        return None
    status = reconciler.status
    last = status.last
    if last is None or last.ok:
        return None
    applied = status.applied_revision
    if last.revision is not None and last.revision == applied:
        return None  # a transient failure (database) of the revision that is live
    return RejectedConfig(last.status, last.revision, applied, last.errors)


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
