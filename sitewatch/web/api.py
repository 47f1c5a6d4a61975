"""The REST API under ``/api``: JSON in and out, errors as problem+json.

Reads come from the store. Writes go to the YAML through ``ConfigEditor`` (so
git stays the source of truth) and answer with the state the reconciler applied.
``{id}`` is a website's / alert's numeric id or its key.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from sitewatch.alerts.service import UnknownAlertError
from sitewatch.config.envsubst import EnvError
from sitewatch.config.masking import mask_entry
from sitewatch.config.models import CHECK_TYPES
from sitewatch.config.secrets import Redactor
from sitewatch.config.templating import EVENT_KINDS
from sitewatch.keys import (
    ALERTING,
    CACHE,
    CHECKER,
    CLUSTER,
    EDITOR,
    ENGINE,
    ENVIRON,
    FOLLOWER,
    POLICY,
    RECONCILER,
    SETTINGS,
)
from sitewatch.services.checknow import NoSuchWebsiteError, check_now, result_fields
from sitewatch.services.configedit import Applied, EditRefusedError, Kind
from sitewatch.store import alerting as alert_store
from sitewatch.store import catalog, series
from sitewatch.store import heartbeats as heartbeat_store
from sitewatch.store import status as status_store
from sitewatch.store import summary as summary_store
from sitewatch.store import uptime as uptime_store
from sitewatch.store.engine import Connection
from sitewatch.web import pings, schemas
from sitewatch.web.auth import bearer
from sitewatch.web.problems import ProblemError, refusal_status

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STATES = ("up", "down", "unknown")


# -- helpers ------------------------------------------------------------------------


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ProblemError(400, f"{name} must be an integer (got {raw!r})") from None
    if not lo <= value <= hi:
        raise ProblemError(400, f"{name} must be between {lo} and {hi} (got {value})")
    return value


def _time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    shown = raw if len(raw) <= 40 else raw[:37] + "..."
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ProblemError(400, f"{name} must be an ISO 8601 date-time (got {shown!r})") from None
    if not MIN_TIME <= moment <= MAX_TIME:
        raise ProblemError(400, f"{name} must be between the years 1970 and 9000 (got {shown!r})")
    return moment


MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC)
MAX_JSON_DEPTH = 64  # config entries are a few levels deep


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth_ok(value: Any, limit: int) -> bool:
    """Iterative: a deeply nested body must not exhaust our own stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ProblemError(415, "send the body as application/json")
    try:
        body = json.loads(await request.read(), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProblemError(400, f"the body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if not _depth_ok(body, MAX_JSON_DEPTH):
        raise ProblemError(400, f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(body, dict):
        raise ProblemError(422, "the body must be a JSON object with the entry's fields")
    return body


def answer(data: schemas.Body, status: int = 200, etag: str | None = None) -> web.Response:
    response = web.Response(body=schemas.body(data), status=status, content_type="application/json")
    if etag:
        response.headers["ETag"] = etag
    return response


def refused(exc: EditRefusedError) -> ProblemError:
    errors = [
        schemas.FieldProblem(
            field=".".join(str(p) for p in problem.path[2:]) or None,
            message=problem.message,
            location=f"{problem.file}:{problem.line}:{problem.column}",
        )
        for problem in exc.problems
    ]
    return ProblemError(refusal_status(exc), str(exc), errors=errors or None)


# -- websites ---------------------------------------------------------------------------


def _status_fields(s: status_store.WebsiteStatus) -> dict[str, Any]:
    return {
        "state": s.state,
        "state_since": s.state_since,
        "streak": s.streak,
        "last_checked_at": s.last_checked_at,
        "last_status_code": s.last_status_code,
        "last_response_ms": s.last_response_ms,
        "last_error_kind": s.last_error_kind,
        "last_error_message": s.last_error_message,
        "cert_expires_at": s.cert_expires_at,
        "last_details": s.last_details,
    }


def _summary_fields(s: status_store.WebsiteStatus) -> dict[str, Any]:
    return {
        "id": s.website_id,
        "key": s.key,
        "name": s.name,
        "type": s.type,
        "url": s.url,
        "active": s.active,
        "tags": list(s.tags),
        "interval_seconds": s.interval_seconds,
        "status": schemas.WebsiteStatus(**_status_fields(s)),
        # The seed API's flat fields, for clients written against it (docs/api.md).
        "created_at": s.created_at,
        "last_checked": s.last_checked_at,
        "last_status": None if s.last_checked_at is None else s.state,
    }


async def _website(conn: Connection, ident: str) -> catalog.WebsiteRecord:
    found = await catalog.find_website(conn, ident)
    if found is None:
        raise ProblemError(404, f"no website {ident!r}")
    return found


async def _alert(conn: Connection, ident: str) -> catalog.AlertRecord:
    found = await catalog.find_alert(conn, ident)
    if found is None:
        raise ProblemError(404, f"no alert {ident!r}")
    return found


def _cached(
    handler: Callable[[web.Request], Awaitable[schemas.Body]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Serve the handler's JSON from the response cache (see ``web.cache``)."""

    async def cached(request: web.Request) -> web.Response:
        async def compute() -> bytes:
            return schemas.body(await handler(request))

        body = await request.app[CACHE].get(request.path_qs, compute)
        return web.Response(body=body, content_type="application/json")

    return cached


async def list_websites(request: web.Request) -> schemas.WebsitePage:
    tag = request.query.get("tag")
    state = request.query.get("status")
    if state is not None and state not in STATES:
        raise ProblemError(400, f"status must be one of {', '.join(STATES)} (got {state!r})")
    active_raw = request.query.get("active")
    if active_raw is not None and active_raw not in ("true", "false"):
        raise ProblemError(400, f"active must be true or false (got {active_raw!r})")
    kind = request.query.get("type")
    if kind is not None and kind not in CHECK_TYPES:
        raise ProblemError(400, f"type must be one of {', '.join(CHECK_TYPES)} (got {kind!r})")
    limit = _int_param(request, "limit", 100, 1, 1000)
    offset = _int_param(request, "offset", 0, 0, 10_000_000)
    search = request.query.get("q", "").strip()
    if len(search) > 200:
        raise ProblemError(400, "q must be at most 200 characters")
    wanted = status_store.StatusFilter(
        state=state,
        active=None if active_raw is None else active_raw == "true",
        tag=tag,
        search=search or None,
        type=kind,
    )
    async with request.app[ENGINE].connect() as conn:
        rows = await status_store.current_status(conn, where=wanted, limit=limit, offset=offset)
        total = await status_store.count_status(conn, wanted)
    items = [schemas.WebsiteSummary(**_summary_fields(r)) for r in rows]
    return schemas.WebsitePage(items=items, total=total, limit=limit, offset=offset)


async def _website_detail(request: web.Request, ident: str) -> tuple[dict[str, Any], str | None]:
    """The fields of a ``WebsiteDetail``, and the ETag of the entry's file."""
    async with request.app[ENGINE].connect() as conn:
        row = await _website(conn, ident)
        (status,) = await status_store.current_status(conn, row.key)
    where = await request.app[EDITOR].entry("websites", row.key)
    fields = {
        **_summary_fields(status),
        "entry": mask_entry("websites", where.fields) if where else None,
        "spec": mask_entry("websites", row.spec),
        "source_file": where.file if where else None,
        "updated_at": row.updated_at,
        "ping_url": ping_url(request, row.key) if row.type == "heartbeat" else None,
    }
    return fields, where.etag if where else None


def ping_url(request: web.Request, key: str) -> str | None:
    """A heartbeat's ping URL, for token holders only (or for all without tokens)."""
    policy = request.app[POLICY]
    if policy.enabled and policy.role(bearer(request)) is None:
        return None
    return pings.ping_url(request, key)


async def website_pings(request: web.Request) -> web.Response:
    """A heartbeat's recent pings (bodies hold a job's output: token holders only)."""
    async with request.app[ENGINE].connect() as conn:
        row = await _website(conn, request.match_info["id"])
        if row.type != "heartbeat":
            raise ProblemError(404, f"{row.key} is a {row.type} check: only heartbeats get pings")
        url = ping_url(request, row.key)
        if url is None:
            raise ProblemError(401, "a heartbeat's pings need a token: Authorization: Bearer")
        limit = _int_param(request, "limit", 50, 1, 1000)
        items = await heartbeat_store.recent_pings(conn, row.id, limit)
    return answer(schemas.PingList(ping_url=url, items=[schemas.Ping(**i) for i in items]))


async def get_website(request: web.Request) -> web.Response:
    fields, etag = await _website_detail(request, request.match_info["id"])
    return answer(schemas.WebsiteDetail(**fields), etag=etag)


async def website_status(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    async with engine.connect() as conn:
        row = await _website(conn, request.match_info["id"])
        (status,) = await status_store.current_status(conn, row.key)
        windows = list(WINDOWS.values())
        uptime = (await uptime_store.uptime(conn, windows, ids=[row.id])).get(row.id, {})
        incidents = [
            i for i in await alert_store.incidents_of(conn, row.id) if i["resolved_at"] is None
        ]
    return answer(
        schemas.WebsiteStatusDetail(
            id=row.id,
            key=row.key,
            **_status_fields(status),
            open_incidents=[
                schemas.OpenIncident(
                    id=i["id"],
                    alert_id=i["alert_id"],
                    started_at=i["started_at"],
                    cause_kind=i["cause_kind"],
                    cause_message=i["cause_message"],
                )
                for i in incidents
            ],
            uptime={
                name: schemas.UptimeWindow(
                    ratio=u.ratio, checks=u.checks, failures=u.failures, mean_response_ms=u.mean_ms
                )
                if (u := uptime.get(window))
                else None
                for name, window in WINDOWS.items()
            },
        )
    )


async def website_history(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", 100, 1, 1000)
    before = request.query.get("before_id")
    if before is not None and not (before.isascii() and before.isdigit() and len(before) < 19):
        raise ProblemError(400, f"before_id must be an integer (got {before!r})")
    start, end = _time_param(request, "start"), _time_param(request, "end")
    granularity = request.query.get("granularity", "raw")
    if granularity not in ("raw", "hour", "day"):
        raise ProblemError(400, "granularity must be raw, hour or day")
    async with request.app[ENGINE].connect() as conn:
        row = await _website(conn, request.match_info["id"])
        if granularity == "raw":
            items = await status_store.history_page(
                conn,
                row.id,
                start=start,
                end=end,
                limit=limit,
                before_id=int(before) if before else None,
            )
            raw = [schemas.CheckItem(**i) for i in items]
            return answer(schemas.RawHistory(granularity="raw", items=raw))
        now = datetime.now(UTC)
        buckets = await series.rollup_buckets(
            conn,
            row.id,
            start=start or now - timedelta(days=1 if granularity == "hour" else 30),
            end=end or now + timedelta(hours=1),
            granularity=granularity,
        )
    return answer(
        schemas.BucketHistory(
            granularity="day" if granularity == "day" else "hour",
            items=[schemas.BucketItem(**asdict(b)) for b in buckets],
        )
    )


async def _applied(request: web.Request, kind: Kind, applied: Applied, status: int) -> web.Response:
    request.app[CACHE].clear()  # read your writes
    run = applied.run
    if run is not None and not run.ok:
        raise ProblemError(
            409,
            "the file was written but the reconcile did not apply it: "
            + "; ".join(run.errors or ("see GET /api/config",)),
        )
    written = {"revision": run.revision if run else None, "commit": applied.commit}
    body: schemas.Body
    if kind == "websites":
        fields, etag = await _website_detail(request, applied.key)
        body = schemas.WebsiteWritten(**fields, **written)
    else:
        fields, etag = await _alert_detail(request, applied.key)
        body = schemas.AlertWritten(**fields, **written)
    response = answer(body, status=status, etag=etag)
    if applied.commit:
        response.headers["X-Sitewatch-Commit"] = applied.commit
    if status == 201:
        response.headers["Location"] = f"/api/{kind}/{applied.key}"
    return response


async def _key_of(request: web.Request, kind: Kind) -> str:
    ident = request.match_info["id"]
    async with request.app[ENGINE].connect() as conn:
        row = await (_website(conn, ident) if kind == "websites" else _alert(conn, ident))
    return row.key


def _seed_aliases(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    """Accept the seed API's ``check_interval`` (seconds) as ``interval``."""
    if kind != "websites" or "check_interval" not in body:
        return body
    if "interval" in body:
        raise ProblemError(400, "give interval or check_interval (its older name), not both")
    value = body["check_interval"]
    if isinstance(value, bool) or not isinstance(value, int | float | str | None):
        raise ProblemError(400, f"check_interval must be a number of seconds (got {value!r})")
    renamed = {("interval" if k == "check_interval" else k): v for k, v in body.items()}
    return renamed


def _writes(kind: Kind) -> dict[str, Any]:
    """POST, PUT, PATCH and DELETE handlers for one kind of entry."""

    async def create(request: web.Request) -> web.Response:
        body = _seed_aliases(kind, await json_body(request))
        try:
            applied = await request.app[EDITOR].create(kind, body, request.query.get("fragment"))
        except EditRefusedError as exc:
            raise refused(exc) from None
        return await _applied(request, kind, applied, 201)

    async def update(request: web.Request, *, partial: bool) -> web.Response:
        key = await _key_of(request, kind)
        body = _seed_aliases(kind, await json_body(request))
        try:
            applied = await request.app[EDITOR].update(
                kind, key, body, request.headers.get("If-Match"), partial=partial
            )
        except EditRefusedError as exc:
            raise refused(exc) from None
        return await _applied(request, kind, applied, 200)

    async def put(request: web.Request) -> web.Response:
        return await update(request, partial=False)

    async def patch(request: web.Request) -> web.Response:
        return await update(request, partial=True)

    async def delete(request: web.Request) -> web.Response:
        key = await _key_of(request, kind)
        try:
            applied = await request.app[EDITOR].delete(kind, key, request.headers.get("If-Match"))
        except EditRefusedError as exc:
            raise refused(exc) from None
        request.app[CACHE].clear()
        if applied.run is not None and not applied.run.ok:
            raise ProblemError(409, "the file was written but the reconcile did not apply it")
        headers = {"ETag": applied.etag}
        if applied.commit:
            headers["X-Sitewatch-Commit"] = applied.commit
        return web.Response(status=204, headers=headers)

    return {"POST": create, "PUT": put, "PATCH": patch, "DELETE": delete}


async def check_website(request: web.Request) -> web.Response:
    """POST with a JSON body (``{}``): a cross-site form cannot send one, so an
    open API cannot be made to run checks from another website's page."""
    await json_body(request)
    async with request.app[ENGINE].connect() as conn:
        row = await _website(conn, request.match_info["id"])
    checker = request.app.get(CHECKER)
    try:
        result, stored = await check_now(
            request.app[ENGINE],
            request.app[ENVIRON],
            row.id,
            checker,
            Redactor(request.app[ENVIRON]),
        )
    except NoSuchWebsiteError:
        raise ProblemError(404, f"no website {request.match_info['id']!r}") from None
    except (EnvError, ValidationError) as exc:
        raise ProblemError(409, f"the website cannot be checked here: {exc}") from None
    return answer(schemas.CheckNow(**result_fields(result), stored=stored))


# -- alerts -------------------------------------------------------------------------------


def _alert_fields(row: catalog.AlertRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "type": row.type,
        "enabled": row.enabled,
        "spec": mask_entry("alerts", row.spec),
        "updated_at": row.updated_at,
    }


async def list_alerts(request: web.Request) -> schemas.AlertPage:
    async with request.app[ENGINE].connect() as conn:
        items = [schemas.Alert(**_alert_fields(r)) for r in await catalog.alerts_in_config(conn)]
    return schemas.AlertPage(items=items, total=len(items))


async def _alert_detail(request: web.Request, ident: str) -> tuple[dict[str, Any], str | None]:
    async with request.app[ENGINE].connect() as conn:
        row = await _alert(conn, ident)
        websites = [w.key for w in await alert_store.websites_of_alert(conn, row.id)]
    where = await request.app[EDITOR].entry("alerts", row.key)
    fields = {
        **_alert_fields(row),
        "entry": mask_entry("alerts", where.fields) if where else None,
        "websites": websites,
        "source_file": where.file if where else None,
    }
    return fields, where.etag if where else None


async def get_alert(request: web.Request) -> web.Response:
    fields, etag = await _alert_detail(request, request.match_info["id"])
    return answer(schemas.AlertDetail(**fields), etag=etag)


async def alert_deliveries(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", 100, 1, 1000)
    async with request.app[ENGINE].connect() as conn:
        row = await _alert(conn, request.match_info["id"])
        rows = await alert_store.deliveries(conn, row.id, limit)
    items = [
        schemas.Delivery(
            event_id=r["event_id"],
            kind=r["kind"],
            website_id=r["website_id"],
            status=r["status"],
            attempts=r["attempts"],
            created_at=r["created_at"],
            next_attempt_at=r["next_attempt_at"] if r["status"] == "pending" else None,
            delivered_at=r["delivered_at"],
            last_error=r["last_error"],
            attempt_log=[
                schemas.Attempt(
                    at=a["attempted_at"],
                    ok=a["ok"],
                    duration_ms=round(a["duration_ms"], 1),
                    detail=a["detail"],
                )
                for a in r["attempt_log"]
            ],
        )
        for r in rows
    ]
    return answer(schemas.DeliveryPage(items=items))


async def test_alert(request: web.Request) -> web.Response:
    key = await _key_of(request, "alerts")
    try:
        event_id = await request.app[ALERTING].send_test(key)
    except UnknownAlertError:
        raise ProblemError(404, f"no alert {key!r}") from None
    return answer(schemas.TestQueued(event_id=event_id, status="queued"), status=202)


async def preview_alert(request: web.Request) -> web.Response:
    key = await _key_of(request, "alerts")
    kind = request.query.get("event", "test")
    if kind not in EVENT_KINDS:
        raise ProblemError(400, f"event must be one of {', '.join(EVENT_KINDS)} (got {kind!r})")
    try:
        shown = await request.app[ALERTING].preview(key, kind)
    except UnknownAlertError:
        raise ProblemError(404, f"no alert {key!r}") from None
    return answer(
        schemas.MessagePreview(
            alert=key, event=kind, parts=shown.parts, problems=list(shown.problems)
        )
    )


# -- stats and config ----------------------------------------------------------------------


async def stats_summary(request: web.Request) -> schemas.Summary:
    async with request.app[ENGINE].connect() as conn:
        s = await summary_store.summary(conn)
    return schemas.Summary(
        websites=s.websites,
        active=s.active,
        paused=s.websites - s.active,
        up=s.up,
        down=s.down,
        unknown=s.unknown,
        checks_24h=s.checks_24h,
        failures_24h=s.failures_24h,
        uptime_24h=s.uptime_24h,
        mean_response_ms_24h=s.mean_response_ms_24h,
    )


async def config_status(request: web.Request) -> web.Response:
    status = request.app[RECONCILER].status
    follower = request.app.get(FOLLOWER)
    settings = request.app[SETTINGS]
    editor = request.app[EDITOR]
    last = status.last
    return answer(
        schemas.ConfigStatus(
            config_dir=str(follower.remote.root / "served")
            if follower
            else str(settings.config_dir),
            applied_revision=status.applied_revision,
            applied_git_commit=status.applied.git_commit if status.applied else None,
            attempted_revision=last.revision if last else None,
            last_reconcile=schemas.ReconcileRun(**last.to_dict()) if last else None,
            read_only=editor.refusal() is not None,
            read_only_reason=editor.refusal(),
            git=schemas.GitRemoteStatus(**follower.status.to_dict()) if follower else None,
        )
    )


async def cluster_status(request: web.Request) -> web.Response:
    """Every instance sharing the database (PostgreSQL), or this one alone (SQLite)."""
    cluster = request.app[CLUSTER]
    rows = await cluster.peers()
    instances = [schemas.Instance(**row, self_=row["id"] == cluster.id) for row in rows]
    return answer(
        schemas.Cluster(
            database=request.app[ENGINE].dialect.name,
            shared=cluster.enabled,
            lease_seconds=cluster.ttl.total_seconds(),
            instances=instances,
        )
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    sites, alerts = _writes("websites"), _writes("alerts")
    r.add_get("/api/websites", _cached(list_websites))
    r.add_post("/api/websites", sites["POST"])
    r.add_get("/api/websites/{id}", get_website)
    r.add_put("/api/websites/{id}", sites["PUT"])
    r.add_patch("/api/websites/{id}", sites["PATCH"])
    r.add_delete("/api/websites/{id}", sites["DELETE"])
    r.add_get("/api/websites/{id}/status", website_status)
    r.add_get("/api/websites/{id}/history", website_history)
    r.add_get("/api/websites/{id}/pings", website_pings)
    r.add_post("/api/websites/{id}/check", check_website)
    r.add_get("/api/alerts", _cached(list_alerts))
    r.add_post("/api/alerts", alerts["POST"])
    r.add_get("/api/alerts/{id}", get_alert)
    r.add_put("/api/alerts/{id}", alerts["PUT"])
    r.add_patch("/api/alerts/{id}", alerts["PATCH"])
    r.add_delete("/api/alerts/{id}", alerts["DELETE"])
    r.add_get("/api/alerts/{id}/deliveries", alert_deliveries)
    r.add_post("/api/alerts/{id}/test", test_alert)
    r.add_get("/api/alerts/{id}/preview", preview_alert)
    r.add_get("/api/stats/summary", _cached(stats_summary))
    r.add_get("/api/config", config_status)
    r.add_get("/api/cluster", cluster_status)
