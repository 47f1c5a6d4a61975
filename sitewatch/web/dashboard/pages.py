"""The dashboard's pages: overview, websites, alerts, settings (all reading)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from sitewatch.config.masking import mask_entry
from sitewatch.config.types import parse_duration
from sitewatch.keys import (
    ALERTING,
    CLUSTER,
    DASHBOARD,
    EDITOR,
    ENGINE,
    FOLLOWER,
    LIVE,
    RECONCILER,
    SETTINGS,
)
from sitewatch.store import alerting as alert_store
from sitewatch.store import catalog, series
from sitewatch.store import heartbeats as heartbeat_store
from sitewatch.store import incidents as incident_store
from sitewatch.store import status as status_store
from sitewatch.store import summary as summary_store
from sitewatch.store import uptime as uptime_store
from sitewatch.store.engine import Connection
from sitewatch.store.natural import natural_key
from sitewatch.web import charts, openapi
from sitewatch.web import pings as pings_web
from sitewatch.web.dashboard import history
from sitewatch.web.dashboard.live import stream
from sitewatch.web.dashboard.render import SESSION, markup, page, render

PAGE_SIZE = 60  # cards on the overview
ROWS = 100  # rows in the website table
ROW_BAR = 20  # checks in each row's recent-checks bar
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
STATE_FILTERS = ("down", "up", "unknown", "paused")
BUCKETS = 120
COVERED_SHOWN = 200  # websites listed on an alert's page ("*" may cover thousands)


def _sort(request: web.Request, allowed: tuple[str, ...]) -> status_store.SortOrder | None:
    """``?sort=column&dir=asc|desc`` when the column is one of ``allowed``."""
    column = request.query.get("sort", "")
    if column not in allowed:
        return None
    return status_store.SortOrder(column, request.query.get("dir") == "desc")


def _sort_params(sort: status_store.SortOrder | None) -> dict[str, str]:
    return {"sort": sort.column, "dir": "desc" if sort.descending else "asc"} if sort else {}


def _filters(request: web.Request) -> tuple[status_store.StatusFilter, dict[str, str]]:
    """The overview's and the table's filters, from the query string."""
    q = request.query.get("q", "").strip()[:200]
    tag = request.query.get("tag", "").strip()[:64]
    state = request.query.get("state", "")
    if state not in STATE_FILTERS:
        state = ""
    wanted = status_store.StatusFilter(
        state=state if state in ("up", "down", "unknown") else None,
        active=False if state == "paused" else (True if state else None),
        tag=tag or None,
        search=q or None,
    )
    return wanted, {"q": q, "tag": tag, "state": state}


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 else 1


async def _tags(request: web.Request, conn: Connection) -> list[str]:
    """The tags the filter offers: the config's, or the database's before this
    instance has read the config (a restart reads it through later, see
    ``Reconciler.resume``; a config that does not validate keeps the last good)."""
    snapshot = request.app[RECONCILER].status.snapshot
    if snapshot is not None:
        return list(snapshot.tags)
    return await catalog.website_tags(conn)


async def _cards(
    conn: Connection, rows: list[status_store.WebsiteStatus], now: datetime
) -> list[dict[str, Any]]:
    ids = [r.website_id for r in rows]
    uptimes = await uptime_store.uptime(conn, list(WINDOWS.values()), now, ids=ids)
    lines = await series.sparklines(conn, ids, now - timedelta(hours=24))
    cards = []
    for r in rows:
        per = uptimes.get(r.website_id, {})
        cards.append(
            {
                "s": r,
                "state": r.state if r.active else "paused",
                "uptime": {name: per[w].ratio if w in per else None for name, w in WINDOWS.items()},
                "mean_24h": per[WINDOWS["24h"]].mean_ms if WINDOWS["24h"] in per else None,
                "sparkline": markup(
                    charts.sparkline(
                        lines.get(r.website_id, []),
                        label=f"Response time of {r.name}, last 24 hours",
                    )
                ),
            }
        )
    return cards


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of filtered websites, as the overview and the table show them."""

    rows: list[status_store.WebsiteStatus]
    total: int
    page: int
    pages: int
    params: dict[str, str]
    tags: list[str]

    def context(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "page": self.page,
            "pages": self.pages,
            "params": self.params,
            "tags": self.tags,
            "states": STATE_FILTERS,
            "live_ids": ",".join(str(r.website_id) for r in self.rows),
        }


async def _listing(
    request: web.Request,
    conn: Connection,
    size: int,
    sort: status_store.SortOrder | None = None,
) -> Listing:
    """Filtered, ordered (down first, or by ``sort``) and paged in SQL; a page
    past the end shows the last."""
    wanted, params = _filters(request)
    total = await status_store.count_status(conn, wanted)
    pages = max(1, math.ceil(total / size))
    number = min(_page_number(request), pages)
    rows = await status_store.current_status(
        conn,
        where=wanted,
        limit=size,
        offset=(number - 1) * size,
        attention_first=True,
        sort=sort,
    )
    params = {**params, **_sort_params(sort)}
    return Listing(rows, total, number, pages, params, await _tags(request, conn))


async def overview(request: web.Request) -> web.StreamResponse:
    now = datetime.now(UTC)
    async with request.app[ENGINE].connect() as conn:
        summary = await summary_store.summary(conn, now)
        listing = await _listing(request, conn, PAGE_SIZE)
        cards = await _cards(conn, listing.rows, now)
        incidents = await _open_incidents(conn)
    return render(
        request,
        request.app[DASHBOARD],
        "overview.html",
        {
            "title": "Overview",
            "nav": "overview",
            "summary": summary,
            "cards": cards,
            "incidents": incidents,
            **listing.context(),
        },
    )


async def _open_incidents(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    rows = (await alert_store.open_incidents(conn))[-limit:]
    if not rows:
        return []
    names = await catalog.website_names(conn, (r["website_id"] for r in rows))
    alerts = await catalog.alert_key_by_id(conn)
    removed = catalog.WebsiteRef(0, "", "(removed)")
    out = []
    for r in sorted(rows, key=lambda r: r["started_at"], reverse=True):
        ref = names.get(r["website_id"], removed)
        out.append(
            {
                **r,
                "website_key": ref.key,
                "website_name": ref.name,
                "alert": alerts.get(r["alert_id"]),
            }
        )
    return out


async def websites_table(request: web.Request) -> web.StreamResponse:
    now = datetime.now(UTC)
    day = WINDOWS["24h"]
    sort = _sort(request, status_store.SORTABLE)
    async with request.app[ENGINE].connect() as conn:
        listing = await _listing(request, conn, ROWS, sort)
        ids = [r.website_id for r in listing.rows]
        uptimes = await uptime_store.uptime(conn, [day], now, ids=ids)
        recent = await series.recent_checks(conn, ids, ROW_BAR)
    items = [
        {
            "s": r,
            "state": r.state if r.active else "paused",
            "uptime_24h": uptimes[r.website_id][day].ratio if r.website_id in uptimes else None,
            "bar": markup(charts.status_bar(recent[r.website_id], slots=ROW_BAR)),
        }
        for r in listing.rows
    ]
    return render(
        request,
        request.app[DASHBOARD],
        "websites.html",
        {
            "title": "Websites",
            "nav": "websites",
            "items": items,
            "sort": sort,
            **listing.context(),
        },
    )


async def _website_row(
    conn: Connection, key: str, *, archived: bool = False
) -> catalog.WebsiteRecord:
    """The website ``key`` in the config (or, with ``archived``, deleted from it too)."""
    row = await catalog.find_website(conn, key, archived=archived, by_key=True)
    if row is None:
        raise web.HTTPNotFound(text=f"no website {key!r}")
    return row


def _seconds(value: Any) -> float | None:
    """A stored duration ("30s", 30) in seconds; None when unset or unreadable."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _range(request: web.Request) -> str:
    chosen = request.query.get("range", "24h")
    return chosen if chosen in RANGES else "24h"


async def _chart(
    request: web.Request, conn: Connection, website_id: int, name: str, chosen: str
) -> tuple[str, bool]:
    """The chart's SVG, and whether it has the timing phases (raw checks) or only
    the hourly rollup (ranges longer than the raw checks are kept or than 7 days)."""
    now = datetime.now(UTC)
    span = RANGES[chosen]
    start, end = now - span, now
    retention = timedelta(days=request.app[SETTINGS].history_retention_days)
    raw = span <= timedelta(days=7) and span <= retention
    if raw:
        points = await series.checks_series(conn, website_id, start, end, BUCKETS)
        bucket = series.bucket_width(start, end, BUCKETS)
    else:
        points = await series.rollup_series(conn, website_id, start, end)
        bucket = 3600.0
    svg = charts.response_chart(
        points,
        start=start.timestamp(),
        end=end.timestamp(),
        bucket=bucket,
        label=f"Response time of {name} over {chosen}",
    )
    return svg, raw


async def website(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    chosen = _range(request)
    now = datetime.now(UTC)
    async with request.app[ENGINE].connect() as conn:
        row = await _website_row(conn, key, archived=True)
        archived = row.archived
        (status,) = await status_store.current_status(
            conn, where=status_store.StatusFilter(key=key, archived=archived)
        )
        per = (await uptime_store.uptime(conn, list(WINDOWS.values()), now, ids=[row.id])).get(
            row.id, {}
        )
        svg, phases = await _chart(request, conn, row.id, row.name, chosen)
        # One read serves both: the status bar (oldest left) and the table (25 newest).
        recent = await status_store.history_page(conn, row.id, limit=60)
        incidents = await incident_store.timeline(
            conn, incident_store.IncidentQuery(website=key, limit=20)
        )
        alert_keys = await alert_store.alerts_of_website(conn, row.id)
        heartbeat = row.type == "heartbeat"
        pings = await heartbeat_store.recent_pings(conn, row.id, 20) if heartbeat else []
    where = None if archived else await request.app[EDITOR].entry("websites", key)
    # Every dashboard viewer holds a token (or none are set): the URL may be shown.
    url = pings_web.ping_url(request, row.key) if heartbeat and not archived else None
    return render(
        request,
        request.app[DASHBOARD],
        "website.html",
        {
            "title": row.name,
            "archived": archived,
            "now": now,
            "retry_interval": _seconds(row.spec.get("retry_interval")),
            "nav": "websites",
            "w": row,
            "s": status,
            "state": "archived" if archived else (status.state if status.active else "paused"),
            "uptime": {name: per.get(w) for name, w in WINDOWS.items()},
            "chart": markup(svg),
            "phases": phases,
            "ranges": list(RANGES),
            "range": chosen,
            "status_bar": markup(charts.status_bar(recent[::-1])),
            "history": recent[:25],
            "incidents": incidents,
            "alerts": alert_keys,
            "source_file": where.file if where else row.source_file,
            "spec": mask_entry("websites", row.spec),
            "live_ids": str(row.id),
            "facts": status.last_details or {},
            "ping_url": url,
            "pings": pings,
        },
    )


async def website_chart(request: web.Request) -> web.StreamResponse:
    """The chart alone: what the page's script swaps in after new checks."""
    async with request.app[ENGINE].connect() as conn:
        row = await _website_row(conn, request.match_info["key"], archived=True)
        svg, _ = await _chart(request, conn, row.id, row.name, _range(request))
    return web.Response(
        text=svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


async def alerts_page(request: web.Request) -> web.StreamResponse:
    async with request.app[ENGINE].connect() as conn:
        rows = [asdict(r) for r in await catalog.alerts_in_config(conn)]
        covered = await alert_store.coverage(conn)
        # As stored (${VAR} references, never their values), as the alert engine holds them.
        windows = await catalog.maintenance_specs(conn)
    windows.sort(key=lambda w: natural_key(str(w.get("name", ""))))
    items = [
        {**r, "spec": mask_entry("alerts", r["spec"]), "covers": covered.get(r["id"], 0)}
        for r in rows
    ]
    sort = _sort(request, tuple(ALERT_SORT))
    if sort is not None:  # every alert is on one page: sorted here, ties by name
        items.sort(key=lambda a: natural_key(a["key"]))
        items.sort(key=ALERT_SORT[sort.column], reverse=sort.descending)
    return render(
        request,
        request.app[DASHBOARD],
        "alerts.html",
        {
            "title": "Alerts",
            "nav": "alerts",
            "alerts": items,
            "maintenance": windows,
            "sort": sort,
            "params": {},
        },
    )


ALERT_SORT: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda a: natural_key(a["key"]),
    "channel": lambda a: a["type"],
    "state": lambda a: not a["enabled"],
    "rule": lambda a: (
        a["spec"].get("failure_threshold", 3),
        a["spec"].get("success_threshold", 2),
    ),
    "websites": lambda a: a["covers"],
}


async def alert(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    async with request.app[ENGINE].connect() as conn:
        row = await catalog.find_alert(conn, key, by_key=True)
        if row is None:
            raise web.HTTPNotFound(text=f"no alert {key!r}")
        covered = (await alert_store.coverage(conn)).get(row.id, 0)
        shown = await alert_store.websites_of_alert(conn, row.id, COVERED_SHOWN)
        deliveries = await alert_store.deliveries(conn, row.id, 50)
        held = await incident_store.timeline(
            conn, incident_store.IncidentQuery(alert=key, held_only=True, limit=50)
        )
        names = await catalog.website_names(
            conn, (d["website_id"] for d in deliveries if d["website_id"])
        )
    shown_deliveries = [
        {**d, "website": names.get(d["website_id"]) if d["website_id"] else None}
        for d in deliveries
    ]
    where = await request.app[EDITOR].entry("alerts", key)
    alerting = request.app[ALERTING]
    previews = {kind: await alerting.preview(key, kind) for kind in ("down", "reminder", "up")}
    return render(
        request,
        request.app[DASHBOARD],
        "alert.html",
        {
            "title": f"Alert {key}",
            "nav": "alerts",
            "a": row,
            "spec": mask_entry("alerts", row.spec),
            "websites": shown,
            "covered": covered,
            "deliveries": shown_deliveries,
            "held": held,
            "previews": previews,
            "source_file": where.file if where else row.source_file,
        },
    )


async def settings_page(request: web.Request) -> web.StreamResponse:
    status = request.app[RECONCILER].status
    follower = request.app.get(FOLLOWER)
    settings = request.app[SETTINGS]
    editor = request.app[EDITOR]
    routes = {r.resource.canonical for r in request.app.router.routes() if r.resource}
    cluster = request.app[CLUSTER]
    peers = await cluster.peers() if cluster.enabled else []
    return render(
        request,
        request.app[DASHBOARD],
        "settings.html",
        {
            "title": "Settings",
            "nav": "settings",
            "status": status,
            "problems": [p.format() for p in status.problems],
            "config_dir": request.app[RECONCILER].config_dir,
            "read_only": editor.refusal(),
            "git_mode": settings.git_mode,
            "git": follower.status if follower is not None else None,
            "database": settings.database_url.split("://", 1)[0],
            "checking": settings.check,
            "has_metrics": "/metrics" in routes,
            "cluster": cluster,
            "peers": peers,
        },
    )


async def api_docs(request: web.Request) -> web.StreamResponse:
    """The OpenAPI document as a page (public, like the document itself)."""
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "description": op.get("description", ""),
            "parameters": op.get("parameters", []),
            "body": "requestBody" in op,
            "responses": sorted(op.get("responses", {})),
        }
        for path, methods in openapi.document()["paths"].items()
        for method, op in methods.items()
    ]
    session = request.app[DASHBOARD].sessions.of(request)
    if session is not None:  # the navigation shows for people logged in
        request[SESSION] = session
    return render(
        request,
        request.app[DASHBOARD],
        "api_docs.html",
        {"title": "REST API", "nav": "api", "operations": operations},
    )


async def events(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("ids", "")
    ids = frozenset(
        int(p) for p in raw.split(",")[:500] if p.isascii() and p.isdigit() and len(p) < 12
    )
    return await stream(request, request.app[LIVE], ids if raw else None)


def add_routes(app: web.Application) -> None:
    d = app[DASHBOARD]
    r = app.router
    r.add_get("/", page(d, overview))
    r.add_get("/websites", page(d, websites_table))
    r.add_get("/websites/archived", page(d, history.archived_page))  # before {key}
    r.add_get("/incidents", page(d, history.incidents_page))
    r.add_get("/websites/{key}", page(d, website))
    r.add_get("/websites/{key}/chart", page(d, website_chart))
    r.add_get("/alerts", page(d, alerts_page))
    r.add_get("/alerts/{key}", page(d, alert))
    r.add_get("/settings", page(d, settings_page))
    r.add_get("/events", page(d, events))
    r.add_get("/api/docs", api_docs)
