"""The columns each result write sends, in order: the same on both databases."""

from __future__ import annotations

from sitewatch.store.tables import history

HISTORY_COLUMNS = tuple(c.name for c in history.c if c.name != "id")
STATUS_COLUMNS = (
    "website_id",
    "state",
    "state_since",
    "streak",
    "last_checked_at",
    "last_status_code",
    "last_response_ms",
    "last_error_kind",
    "last_error_message",
    "cert_expires_at",
    "last_details",
)
ROLLUP_COLUMNS = ("website_id", "bucket", "checks", "failures", "timed", "sum_ms", "max_ms")
