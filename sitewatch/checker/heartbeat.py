"""Heartbeat checks: a job pings sitewatch; sitewatch judges the silence.

A heartbeat is "checked" like every other type -- the scheduler runs it every
``HeartbeatCheck.interval`` and the result goes through the same writer, alerts,
uptime and metrics -- but the check only reads the pings the database holds
(any instance may have received them) and judges them with ``judge``, a plain
function of the pings and the time.

* ``period``: a success ping is due ``period`` after the last one (or after the
  check was created or last changed); DOWN (``late``) once ``grace`` has passed too.
* ``schedule``: a success ping is due after each run of the cron schedule (in
  ``tz``); DOWN once a run is ``grace`` old without one.
* A fail ping (or a non-zero exit status) is DOWN (``failed``) until the next
  success; a start ping without an end within ``grace`` is DOWN (``late``).
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim

from sitewatch.checker.result import CheckResult, ErrorKind, Timings
from sitewatch.checker.tcp import excerpt
from sitewatch.config.types import format_duration
from sitewatch.store.heartbeats import PingState

PING_BODY_BYTES = 10 * 1024  # of a ping's body, kept with it
# A success ping this much before a scheduled run still counts for it (the
# job's clock may run a little ahead of sitewatch's).
SCHEDULE_SLACK = 60.0


@dataclass(frozen=True, slots=True)
class HeartbeatTarget:
    period: float | None  # seconds; or
    schedule: str | None  # a cron expression, in
    tz: str
    grace: float  # seconds


PingReader = Callable[[int], Awaitable[PingState | None]]


def ping_token(secret: bytes, key: str) -> str:
    """The secret part of a heartbeat's ping URL: derived, never stored or committed."""
    digest = hmac.new(secret, b"sitewatch-ping\n" + key.encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def last_run_due(target: HeartbeatTarget, before: datetime) -> datetime | None:
    """The latest scheduled run at or before ``before`` (schedule checks)."""
    assert target.schedule is not None
    zone = ZoneInfo(target.tz)
    local = before.astimezone(zone) + timedelta(seconds=1)  # CronSim is exclusive
    try:
        due = next(iter(CronSim(target.schedule, local, reverse=True)))
    except StopIteration:
        return None
    return due.astimezone(UTC)


def next_run(target: HeartbeatTarget, after: datetime) -> datetime | None:
    assert target.schedule is not None
    local = after.astimezone(ZoneInfo(target.tz))
    try:
        return next(iter(CronSim(target.schedule, local))).astimezone(UTC)
    except StopIteration:
        return None


def _ago(now: datetime, then: datetime) -> str:
    return format_duration(max(round((now - then).total_seconds()), 0))


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def judge(
    target: HeartbeatTarget, state: PingState, now: datetime
) -> tuple[ErrorKind | None, str | None, dict[str, Any]]:
    """(kind, message) of what is wrong -- (None, None) when all is well -- and the
    facts shown with the result (last pings, when the next is due)."""
    success, start, fail = state["last_success"], state["last_start"], state["last_fail"]
    grace = timedelta(seconds=target.grace)
    details: dict[str, Any] = {
        "last_ping": state["last_ping"],
        "last_success": success,
        "last_start": start,
        "last_duration_ms": state["last_duration_ms"],
    }
    if fail is not None and (success is None or fail > success):
        status = state["fail_exit_status"]
        said = f" with exit status {status}" if status not in (None, 0) else ""
        body = f": {excerpt(state['fail_body'].encode())}" if state["fail_body"] else ""
        details["failed_at"] = fail
        return "failed", f"the job reported a failure{said} at {_when(fail)}{body}", details
    if start is not None and (success is None or start > success):
        details["running"] = True
        if now - start > grace:
            return (
                "late",
                f"started at {_when(start)} and has not finished within grace "
                f"({format_duration(target.grace)})",
                details,
            )
    if target.period is not None:
        since = max(success, state["since"]) if success else state["since"]
        due = since + timedelta(seconds=target.period)
        details["next_due"] = due
        if now > due + grace:
            what = (
                f"no ping since {_when(success)} ({_ago(now, success)} ago)"
                if success
                else f"no ping since the check was created or changed ({_ago(now, since)} ago)"
            )
            return (
                "late",
                f"{what}: expected every {format_duration(target.period)}, "
                f"grace {format_duration(target.grace)}",
                details,
            )
        return None, None, details
    due_run = last_run_due(target, now - grace)
    details["next_due"] = next_run(target, now)
    if due_run is None or due_run < state["since"]:
        return None, None, details  # no run due since the check appeared or changed
    slack = timedelta(seconds=min(SCHEDULE_SLACK, target.grace / 2))
    if success is None or success < due_run - slack:
        return (
            "late",
            f"no ping for the run due at {_when(due_run)} (schedule {target.schedule!r} "
            f"in {target.tz}, grace {format_duration(target.grace)})",
            details,
        )
    return None, None, details


async def check_heartbeat(
    website_id: int,
    target: HeartbeatTarget,
    checked_at: datetime,
    read: PingReader,
    now: datetime | None = None,
) -> CheckResult:
    """Judge the pings the database holds for ``website_id``. The response time
    is the last run's duration (start ping to end), when the job sends start pings."""
    state = await read(website_id)
    timings = Timings()
    result = CheckResult(website_id, checked_at, ok=False, timings=timings)
    if state is None:
        result.error_kind = "internal"
        result.error_message = "the heartbeat's pings cannot be read: the check is gone"
        return result
    kind, message, details = judge(target, state, now or datetime.now(UTC))
    result.details = {
        k: v.isoformat() if isinstance(v, datetime) else v for k, v in details.items()
    }
    result.error_kind, result.error_message = kind, message
    result.ok = kind is None
    timings.total_ms = state["last_duration_ms"]
    return result
