"""Errors as ``application/problem+json`` (RFC 9457), for every API path.

Handlers raise ``ProblemError``; aiohttp's own HTTP errors (404, 405, 413) and
anything unexpected are turned into problem documents too -- never a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sitewatch.errors import SitewatchError

log = logging.getLogger("sitewatch.web")

PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid entry",
    428: "Precondition required",
    500: "Internal error",
    503: "Unavailable",
}


class ProblemError(SitewatchError):
    def __init__(
        self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sitewatch"'
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type=PROBLEM,
        headers=headers,
    )


@web.middleware
async def problems(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except ProblemError as exc:
        return problem_response(exc.status, exc.detail, headers=exc.headers, **exc.extra)
    except web.HTTPRequestEntityTooLarge:
        return problem_response(413, "the request body is larger than SITEWATCH_MAX_REQUEST_BYTES")
    except web.HTTPMethodNotAllowed as exc:
        response = problem_response(405, f"{request.method} is not allowed on {request.path}")
        response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(exc.status, exc.reason or TITLES.get(exc.status, "Error"))
    except Exception:
        log.exception("error in %s %s", request.method, request.path)
        return problem_response(500, "an internal error occurred; it has been logged")
