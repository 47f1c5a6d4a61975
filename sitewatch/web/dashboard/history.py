"""The dashboard's history pages: the incident timeline across websites, and the
archived websites (deleted from the config, their history kept)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from aiohttp import web

from sitewatch.keys import DASHBOARD, ENGINE
from sitewatch.store import incidents as incident_store
from sitewatch.store import series
from sitewatch.store import status as status_store
from sitewatch.store import uptime as uptime_store
from sitewatch.web import charts
from sitewatch.web.dashboard.render import markup, render

INCIDENT_ROWS = 50
SINCE = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
ARCHIVED_ROWS = 100
ARCHIVED_BAR = 20


def _page(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 else 1


def _key(raw: str) -> str | None:
    """A website or alert key from the query string (keys are short slugs)."""
    raw = raw.strip()
    return raw if raw and len(raw) <= 64 and raw.isprintable() else None


async def incidents_page(request: web.Request) -> web.StreamResponse:
    """Every incident, newest first: open and past, how long, what was sent."""
    q = request.query
    state = q.get("state", "")
    chosen_state: incident_store.IncidentState | None = (
        state if state in get_args(incident_store.IncidentState) else None  # type: ignore[assignment]
    )
    since = q.get("since", "")
    if since not in SINCE:
        since = ""
    website, alert = _key(q.get("website", "")), _key(q.get("alert", ""))
    sort = q.get("sort", "")
    if sort not in incident_store.SORTABLE:
        sort = ""
    descending = q.get("dir", "desc" if not sort or sort == "started" else "asc") == "desc"
    number = _page(request)
    now = datetime.now(UTC)
    query = incident_store.IncidentQuery(
        state=chosen_state,
        website=website,
        alert=alert,
        since=now - SINCE[since] if since else None,
        sort=sort or "started",
        descending=descending,
        limit=INCIDENT_ROWS + 1,
        offset=(number - 1) * INCIDENT_ROWS,
    )
    async with request.app[ENGINE].connect() as conn:
        rows = await incident_store.timeline(conn, query, now=now)
        choices = await incident_store.filter_choices(conn)
    more = len(rows) > INCIDENT_ROWS
    params = {
        k: v
        for k, v in {
            "state": chosen_state or "",
            "since": since,
            "website": website or "",
            "alert": alert or "",
        }.items()
        if v
    }
    sort_params = {"sort": sort, "dir": "desc" if descending else "asc"} if sort else {}
    return render(
        request,
        request.app[DASHBOARD],
        "incidents.html",
        {
            "title": "Incidents",
            "nav": "incidents",
            "incidents": rows[:INCIDENT_ROWS],
            "now": now,
            "params": params,
            "all_params": {**params, **sort_params},
            "sort": status_store.SortOrder(sort, descending) if sort else None,
            "page": number,
            "more": more,
            "choices": choices,
            "ranges": list(SINCE),
        },
    )


async def archived_page(request: web.Request) -> web.StreamResponse:
    """Websites deleted from the config: their history, and how to bring them back."""
    now = datetime.now(UTC)
    day30 = timedelta(days=30)
    column = request.query.get("sort", "archived")
    if column not in status_store.ARCHIVED_SORTABLE:
        column = "archived"
    default_dir = "desc" if column == "archived" else "asc"
    sort = status_store.SortOrder(column, request.query.get("dir", default_dir) == "desc")
    async with request.app[ENGINE].connect() as conn:
        rows = await status_store.current_status(
            conn, where=status_store.StatusFilter(archived=True), limit=ARCHIVED_ROWS, sort=sort
        )
        total = await status_store.count_status(conn, status_store.StatusFilter(archived=True))
        ids = [r.website_id for r in rows]
        uptimes = await uptime_store.uptime(conn, [day30], now, ids=ids)
        recent = await series.recent_checks(conn, ids, ARCHIVED_BAR)
        counts = await incident_store.counts_by_website(conn, ids)
    items: list[dict[str, Any]] = [
        {
            "s": r,
            "uptime_30d": uptimes[r.website_id][day30].ratio if r.website_id in uptimes else None,
            "bar": markup(charts.status_bar(recent[r.website_id], slots=ARCHIVED_BAR)),
            "incidents": counts.get(r.website_id, 0),
        }
        for r in rows
    ]
    return render(
        request,
        request.app[DASHBOARD],
        "archived.html",
        {
            "title": "Archived websites",
            "nav": "websites",
            "items": items,
            "total": total,
            "sort": sort,
            "params": {},
        },
    )
