"""Logging: lines for people by default, JSON objects for log pipelines
(``SITEWATCH_LOG_FORMAT=json``), and one line per HTTP request.

Nothing secret is logged: tokens travel in headers, which are never logged, and
config values reach the log only as ``${VAR}`` references or masked.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

# Fields a record carries beyond the standard ones (request logs set these).
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "remote")
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # probes: DEBUG, not INFO


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback through ``redact`` (resolved
    ``${VAR}`` values -> the reference text) before any handler formats it."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it itself
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def setup(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic narrates every step at INFO; sitewatch logs the outcome itself.
    for noisy in ("alembic", "watchfiles"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class AccessLogger(AbstractAccessLogger):
    """``GET /api/websites 200 3.1ms``, with the parts as fields for JSON logs."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        duration_ms = round(time * 1000, 1)
        self.logger.log(
            level,
            "%s %s %d %.1fms",
            request.method,
            request.path,  # no query string: it may carry search terms, never needed
            response.status,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": duration_ms,
                "remote": request.remote,
            },
        )
