"""The one text form of a moment that leaves sitewatch: ISO 8601 in UTC with ``Z``.

API bodies, notifications, the dashboard's ``<time datetime>`` attributes and
``/health`` all print times through ``iso_z``, so a client parses one format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso_z(moment: datetime) -> str: ...


@overload
def iso_z(moment: None) -> None: ...


def iso_z(moment: datetime | None) -> str | None:
    """``2026-12-02T17:50:22.123456Z``; a naive datetime is taken as UTC already."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"
