"""The API contract: an OpenAPI 3.1 document built from the models.

Request bodies for websites and alerts are the JSON Schemas of the very pydantic
models that validate the YAML, and every response body is the schema of the
model its handler answers with (``schemas.py``), so the contract cannot drift
from the files or from the code.
Served at ``/api/openapi.json`` (no token needed); the dashboard renders it
readably at ``/api/docs``.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from sitewatch import __version__
from sitewatch.config.models import ALERT_TYPES, CHECK_TYPES
from sitewatch.config.pages import IncidentNote, IncidentUpdate, StatusPage
from sitewatch.web.schemas import RESPONSES

REF = "#/components/schemas/{model}"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    problem = {"$ref": REF.format(model="Problem")}
    return {
        str(code): {
            "description": "An error (RFC 9457 problem details).",
            "content": {"application/problem+json": {"schema": problem}},
        }
        for code in codes
    }


def _a(kind: str) -> str:
    """ "a website", "an alert": the article the noun takes."""
    noun = kind[:-1]
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _answers(code: int, ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {str(code): ok, **_problems(*errors)}


def _ref(model: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=model)}


ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The numeric id or the key.",
    "schema": {"type": "string", "minLength": 1},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag you read; 412 if the file changed since.",
    "schema": {"type": "string"},
}
FRAGMENT = {
    "name": "fragment",
    "in": "query",
    "required": False,
    "description": "Create in this *.d/ fragment (a file name: letters, digits, '.', '_', "
    "'-', starting with a letter or digit; .yaml is added when missing) instead of the main file.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,94}$", "maxLength": 95},
}
DATE_TIME = {"type": "string", "format": "date-time"}
READ_ERRORS = (400, 401, 404, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 412, 413, 415, 422, 429)


def _proposed() -> dict[str, Any]:
    return _json(
        _ref("Proposal"),
        "Following a git remote with a review branch (SITEWATCH_GIT_PUSH_BRANCH): pushed "
        "there as a commit, applied once merged.",
    )


def _crud(
    kind: str, noun: str, body: str | None = None, ident: dict[str, Any] = ID
) -> dict[str, Any]:
    """Paths of one kind of entry (websites, alerts, status pages): ``noun`` names
    the models (``WebsiteDetail``, ``WebsiteWritten``; the body ``Website``,
    ``AlertBody`` or ``StatusPage``)."""
    single = f"/api/{kind}/{{{ident['name']}}}"
    body = body or ("CheckBody" if noun == "Website" else "AlertBody")
    item, written = f"{noun}Detail", f"{noun}Written"
    entry_body = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    patch_body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        f"/api/{kind}": {
            "post": {
                "summary": f"Create {_a(kind)} (written to the YAML)",
                "parameters": [FRAGMENT],
                "requestBody": entry_body,
                "responses": {
                    "201": _json(_ref(written), "Created and applied."),
                    "202": _proposed(),
                    **_problems(*WRITE_ERRORS),
                },
            },
        },
        single: {
            "get": {
                "summary": f"One {kind[:-1]}",
                "parameters": [ident],
                "responses": {
                    "200": _json(_ref(item), "The entry; ETag: its file's revision."),
                    **_problems(*READ_ERRORS),
                },
            },
            "put": {
                "summary": f"Replace {_a(kind)} (the entry as it should be written)",
                "parameters": [ident, IF_MATCH],
                "requestBody": entry_body,
                "responses": {
                    "200": _json(_ref(written), "Written and applied."),
                    "202": _proposed(),
                    **_problems(*WRITE_ERRORS),
                },
            },
            "patch": {
                "summary": f"Change some fields of {_a(kind)} (null: back to the default)",
                "parameters": [ident, IF_MATCH],
                "requestBody": patch_body,
                "responses": {
                    "200": _json(_ref(written), "Written and applied."),
                    "202": _proposed(),
                    **_problems(*WRITE_ERRORS),
                },
            },
            "delete": {
                "summary": f"Delete {_a(kind)} from the YAML",
                "parameters": [ident, IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted and applied."},
                    "202": _proposed(),
                    **_problems(*WRITE_ERRORS),
                },
            },
        },
    }


def _components() -> dict[str, Any]:
    """Request bodies (the config models, as they validate) and response bodies
    (``schemas``, as they serialise), one JSON Schema each."""
    requests: list[type[BaseModel]] = [
        *CHECK_TYPES.values(),
        *ALERT_TYPES.values(),
        StatusPage,
        IncidentNote,
        IncidentUpdate,
    ]
    _, top = models_json_schema(
        [(m, "validation") for m in requests] + [(m, "serialization") for m in RESPONSES],
        by_alias=True,
        ref_template=REF,
    )
    components: dict[str, Any] = dict(top["$defs"])
    components["CheckBody"] = {"oneOf": [_ref(m.__name__) for m in CHECK_TYPES.values()]}
    components["AlertBody"] = {
        "oneOf": [_ref(m.__name__) for m in ALERT_TYPES.values()],
        "discriminator": {"propertyName": "type"},
    }
    components["History"] = {
        "oneOf": [_ref("RawHistory"), _ref("BucketHistory")],
        "discriminator": {"propertyName": "granularity"},
    }
    return components


KEY = {
    "name": "key",
    "in": "path",
    "required": True,
    "description": "The key.",
    "schema": {"type": "string", "minLength": 1},
}


def _publishing() -> dict[str, Any]:
    """Status pages (entries of status-pages.yaml) and incident notes (files)."""
    paths = _crud("status-pages", "StatusPage", "StatusPage", KEY)
    paths["/api/status-pages"]["get"] = {
        "summary": "Status pages as applied",
        "responses": _answers(200, _json(_ref("StatusPageList"), "The pages."), 401, 503),
    }
    note = f"/api/incident-notes/{{{KEY['name']}}}"
    note_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("IncidentNote")}},
    }
    written = _json(_ref("IncidentNoteWritten"), "Written and applied.")
    paths["/api/incident-notes"] = {
        "get": {
            "summary": "Incident notes as applied, newest first",
            "responses": _answers(200, _json(_ref("IncidentNoteList"), "The notes."), 401, 503),
        }
    }
    paths[note] = {
        "get": {
            "summary": "One incident note: its fields and its file as written",
            "parameters": [KEY],
            "responses": {
                "200": _json(_ref("IncidentNoteDetail"), "The note; ETag: its file's revision."),
                **_problems(*READ_ERRORS, 503),
            },
        },
        "put": {
            "summary": "Write an incident note (incidents/{key}.md): create or replace",
            "parameters": [KEY, IF_MATCH],
            "requestBody": note_body,
            "responses": {
                "200": written,
                "201": _json(_ref("IncidentNoteWritten"), "Created and applied."),
                "202": _proposed(),
                **_problems(*WRITE_ERRORS, 503),
            },
        },
        "delete": {
            "summary": "Delete an incident note's file",
            "parameters": [KEY, IF_MATCH],
            "responses": {
                "204": {"description": "Deleted and applied."},
                "202": _proposed(),
                **_problems(*WRITE_ERRORS),
            },
        },
    }
    paths[f"{note}/updates"] = {
        "post": {
            "summary": "Add an update (and its status) to a note, the rest as written",
            "parameters": [KEY, IF_MATCH],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("IncidentUpdate")}},
            },
            "responses": {"200": written, "202": _proposed(), **_problems(*WRITE_ERRORS, 503)},
        }
    }
    return paths


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once: it depends only on the code)."""
    paths: dict[str, Any] = {}
    paths.update(_crud("websites", "Website"))
    paths.update(_crud("alerts", "Alert"))
    int_query = {"type": "string", "pattern": "^[0-9]+$"}
    paths["/api/websites"]["get"] = {
        "summary": "Websites with their status",
        "parameters": [
            {"name": "tag", "in": "query", "schema": {"type": "string"}},
            {
                "name": "q",
                "in": "query",
                "description": "Search the name, key and URL (any case).",
                "schema": {"type": "string", "maxLength": 200},
            },
            {"name": "status", "in": "query", "schema": {"enum": ["up", "down", "unknown"]}},
            {"name": "active", "in": "query", "schema": {"enum": ["true", "false"]}},
            {"name": "type", "in": "query", "schema": {"enum": list(CHECK_TYPES)}},
            {"name": "limit", "in": "query", "schema": int_query},
            {"name": "offset", "in": "query", "schema": int_query},
        ],
        "responses": {
            "200": _json(_ref("WebsitePage"), "A page of websites."),
            **_problems(400, 401),
        },
    }
    paths["/api/websites/{id}/status"] = {
        "get": {
            "summary": "Current state, open incidents, uptime 24h/7d/30d",
            "parameters": [ID],
            "responses": {
                "200": _json(_ref("WebsiteStatusDetail"), "The status."),
                **_problems(*READ_ERRORS),
            },
        }
    }
    paths["/api/websites/{id}/history"] = {
        "get": {
            "summary": "Check history: raw (paged) or hourly/daily rollups",
            "parameters": [
                ID,
                {
                    "name": "start",
                    "in": "query",
                    "schema": {"type": "string", "format": "date-time"},
                },
                {"name": "end", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                {"name": "limit", "in": "query", "schema": int_query},
                {"name": "before_id", "in": "query", "schema": int_query},
                {"name": "granularity", "in": "query", "schema": {"enum": ["raw", "hour", "day"]}},
            ],
            "responses": _answers(200, _json(_ref("History"), "History."), *READ_ERRORS),
        }
    }
    paths["/api/websites/{id}/pings"] = {
        "get": {
            "summary": "A heartbeat's ping URL and recent pings (a token, when tokens are set)",
            "parameters": [ID, {"name": "limit", "in": "query", "schema": int_query}],
            "responses": _answers(200, _json(_ref("PingList"), "The pings."), *READ_ERRORS),
        }
    }
    paths["/api/websites/{id}/check"] = {
        "post": {
            "summary": "Check the website now; the result (stored when the checker runs here)",
            "parameters": [ID],
            "requestBody": {
                "required": True,
                "description": "An empty JSON object: a cross-site form cannot send one.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": _answers(
                200,
                _json(_ref("CheckNow"), "The check's result."),
                400,
                401,
                403,
                404,
                409,
                415,
                429,
            ),
        }
    }
    paths["/api/alerts"]["get"] = {
        "summary": "Alert channels and rules (secrets masked)",
        "responses": _answers(200, _json(_ref("AlertPage"), "The alerts."), 401),
    }
    paths["/api/alerts/{id}/deliveries"] = {
        "get": {
            "summary": "The alert's outbox: notifications and every delivery attempt",
            "parameters": [ID, {"name": "limit", "in": "query", "schema": int_query}],
            "responses": {
                "200": _json(_ref("DeliveryPage"), "Deliveries."),
                **_problems(*READ_ERRORS),
            },
        }
    }
    paths["/api/alerts/{id}/test"] = {
        "post": {
            "summary": "Send a test notification through the outbox",
            "parameters": [ID],
            "responses": {
                "202": _json(_ref("TestQueued"), "Queued."),
                **_problems(401, 403, 404),
            },
        }
    }
    paths["/api/alerts/{id}/preview"] = {
        "get": {
            "summary": "What the alert sends for an event, rendered on a sample event",
            "parameters": [
                ID,
                {
                    "name": "event",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["down", "reminder", "up", "test"]},
                    "description": "Which event (default test: as Send a test sends it).",
                },
            ],
            "responses": {
                "200": _json(_ref("MessagePreview"), "The rendered parts."),
                **_problems(*READ_ERRORS),
            },
        }
    }
    paths.update(_publishing())
    paths["/api/stats/summary"] = {
        "get": {
            "summary": "Totals: up, down, paused, uptime and mean response time over 24 h",
            "responses": _answers(200, _json(_ref("Summary"), "The summary."), 401),
        }
    }
    paths["/api/config"] = {
        "get": {
            "summary": "Applied and attempted revisions, the last reconcile, read-only state",
            "responses": _answers(200, _json(_ref("ConfigStatus"), "Config status."), 401),
        }
    }
    paths["/api/cluster"] = {
        "get": {
            "summary": "The instances sharing this database: role, version, heartbeat, share",
            "responses": _answers(200, _json(_ref("Cluster"), "Cluster status."), 401),
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sitewatch API",
            "version": __version__,
            "description": "Every write edits the YAML (see docs/api.md).",
        },
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
