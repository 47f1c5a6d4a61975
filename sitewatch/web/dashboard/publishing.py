"""The dashboard's status pages and incident notes: list them, edit a page's
entry as YAML, write a new note, post an update during an outage, edit or
delete a note's file. Every change goes through ``ConfigEditor`` (the API's
write path): validated with the whole config, written to the files, applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import web
from pydantic import ValidationError

from sitewatch.config.edit import EditError
from sitewatch.config.notetext import note_text, with_update
from sitewatch.config.pages import INCIDENT_STATUSES, IncidentNote, IncidentUpdate
from sitewatch.config.types import slugify
from sitewatch.keys import CACHE, DASHBOARD, EDITOR, ENGINE, STATUS_PAGES
from sitewatch.services.configedit import Applied, EditRefusedError
from sitewatch.store import status as status_store
from sitewatch.web.dashboard.render import page, render
from sitewatch.web.problems import refusal_status

NEW_PAGE = """\
key: public
title: Example Inc. status
description: Live status of our services
groups:
  - name: Website
    websites: []
    tags: []
show_response_times: true
show_urls: false
history_days: 90
"""


def _done(path: str, notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?notice={notice}")


def _problems(exc: EditRefusedError) -> list[str]:
    return [p.format() for p in exc.problems] or [str(exc)]


def _applied(request: web.Request, applied: Applied) -> None:
    request.app[CACHE].clear()
    if applied.run is not None and not applied.run.ok:
        raise web.HTTPConflict(text="written, but the reconcile did not apply it: see /settings")


async def _websites(request: web.Request) -> list[tuple[str, str]]:
    async with request.app[ENGINE].connect() as conn:
        found = await status_store.current_status(conn)
    return [(s.key, s.name) for s in found]


# -- the list -----------------------------------------------------------------------------


async def overview(request: web.Request) -> web.StreamResponse:
    return await _overview(request)


async def _overview(
    request: web.Request,
    *,
    page_text: str = NEW_PAGE,
    page_errors: list[str] | None = None,
    note_form: dict[str, Any] | None = None,
    note_errors: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    published = await request.app[STATUS_PAGES].published()
    notes = sorted(published.notes, key=lambda n: (not n[1].open, -n[1].started.timestamp()))
    return render(
        request,
        request.app[DASHBOARD],
        "status_pages.html",
        {
            "title": "Status pages",
            "nav": "publishing",
            "pages": sorted((p for p, _, _ in published.pages.values()), key=lambda p: p.key),
            "notes": notes,
            "page_text": page_text,
            "page_errors": page_errors or [],
            "note_form": note_form or {"status": "investigating", "impact": "minor"},
            "note_errors": note_errors or [],
            "websites": await _websites(request),
            "statuses": INCIDENT_STATUSES,
            "read_only": request.app[EDITOR].refusal(),
        },
        status=status,
    )


def _parse_entry(text: str) -> dict[str, Any] | str:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return f"not valid YAML: {exc}"
    if not isinstance(data, dict):
        return "write the page as a YAML mapping (key:, title:, groups:, ...)"
    return data


async def create_page(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    text = str(form.get("entry", ""))
    data = _parse_entry(text)
    if isinstance(data, str):
        return await _overview(request, page_text=text, page_errors=[data], status=422)
    try:
        applied = await request.app[EDITOR].create("status_pages", data, None)
    except EditRefusedError as exc:
        return await _overview(
            request, page_text=text, page_errors=_problems(exc), status=refusal_status(exc)
        )
    _applied(request, applied)
    raise _done("/status-pages", "created")


# -- one page's entry -----------------------------------------------------------------------


async def edit_page(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    where = await request.app[EDITOR].entry("status_pages", key)
    if where is None:
        raise web.HTTPNotFound(text=f"no status page {key!r} in the config files")
    text = yaml.safe_dump(where.fields, sort_keys=False, allow_unicode=True, width=100)
    return _page_form(request, key, text, where.file, where.etag)


def _page_form(
    request: web.Request,
    key: str,
    text: str,
    file: str,
    etag: str,
    errors: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    return render(
        request,
        request.app[DASHBOARD],
        "status_page_edit.html",
        {
            "title": f"Edit status page {key}",
            "nav": "publishing",
            "key": key,
            "text": text,
            "file": file,
            "etag": etag,
            "errors": errors or [],
            "read_only": request.app[EDITOR].refusal(),
        },
        status=status,
    )


async def save_page(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    form = await request.post()
    text, etag = str(form.get("entry", "")), str(form.get("etag", "")) or None
    file = str(form.get("file", ""))
    data = _parse_entry(text)
    if isinstance(data, str):
        return _page_form(request, key, text, file, etag or "", [data], 422)
    editor = request.app[EDITOR]
    try:
        if form.get("delete"):
            applied = await editor.delete("status_pages", key, etag)
        else:
            applied = await editor.update("status_pages", key, data, etag, partial=False)
    except EditRefusedError as exc:
        return _page_form(request, key, text, file, etag or "", _problems(exc), refusal_status(exc))
    _applied(request, applied)
    raise _done("/status-pages", "deleted" if form.get("delete") else "saved")


# -- incident notes -----------------------------------------------------------------------------


async def create_note(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    chosen = [v for v in form.getall("websites", []) if isinstance(v, str)]
    now = datetime.now(UTC)
    key = values.get("key", "").strip() or f"{now:%Y-%m-%d}-{slugify(values.get('title', ''))}"
    fields: dict[str, Any] = {
        "title": values.get("title", ""),
        "status": values.get("status", "investigating"),
        "impact": values.get("impact", "minor"),
        "started": now.isoformat(),
        "websites": chosen,
        "body": values.get("body", ""),
    }
    shown = {**values, "websites": chosen}
    try:
        note = IncidentNote.model_validate(fields)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return await _overview(request, note_form=shown, note_errors=errors, status=422)
    try:
        applied = await request.app[EDITOR].write_note(key, note_text(note, fields), None)
    except EditRefusedError as exc:
        return await _overview(
            request, note_form=shown, note_errors=_problems(exc), status=refusal_status(exc)
        )
    _applied(request, applied)
    raise _done(f"/incident-notes/{key}", "created")


async def show_note(request: web.Request) -> web.StreamResponse:
    return await _note_page(request, request.match_info["key"])


async def _note_page(
    request: web.Request,
    key: str,
    *,
    text: str | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    written = await request.app[EDITOR].note(key)
    if written is None:
        raise web.HTTPNotFound(text=f"no incident note {key!r} in the config files")
    applied = dict((await request.app[STATUS_PAGES].published()).notes).get(key)
    return render(
        request,
        request.app[DASHBOARD],
        "incident_note.html",
        {
            "title": f"Incident note {key}",
            "nav": "publishing",
            "key": key,
            "note": applied,
            "file": written.file,
            "etag": written.etag,
            "text": written.text if text is None else text,
            "errors": errors or [],
            "statuses": INCIDENT_STATUSES,
            "read_only": request.app[EDITOR].refusal(),
        },
        status=status,
    )


async def post_update(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    form = await request.post()
    editor = request.app[EDITOR]
    current = await editor.note(key)
    if current is None:
        raise web.HTTPNotFound(text=f"no incident note {key!r} in the config files")
    etag = str(form.get("etag", "")) or None
    try:
        update = IncidentUpdate.model_validate(
            {
                "at": datetime.now(UTC),
                "status": form.get("status"),
                "message": str(form.get("message", "")).replace("\r\n", "\n").strip(),
            }
        )
        text = with_update(current.text, update.status, update.message, update.at)
        applied = await editor.write_note(key, text, etag, must_exist=True)
    except ValidationError as exc:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return await _note_page(request, key, errors=errors, status=422)
    except EditError as exc:
        return await _note_page(request, key, errors=[str(exc)], status=409)
    except EditRefusedError as exc:
        return await _note_page(request, key, errors=_problems(exc), status=refusal_status(exc))
    _applied(request, applied)
    raise _done(f"/incident-notes/{key}", "posted")


async def save_note(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    form = await request.post()
    text = str(form.get("text", "")).replace("\r\n", "\n")
    etag = str(form.get("etag", "")) or None
    deleting = bool(form.get("delete"))
    try:
        applied = await request.app[EDITOR].write_note(
            key, None if deleting else text, etag, must_exist=True
        )
    except EditRefusedError as exc:
        return await _note_page(
            request, key, text=text, errors=_problems(exc), status=refusal_status(exc)
        )
    _applied(request, applied)
    if deleting:
        raise _done("/status-pages", "deleted")
    raise _done(f"/incident-notes/{key}", "saved")


def add_routes(app: web.Application) -> None:
    d = app[DASHBOARD]
    r = app.router
    r.add_get("/status-pages", page(d, overview))
    r.add_post("/status-pages/new", page(d, create_page, write=True))
    r.add_get("/status-pages/{key}/edit", page(d, edit_page))
    r.add_post("/status-pages/{key}/edit", page(d, save_page, write=True))
    r.add_post("/incident-notes/new", page(d, create_note, write=True))
    r.add_get("/incident-notes/{key}", page(d, show_note))
    r.add_post("/incident-notes/{key}/update", page(d, post_update, write=True))
    r.add_post("/incident-notes/{key}/edit", page(d, save_note, write=True))
