"""The REST API under ``/api``: JSON in and out, errors as problem+json.

Reads come from the store. Writes go to the YAML through ``ConfigEditor`` (so
git stays the source of truth) and answer with the state the reconciler applied.
``{id}`` is a website's / alert's numeric id or its key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.alerts.service import UnknownAlertError
from sitewatch.config.envsubst import EnvError
from sitewatch.config.secrets import Redactor
from sitewatch.keys import (
    ALERTING,
    CACHE,
    CHECKER,
    CLUSTER,
    EDITOR,
    ENGINE,
    ENVIRON,
    RECONCILER,
    SETTINGS,
)
from sitewatch.services.checknow import NoSuchWebsiteError, check_now, result_dict
from sitewatch.services.configedit import MASK, Applied, EditRefusedError, Kind
from sitewatch.store import alerting as alert_store
from sitewatch.store import catalog, checks
from sitewatch.web.problems import ProblemError

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
STATES = ("up", "down", "unknown")
_SECRET_NAME = re.compile(r"(pass|secret|token|key|auth|cookie|session)", re.I)


# -- helpers ------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def mask(value: Any, name: str = "") -> Any:
    """Secrets never leave: a value under a secret-looking name is masked unless it
    is only a ``${VAR}`` reference (which the YAML holds, not the secret)."""
    if isinstance(value, Mapping):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, name) for v in value]
    if isinstance(value, str) and _SECRET_NAME.search(name) and name not in ("key",):
        return value if re.fullmatch(r"\$\{[^}]+\}", value) else MASK
    return value


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


async def _json_body(request: web.Request) -> dict[str, Any]:
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


def _json(data: Any, status: int = 200, etag: str | None = None) -> web.Response:
    response = web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))
    if etag:
        response.headers["ETag"] = etag
    return response


def _refused(exc: EditRefusedError) -> ProblemError:
    errors = [
        {
            "field": ".".join(str(p) for p in problem.path[2:]) or None,
            "message": problem.message,
            "location": f"{problem.file}:{problem.line}:{problem.column}",
        }
        for problem in exc.problems
    ]
    return (
        ProblemError(exc.status, str(exc), errors=errors)
        if errors
        else ProblemError(exc.status, str(exc))
    )


# -- websites ---------------------------------------------------------------------------


def _status_dict(s: checks.WebsiteStatus) -> dict[str, Any]:
    return {
        "state": s.state,
        "state_since": _iso(s.state_since),
        "streak": s.streak,
        "last_checked_at": _iso(s.last_checked_at),
        "last_status_code": s.last_status_code,
        "last_response_ms": s.last_response_ms,
        "last_error_kind": s.last_error_kind,
        "last_error_message": s.last_error_message,
        "cert_expires_at": _iso(s.cert_expires_at),
    }


def _website_summary(s: checks.WebsiteStatus) -> dict[str, Any]:
    return {
        "id": s.website_id,
        "key": s.key,
        "name": s.name,
        "url": s.url,
        "active": s.active,
        "tags": list(s.tags),
        "interval_seconds": s.interval_seconds,
        "status": _status_dict(s),
        # The seed API's flat fields, for clients written against it (docs/api.md).
        "created_at": _iso(s.created_at),
        "last_checked": _iso(s.last_checked_at),
        "last_status": None if s.last_checked_at is None else s.state,
    }


async def _find(conn: AsyncConnection, table: Any, ident: str) -> Mapping[str, Any]:
    numeric = ident.isascii() and ident.isdigit() and len(ident) < 12
    column = table.c.id if numeric else table.c.key
    value: Any = int(ident) if numeric else ident
    row = (
        await conn.execute(select(table).where(column == value, table.c.archived_at.is_(None)))
    ).first()
    if row is None:
        what = "website" if table is catalog.websites else "alert"
        raise ProblemError(404, f"no {what} {ident!r}")
    return dict(row._mapping)


def _cached(
    handler: Callable[[web.Request], Awaitable[Any]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Serve the handler's JSON from the response cache (see ``web.cache``)."""

    async def cached(request: web.Request) -> web.Response:
        async def compute() -> bytes:
            return json.dumps(await handler(request), default=str).encode()

        body = await request.app[CACHE].get(request.path_qs, compute)
        return web.Response(body=body, content_type="application/json")

    return cached


async def list_websites(request: web.Request) -> dict[str, Any]:
    tag = request.query.get("tag")
    state = request.query.get("status")
    if state is not None and state not in STATES:
        raise ProblemError(400, f"status must be one of {', '.join(STATES)} (got {state!r})")
    active_raw = request.query.get("active")
    if active_raw is not None and active_raw not in ("true", "false"):
        raise ProblemError(400, f"active must be true or false (got {active_raw!r})")
    limit = _int_param(request, "limit", 100, 1, 1000)
    offset = _int_param(request, "offset", 0, 0, 10_000_000)
    search = request.query.get("q", "").strip()
    if len(search) > 200:
        raise ProblemError(400, "q must be at most 200 characters")
    wanted = checks.StatusFilter(
        state=state,
        active=None if active_raw is None else active_raw == "true",
        tag=tag,
        search=search or None,
    )
    async with request.app[ENGINE].connect() as conn:
        rows = await checks.current_status(conn, where=wanted, limit=limit, offset=offset)
        total = await checks.count_status(conn, wanted)
    items = [_website_summary(r) for r in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def _website_detail(request: web.Request, ident: str) -> tuple[dict[str, Any], str | None]:
    async with request.app[ENGINE].connect() as conn:
        row = await _find(conn, catalog.websites, ident)
        (status,) = await checks.current_status(conn, row["key"])
    where = await request.app[EDITOR].entry("websites", row["key"])
    body = {
        **_website_summary(status),
        "entry": mask(where.fields) if where else None,
        "spec": mask(row["spec"]),
        "source_file": where.file if where else None,
        "updated_at": _iso(row["updated_at"]),
    }
    return body, where.etag if where else None


async def get_website(request: web.Request) -> web.Response:
    body, etag = await _website_detail(request, request.match_info["id"])
    return _json(body, etag=etag)


async def website_status(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    async with engine.connect() as conn:
        row = await _find(conn, catalog.websites, request.match_info["id"])
        (status,) = await checks.current_status(conn, row["key"])
        uptime = (await checks.uptime(conn, list(WINDOWS.values()))).get(row["id"], {})
        incidents = [
            i for i in await alert_store.incidents_of(conn, row["id"]) if i["resolved_at"] is None
        ]
    return _json(
        {
            "id": row["id"],
            "key": row["key"],
            **_status_dict(status),
            "open_incidents": [
                {
                    "id": i["id"],
                    "alert_id": i["alert_id"],
                    "started_at": _iso(i["started_at"]),
                    "cause_kind": i["cause_kind"],
                    "cause_message": i["cause_message"],
                }
                for i in incidents
            ],
            "uptime": {
                name: {
                    "ratio": u.ratio,
                    "checks": u.checks,
                    "failures": u.failures,
                    "mean_response_ms": u.mean_ms,
                }
                if (u := uptime.get(window))
                else None
                for name, window in WINDOWS.items()
            },
        }
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
        row = await _find(conn, catalog.websites, request.match_info["id"])
        if granularity == "raw":
            items = await checks.history_page(
                conn,
                row["id"],
                start=start,
                end=end,
                limit=limit,
                before_id=int(before) if before else None,
            )
            return _json({"items": [_history_item(i) for i in items], "granularity": "raw"})
        now = datetime.now(UTC)
        buckets = await checks.series(
            conn,
            row["id"],
            start=start or now - timedelta(days=1 if granularity == "hour" else 30),
            end=end or now + timedelta(hours=1),
            granularity=granularity,
        )
    return _json(
        {
            "items": [{**asdict(b), "start": _iso(b.start)} for b in buckets],
            "granularity": granularity,
        }
    )


def _history_item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()}


async def _applied(request: web.Request, kind: Kind, applied: Applied, status: int) -> web.Response:
    request.app[CACHE].clear()  # read your writes
    run = applied.run
    if run is not None and not run.ok:
        raise ProblemError(
            409,
            "the file was written but the reconcile did not apply it: "
            + "; ".join(run.errors or ("see GET /api/config",)),
        )
    if kind == "websites":
        body, etag = await _website_detail(request, applied.key)
    else:
        body, etag = await _alert_detail(request, applied.key)
    body["revision"] = run.revision if run else None
    body["commit"] = applied.commit
    response = _json(body, status=status, etag=etag)
    if applied.commit:
        response.headers["X-Sitewatch-Commit"] = applied.commit
    if status == 201:
        response.headers["Location"] = f"/api/{kind}/{applied.key}"
    return response


async def _key_of(request: web.Request, kind: Kind) -> str:
    table = catalog.websites if kind == "websites" else catalog.alerts
    async with request.app[ENGINE].connect() as conn:
        row = await _find(conn, table, request.match_info["id"])
    return str(row["key"])


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
        body = _seed_aliases(kind, await _json_body(request))
        try:
            applied = await request.app[EDITOR].create(kind, body, request.query.get("fragment"))
        except EditRefusedError as exc:
            raise _refused(exc) from None
        return await _applied(request, kind, applied, 201)

    async def update(request: web.Request, *, partial: bool) -> web.Response:
        key = await _key_of(request, kind)
        body = _seed_aliases(kind, await _json_body(request))
        try:
            applied = await request.app[EDITOR].update(
                kind, key, body, request.headers.get("If-Match"), partial=partial
            )
        except EditRefusedError as exc:
            raise _refused(exc) from None
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
            raise _refused(exc) from None
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
    await _json_body(request)
    async with request.app[ENGINE].connect() as conn:
        row = await _find(conn, catalog.websites, request.match_info["id"])
    checker = request.app.get(CHECKER)
    try:
        result, stored = await check_now(
            request.app[ENGINE],
            request.app[ENVIRON],
            row["id"],
            checker,
            Redactor(request.app[ENVIRON]),
        )
    except NoSuchWebsiteError:
        raise ProblemError(404, f"no website {request.match_info['id']!r}") from None
    except (EnvError, ValidationError) as exc:
        raise ProblemError(409, f"the website cannot be checked here: {exc}") from None
    return _json({**result_dict(result), "stored": stored})


# -- alerts -------------------------------------------------------------------------------


def _alert_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key": row["key"],
        "type": row["type"],
        "enabled": row["enabled"],
        "spec": mask(row["spec"]),
        "updated_at": _iso(row["updated_at"]),
    }


async def list_alerts(request: web.Request) -> dict[str, Any]:
    alerts = catalog.alerts
    async with request.app[ENGINE].connect() as conn:
        rows = await conn.execute(
            select(alerts).where(alerts.c.archived_at.is_(None)).order_by(alerts.c.key)
        )
        items = [_alert_dict(dict(r._mapping)) for r in rows]
    return {"items": items, "total": len(items)}


async def _alert_detail(request: web.Request, ident: str) -> tuple[dict[str, Any], str | None]:
    async with request.app[ENGINE].connect() as conn:
        row = await _find(conn, catalog.alerts, ident)
        websites = [key for _id, key, _name in await alert_store.websites_of_alert(conn, row["id"])]
    where = await request.app[EDITOR].entry("alerts", row["key"])
    body = {
        **_alert_dict(row),
        "entry": mask(where.fields) if where else None,
        "websites": websites,
        "source_file": where.file if where else None,
    }
    return body, where.etag if where else None


async def get_alert(request: web.Request) -> web.Response:
    body, etag = await _alert_detail(request, request.match_info["id"])
    return _json(body, etag=etag)


async def alert_deliveries(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", 100, 1, 1000)
    async with request.app[ENGINE].connect() as conn:
        row = await _find(conn, catalog.alerts, request.match_info["id"])
        rows = await alert_store.deliveries(conn, row["id"], limit)
    items = [
        {
            "event_id": r["event_id"],
            "kind": r["kind"],
            "website_id": r["website_id"],
            "status": r["status"],
            "attempts": r["attempts"],
            "created_at": _iso(r["created_at"]),
            "next_attempt_at": _iso(r["next_attempt_at"]) if r["status"] == "pending" else None,
            "delivered_at": _iso(r["delivered_at"]),
            "last_error": r["last_error"],
            "attempt_log": [
                {
                    "at": _iso(a["attempted_at"]),
                    "ok": a["ok"],
                    "duration_ms": round(a["duration_ms"], 1),
                    "detail": a["detail"],
                }
                for a in r["attempt_log"]
            ],
        }
        for r in rows
    ]
    return _json({"items": items})


async def test_alert(request: web.Request) -> web.Response:
    key = await _key_of(request, "alerts")
    try:
        event_id = await request.app[ALERTING].send_test(key)
    except UnknownAlertError:
        raise ProblemError(404, f"no alert {key!r}") from None
    return _json({"event_id": event_id, "status": "queued"}, status=202)


# -- stats and config ----------------------------------------------------------------------


async def stats_summary(request: web.Request) -> dict[str, Any]:
    async with request.app[ENGINE].connect() as conn:
        s = await checks.summary(conn)
    return {
        "websites": s.websites,
        "active": s.active,
        "paused": s.websites - s.active,
        "up": s.up,
        "down": s.down,
        "unknown": s.unknown,
        "checks_24h": s.checks_24h,
        "failures_24h": s.failures_24h,
        "uptime_24h": s.uptime_24h,
        "mean_response_ms_24h": s.mean_response_ms_24h,
    }


async def config_status(request: web.Request) -> web.Response:
    status = request.app[RECONCILER].status
    settings = request.app[SETTINGS]
    editor = request.app[EDITOR]
    return _json(
        {
            "config_dir": str(settings.config_dir),
            "applied_revision": status.applied_revision,
            "applied_git_commit": status.applied.git_commit if status.applied else None,
            "attempted_revision": status.last.revision if status.last else None,
            "last_reconcile": status.last.to_dict() if status.last else None,
            "read_only": editor.refusal() is not None,
            "read_only_reason": editor.refusal(),
        }
    )


async def cluster_status(request: web.Request) -> web.Response:
    """Every instance sharing the database (PostgreSQL), or this one alone (SQLite)."""
    cluster = request.app[CLUSTER]
    rows = await cluster.peers()
    instances = [
        {
            **{k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()},
            "self": row["id"] == cluster.id,
        }
        for row in rows
    ]
    return _json(
        {
            "database": request.app[ENGINE].dialect.name,
            "shared": cluster.enabled,
            "lease_seconds": cluster.ttl.total_seconds(),
            "instances": instances,
        }
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
    r.add_post("/api/websites/{id}/check", check_website)
    r.add_get("/api/alerts", _cached(list_alerts))
    r.add_post("/api/alerts", alerts["POST"])
    r.add_get("/api/alerts/{id}", get_alert)
    r.add_put("/api/alerts/{id}", alerts["PUT"])
    r.add_patch("/api/alerts/{id}", alerts["PATCH"])
    r.add_delete("/api/alerts/{id}", alerts["DELETE"])
    r.add_get("/api/alerts/{id}/deliveries", alert_deliveries)
    r.add_post("/api/alerts/{id}/test", test_alert)
    r.add_get("/api/stats/summary", _cached(stats_summary))
    r.add_get("/api/config", config_status)
    r.add_get("/api/cluster", cluster_status)
