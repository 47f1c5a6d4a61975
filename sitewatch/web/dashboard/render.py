"""Rendering pages: the Jinja2 environment, its filters, and the page wrapper that
applies the session (login, CSRF) to every dashboard route."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web
from markupsafe import Markup

from sitewatch.services.gitwrite import WRITER
from sitewatch.times import iso_z
from sitewatch.web.access import FailureLimiter
from sitewatch.web.dashboard.assets import Assets, templates_dir
from sitewatch.web.dashboard.session import Session, Sessions

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION = web.RequestKey("session", Session)

# Short, fixed messages after an action (the redirect carries a code, never text).
NOTICES = {
    "created": "Saved to the YAML and applied.",
    "saved": "Saved to the YAML and applied.",
    "deleted": "Removed from the YAML.",
    "checked_up": "Checked just now: it passed. The result is stored within a second.",
    "checked_down": "Checked just now: it FAILED. The result is stored within a second.",
    "paused": "Paused: active: false is in the YAML.",
    "resumed": "Resumed: the website is checked again.",
    "tested": "Test notification queued; see the delivery log below.",
    "posted": "Update posted: written to the note's file and applied.",
    "loggedout": "You are logged out.",
    "proposed": "Proposed for review: pushed as a commit to the review branch below; "
    "it applies once merged into the followed branch.",
}


@dataclass(frozen=True, slots=True)
class RejectedConfig:
    """The last attempted config revision, rejected: shown on every page until a
    later revision applies, so nobody believes an edit is live when it is not."""

    status: str  # "failed" (invalid), "refused" (would delete every website), "error"
    revision: str | None
    applied: str | None  # the revision that stays applied
    errors: tuple[str, ...]  # file:line:col: path: message


@dataclass(frozen=True, slots=True)
class Dashboard:
    env: jinja2.Environment
    assets: Assets
    sessions: Sessions
    # What is down right now (the supervisor's failed tasks): a banner on every page.
    problems: Callable[[], list[Any]] = list
    # Why DOWN notifications are held right now (the connectivity guard), or None.
    held: Callable[[], str | None] = lambda: None
    # Seconds the oldest due check has waited to start, when past BEHIND_NOTICE.
    behind: Callable[[], float | None] = lambda: None
    # The rejected config revision while it is not the applied one, or None.
    rejected: Callable[[], RejectedConfig | None] = lambda: None
    limiter: FailureLimiter = field(default_factory=FailureLimiter)  # wrong logins


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        return "in " + ago(now or datetime.now(UTC), moment).removesuffix(" ago")
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"


def pct(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    if ratio >= 1:
        return "100%"
    return f"{math.floor(ratio * 10000) / 100:.2f}%"  # never round 99.999 up to 100


def iso(moment: datetime | None) -> str:
    return iso_z(moment) if moment else ""


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def moment(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 time from a check's details (JSON text) as a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def duration(seconds: float | None) -> str:
    """A span of time, two units at most: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    if seconds is None:
        return "—"
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(s // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def days_left(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return math.floor((moment - datetime.now(UTC)).total_seconds() / 86400)


def yamlish(value: Any) -> str:
    """A config value as the YAML would write it (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(yamlish(v) for v in value) or "[]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {yamlish(v)}" for k, v in value.items()) or "{}"
    return str(value)


def environment(assets: Assets) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ago=ago,
        ms=ms,
        pct=pct,
        iso=iso,
        when=when,
        moment=moment,
        duration=duration,
        days_left=days_left,
        yaml=yamlish,
    )
    env.globals.update(asset=assets.url, urlencode=urlencode, quote=quote)
    return env


def render(
    request: web.Request,
    dashboard: Dashboard,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    session = request.get(SESSION)
    notice = NOTICES.get(request.query.get("notice", ""))
    body = dashboard.env.get_template(template).render(
        **{"nav": "", **context},
        request=request,
        session=session,
        may_write=session.may_write if session else False,
        csrf=dashboard.sessions.csrf_token(session) if session else "",
        login_required=dashboard.sessions.login_required,
        notice=notice,
        tasks_down=dashboard.problems(),
        notifications_held=dashboard.held(),
        checks_behind=dashboard.behind(),
        config_rejected=dashboard.rejected(),
    )
    response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.enable_compression()
    return response


def forbidden(request: web.Request, dashboard: Dashboard, message: str) -> web.Response:
    return render(
        request, dashboard, "error.html", {"title": "Not allowed", "message": message}, status=403
    )


def page(dashboard: Dashboard, handler: Handler, *, write: bool = False) -> Handler:
    """Apply the session to a dashboard route.

    Without a valid session: the login page when tokens are configured, else a
    new anonymous session. POSTs must carry the session's CSRF token; ``write``
    routes need a session that may write.
    """
    sessions = dashboard.sessions

    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = await sessions.current(request)
        issued = None
        if session is None:
            if sessions.login_required:
                target = "/login?" + urlencode({"next": request.path_qs})
                raise web.HTTPSeeOther(target)
            session = issued = sessions.new("anonymous")
        request[SESSION] = session
        if request.method == "POST":
            form = await request.post()
            token = form.get("csrf")
            if not sessions.csrf_ok(session, token if isinstance(token, str) else None):
                return forbidden(
                    request,
                    dashboard,
                    "The form expired or did not come from this dashboard (CSRF check). "
                    "Go back, reload the page and try again.",
                )
            if write and not session.may_write:
                return forbidden(
                    request,
                    dashboard,
                    "You are logged in with a read token; this needs a write token.",
                )
        writer = (
            WRITER.set(f"{session.name} (dashboard) <sitewatch@localhost>")
            if session.name
            else None
        )
        try:
            response = await handler(request)
        except web.HTTPNotFound as exc:
            response = render(
                request,
                dashboard,
                "error.html",
                {"title": "Not found", "message": exc.text or "Nothing here."},
                status=404,
            )
        finally:
            if writer is not None:
                WRITER.reset(writer)
        if issued is not None:
            sessions.set_cookie(request, response, issued)
        return response

    return wrapped


def markup(svg: str) -> Markup:
    """Server-built SVG (from ``web.charts``, which escapes every text it holds)."""
    return Markup(svg)
