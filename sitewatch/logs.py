"""Logging: lines for people by default, JSON objects for log pipelines
(``SITEWATCH_LOG_FORMAT=json``); the request log is ``web.accesslog``. Imports
nothing but the standard library: every command sets logging up, and
``sitewatch --version`` or ``check`` should not pay for the web stack.

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

# Fields a record carries beyond the standard ones (request logs set these).
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "remote")


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
