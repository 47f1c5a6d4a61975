"""The API contract: an OpenAPI 3.1 document built from the config models.

Request bodies for websites and alerts are the JSON Schemas of the very pydantic
models that validate the YAML, so the contract cannot drift from the files.
Served at ``/api/openapi.json`` (no token needed); the dashboard renders it
readably at ``/api/docs``.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from sitewatch import __version__
from sitewatch.config.models import EmailAlert, WebhookAlert, Website

REF = "#/components/schemas/{model}"

_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "location": {"type": "string"},
                },
            },
        },
    },
}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_STATUS = {
    "type": "object",
    "required": ["state"],
    "properties": {
        "state": {"enum": ["up", "down", "unknown"]},
        "state_since": _TIME,
        "streak": {"type": "integer"},
        "last_checked_at": _TIME,
        "last_status_code": {"type": ["integer", "null"]},
        "last_response_ms": {"type": ["number", "null"]},
        "last_error_kind": {"type": ["string", "null"]},
        "last_error_message": {"type": ["string", "null"]},
        "cert_expires_at": _TIME,
    },
}
_SUMMARY = {
    "type": "object",
    "required": ["id", "key", "name", "url", "active", "tags", "status"],
    "properties": {
        "id": {"type": "integer"},
        "key": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string"},
        "active": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "interval_seconds": {"type": "number"},
        "status": {"$ref": REF.format(model="WebsiteStatus")},
        "created_at": _TIME,
        "last_checked": {**_TIME, "description": "status.last_checked_at (the seed API's name)"},
        "last_status": {
            "type": ["string", "null"],
            "enum": ["up", "down", "unknown", None],
            "description": "status.state, null before the first check (the seed API's name)",
        },
    },
}
_DETAIL = {
    "allOf": [{"$ref": REF.format(model="WebsiteSummary")}],
    "properties": {
        "entry": {"type": ["object", "null"], "description": "The entry as written in the YAML."},
        "spec": {"type": "object", "description": "The effective spec (defaults applied)."},
        "source_file": {"type": ["string", "null"]},
        "revision": {"type": ["string", "null"]},
    },
}
_ALERT = {
    "type": "object",
    "required": ["id", "key", "type", "enabled", "spec"],
    "properties": {
        "id": {"type": "integer"},
        "key": {"type": "string"},
        "type": {"enum": ["email", "webhook"]},
        "enabled": {"type": "boolean"},
        "spec": {"type": "object"},
        "entry": {"type": ["object", "null"]},
        "websites": {"type": "array", "items": {"type": "string"}},
        "source_file": {"type": ["string", "null"]},
    },
}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": REF.format(model=item)}},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }


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


def _crud(kind: str, item: str, body: str) -> dict[str, Any]:
    """Paths of one kind of entry (websites or alerts)."""
    single = f"/api/{kind}/{{id}}"
    entry_body = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    patch_body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        f"/api/{kind}": {
            "post": {
                "summary": f"Create {_a(kind)} (written to the YAML)",
                "parameters": [FRAGMENT],
                "requestBody": entry_body,
                "responses": {
                    "201": _json(_ref(item), "Created and applied."),
                    **_problems(*WRITE_ERRORS),
                },
            },
        },
        single: {
            "get": {
                "summary": f"One {kind[:-1]}",
                "parameters": [ID],
                "responses": {
                    "200": _json(_ref(item), "The entry; ETag: its file's revision."),
                    **_problems(*READ_ERRORS),
                },
            },
            "put": {
                "summary": f"Replace {_a(kind)} (the entry as it should be written)",
                "parameters": [ID, IF_MATCH],
                "requestBody": entry_body,
                "responses": {
                    "200": _json(_ref(item), "Written and applied."),
                    **_problems(*WRITE_ERRORS),
                },
            },
            "patch": {
                "summary": f"Change some fields of {_a(kind)} (null: back to the default)",
                "parameters": [ID, IF_MATCH],
                "requestBody": patch_body,
                "responses": {
                    "200": _json(_ref(item), "Written and applied."),
                    **_problems(*WRITE_ERRORS),
                },
            },
            "delete": {
                "summary": f"Delete {_a(kind)} from the YAML",
                "parameters": [ID, IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted and applied."},
                    **_problems(*WRITE_ERRORS),
                },
            },
        },
    }


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models: list[type[BaseModel]] = [Website, EmailAlert, WebhookAlert]
    for model in models:
        schema = model.model_json_schema(by_alias=True, mode="validation", ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["AlertBody"] = {
        "oneOf": [_ref("EmailAlert"), _ref("WebhookAlert")],
        "discriminator": {"propertyName": "type"},
    }
    schemas.update(
        Problem=_PROBLEM,
        WebsiteStatus=_STATUS,
        WebsiteSummary=_SUMMARY,
        WebsiteDetail=_DETAIL,
        Alert=_ALERT,
    )
    return schemas


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once: it depends only on the code)."""
    paths: dict[str, Any] = {}
    paths.update(_crud("websites", "WebsiteDetail", "Website"))
    paths.update(_crud("alerts", "Alert", "AlertBody"))
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
            {"name": "limit", "in": "query", "schema": int_query},
            {"name": "offset", "in": "query", "schema": int_query},
        ],
        "responses": {
            "200": _json(_page("WebsiteSummary"), "A page of websites."),
            **_problems(400, 401),
        },
    }
    paths["/api/websites/{id}/status"] = {
        "get": {
            "summary": "Current state, open incidents, uptime 24h/7d/30d",
            "parameters": [ID],
            "responses": {
                "200": _json({"type": "object"}, "The status."),
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
            "responses": _answers(200, _json({"type": "object"}, "History."), *READ_ERRORS),
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
                _json({"type": "object", "required": ["ok", "stored"]}, "The check's result."),
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
        "responses": _answers(200, _json(_page("Alert"), "The alerts."), 401),
    }
    paths["/api/alerts/{id}/deliveries"] = {
        "get": {
            "summary": "The alert's outbox: notifications and every delivery attempt",
            "parameters": [ID, {"name": "limit", "in": "query", "schema": int_query}],
            "responses": {
                "200": _json({"type": "object"}, "Deliveries."),
                **_problems(*READ_ERRORS),
            },
        }
    }
    paths["/api/alerts/{id}/test"] = {
        "post": {
            "summary": "Send a test notification through the outbox",
            "parameters": [ID],
            "responses": {
                "202": _json({"type": "object", "required": ["event_id"]}, "Queued."),
                **_problems(401, 403, 404),
            },
        }
    }
    paths["/api/stats/summary"] = {
        "get": {
            "summary": "Totals: up, down, paused, uptime and mean response time over 24 h",
            "responses": _answers(200, _json({"type": "object"}, "The summary."), 401),
        }
    }
    paths["/api/config"] = {
        "get": {
            "summary": "Applied and attempted revisions, the last reconcile, read-only state",
            "responses": _answers(200, _json({"type": "object"}, "Config status."), 401),
        }
    }
    paths["/api/cluster"] = {
        "get": {
            "summary": "The instances sharing this database: role, version, heartbeat, share",
            "responses": _answers(200, _json({"type": "object"}, "Cluster status."), 401),
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
