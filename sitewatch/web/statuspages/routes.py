"""HTTP for status pages: ``/status`` (the index of listed pages),
``/status/{slug}`` and its ``feed.atom``, ``status.json``, ``events`` (SSE),
``logo`` and ``badge.svg``/``badge.json``; and a page's own ``domain``, where
the same paths hang off ``/`` and *nothing else* of sitewatch is served.

Public, without a login; every answer is cacheable (``Cache-Control``, a strong
``ETag``, ``304``) and is computed at most once per two seconds per page, so a
page linked from a busy incident costs the database nothing more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web

from sitewatch.keys import DASHBOARD, ENGINE, LIVE, STATUS_PAGES
from sitewatch.store import publishing
from sitewatch.store.engine import DatabaseError
from sitewatch.web.badges import Badge, endpoint_json, svg
from sitewatch.web.dashboard.live import stream
from sitewatch.web.statuspages import feeds
from sitewatch.web.statuspages.markdown import render as markdown
from sitewatch.web.statuspages.view import STATUS_LABELS, PageView, patterns

MAX_AGE = 10  # seconds a browser or proxy may keep a page (live data)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Kind = Literal["html", "json", "atom", "badge.svg", "badge.json"]

CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_BADGE: dict[str, Badge] = {
    "operational": Badge("status", "operational", "brightgreen"),
    "maintenance": Badge("status", "maintenance", "blue"),
    "degraded": Badge("status", "degraded", "yellow"),
    "partial_outage": Badge("status", "partial outage", "orange"),
    "major_outage": Badge("status", "major outage", "red"),
}
TYPES: dict[Kind, str] = {
    "html": "text/html",
    "json": "application/json",
    "atom": "application/atom+xml",
    "badge.svg": "image/svg+xml",
    "badge.json": "application/json",
}


def _not_found() -> web.Response:
    return web.Response(
        status=404, text="no such status page", headers={"Cache-Control": "no-store"}
    )


def _unavailable() -> web.Response:
    return web.Response(
        status=503,
        text="the status page cannot be read right now: try again in a minute",
        headers={"Cache-Control": "no-store", "Retry-After": "30"},
    )


def _cached(request: web.Request, body: bytes, content_type: str) -> web.Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
    headers = {
        "Cache-Control": f"public, max-age={MAX_AGE}",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Vary": "Accept-Encoding",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if content_type != "image/svg+xml" else None
    response = web.Response(body=body, content_type=content_type, charset=charset, headers=headers)
    response.enable_compression()
    return response


def _html(request: web.Request, view: PageView, base: str, has_logo: bool) -> bytes:
    env = request.app[DASHBOARD].env
    template = env.get_template("status/page.html")
    return template.render(
        view=view,
        base=base.rstrip("/"),
        patterns=patterns(),
        markdown=markdown,
        status_labels=STATUS_LABELS,
        has_logo=has_logo,
    ).encode()


async def _body(request: web.Request, key: str, kind: Kind, base: str) -> bytes | None:
    publisher = request.app[STATUS_PAGES]

    async def compute() -> bytes:
        view = await publisher.view(key)
        if view is None:
            return b""
        if kind == "html":
            return _html(request, view, base, await publisher.has_logo(key))
        if kind == "json":
            return feeds.document_json(view, base).encode()
        if kind == "atom":
            origin = f"{request.scheme}://{request.host}"
            return feeds.atom(view, origin, base).encode()
        badge = PAGE_BADGE[view.state]
        return (svg(badge) if kind == "badge.svg" else endpoint_json(badge)).encode()

    origin = request.host if kind == "atom" else ""
    body = await request.app[STATUS_PAGES].responses.get(
        f"{key}\0{kind}\0{base}\0{origin}", compute
    )
    return body or None


async def _serve(request: web.Request, key: str | None, kind: Kind, base: str) -> web.Response:
    if key is None:
        return _not_found()
    try:
        body = await _body(request, key, kind, base)
    except DatabaseError:
        return _unavailable()
    if body is None:
        return _not_found()
    return _cached(request, body, TYPES[kind])


async def _key_of(request: web.Request) -> str | None:
    try:
        published = await request.app[STATUS_PAGES].published()
    except DatabaseError:
        raise web.HTTPServiceUnavailable(
            text="the status page cannot be read right now: try again in a minute",
            headers={"Retry-After": "30"},
        ) from None
    return published.by_slug.get(request.match_info["slug"])


def _page_route(kind: Kind) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        return await _serve(request, await _key_of(request), kind, f"/status/{slug}")

    return handler


async def index(request: web.Request) -> web.StreamResponse:
    try:
        published = await request.app[STATUS_PAGES].published()
    except DatabaseError:
        return _unavailable()

    async def compute() -> bytes:
        env = request.app[DASHBOARD].env
        return env.get_template("status/index.html").render(pages=published.listed()).encode()

    body = await request.app[STATUS_PAGES].responses.get("\0index", compute)
    return _cached(request, body, "text/html")


async def _logo(request: web.Request, key: str | None) -> web.StreamResponse:
    if key is None:
        return _not_found()
    async with request.app[ENGINE].connect() as conn:
        found = await publishing.logo(conn, key)
    if found is None:
        return _not_found()
    content_type, content = found
    response = _cached(request, content, content_type)
    # An SVG opened on its own must not run a script or load anything.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


async def logo(request: web.Request) -> web.StreamResponse:
    return await _logo(request, await _key_of(request))


async def _events(request: web.Request, key: str | None) -> web.StreamResponse:
    hub = request.app.get(LIVE)
    ids = await request.app[STATUS_PAGES].member_ids(key) if key is not None else None
    if hub is None or ids is None:
        return _not_found()
    return await stream(request, hub, ids, public=True)


async def events(request: web.Request) -> web.StreamResponse:
    return await _events(request, await _key_of(request))


# -- a page on its own domain -----------------------------------------------------------------

_DOMAIN_PATHS: dict[str, Kind] = {
    "/": "html",
    "/status.json": "json",
    "/feed.atom": "atom",
    "/badge.svg": "badge.svg",
    "/badge.json": "badge.json",
}


def host_name(host: str) -> str:
    name = host.strip().lower()
    if name.startswith("["):
        return name[1:].split("]", 1)[0]
    return name.rsplit(":", 1)[0].rstrip(".") if name.count(":") == 1 else name.rstrip(".")


def domain_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    """A request whose Host is a page's ``domain`` gets that page and its parts,
    and a 404 for everything else: the API, the dashboard and the metrics are
    never reachable on a public page's domain."""

    @web.middleware
    async def route(request: web.Request, handler: Handler) -> web.StreamResponse:
        publisher = request.app.get(STATUS_PAGES)
        if publisher is None:
            return await handler(request)
        try:
            published = await publisher.published()
        except DatabaseError:  # /health and /ready must still answer
            return await handler(request)
        key = published.by_domain.get(host_name(request.host))
        if key is None:
            return await handler(request)
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, headers={"Allow": "GET, HEAD"}, text="read only")
        path = request.path
        kind = _DOMAIN_PATHS.get(path)
        if kind is not None:
            return await _serve(request, key, kind, "/")
        if path == "/logo":
            return await _logo(request, key)
        if path == "/events":
            return await _events(request, key)
        if path.startswith("/static/") and "name" in request.match_info:
            return await request.app[DASHBOARD].assets.handle(request)  # stylesheet, script
        return _not_found()

    return route


def setup(app: web.Application) -> None:
    """Routes under /status; ``domain_middleware()`` goes first in the app's list,
    and the composition root sets ``STATUS_PAGES`` once the database is open."""
    app.router.add_get("/status", index)
    app.router.add_get("/status/{slug}", _page_route("html"))
    app.router.add_get("/status/{slug}/status.json", _page_route("json"))
    app.router.add_get("/status/{slug}/feed.atom", _page_route("atom"))
    app.router.add_get("/status/{slug}/badge.svg", _page_route("badge.svg"))
    app.router.add_get("/status/{slug}/badge.json", _page_route("badge.json"))
    app.router.add_get("/status/{slug}/logo", logo)
    app.router.add_get("/status/{slug}/events", events)
