"""Check results into the database: one batch, one transaction.

A batch is the raw history rows, each website's latest status, and the hourly
rollups (counts and response-time sums grow by upsert, so any number of writers
can add to the same hour), and the sliding uptime windows. The database-specific
statements are in ``dialects/``; what they add up is computed here, in plain
functions tested alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store import dialects
from sitewatch.store.dialects.columns import HISTORY_COLUMNS
from sitewatch.store.marks import get_mark
from sitewatch.store.windows import (
    SHORTEST_WINDOW,
    SLIDING,
    SUMS,
    TOTAL_COLUMNS,
    TOTALS_FROM,
    floor_hour,
)

# The columns of a history row, in the form ``record`` takes (a dict per check).
HISTORY_FIELDS = HISTORY_COLUMNS


@dataclass(slots=True)
class _Sum:
    checks: int = 0
    failures: int = 0
    timed: int = 0
    sum_ms: float = 0.0
    max_ms: float | None = None


def hourly_increments(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a batch adds to each (website, hour) rollup. Pure, so it is tested alone."""
    sums: dict[tuple[int, datetime], _Sum] = {}
    for row in rows:
        if row["error_kind"] == "internal":
            continue  # sitewatch could not check: no measure of the website's uptime
        key = (row["website_id"], floor_hour(row["checked_at"]))
        s = sums.get(key)
        if s is None:
            s = sums[key] = _Sum()
        s.checks += 1
        if not row["ok"]:
            s.failures += 1
        ms = row["response_time_ms"]
        if ms is not None:
            s.timed += 1
            s.sum_ms += ms
            if s.max_ms is None or ms > s.max_ms:
                s.max_ms = ms
    return [
        {
            "website_id": website_id,
            "bucket": bucket,
            "checks": s.checks,
            "failures": s.failures,
            "timed": s.timed,
            "sum_ms": s.sum_ms,
            "max_ms": s.max_ms,
        }
        for (website_id, bucket), s in sums.items()
    ]


def window_totals(
    increments: Iterable[Mapping[str, Any]], window_end: datetime
) -> list[dict[str, Any]]:
    """What increments add to each sliding window that still holds their hour.

    Every window takes an increment whose hour is ``>= window_end - w``; an older
    hour (a result that arrives days late) has left the shorter windows already.
    """
    out: dict[int, dict[str, Any]] = {}
    for inc in increments:
        bucket = inc["bucket"]
        for window, suffix in SLIDING.items():
            if bucket < window_end - window:
                continue
            row = out.get(inc["website_id"])
            if row is None:
                row = out[inc["website_id"]] = dict.fromkeys(TOTAL_COLUMNS, 0)
                row["website_id"] = inc["website_id"]
            for name in SUMS:
                row[f"{name}_{suffix}"] += inc[name]
    return list(out.values())


def state_of(row: Mapping[str, Any]) -> str:
    """up, down, or unknown when sitewatch itself could not check (kind internal)."""
    if row["ok"]:
        return "up"
    return "unknown" if row["error_kind"] == "internal" else "down"


def status_rounds(rows: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """Status rows in rounds that name each website at most once, in check order,
    so one executemany never updates a row twice and streaks count every check."""
    rounds: list[list[dict[str, Any]]] = []
    seen: dict[int, int] = {}
    for row in sorted(rows, key=lambda r: r["checked_at"]):
        n = seen.get(row["website_id"], 0)
        seen[row["website_id"]] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(
            {
                "website_id": row["website_id"],
                "state": state_of(row),
                "state_since": row["checked_at"],
                "streak": 1,
                "last_checked_at": row["checked_at"],
                "last_status_code": row["status_code"],
                "last_response_ms": row["response_time_ms"],
                "last_error_kind": row["error_kind"],
                "last_error_message": row["error_message"],
                "cert_expires_at": row["cert_expires_at"],
                "last_details": row["details"],
            }
        )
    return rounds


async def record(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Store a batch of check results (history dicts with ``HISTORY_FIELDS``)."""
    if not rows:
        return
    db = dialects.of(conn)
    increments = hourly_increments(rows)
    await db.insert_history(conn, rows)
    for round_rows in status_rounds(rows):
        await db.upsert_status(conn, round_rows)
    await db.upsert_rollups(conn, increments)
    # Read the mark after the upserts, share-locked: moving the windows on (which
    # locks it for update) then either sees these increments or went first.
    window_end = await get_mark(conn, TOTALS_FROM, lock="share")
    if window_end is None:
        return  # totals not started yet: starting them sums the rollups
    recent = window_end - SHORTEST_WINDOW
    if all(inc["bucket"] >= recent for inc in increments):
        await db.add_to_every_window(conn, increments)
    else:
        await conn.execute(dialects.add_to_totals(db.NAME), window_totals(increments, window_end))
