"""``create_app(settings)``: the one composition root.

Only here are engines, the reconciler and background tasks created; each lives
in a ``cleanup_ctx`` so startup and shutdown run in order and nothing is left
running (aiohttp's recommended pattern, no module-level state).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from sitewatch.alerts.channels.email import EmailChannel
from sitewatch.alerts.channels.webhook import WebhookChannel
from sitewatch.alerts.engine import EngineOptions
from sitewatch.alerts.guard import GuardPolicy
from sitewatch.alerts.service import Alerting
from sitewatch.checker.housekeeping import Housekeeper, Retention
from sitewatch.checker.probe import Prober
from sitewatch.checker.service import Checker, CheckerOptions
from sitewatch.checker.target import Target
from sitewatch.config.models import Website
from sitewatch.keys import (
    ALERTING,
    CACHE,
    CHECKER,
    CLUSTER,
    EDITOR,
    ENGINE,
    ENVIRON,
    METRICS,
    RECONCILER,
    SETTINGS,
)
from sitewatch.metrics import Metrics
from sitewatch.reconcile.service import Reconciler
from sitewatch.services.cluster import Cluster
from sitewatch.services.configedit import ConfigEditor, remove_stale_temp_files
from sitewatch.settings import Settings
from sitewatch.store.engine import create_engine
from sitewatch.store.migrate import upgrade
from sitewatch.web import api, auth, cors, health, openapi
from sitewatch.web.auth import TokenPolicy
from sitewatch.web.cache import ResponseCache
from sitewatch.web.dashboard import routes as dashboard
from sitewatch.web.problems import problems

log = logging.getLogger("sitewatch")


def create_app(settings: Settings, *, environ: Mapping[str, str] | None = None) -> web.Application:
    """Build the application; ``environ`` is what ``${VAR}`` references see."""
    tokens_file = settings.api_tokens_file.read_text() if settings.api_tokens_file else None
    policy = TokenPolicy.of(
        settings.api_tokens, settings.api_read_tokens, settings.api_open_reads, tokens_file
    )
    app = web.Application(
        middlewares=[
            cors.middleware(
                tuple(o.strip() for o in settings.cors_origins.split(",") if o.strip())
            ),
            problems,
            auth.middleware(policy),
        ],
        client_max_size=settings.max_request_bytes,
    )
    app[SETTINGS] = settings
    app[CACHE] = ResponseCache(ttl=1.0)
    app.cleanup_ctx.append(_database)
    env = os.environ if environ is None else environ
    app[ENVIRON] = env
    app.cleanup_ctx.append(_reconciler(env))
    app.cleanup_ctx.append(_alerting(env))
    app.cleanup_ctx.append(_cluster)
    if settings.check and settings.role != "web":
        app.cleanup_ctx.append(_checker(env))
    health.add_routes(app)
    if settings.role != "checker":  # a checker serves /health, /ready and /metrics only
        api.add_routes(app)
        openapi.add_routes(app)
        dashboard.setup(app, policy)  # after the checker: it listens to its results
    app[METRICS] = Metrics(phases=settings.metrics_phases)
    app.cleanup_ctx.append(_observe)
    # After every cleanup_ctx has started (aiohttp runs them first).
    app.on_startup.append(_settle_heap)
    return app


async def _cluster(app: web.Application) -> AsyncIterator[None]:
    """Heartbeat and website leases (PostgreSQL); the first round before checking."""
    settings = app[SETTINGS]
    role = settings.role if settings.check else "web"  # no checks here: heartbeat only
    cluster = Cluster(app[ENGINE], role, lease_seconds=settings.lease_seconds)
    app[CLUSTER] = cluster
    if not cluster.enabled:
        yield
        return
    try:
        await cluster.step()
    except (SQLAlchemyError, OSError) as exc:
        log.error("could not join the cluster yet (will retry): %s", exc)
    app[RECONCILER].status.listeners.append(lambda run: cluster.wake())
    stop = asyncio.Event()
    task = asyncio.create_task(cluster.run(stop), name="sitewatch-cluster")
    yield
    stop.set()
    await asyncio.gather(task, return_exceptions=True)
    await cluster.leave()


async def _observe(app: web.Application) -> AsyncIterator[None]:
    """Feed the metrics from the running parts (after they have all started)."""
    metrics = app[METRICS]
    reconciler = app[RECONCILER]
    if reconciler.status.last is not None:
        metrics.reconciled(reconciler.status.last)
    reconciler.status.listeners.append(metrics.reconciled)
    app[ALERTING].dispatcher.listeners.append(metrics.delivered)
    checker = app.get(CHECKER)
    if checker is not None:
        checker.observers.append(lambda r: metrics.observe(checker.keys.get(r.website_id), r))
        checker.reloaded.append(lambda: metrics.keep(checker.keys.values()))
        metrics.keep(checker.keys.values())
        writer = checker.writer
        metrics.readings.in_flight = lambda: checker.scheduler.in_flight
        metrics.readings.db_errors = lambda: writer.failed_flushes
        metrics.readings.dropped = lambda: writer.dropped_total
        metrics.readings.websites = lambda: len(checker.keys)
    yield


async def _settle_heap(app: web.Application) -> None:
    """Collect once and freeze what startup loaded (modules, models, the config,
    the engine) out of the cyclic collector's sight: later full collections then
    walk only what requests and checks allocate, keeping pauses short."""
    gc.collect()
    gc.freeze()


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url)
    try:
        if settings.auto_migrate:
            revision = await upgrade(engine)
            log.info("database schema at revision %s (%s)", revision, engine.dialect.name)
        app[ENGINE] = engine
        yield
    finally:
        await engine.dispose()


def _reconciler(environ: Mapping[str, str]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        reconciler = Reconciler(
            app[ENGINE],
            settings.config_dir,
            environ,
            debounce_ms=settings.reload_max_wait_ms,
            step_ms=settings.reload_quiet_ms,
            resync_seconds=settings.resync_interval,
        )
        await reconciler.restore_status()
        app[RECONCILER] = reconciler
        cache = app[CACHE]
        reconciler.status.listeners.append(lambda run: cache.clear())
        for stale in remove_stale_temp_files(settings.config_dir):
            log.warning("removed %s, left by an interrupted API write", stale)
        app[EDITOR] = ConfigEditor(
            settings.config_dir,
            environ,
            reconciler,
            read_only=settings.read_only,
            git_author=settings.git_author if settings.git_mode else None,
        )
        stop = asyncio.Event()
        # The first reconcile happens before the server accepts requests.
        await reconciler.reconcile("startup", force=True)
        task = asyncio.create_task(
            _watch(reconciler, stop, settings.watch), name="sitewatch-reconciler"
        )
        yield
        stop.set()
        try:
            await asyncio.wait_for(task, 5)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx


def _alerting(environ: Mapping[str, str]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        dashboard = settings.base_url or f"http://{settings.host}:{settings.port}"
        async with aiohttp.ClientSession() as session, Prober() as prober:
            canary = None
            if settings.guard_canary_url:
                target = Target.of(
                    Website.model_validate({"name": "canary", "url": settings.guard_canary_url})
                )

                async def canary_ok() -> bool:
                    return (await prober.check(target)).ok

                canary = canary_ok
            alerting = Alerting(
                app[ENGINE],
                environ,
                {"email": EmailChannel(), "webhook": WebhookChannel(session)},
                EngineOptions(
                    retry_for=settings.alert_retry_for,
                    dashboard_url=dashboard,
                    guard=GuardPolicy(settings.guard_failure_ratio, settings.guard_min_websites),
                ),
                canary=canary,
            )
            app[ALERTING] = alerting
            app[RECONCILER].status.listeners.append(lambda run: alerting.request_reload())
            stop = asyncio.Event()
            await alerting.reload()
            if settings.role == "web":  # web instances queue (tests), checkers deliver
                yield
                return
            task = asyncio.create_task(alerting.run(stop), name="sitewatch-alerting")
            yield
            stop.set()
            # A delivery cut short stays in the outbox and is sent after the restart.
            _done, pending = await asyncio.wait([task], timeout=2)
            for t in pending:
                t.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return ctx


def _checker(environ: Mapping[str, str]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        engine = app[ENGINE]
        checker = Checker(
            engine,
            environ,
            CheckerOptions(
                concurrency=settings.check_concurrency,
                max_body_bytes=settings.max_body_bytes,
                freeze_heap=True,
            ),
        )
        app[CHECKER] = checker
        cluster = app[CLUSTER]
        checker.scope = cluster.scope
        cluster.listeners.append(checker.request_reload)
        cluster.checks_total = lambda: checker.scheduler.checks_total
        cluster.websites = lambda: len(checker.keys)
        # Every applied change reaches the scheduler within one reload.
        app[RECONCILER].status.listeners.append(lambda run: checker.request_reload())
        alerting = app[ALERTING]
        checker.writer.in_transaction.append(alerting.apply)
        checker.writer.listeners.append(alerting.committed)
        housekeeper = Housekeeper(
            engine,
            Retention(
                history_days=settings.history_retention_days,
                rollup_days=settings.rollup_retention_days,
            ),
        )
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(checker.run(stop), name="sitewatch-checker"),
            asyncio.create_task(housekeeper.run(stop), name="sitewatch-housekeeping"),
        ]
        yield
        stop.set()
        # Checks in flight get the shutdown budget (then are cancelled); queued
        # results are written either way.
        _done, pending = await asyncio.wait(tasks, timeout=settings.shutdown_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return ctx


async def _watch(reconciler: Reconciler, stop: asyncio.Event, watch_files: bool) -> None:
    try:
        await reconciler.run(stop, watch_files=watch_files, initial=False)
    except Exception:  # a crash here must be loud, not a silent dead watcher
        log.exception("the config watcher stopped unexpectedly")
        raise
