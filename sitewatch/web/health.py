"""Operations endpoints: ``/health`` (liveness), ``/ready`` (readiness), ``/metrics``.

``/health`` answers 200 while the process serves (an orchestrator must not
restart sitewatch because its database is away); ``/ready`` answers 503, with
the reasons, until the database answers, a config has been applied and the
scheduler runs -- what a load balancer should wait for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder, gzip_accepted

from sitewatch import __version__, scrape
from sitewatch.checker.service import BEHIND_NOTICE
from sitewatch.keys import (
    ALERTING,
    CHECKER,
    ENGINE,
    FOLLOWER,
    METRICS,
    POLICY,
    RECONCILER,
    SETTINGS,
    SUPERVISOR,
)
from sitewatch.store import alerting as alert_store
from sitewatch.store.engine import DatabaseError, Engine, ping
from sitewatch.web.auth import may_read

DB_TIMEOUT = 2.0


async def database_reachable(engine: Engine) -> tuple[bool, str | None]:
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            await ping(engine)
    except (DatabaseError, OSError, TimeoutError) as exc:
        return False, f"{type(exc).__name__}: {exc}".splitlines()[0]
    return True, None


async def health(request: web.Request) -> web.Response:
    """Always 200 while the process serves; ``status`` says ``ok`` or ``degraded``.

    With ``SITEWATCH_API_OPEN_READS=false`` the details need a token."""
    engine = request.app[ENGINE]
    status = request.app[RECONCILER].status
    reachable, error = await database_reachable(engine)
    config_ok = status.last is None or status.last.ok
    supervisor = request.app[SUPERVISOR]
    down = supervisor.down(core_only=False)
    body: dict[str, Any] = {
        "status": "ok" if reachable and config_ok and not down else "degraded",
        "version": __version__,
        "database": {"reachable": reachable, "backend": engine.dialect.name, "error": error},
        "config": {
            "applied_revision": status.applied_revision,
            "applied_git_commit": status.applied.git_commit if status.applied else None,
            "last_reconcile": status.last.to_dict() if status.last else None,
        },
    }
    follower = request.app.get(FOLLOWER)
    if follower is not None:
        git = follower.status
        body["config"]["git"] = git.to_dict()
        if git.fetch_error or git.attempted_errors:
            body["status"] = "degraded"
    body["tasks"] = {
        "down": [t.to_dict() for t in down],
        "all": [t.to_dict() for t in supervisor.states.values()],
    }
    checker = request.app.get(CHECKER)
    if checker is not None:
        behind = round(checker.behind(), 1)
        body["checker"] = {
            "running": checker.running,
            "websites": len(checker.keys),
            "in_flight": checker.scheduler.in_flight,
            "behind_seconds": behind,
        }
        if behind >= BEHIND_NOTICE:  # more to check than it can: it degrades silently
            body["status"] = "degraded"
    alerting = request.app.get(ALERTING)
    if alerting is not None:
        # The connectivity guard: why DOWN notifications are held, if they are.
        body["alerts"] = {"notifications_held": alerting.offline}
    if not may_read(request.app[POLICY], request):
        body = {"status": body["status"], "version": __version__}
    return web.json_response(body)


async def ready(request: web.Request) -> web.Response:
    """200 when this instance can do its work; 503 and the reasons when not."""
    reasons = []
    reachable, error = await database_reachable(request.app[ENGINE])
    if not reachable:
        reasons.append(f"database unreachable: {error}")
    if request.app[RECONCILER].status.applied is None:
        reasons.append("no config applied yet")
    checker = request.app.get(CHECKER)
    if request.app[SETTINGS].check:
        if checker is None or not checker.running:
            reasons.append("the scheduler is not running")
        elif not checker.scheduled:
            # Minutes at 100,000 websites would otherwise pass as ready and unchecked.
            reasons.append("the schedule is not loaded yet")
    for task in request.app[SUPERVISOR].down():
        reasons.append(f"task {task.name} is down: {task.last_error or 'not running'}")
    body: dict[str, Any] = {"ready": not reasons, "reasons": reasons}
    if not may_read(request.app[POLICY], request):
        body = {"ready": not reasons}
    return web.json_response(body, status=503 if reasons else 200)


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text format, or OpenMetrics when the scraper asks for it.

    ``?name[]=a&name[]=b`` limits the answer to those series names (as the
    official client's handlers do): a cheap read of a few numbers, e.g. the
    scheduler lag, on an instance with thousands of websites' series."""
    m = request.app[METRICS]
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            async with request.app[ENGINE].connect() as conn:
                m.outbox_pending.set(await alert_store.pending_count(conn))
    except (DatabaseError, OSError, TimeoutError):
        pass  # the last value stays; /ready and sitewatch_db_errors_total tell
    # The client library's own negotiation: OpenMetrics when the scraper asks for
    # it, gzip when it accepts it (with 30,000 websites the text is 40 MB, 2 gzipped).
    _, content_type = choose_encoder(request.headers.get("Accept", ""))
    gzipped = gzip_accepted(request.headers.get("Accept-Encoding", ""))
    openmetrics = content_type.startswith("application/openmetrics-text")
    response = web.StreamResponse(
        headers={"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    )
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    await response.prepare(request)
    # Written as it is built, a slice of the loop's time at a time (sitewatch/scrape.py):
    # checks due meanwhile start on time, and the text is never whole in memory.
    names = request.query.getall("name[]", [])
    pieces = m.exposition(openmetrics=openmetrics, names=names)
    async for data in scrape.body(pieces, gzipped=gzipped):
        await response.write(data)
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health, name="health")
    app.router.add_get("/ready", ready, name="ready")
    app.router.add_get("/metrics", metrics, name="metrics")
