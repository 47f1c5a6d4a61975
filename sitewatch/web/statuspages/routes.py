"""HTTP for status pages: ``/status`` (the index of listed pages),
``/status/{slug}`` and its ``feed.atom``, ``status.json``, ``events`` (SSE),
``logo`` and ``badge.svg``/``badge.json``; and a page's own ``domain``, where
the same paths hang off ``/`` and *nothing else* of sitewatch is served.

Public, without a login; every answer is cacheable (``Cache-Control``, a strong
``ETag``, ``304``) and is computed at most once per two seconds per page, so a
page linked from a busy incident costs the database nothing more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web

from sitewatch.keys import DASHBOARD, ENGINE, LIVE, SETTINGS, STATUS_PAGES
from sitewatch.store import publishing
from sitewatch.store.engine import DatabaseError
from sitewatch.web.badges import Badge, endpoint_json, svg
from sitewatch.web.cache import Encoded
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


def _cached(request: web.Request, answer: Encoded) -> web.Response:
    headers = {
        "Cache-Control": f"public, max-age={MAX_AGE}",
        "ETag": answer.etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": CSP,
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Vary": "Accept-Encoding",
    }
    if answer.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if answer.content_type != "image/svg+xml" else None
    body = answer.body
    if answer.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body, headers["Content-Encoding"] = answer.gzipped, "gzip"
    return web.Response(
        body=body, content_type=answer.content_type, charset=charset, headers=headers
    )


async def encode(body: bytes, content_type: str) -> Encoded:
    """Hash and compress a large body off the event loop."""
    if len(body) > 64 << 10:
        return await asyncio.to_thread(Encoded.of, body, content_type)
    return Encoded.of(body, content_type)


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


async def _body(request: web.Request, key: str, kind: Kind, base: str) -> Encoded | None:
    publisher = request.app[STATUS_PAGES]

    async def compute() -> Encoded | None:
        view = await publisher.view(key)
        if view is None:
            return None
        if kind == "html":
            body = _html(request, view, base, await publisher.has_logo(key))
        elif kind == "json":
            body = feeds.document_json(view, base).encode()
        elif kind == "atom":
            body = feeds.atom(view, origin, base).encode()
        else:
            badge = PAGE_BADGE[view.state]
            body = (svg(badge) if kind == "badge.svg" else endpoint_json(badge)).encode()
        return await encode(body, TYPES[kind])

    origin = ""  # only the feed needs absolute links
    if kind == "atom":
        held = (await publisher.published()).pages.get(key)
        origin = _origin(request, held[0].domain if held and base == "/" else None)
    return await publisher.responses.get(f"{key}\0{kind}\0{base}\0{origin}", compute)


def _origin(request: web.Request, domain: str | None) -> str:
    """Scheme and host of the feed's absolute links: the page's own domain, else
    SITEWATCH_BASE_URL, else the request's Host (checked by the access rules)."""
    if domain:
        return f"{request.scheme}://{domain}"
    base_url = request.app[SETTINGS].base_url
    if base_url:
        return base_url.rstrip("/")
    return f"{request.scheme}://{request.host}"


async def _serve(request: web.Request, key: str | None, kind: Kind, base: str) -> web.Response:
    if key is None:
        return _not_found()
    try:
        answer = await _body(request, key, kind, base)
    except DatabaseError:
        return _unavailable()
    if answer is None:
        return _not_found()
    return _cached(request, answer)


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

    async def compute() -> Encoded | None:
        env = request.app[DASHBOARD].env
        body = env.get_template("status/index.html").render(pages=published.listed()).encode()
        return await encode(body, "text/html")

    answer = await request.app[STATUS_PAGES].responses.get("\0index", compute)
    assert answer is not None
    return _cached(request, answer)


async def _logo(request: web.Request, key: str | None) -> web.StreamResponse:
    if key is None:
        return _not_found()
    engine = request.app[ENGINE]

    async def compute() -> Encoded | None:
        async with engine.connect() as conn:
            found = await publishing.logo(conn, key)
        return None if found is None else await encode(found[1], found[0])

    try:
        answer = await request.app[STATUS_PAGES].responses.get(f"{key}\0logo", compute)
    except DatabaseError:
        return _unavailable()
    if answer is None:
        return _not_found()
    response = _cached(request, answer)
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
