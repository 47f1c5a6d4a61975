"""One log line per HTTP request: ``GET /api/websites 200 3.1ms``."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # probes: DEBUG, not INFO
PING_PREFIX = "/ping/"  # heartbeat ping URLs: /ping/{key}/{token}[/...]


def redact_path(path: str) -> str:
    """A request path fit for a log: a ping URL's token (its credential) as ``…``."""
    if not path.startswith(PING_PREFIX):
        return path
    parts = path.split("/")
    if len(parts) >= 4:
        parts[3] = "…"
    return "/".join(parts)


class AccessLogger(AbstractAccessLogger):
    """``GET /api/websites 200 3.1ms``, with the parts as fields for JSON logs."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        duration_ms = round(time * 1000, 1)
        path = redact_path(request.path)  # a ping URL is its own credential
        self.logger.log(
            level,
            "%s %s %d %.1fms",
            request.method,
            path,  # no query string: it may carry search terms, never needed
            response.status,
            duration_ms,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status,
                "duration_ms": duration_ms,
                "remote": request.remote,
            },
        )
