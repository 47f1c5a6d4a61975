"""``create_app(settings)``: the one composition root.

Only here are engines, the reconciler and background tasks created; each lives
in a ``cleanup_ctx`` so startup and shutdown run in order and nothing is left
running (aiohttp's recommended pattern, no module-level state).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web

from sitewatch.alerts.channels.apprise import AppriseChannel
from sitewatch.alerts.channels.email import EmailChannel
from sitewatch.alerts.channels.opsgenie import OpsgenieChannel
from sitewatch.alerts.channels.pagerduty import PagerDutyChannel
from sitewatch.alerts.channels.webhook import WebhookChannel
from sitewatch.alerts.engine import EngineOptions
from sitewatch.alerts.guard import GuardPolicy
from sitewatch.alerts.service import Alerting
from sitewatch.checker.housekeeping import Housekeeper, Retention
from sitewatch.checker.probe import Prober
from sitewatch.checker.service import Checker, CheckerOptions, caught_up
from sitewatch.checker.target import Target
from sitewatch.config.models import Website
from sitewatch.config.secrets import ConfigEnv, Redactor
from sitewatch.errors import SettingsError
from sitewatch.keys import (
    ALERTING,
    CACHE,
    CHECKER,
    CLUSTER,
    EDITOR,
    ENGINE,
    ENVIRON,
    FOLLOWER,
    LIMITER,
    LIVE,
    METRICS,
    PING_SECRET,
    POLICY,
    RECONCILER,
    SETTINGS,
    STATUS_PAGES,
    SUPERVISOR,
)
from sitewatch.logs import RedactingFilter
from sitewatch.memory import give_back
from sitewatch.metrics import Metrics
from sitewatch.reconcile.follower import Follower
from sitewatch.reconcile.gitremote import GitRemote, RemoteSpec
from sitewatch.reconcile.service import Reconciler
from sitewatch.services.cluster import Cluster
from sitewatch.services.configedit import ConfigEditor, remove_stale_temp_files
from sitewatch.services.gitwrite import RemoteEditor
from sitewatch.settings import Settings
from sitewatch.store.engine import begin_write, create_engine
from sitewatch.store.heartbeats import server_secret
from sitewatch.store.migrate import upgrade
from sitewatch.store.runs import RunRecord
from sitewatch.supervisor import Supervisor
from sitewatch.web import access, api, auth, badges, cors, health, hooks, openapi, pings
from sitewatch.web.accesslog import AccessLogger
from sitewatch.web.auth import TokenPolicy
from sitewatch.web.cache import ResponseCache
from sitewatch.web.dashboard import routes as dashboard
from sitewatch.web.dashboard.live import LiveHub
from sitewatch.web.guard import ConnectionGuard, descriptor_budget, raise_open_file_limit
from sitewatch.web.problems import problems
from sitewatch.web.statuspages import api as pagesapi
from sitewatch.web.statuspages import routes as statuspages
from sitewatch.web.statuspages.publisher import Publisher

log = logging.getLogger("sitewatch")
SWITCH_INTERVAL = 0.0005  # seconds (see run)
# Seconds the startup reconcile waits at most for the checker's first load.
FIRST_LOAD_WAIT = 60.0


def create_app(settings: Settings, *, environ: Mapping[str, str] | None = None) -> web.Application:
    """Build the application; ``environ`` is what ``${VAR}`` references see.

    ``SettingsError`` when a setting cannot be used (the message names it)."""
    tokens_file = None
    if settings.api_tokens_file is not None:
        try:
            tokens_file = settings.api_tokens_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"SITEWATCH_API_TOKENS_FILE: cannot read {settings.api_tokens_file}: {exc}"
            ) from None
    policy = TokenPolicy.of(
        settings.api_tokens, settings.api_read_tokens, settings.api_open_reads, tokens_file
    )
    try:
        proxies = access.parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise SettingsError(f"SITEWATCH_TRUSTED_PROXIES: {exc}") from None
    origins = tuple(o.strip() for o in settings.cors_origins.split(",") if o.strip())
    limiter = access.FailureLimiter()
    app = web.Application(
        middlewares=[
            statuspages.domain_middleware(),  # a page's own domain serves that page only
            access.middleware(
                access.AccessPolicy(
                    proxies=proxies,
                    allowed_hosts=frozenset(
                        h.strip().lower().rstrip(".")
                        for h in settings.allowed_hosts.split(",")
                        if h.strip()
                    ),
                    open_api=not policy.enabled,
                    cors_origins=frozenset(origins),
                )
            ),
            cors.middleware(origins),
            problems,
            auth.middleware(policy, limiter),
        ],
        client_max_size=settings.max_request_bytes,
    )
    app[SETTINGS] = settings
    app[POLICY] = policy
    app[LIMITER] = limiter
    env = ConfigEnv(os.environ if environ is None else environ, settings.config_env.split(","))
    app[ENVIRON] = env
    redact = Redactor(env)
    app[SUPERVISOR] = Supervisor(redact=redact)
    app[CACHE] = ResponseCache[bytes](ttl=1.0)
    app.cleanup_ctx.append(_redact_logs(redact))
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_reconciler(env))
    app.cleanup_ctx.append(_alerting(env))
    app.cleanup_ctx.append(_cluster)
    if settings.check and settings.role != "web":
        app.cleanup_ctx.append(_checker(env))
    app.cleanup_ctx.append(_first_reconcile)  # the checker runs on the stored state meanwhile
    health.add_routes(app)
    hooks.add_routes(app)  # every instance follows the remote, whatever its role
    if settings.role != "checker":  # a checker serves /health, /ready and /metrics only
        api.add_routes(app)
        badges.add_routes(app)
        pings.add_routes(app)
        statuspages.setup(app)
        pagesapi.add_routes(app)
        app.cleanup_ctx.append(_status_pages)
        openapi.add_routes(app)
        dashboard.setup(app, policy)
        app.cleanup_ctx.append(_live)  # after the checker: it listens to its results
    app[METRICS] = Metrics(phases=settings.metrics_phases)
    app.cleanup_ctx.append(_observe)
    # After every cleanup_ctx has started (aiohttp runs them first).
    app.on_startup.append(_settle_heap)
    return app


async def _cluster(app: web.Application) -> AsyncIterator[None]:
    """Heartbeat and website leases (PostgreSQL). The first round runs beside the
    checker's first load, which waits for it (``joined``) before it picks its
    websites: at a restart of 30,000 websites, claiming them takes 0.5 s."""
    settings = app[SETTINGS]
    role = settings.role if settings.check else "web"  # no checks here: heartbeat only
    cluster = Cluster(app[ENGINE], role, lease_seconds=settings.lease_seconds)
    app[CLUSTER] = cluster
    if not cluster.enabled:
        yield
        return
    app[RECONCILER].status.listeners.append(lambda run: cluster.wake())
    if FOLLOWER in app:  # the oldest instance alone fetches on the poll
        app[FOLLOWER].leads = cluster.leads
    stop = asyncio.Event()
    task = app[SUPERVISOR].spawn("cluster-heartbeat", cluster.run, stop)

    async def hand_back(_app: web.Application) -> None:
        """At the start of shutdown, before the checker drains its checks in flight:
        peers take the websites over at their next heartbeat, a moment of overlap
        instead of a gap as long as the drain."""
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await cluster.leave()

    app.on_shutdown.append(hand_back)
    yield
    stop.set()
    await asyncio.gather(task, return_exceptions=True)
    await cluster.leave()  # again, harmless: the row is gone already


def _redact_logs(redact: Redactor) -> Callable[[web.Application], AsyncIterator[None]]:
    """Every log line this app writes passes through the redactor (a safety net:
    the texts are built without resolved values in the first place)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        log_filter = RedactingFilter(redact)
        handlers = list(logging.getLogger().handlers)
        for handler in handlers:
            handler.addFilter(log_filter)
        yield
        for handler in handlers:
            handler.removeFilter(log_filter)

    return ctx


async def _status_pages(app: web.Application) -> AsyncIterator[None]:
    """Public status pages read the published pages through one publisher."""
    publisher = Publisher(app[ENGINE])
    app[STATUS_PAGES] = publisher
    # An applied revision shows at once here (other instances within the cache's ttl).
    app[RECONCILER].status.listeners.append(lambda run: publisher.forget())
    yield


async def _live(app: web.Application) -> AsyncIterator[None]:
    """The dashboard's live hub: fed by the writer's results and the reconciler."""
    hub = LiveHub(app[ENGINE])
    app[LIVE] = hub
    if CHECKER in app:
        app[CHECKER].writer.listeners.append(hub.results)
    app[RECONCILER].status.listeners.append(lambda run: hub.config_changed())
    stop = asyncio.Event()
    task = app[SUPERVISOR].spawn("live-updates", hub.run, stop, core=False)
    yield
    stop.set()
    hub.close()
    await asyncio.gather(task, return_exceptions=True)


async def _observe(app: web.Application) -> AsyncIterator[None]:
    """Feed the metrics from the running parts (after they have all started)."""
    metrics = app[METRICS]
    reconciler = app[RECONCILER]
    if reconciler.status.last is not None:
        metrics.reconciled(reconciler.status.last)
    reconciler.status.listeners.append(metrics.reconciled)
    supervisor = app[SUPERVISOR]
    supervisor.failure_listeners.append(metrics.task_failed)
    metrics.readings.tasks = lambda: [(t.name, t.running) for t in supervisor.states.values()]
    for name in supervisor.states:  # from zero, so increase() works at the first failure
        metrics.task_failures.labels(name)
    follower = app.get(FOLLOWER)
    if follower is not None:
        metrics.readings.git = follower.status.numbers
    alerting = app[ALERTING]
    alerting.dispatcher.listeners.append(metrics.delivered)
    metrics.readings.guard_holding = lambda: 1.0 if alerting.offline else 0.0
    metrics.readings.held = lambda: float(alerting.alerts.held_total)
    checker = app.get(CHECKER)
    if checker is not None:
        checker.observers.append(
            lambda r: metrics.observe(
                checker.keys.get(r.website_id), r, checker.type_of(r.website_id)
            )
        )
        checker.reloaded.append(lambda: metrics.keep(checker.keys.values()))
        metrics.keep(checker.keys.values())
        writer = checker.writer
        metrics.readings.in_flight = lambda: checker.scheduler.in_flight
        metrics.readings.behind = checker.behind
        metrics.readings.db_errors = lambda: writer.failed_flushes
        metrics.readings.dropped = lambda: writer.dropped_total
        metrics.readings.websites = lambda: len(checker.keys)
    yield


async def _settle_heap(app: web.Application) -> None:
    """Collect once and freeze what startup loaded (modules, models, the config,
    the engine) out of the cyclic collector's sight: later full collections then
    walk only what requests and checks allocate, keeping pauses short. And from
    now on, what each reconcile frees goes back to the system (see memory.py)."""
    gc.collect()
    gc.freeze()
    give_back()
    app[RECONCILER].status.listeners.append(_give_back)


def _give_back(run: RunRecord) -> None:
    give_back()


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url)
    try:
        if settings.auto_migrate:
            revision = await upgrade(engine)
            log.info("database schema at revision %s (%s)", revision, engine.dialect.name)
        async with begin_write(engine) as conn:
            app[PING_SECRET] = await server_secret(conn, "ping")
        app[ENGINE] = engine
        yield
    finally:
        await engine.dispose()


def _remote(settings: Settings) -> GitRemote | None:
    """The followed git remote, when SITEWATCH_GIT_URL is set."""
    if not settings.git_url:
        return None
    token = settings.git_token
    if settings.git_token_file is not None:
        token = settings.git_token_file.read_text().strip()
    spec = RemoteSpec(
        settings.git_url,
        branch=settings.git_branch,
        path=settings.git_path,
        username=settings.git_username,
        token=token or None,
        ssh_key=settings.git_ssh_key,
        known_hosts=settings.git_known_hosts,
    )
    return GitRemote(spec, settings.git_dir.resolve())


def _reconciler(environ: Mapping[str, str]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        remote = _remote(settings)
        # Following a remote, the config folder is the served commit's.
        config_dir = remote.root / "served" if remote is not None else settings.config_dir
        reconciler = Reconciler(
            app[ENGINE],
            config_dir,
            environ,
            debounce_ms=settings.reload_max_wait_ms,
            step_ms=settings.reload_quiet_ms,
            resync_seconds=settings.resync_interval,
            max_file_bytes=settings.config_max_file_bytes,
        )
        await reconciler.restore_status()
        app[RECONCILER] = reconciler
        cache = app[CACHE]
        reconciler.status.listeners.append(lambda run: cache.clear())
        follower = None
        if remote is not None:
            follower = Follower(
                remote,
                reconciler,
                environ,
                poll=settings.git_poll,
                max_file_bytes=settings.config_max_file_bytes,
            )
            app[FOLLOWER] = follower
        else:
            for stale in remove_stale_temp_files(settings.config_dir):
                log.warning("removed %s, left by an interrupted API write", stale)
        if follower is not None and not settings.read_only:
            # Writes become commits pushed to the remote, applied once pushed.
            remote_editor = RemoteEditor(
                follower,
                environ,
                reconciler,
                author=settings.git_author,
                branch=settings.git_push_branch,
            )
            follower.status.push_branch = remote_editor.branch
            app[EDITOR] = remote_editor
        else:
            app[EDITOR] = ConfigEditor(
                config_dir,
                environ,
                reconciler,
                read_only=settings.read_only,
                git_author=settings.git_author if settings.git_mode else None,
                follows=remote.spec.shown_url if remote is not None else None,
            )
        if follower is not None:
            reconciler.commit = follower.status.applied
        yield

    return ctx


async def _first_reconcile(app: web.Application) -> AsyncIterator[None]:
    """The startup reconcile, then the tasks that follow the config.

    It comes after the checker has started: the checker reads the websites from
    the database, the state applied before the restart, and checks them while the
    files are read again (a 120,000-website config takes ~20 s), so that a restart
    skips no website's slot; what the files change reaches the checker through the
    reconciler's listeners like any other change. The server still accepts requests
    only after it (aiohttp starts every context first)."""
    settings = app[SETTINGS]
    reconciler = app[RECONCILER]
    follower = app.get(FOLLOWER)
    stop = asyncio.Event()
    checker = app.get(CHECKER)
    if checker is not None:
        # Reading the files would compete with the checker's first load for the
        # one core, and hold back the checks of slots that went by while sitewatch
        # was down: it waits for the load (bounded: a checker that cannot read the
        # database must not hold the startup for long).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(checker.loaded.wait(), FIRST_LOAD_WAIT)
    if follower is not None:
        await follower.sync("startup")
    settle: Callable[[], Awaitable[None]] | None = None
    if checker is not None and follower is None and await reconciler.resume():
        # The files are what the database holds: the checker checks it already.
        settle = functools.partial(caught_up, checker)
    else:
        await reconciler.reconcile("startup", force=True)
        if checker is not None:
            checker.hold_ready()  # ready once the schedule holds what was just applied
    watch_files = settings.watch and follower is None
    tasks = [app[SUPERVISOR].spawn("config-watcher", _watch(reconciler, watch_files, settle), stop)]
    if follower is not None:
        tasks.append(app[SUPERVISOR].spawn("git-follower", follower.run, stop))
    yield
    stop.set()
    _done, pending = await asyncio.wait(tasks, timeout=5)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _close(channel: AppriseChannel) -> None:
    channel.close()


def _alerting(environ: Mapping[str, str]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        dashboard = settings.base_url or f"http://{settings.host}:{settings.port}"
        apprise = AppriseChannel()
        app.on_cleanup.append(lambda _: _close(apprise))
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
                {
                    "email": EmailChannel(),
                    "webhook": WebhookChannel(session),
                    "apprise": apprise,
                    "pagerduty": PagerDutyChannel(session),
                    "opsgenie": OpsgenieChannel(session),
                },
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
            task = app[SUPERVISOR].spawn("notifications", alerting.run, stop)
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
                dns_cache_seconds=settings.dns_cache_seconds,
                freeze_heap=True,
            ),
        )
        app[CHECKER] = checker
        cluster = app[CLUSTER]
        checker.scope = cluster.scope
        checker.scope_known = cluster.joined
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
        supervisor = app[SUPERVISOR]
        tasks = [
            supervisor.spawn("checker", checker.run, stop),
            supervisor.spawn("housekeeping", housekeeper.run, stop, core=False),
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


def _watch(
    reconciler: Reconciler,
    watch_files: bool,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> Callable[[asyncio.Event], Awaitable[None]]:
    starts = 0

    async def run(stop: asyncio.Event) -> None:
        nonlocal starts
        starts += 1
        # Restarted by the supervisor: reconcile first, a change may have been missed
        # while it was down. The first start follows the startup reconcile, or, when
        # the files were as applied (``settle``), reads them through once caught up.
        first = starts == 1
        await reconciler.run(
            stop,
            watch_files=watch_files,
            initial=not first or settle is not None,
            settle=settle if first else None,
        )

    return run


def run(app: web.Application, loop: asyncio.AbstractEventLoop) -> None:
    """Serve ``app`` until SIGINT or SIGTERM (what ``web.run_app`` does), with the
    open-file limit raised and the connection guard watching the server."""
    settings = app[SETTINGS]
    # A thread that computes (a reconcile reading 30,000 websites' YAML) keeps the
    # GIL for up to the switch interval each time the loop's thread wants it back,
    # and the loop wants it back after every socket call: at the default 5 ms,
    # checks ran at 60-80 % of their due rate while a reconcile ran beside them.
    sys.setswitchinterval(SWITCH_INTERVAL)
    main = loop.create_task(_serve(app, settings))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(main)
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(app: web.Application, settings: Settings) -> None:
    open_files = raise_open_file_limit()
    budget = descriptor_budget(open_files, settings.check_concurrency, settings.max_connections)
    if budget < settings.max_connections:
        log.warning(
            "the open-file limit is %d: at most %d web connections, to keep room for %d checks",
            open_files,
            budget,
            settings.check_concurrency,
        )
    runner = web.AppRunner(
        app,
        handle_signals=True,
        access_log=logging.getLogger("sitewatch.access"),
        access_log_class=AccessLogger,
        shutdown_timeout=2,  # open requests; checks and deliveries get their own bound
    )
    await runner.setup()
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        assert runner.server is not None
        guard = ConnectionGuard(runner.server, budget, settings.header_timeout)
        task = app[SUPERVISOR].spawn("connection-guard", guard.run, stop, core=False)
        await web.TCPSite(runner, settings.host, settings.port).start()
        await asyncio.Event().wait()  # until a signal raises GracefulExit
    finally:
        stop.set()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()
