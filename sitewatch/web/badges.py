"""SVG badges of a website (state, uptime, response time), and shields.io's endpoint JSON.

Public, without a token: only websites on a status page, or whose YAML says
``badge: true``, have badges; any other key answers the same 404, so a badge
URL says nothing about websites that are not published. A badge shows a
state, a percentage or milliseconds: never a name, URL or error text.
Answers are cacheable (``Cache-Control``, ``ETag``, ``304``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from xml.sax.saxutils import escape

from aiohttp import web

from sitewatch.keys import ENGINE, STATUS_PAGES
from sitewatch.store import catalog
from sitewatch.store import status as status_store
from sitewatch.store import uptime as uptime_store

UPTIME_WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "1y": timedelta(days=365),
}
KINDS = ("status", "response-time", *(f"uptime-{w}" for w in UPTIME_WINDOWS))
MAX_AGE = 60  # seconds: a badge on a README is re-read at most once a minute per cache

# shields.io's named colours, so the JSON endpoint and the SVG agree.
COLORS = {
    "brightgreen": "#4c1",
    "green": "#97ca00",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
    "red": "#e05d44",
    "lightgrey": "#9f9f9f",
    "blue": "#007ec6",
}


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    message: str
    color: str  # a key of COLORS


# -- what a badge says (pure) ---------------------------------------------------------


def state_badge(state: str, active: bool) -> Badge:
    if not active:
        return Badge("status", "paused", "lightgrey")
    return {
        "up": Badge("status", "up", "brightgreen"),
        "down": Badge("status", "down", "red"),
    }.get(state, Badge("status", "unknown", "lightgrey"))


def uptime_badge(window: str, ratio: float | None) -> Badge:
    label = f"uptime {window}"
    if ratio is None:
        return Badge(label, "no data", "lightgrey")
    percent = ratio * 100
    # Never round 99.996 up to 100: "100%" means no failed check at all.
    shown = "100%" if ratio >= 1 else f"{int(percent * 100) / 100:.2f}%"
    if percent >= 99.9:
        color = "brightgreen"
    elif percent >= 99:
        color = "green"
    elif percent >= 95:
        color = "yellow"
    elif percent >= 90:
        color = "orange"
    else:
        color = "red"
    return Badge(label, shown, color)


def response_badge(ms: float | None) -> Badge:
    if ms is None:
        return Badge("response time", "no data", "lightgrey")
    if ms < 300:
        color = "brightgreen"
    elif ms < 1000:
        color = "yellow"
    else:
        color = "red"
    return Badge("response time", f"{round(ms)} ms", color)


# Advance widths of Verdana 11 px (what the flat style is drawn with), roughly:
# enough for the box to fit its text on every renderer.
_NARROW = set("fijlrt.,:;|!'()[] ")
_WIDE = set("mwMW%@")


def text_width(text: str) -> float:
    return sum(4.0 if c in _NARROW else 10.5 if c in _WIDE else 7.0 for c in text)


def svg(badge: Badge) -> str:
    """The flat style: a grey label box, a coloured message box, a text shadow."""
    left = round(text_width(badge.label) + 10)
    right = round(text_width(badge.message) + 10)
    total = left + right
    color = COLORS[badge.color]
    label, message = escape(badge.label), escape(badge.message)
    title = f"{label}: {message}"
    lx, mx = left * 5, (left + right / 2) * 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{color}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'font-size="110" transform="scale(.1)">'
        f'<text x="{lx}" y="150" fill="#010101" fill-opacity=".3">{label}</text>'
        f'<text x="{lx}" y="140">{label}</text>'
        f'<text x="{mx}" y="150" fill="#010101" fill-opacity=".3">{message}</text>'
        f'<text x="{mx}" y="140">{message}</text></g></svg>'
    )


def endpoint_json(badge: Badge) -> str:
    """shields.io's endpoint badge format (https://shields.io/badges/endpoint-badge)."""
    return json.dumps(
        {"schemaVersion": 1, "label": badge.label, "message": badge.message, "color": badge.color}
    )


# -- serving ------------------------------------------------------------------------------


async def _badge(request: web.Request, key: str, kind: str) -> Badge:
    async with request.app[ENGINE].connect() as conn:
        row = await catalog.find_website(conn, key, by_key=True)
        pages = request.app.get(STATUS_PAGES)
        if row is None or not (
            row.spec.get("badge") is True
            or (pages is not None and await pages.publishes(row.key, row.spec.get("tags") or ()))
        ):
            raise web.HTTPNotFound(text="no such badge")
        if kind.startswith("uptime-"):
            window = kind.removeprefix("uptime-")
            span = UPTIME_WINDOWS[window]
            per = (await uptime_store.uptime(conn, [span], ids=[row.id])).get(row.id, {})
            counts = per.get(span)
            return uptime_badge(window, counts.ratio if counts else None)
        (status,) = await status_store.current_status(conn, row.key)
    if kind == "status":
        return state_badge(status.state, status.active)
    return response_badge(status.last_response_ms if status.state == "up" else None)


async def badge(request: web.Request) -> web.StreamResponse:
    key, name = request.match_info["key"], request.match_info["name"]
    kind, dot, ext = name.rpartition(".")
    if not dot or ext not in ("svg", "json") or kind not in KINDS:
        raise web.HTTPNotFound(text="no such badge")
    found = await _badge(request, key, kind)
    body = (svg(found) if ext == "svg" else endpoint_json(found)).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {
        "Cache-Control": f"public, max-age={MAX_AGE}",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    content_type = "image/svg+xml" if ext == "svg" else "application/json"
    return web.Response(body=body, content_type=content_type, headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/badge/{key}/{name}", badge)
