"""The dashboard's forms and buttons: create, edit, pause, delete, check now, test.

Every change goes through ``ConfigEditor`` -- the API's write path -- so it lands
in the YAML (comments kept), is validated exactly like the files, and is applied
by the reconciler before the browser is redirected.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from sitewatch.alerts.service import UnknownAlertError
from sitewatch.config.envsubst import EnvError
from sitewatch.config.masking import mask_entry
from sitewatch.config.secrets import Redactor
from sitewatch.config.types import slugify
from sitewatch.keys import (
    ALERTING,
    CACHE,
    CHECKER,
    DASHBOARD,
    EDITOR,
    ENGINE,
    ENVIRON,
    RECONCILER,
)
from sitewatch.services.checknow import NoSuchWebsiteError, check_now
from sitewatch.services.configedit import EditRefusedError, Kind
from sitewatch.store import catalog
from sitewatch.web.access import client
from sitewatch.web.dashboard.forms import (
    ALERT_FIELDS,
    WEBSITE_FIELDS,
    FormErrors,
    FormField,
    entry_from_form,
    form_errors,
    form_values,
    pin_key,
    placeholders,
)
from sitewatch.web.dashboard.render import SESSION, Dashboard, page, render
from sitewatch.web.problems import refusal_status

FIELDS: dict[Kind, tuple[FormField, ...]] = {"websites": WEBSITE_FIELDS, "alerts": ALERT_FIELDS}
NO_ERRORS = FormErrors({}, [], [])


def _text(form: MultiDictProxy[Any]) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _alert_names(request: web.Request) -> list[str]:
    async with request.app[ENGINE].connect() as conn:
        return await catalog.alert_keys(conn)


async def _form_page(
    request: web.Request,
    kind: Kind,
    key: str | None,
    values: dict[str, Any],
    errors: FormErrors,
    etag: str | None,
    status: int = 200,
    source: str | None = None,
) -> web.Response:
    what = "website" if kind == "websites" else "alert"
    snapshot = request.app[RECONCILER].status.snapshot
    defaults = snapshot.defaults.get(source or "monitors.yaml", {}) if snapshot else {}
    return render(
        request,
        request.app[DASHBOARD],
        "form.html",
        {
            "title": f"Edit {what} {key}" if key else f"New {what}",
            "nav": kind,
            "kind": kind,
            "what": what,
            "key": key,
            "fields": FIELDS[kind],
            "values": values,
            "errors": errors,
            "etag": etag or "",
            "alert_names": await _alert_names(request) if kind == "websites" else [],
            "refusal": request.app[EDITOR].refusal(),
            "placeholders": placeholders(defaults) if kind == "websites" else {},
        },
        status=status,
    )


def _done(location: str, notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{location}?{urlencode({'notice': notice})}")


def _form_handlers(kind: Kind) -> tuple[Any, Any]:
    fields = FIELDS[kind]
    base = f"/{kind}"

    async def show(request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("key")
        if key is None:
            start = {"type": "webhook"} if kind == "alerts" else {}
            return await _form_page(
                request, kind, None, form_values(fields, start), NO_ERRORS, None
            )
        where = await request.app[EDITOR].entry(kind, key)
        if where is None:
            raise web.HTTPNotFound(text=f"no {kind[:-1]} {key!r} in the config files")
        values = form_values(fields, mask_entry(kind, where.fields))
        return await _form_page(
            request, kind, key, values, NO_ERRORS, where.etag, source=where.file
        )

    async def submit(request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("key")
        form = await request.post()
        text = _text(form)
        editor = request.app[EDITOR]
        original: dict[str, Any] | None = None
        etag = text.get("etag") or None
        if key is not None:
            where = await editor.entry(kind, key)
            if where is None:
                raise web.HTTPNotFound(text=f"no {kind[:-1]} {key!r} in the config files")
            original = mask_entry(kind, where.fields)
        group = text.get("type") or ("http" if kind == "websites" else None)
        chosen = [v for v in form.getall("alerts", []) if isinstance(v, str)]
        entry = entry_from_form(fields, text, chosen, original, group)
        if kind == "websites" and entry.get("type") == "http" and "type" not in (original or {}):
            del entry["type"]  # the default: an HTTP entry says no type
        if kind == "websites" and key is not None:
            entry = pin_key(entry, key, slugify(str(entry.get("name", ""))))
        try:
            if key is None:
                applied = await editor.create(kind, entry, None)
            else:
                applied = await editor.update(kind, key, entry, etag, partial=False)
        except EditRefusedError as exc:
            values = form_values(fields, entry)
            for f in fields:  # what was typed stays, even where it did not parse
                if f.kind not in ("checkbox", "choices") and f.name in text:
                    values[f.name] = text[f.name]
            return await _form_page(
                request,
                kind,
                key,
                values,
                form_errors(exc.problems, fields, str(exc)),
                etag,
                status=refusal_status(exc),
            )
        request.app[CACHE].clear()
        if applied.run is not None and not applied.run.ok:
            errors = FormErrors(
                {},
                ["The file was written but the reconcile did not apply it:", *applied.run.errors],
                [],
            )
            return await _form_page(
                request, kind, applied.key, form_values(fields, entry), errors, applied.etag, 409
            )
        raise _done(f"{base}/{applied.key}", "created" if key is None else "saved")

    return show, submit


def _delete_page(
    request: web.Request,
    kind: Kind,
    key: str,
    *,
    file: str = "",
    etag: str = "",
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    return render(
        request,
        request.app[DASHBOARD],
        "delete.html",
        {
            "title": f"Delete {key}",
            "nav": kind,
            "kind": kind,
            "key": key,
            "file": file,
            "etag": etag,
            "refusal": None if error else request.app[EDITOR].refusal(),
            "error": error,
        },
        status=status,
    )


async def _confirm_delete(request: web.Request, kind: Kind) -> web.StreamResponse:
    key = request.match_info["key"]
    where = await request.app[EDITOR].entry(kind, key)
    if where is None:
        raise web.HTTPNotFound(text=f"no {kind[:-1]} {key!r} in the config files")
    return _delete_page(request, kind, key, file=where.file, etag=where.etag)


async def _delete(request: web.Request, kind: Kind) -> web.StreamResponse:
    key = request.match_info["key"]
    form = await request.post()
    etag = form.get("etag")
    try:
        await request.app[EDITOR].delete(
            kind, key, etag if isinstance(etag, str) and etag else None
        )
    except EditRefusedError as exc:
        return _delete_page(request, kind, key, error=str(exc), status=refusal_status(exc))
    request.app[CACHE].clear()
    raise _done("/" if kind == "websites" else "/alerts", "deleted")


async def delete_website_form(request: web.Request) -> web.StreamResponse:
    return await _confirm_delete(request, "websites")


async def delete_website(request: web.Request) -> web.StreamResponse:
    return await _delete(request, "websites")


async def delete_alert_form(request: web.Request) -> web.StreamResponse:
    return await _confirm_delete(request, "alerts")


async def delete_alert(request: web.Request) -> web.StreamResponse:
    return await _delete(request, "alerts")


def _error_page(request: web.Request, title: str, message: str, status: int) -> web.Response:
    return render(
        request,
        request.app[DASHBOARD],
        "error.html",
        {"title": title, "message": message},
        status=status,
    )


async def check_website(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    async with request.app[ENGINE].connect() as conn:
        found = await catalog.find_website(conn, key, by_key=True)
    if found is None:
        raise web.HTTPNotFound(text=f"no website {key!r}")
    website_id = found.id
    try:
        result, _stored = await check_now(
            request.app[ENGINE],
            request.app[ENVIRON],
            website_id,
            request.app.get(CHECKER),
            Redactor(request.app[ENVIRON]),
        )
    except NoSuchWebsiteError:
        raise web.HTTPNotFound(text=f"no website {key!r}") from None
    except (EnvError, ValidationError) as exc:
        return _error_page(
            request, "Cannot check", f"The website cannot be checked here: {exc}", 409
        )
    # The running writer stores the result with its next batch (within a second).
    raise _done(f"/websites/{key}", "checked_up" if result.ok else "checked_down")


async def pause_website(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    form = await request.post()
    active = form.get("active") == "true"
    try:
        await request.app[EDITOR].update("websites", key, {"active": active}, None, partial=True)
    except EditRefusedError as exc:
        return _error_page(request, "Not changed", str(exc), refusal_status(exc))
    request.app[CACHE].clear()
    raise _done(f"/websites/{key}", "resumed" if active else "paused")


async def test_alert_form(request: web.Request) -> web.StreamResponse:
    """The test message as it will be sent, and the button that sends it."""
    key = request.match_info["key"]
    try:
        shown = await request.app[ALERTING].preview(key, "test")
    except UnknownAlertError:
        raise web.HTTPNotFound(text=f"no alert {key!r}") from None
    async with request.app[ENGINE].connect() as conn:
        row = await catalog.find_alert(conn, key, by_key=True)
    return render(
        request,
        request.app[DASHBOARD],
        "alert_test.html",
        {
            "title": f"Test {key}",
            "nav": "alerts",
            "key": key,
            "type": row.type if row else "",
            "preview": shown,
        },
    )


async def test_alert(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    try:
        await request.app[ALERTING].send_test(key)
    except UnknownAlertError:
        raise web.HTTPNotFound(text=f"no alert {key!r}") from None
    raise _done(f"/alerts/{key}", "tested")


# -- login -------------------------------------------------------------------------------


def _safe_next(target: str) -> str:
    """Only a path on this site (no //host or scheme): no open redirect."""
    if not re.fullmatch(r"/(?![/\\])[!-~]*", target):
        return "/"
    return (
        target
        if target.startswith("/") and not target.startswith("//") and "\\" not in target
        else "/"
    )


def login_handlers(d: Dashboard) -> tuple[Any, Any, Any]:
    async def show(request: web.Request) -> web.StreamResponse:
        if not d.sessions.login_required:
            raise web.HTTPSeeOther("/")
        return render(
            request,
            d,
            "login.html",
            {
                "title": "Log in",
                "nav": "",
                "next": _safe_next(request.query.get("next", "/")),
                "error": None,
            },
        )

    async def submit(request: web.Request) -> web.StreamResponse:
        address = client(request).address
        wait = d.limiter.retry_after(address)
        if wait:
            response = render(
                request,
                d,
                "login.html",
                {
                    "title": "Log in",
                    "nav": "",
                    "next": "/",
                    "error": f"Too many failed attempts from this address: try again in {wait} s.",
                },
                status=429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        form = await request.post()
        token = form.get("token")
        target = _safe_next(str(form.get("next") or "/"))
        session = d.sessions.login(token) if isinstance(token, str) else None
        if session is None:
            d.limiter.failed(address)
            return render(
                request,
                d,
                "login.html",
                {
                    "title": "Log in",
                    "nav": "",
                    "next": target,
                    "error": "That token is not valid here.",
                },
                status=401,
            )
        d.limiter.succeeded(address)
        response = web.HTTPSeeOther(target)
        d.sessions.set_cookie(request, response, session)
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        session = request.get(SESSION)
        if session is not None:
            await d.sessions.revoke(session)  # this cookie is refused from now on, everywhere
        response = web.HTTPSeeOther("/login?notice=loggedout" if d.sessions.login_required else "/")
        d.sessions.clear_cookie(response)
        raise response

    return show, submit, logout


def add_routes(app: web.Application) -> None:
    d = app[DASHBOARD]
    r = app.router
    show_login, do_login, logout = login_handlers(d)
    r.add_get("/login", show_login)
    r.add_post("/login", do_login)
    r.add_post("/logout", page(d, logout))
    kinds: tuple[Kind, ...] = ("websites", "alerts")
    for kind in kinds:
        show, submit = _form_handlers(kind)
        r.add_get(f"/{kind}/new", page(d, show))
        r.add_post(f"/{kind}/new", page(d, submit, write=True))
        r.add_get(f"/{kind}/{{key}}/edit", page(d, show))
        r.add_post(f"/{kind}/{{key}}/edit", page(d, submit, write=True))
    r.add_get("/websites/{key}/delete", page(d, delete_website_form))
    r.add_post("/websites/{key}/delete", page(d, delete_website, write=True))
    r.add_get("/alerts/{key}/delete", page(d, delete_alert_form))
    r.add_post("/alerts/{key}/delete", page(d, delete_alert, write=True))
    r.add_post("/websites/{key}/check", page(d, check_website, write=True))
    r.add_post("/websites/{key}/pause", page(d, pause_website, write=True))
    r.add_get("/alerts/{key}/test", page(d, test_alert_form, write=True))
    r.add_post("/alerts/{key}/test", page(d, test_alert, write=True))
