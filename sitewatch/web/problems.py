"""Errors as ``application/problem+json`` (RFC 9457), for every API path.

Handlers raise ``ProblemError``; aiohttp's own HTTP errors (404, 405, 413) and
anything unexpected are turned into problem documents too -- never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from sitewatch.errors import SitewatchError
from sitewatch.services.configedit import (
    EditRefusedError,
    InvalidError,
    NotFoundError,
    PreconditionFailedError,
)
from sitewatch.services.gitwrite import ProposedForReview
from sitewatch.web.accesslog import redact_path
from sitewatch.web.schemas import FieldProblem, Problem, Proposal

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
    """An answer of the web layer: the HTTP status is chosen here, in ``web/``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldProblem] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.errors = errors


def refusal_status(exc: EditRefusedError) -> int:
    """The HTTP status of a refused write."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, PreconditionFailedError):
        return 412
    if isinstance(exc, InvalidError):
        return 422
    return 409  # read-only, a duplicate key, a file that cannot be parsed: a conflict


def problem_response(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[FieldProblem] | None = None,
) -> web.Response:
    problem = Problem(
        type="about:blank",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=errors,
    )
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sitewatch"'
    return web.Response(
        status=status,
        # No "errors": null on problems that have none (RFC 9457 members are optional).
        body=problem.model_dump_json(exclude_none=errors is None).encode(),
        content_type=PROBLEM,
        headers=headers,
    )


def proposal_response(exc: ProposedForReview) -> web.Response:
    """202: the write is a commit waiting for review, not applied."""
    body = Proposal(status="proposed", branch=exc.branch, commit=exc.commit, detail=str(exc))
    headers = {"X-Sitewatch-Commit": exc.commit} if exc.commit else {}
    return web.json_response(text=body.model_dump_json(), status=202, headers=headers)


@web.middleware
async def problems(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        try:
            return await handler(request)
        except ProposedForReview:  # a dashboard form: say so on the settings page
            raise web.HTTPSeeOther("/settings?notice=proposed") from None
    try:
        return await handler(request)
    except ProposedForReview as exc:
        return proposal_response(exc)
    except ProblemError as exc:
        return problem_response(exc.status, exc.detail, headers=exc.headers, errors=exc.errors)
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
        log.exception("error in %s %s", request.method, redact_path(request.path))
        return problem_response(500, "an internal error occurred; it has been logged")
