"""Heartbeat ping URLs: ``/ping/{key}/{token}`` and its ``/start``, ``/fail`` and
``/{exit status}`` forms, by GET, HEAD or POST (``curl -fsS -m 10 --retry 5 URL``
at the end of a crontab line).

The token is derived from the server's secret and the key (``ping_token``), so
the URL needs no token in git and no API token: it is its own credential, and
is never logged. Any instance accepts a ping; it goes to the database, and the
instance checking the heartbeat judges it (at once when that is this one).
"""

from __future__ import annotations

import hmac
import logging
import re

from aiohttp import web

from sitewatch.checker.heartbeat import PING_BODY_BYTES, ping_token
from sitewatch.config.models import check_type
from sitewatch.keys import CHECKER, ENGINE, PING_SECRET, SETTINGS
from sitewatch.store import catalog
from sitewatch.store.engine import DatabaseError, begin_write
from sitewatch.store.heartbeats import PingKind, record_ping
from sitewatch.store.types import utcnow
from sitewatch.web.access import client
from sitewatch.web.accesslog import PING_PREFIX as PREFIX

log = logging.getLogger("sitewatch.web")
_STATUS = re.compile(r"^[0-9]{1,3}$")
NOT_FOUND = "no such ping URL\n"


def ping_kind(action: str) -> tuple[PingKind, int | None] | None:
    """What the URL's last part says: success (none), start, fail, or an exit status."""
    if action == "":
        return "success", None
    if action in ("start", "fail"):
        return action, None  # type: ignore[return-value]
    if _STATUS.match(action) and int(action) <= 255:
        status = int(action)
        return ("success" if status == 0 else "fail"), status
    return None


def ping_path(secret: bytes, key: str) -> str:
    """The path of a heartbeat's ping URL (append /start, /fail or /<status>)."""
    return f"{PREFIX}{key}/{ping_token(secret, key)}"


def own_origin(request: web.Request) -> str:
    """Where this server is reached: SITEWATCH_BASE_URL, or the request's own origin."""
    base = request.app[SETTINGS].base_url
    if base:
        return base.rstrip("/")
    scheme = "https" if client(request).secure else "http"
    return f"{scheme}://{request.host}"


def ping_url(request: web.Request, key: str) -> str:
    """A heartbeat's full ping URL (show it to token holders only)."""
    return own_origin(request) + ping_path(request.app[PING_SECRET], key)


async def ping(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    token = request.match_info["token"]
    what = ping_kind(request.match_info.get("action", ""))
    secret = request.app[PING_SECRET]
    if what is None or not hmac.compare_digest(token, ping_token(secret, key)):
        return web.Response(status=404, text=NOT_FOUND)
    body: str | None = None
    if request.can_read_body:
        data = await request.content.read(PING_BODY_BYTES)
        body = data.decode("utf-8", "replace") if data else None
    kind, status = what
    engine = request.app[ENGINE]
    try:
        async with engine.connect() as conn:
            website = await catalog.find_website(conn, key, by_key=True)
        if website is None or check_type(website.spec) != "heartbeat":
            return web.Response(status=404, text=NOT_FOUND)
        async with begin_write(engine) as conn:
            await record_ping(
                conn,
                website.id,
                kind,
                utcnow(),
                exit_status=status,
                body=body,
                source=client(request).address,
                user_agent=request.headers.get("User-Agent"),
            )
    except (DatabaseError, OSError):
        # Not recorded, so not acknowledged: curl --retry tries again on a 503.
        log.warning("a ping of %s could not be recorded: the database is unavailable", key)
        return web.Response(status=503, text="the database is unavailable: retry\n")
    checker = request.app.get(CHECKER)
    if checker is not None:
        checker.check_soon(website.id)  # judged now if this instance checks it
    if request.method == "HEAD":
        return web.Response(status=200)
    return web.Response(text="OK\n")


def add_routes(app: web.Application) -> None:
    for path in (f"{PREFIX}{{key}}/{{token}}", f"{PREFIX}{{key}}/{{token}}/{{action}}"):
        app.router.add_get(path, ping)  # and HEAD
        app.router.add_post(path, ping)
