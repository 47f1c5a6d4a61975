"""The REST API of status pages and incident notes: read what is applied, write
to the files (git stays the source of truth), with the websites' rules: If-Match
against the file's revision, the whole config validated first, one commit per
write in git mode.

- ``/api/status-pages`` and ``/api/status-pages/{key}``: entries of
  status-pages.yaml (create, replace, change some fields, delete).
- ``/api/incident-notes`` and ``/api/incident-notes/{key}``: the files in
  incidents/ (replace or create with PUT, delete), and
  ``POST /api/incident-notes/{key}/updates``: one more update, the rest of
  the file as written (what a team does most during an outage).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from sitewatch.config.edit import EditError
from sitewatch.config.notetext import note_text, with_update
from sitewatch.config.pages import IncidentNote, IncidentUpdate, StatusPage
from sitewatch.keys import CACHE, EDITOR, STATUS_PAGES
from sitewatch.services.configedit import Applied, EditRefusedError
from sitewatch.store.engine import DatabaseError
from sitewatch.web import schemas
from sitewatch.web.api import answer, json_body, refused
from sitewatch.web.problems import ProblemError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _page_fields(page: StatusPage) -> dict[str, Any]:
    return {
        "key": page.key,
        "slug": page.slug,
        "title": page.title,
        "description": page.description,
        "domain": page.domain,
        "listed": page.listed,
        "url": f"/status/{page.slug}",
    }


def _note_fields(key: str, note: IncidentNote) -> dict[str, Any]:
    return {
        "key": key,
        "title": note.title,
        "status": note.status,
        "impact": note.impact,
        "started": note.started,
        "resolved": note.resolved,
        "open": note.open,
    }


async def _published(request: web.Request) -> Any:
    try:
        return await request.app[STATUS_PAGES].published()
    except DatabaseError:
        raise ProblemError(503, "the database cannot be read right now") from None


def _validation(exc: ValidationError, what: str) -> ProblemError:
    errors = [
        schemas.FieldProblem(
            field=".".join(str(p) for p in e["loc"]) or None,
            message=e["msg"],
            location="(request body)",
        )
        for e in exc.errors(include_url=False)
    ]
    return ProblemError(422, f"the {what} is not valid", errors=errors)


def _written(request: web.Request, applied: Applied) -> dict[str, Any]:
    request.app[CACHE].clear()
    run = applied.run
    if run is not None and not run.ok:
        raise ProblemError(
            409,
            "the file was written but the reconcile did not apply it: "
            + "; ".join(run.errors or ("see GET /api/config",)),
        )
    return {"revision": run.revision if run else None, "commit": applied.commit}


def _headers(response: web.Response, applied: Applied) -> web.Response:
    if applied.commit:
        response.headers["X-Sitewatch-Commit"] = applied.commit
    return response


# -- status pages -------------------------------------------------------------------------


async def list_pages(request: web.Request) -> web.Response:
    published = await _published(request)
    items = [
        schemas.StatusPageSummary(**_page_fields(page))
        for page, _, _ in sorted(published.pages.values(), key=lambda p: p[0].key)
    ]
    return answer(schemas.StatusPageList(items=items))


async def _page_detail(request: web.Request, key: str) -> tuple[dict[str, Any], str | None]:
    held = (await _published(request)).pages.get(key)
    if held is None:
        raise ProblemError(404, f"no status page {key!r}")
    page = held[0]
    where = await request.app[EDITOR].entry("status_pages", key)
    fields = {
        **_page_fields(page),
        "entry": where.fields if where else None,
        "spec": page.model_dump(mode="json"),
        "source_file": where.file if where else None,
    }
    return fields, where.etag if where else None


async def get_page(request: web.Request) -> web.Response:
    fields, etag = await _page_detail(request, request.match_info["key"])
    return answer(schemas.StatusPageDetail(**fields), etag=etag)


Detail = Callable[[web.Request, str], Awaitable[tuple[dict[str, Any], str | None]]]


async def _answer_written(
    request: web.Request,
    applied: Applied,
    status: int,
    detail: Detail,
    model: type[schemas.StatusPageWritten] | type[schemas.IncidentNoteWritten],
    collection: str,
) -> web.Response:
    """What a write answers: the entry as applied now, its file's ETag, the commit."""
    written = _written(request, applied)
    fields, etag = await detail(request, applied.key)
    response = answer(model(**fields, **written), status=status, etag=etag)
    if status == 201:
        response.headers["Location"] = f"/api/{collection}/{applied.key}"
    if applied.commit:
        response.headers["X-Sitewatch-Commit"] = applied.commit
    return response


async def _page_written(request: web.Request, applied: Applied, status: int) -> web.Response:
    model = schemas.StatusPageWritten
    return await _answer_written(request, applied, status, _page_detail, model, "status-pages")


async def create_page(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        applied = await request.app[EDITOR].create(
            "status_pages", body, request.query.get("fragment")
        )
    except EditRefusedError as exc:
        raise refused(exc) from None
    return await _page_written(request, applied, 201)


def _page_update(partial: bool) -> Handler:
    async def update(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        body = await json_body(request)
        try:
            applied = await request.app[EDITOR].update(
                "status_pages", key, body, request.headers.get("If-Match"), partial=partial
            )
        except EditRefusedError as exc:
            raise refused(exc) from None
        return await _page_written(request, applied, 200)

    return update


async def delete_page(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    try:
        applied = await request.app[EDITOR].delete(
            "status_pages", key, request.headers.get("If-Match")
        )
    except EditRefusedError as exc:
        raise refused(exc) from None
    _written(request, applied)
    return _headers(web.Response(status=204, headers={"ETag": applied.etag}), applied)


# -- incident notes ---------------------------------------------------------------------------


async def list_notes(request: web.Request) -> web.Response:
    published = await _published(request)
    items = [
        schemas.IncidentNoteSummary(**_note_fields(key, note))
        for key, note in sorted(published.notes, key=lambda n: n[1].started, reverse=True)
    ]
    return answer(schemas.IncidentNoteList(items=items))


async def _note_detail(request: web.Request, key: str) -> tuple[dict[str, Any], str | None]:
    found = dict((await _published(request)).notes).get(key)
    if found is None:
        raise ProblemError(404, f"no incident note {key!r}")
    written = await request.app[EDITOR].note(key)
    fields = {
        **_note_fields(key, found),
        "note": found.model_dump(mode="json"),
        "file": written.file if written else None,
        "text": written.text if written else None,
    }
    return fields, written.etag if written else None


async def get_note(request: web.Request) -> web.Response:
    fields, etag = await _note_detail(request, request.match_info["key"])
    return answer(schemas.IncidentNoteDetail(**fields), etag=etag)


async def _note_written(request: web.Request, applied: Applied, status: int) -> web.Response:
    model = schemas.IncidentNoteWritten
    return await _answer_written(request, applied, status, _note_detail, model, "incident-notes")


async def put_note(request: web.Request) -> web.Response:
    """The note as it should be: created when there is none (201), else replaced."""
    key = request.match_info["key"]
    body = await json_body(request)
    try:
        note = IncidentNote.model_validate(body)
    except ValidationError as exc:
        raise _validation(exc, "incident note") from None
    editor = request.app[EDITOR]
    existed = await editor.note(key) is not None
    try:
        applied = await editor.write_note(
            key, note_text(note, body), request.headers.get("If-Match")
        )
    except EditRefusedError as exc:
        raise refused(exc) from None
    return await _note_written(request, applied, 200 if existed else 201)


async def post_update(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    body = await json_body(request)
    body.setdefault("at", datetime.now(UTC).isoformat())
    try:
        update = IncidentUpdate.model_validate(body)
    except ValidationError as exc:
        raise _validation(exc, "update") from None
    editor = request.app[EDITOR]
    current = await editor.note(key)
    if current is None:
        raise ProblemError(404, f"no incident note {key!r}")
    wanted = request.headers.get("If-Match")
    if wanted is not None and wanted.strip() not in ("*", current.etag):
        raise ProblemError(412, f"{current.file} changed since you read it: read it again")
    try:
        text = with_update(current.text, update.status, update.message, update.at)
    except EditError as exc:
        raise ProblemError(409, f"{current.file}: {exc}: edit it in the file") from None
    try:
        applied = await editor.write_note(key, text, current.etag, must_exist=True)
    except EditRefusedError as exc:
        raise refused(exc) from None
    return await _note_written(request, applied, 200)


async def delete_note(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    try:
        applied = await request.app[EDITOR].write_note(key, None, request.headers.get("If-Match"))
    except EditRefusedError as exc:
        raise refused(exc) from None
    _written(request, applied)
    return _headers(web.Response(status=204), applied)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/status-pages", list_pages)
    r.add_post("/api/status-pages", create_page)
    r.add_get("/api/status-pages/{key}", get_page)
    r.add_put("/api/status-pages/{key}", _page_update(partial=False))
    r.add_patch("/api/status-pages/{key}", _page_update(partial=True))
    r.add_delete("/api/status-pages/{key}", delete_page)
    r.add_get("/api/incident-notes", list_notes)
    r.add_get("/api/incident-notes/{key}", get_note)
    r.add_put("/api/incident-notes/{key}", put_note)
    r.add_delete("/api/incident-notes/{key}", delete_note)
    r.add_post("/api/incident-notes/{key}/updates", post_update)
