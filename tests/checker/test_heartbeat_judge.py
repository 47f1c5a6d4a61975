"""How a heartbeat is judged from its pings and the time: plain functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitewatch.checker.heartbeat import HeartbeatTarget, judge, last_run_due, ping_token
from sitewatch.config.models import HeartbeatCheck, parse_check
from sitewatch.store.heartbeats import PingState

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def state(**pings: object) -> PingState:
    base = PingState(
        since=T0,
        last_success=None,
        last_start=None,
        last_fail=None,
        fail_exit_status=None,
        fail_body=None,
        last_duration_ms=None,
        last_ping=None,
    )
    base.update(pings)  # type: ignore[typeddict-item]
    return base


EVERY_DAY = HeartbeatTarget(period=86400, schedule=None, tz="UTC", grace=3600)
NIGHTLY = HeartbeatTarget(period=None, schedule="0 3 * * *", tz="Europe/Berlin", grace=1800)


def test_a_new_heartbeat_waits_one_period_and_the_grace() -> None:
    assert judge(EVERY_DAY, state(), T0 + 24 * HOUR)[0] is None
    assert judge(EVERY_DAY, state(), T0 + 25 * HOUR)[0] is None
    kind, message, _ = judge(EVERY_DAY, state(), T0 + 25 * HOUR + timedelta(seconds=1))
    assert kind == "late"
    assert message == (
        "no ping since the check was created or changed (1d1h1s ago): expected every 1d, grace 1h"
    )


def test_a_change_to_the_heartbeat_restarts_the_wait() -> None:
    # Paused for two days, then resumed (or edited): the job's next ping is due
    # a period after the change, not two days ago.
    resumed = state(since=T0 + 48 * HOUR, last_success=T0, last_ping=T0)
    assert judge(EVERY_DAY, resumed, T0 + 60 * HOUR)[0] is None
    assert judge(EVERY_DAY, resumed, T0 + 74 * HOUR)[0] == "late"
    # A failure stays a failure across a change.
    failed = state(since=T0 + 48 * HOUR, last_success=T0, last_fail=T0 + HOUR)
    assert judge(EVERY_DAY, failed, T0 + 49 * HOUR)[0] == "failed"


def test_period_counts_from_the_last_success() -> None:
    pinged = state(last_success=T0 + 10 * HOUR, last_ping=T0 + 10 * HOUR)
    kind, _, details = judge(EVERY_DAY, pinged, T0 + 34 * HOUR)
    assert kind is None and details["next_due"] == T0 + 34 * HOUR
    kind, message, _ = judge(EVERY_DAY, pinged, T0 + 36 * HOUR)
    assert kind == "late"
    assert message is not None and message.startswith(
        "no ping since 2026-12-01 22:00:00 UTC (1d2h ago)"
    )


def test_a_fail_ping_is_down_until_the_next_success() -> None:
    failed = state(
        last_success=T0,
        last_fail=T0 + HOUR,
        fail_exit_status=3,
        fail_body="disk full\n",
        last_ping=T0 + HOUR,
    )
    kind, message, _ = judge(EVERY_DAY, failed, T0 + 2 * HOUR)
    assert kind == "failed"
    assert message == (
        "the job reported a failure with exit status 3 at 2026-12-01 13:00:00 UTC: 'disk full'"
    )
    recovered = {**failed, "last_success": T0 + 2 * HOUR}
    assert judge(EVERY_DAY, recovered, T0 + 3 * HOUR)[0] is None  # type: ignore[arg-type]


def test_a_run_that_started_must_end_within_the_grace() -> None:
    running = state(last_success=T0, last_start=T0 + HOUR, last_ping=T0 + HOUR)
    kind, _, details = judge(EVERY_DAY, running, T0 + 90 * timedelta(minutes=1))
    assert kind is None and details["running"] is True
    kind, message, _ = judge(EVERY_DAY, running, T0 + 2 * HOUR + timedelta(seconds=1))
    assert kind == "late"
    assert message == ("started at 2026-12-01 13:00:00 UTC and has not finished within grace (1h)")


def test_a_cron_schedule_in_its_time_zone() -> None:
    # 03:00 in Berlin is 02:00 UTC in winter; the grace is 30 minutes.
    created = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    fresh = state(since=created)
    assert judge(NIGHTLY, fresh, datetime(2026, 12, 1, 2, 29, tzinfo=UTC))[0] is None
    kind, message, _ = judge(NIGHTLY, fresh, datetime(2026, 12, 1, 2, 31, tzinfo=UTC))
    assert kind == "late"
    assert message == (
        "no ping for the run due at 2026-12-01 02:00:00 UTC "
        "(schedule '0 3 * * *' in Europe/Berlin, grace 30m)"
    )
    ran = state(since=created, last_success=datetime(2026, 12, 1, 2, 7, tzinfo=UTC))
    kind, _, details = judge(NIGHTLY, ran, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert kind is None
    assert details["next_due"] == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    # A ping a little early (the job's clock runs ahead) still counts.
    early = state(since=created, last_success=datetime(2026, 12, 1, 1, 59, 30, tzinfo=UTC))
    assert judge(NIGHTLY, early, datetime(2026, 12, 1, 3, 0, tzinfo=UTC))[0] is None
    # Nothing is due from runs before the check existed.
    new = state(since=datetime(2026, 12, 1, 2, 10, tzinfo=UTC))
    assert judge(NIGHTLY, new, datetime(2026, 12, 1, 3, 0, tzinfo=UTC))[0] is None


def test_summer_time_moves_the_run_in_utc() -> None:
    assert last_run_due(NIGHTLY, datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == datetime(
        2026, 7, 1, 1, 0, tzinfo=UTC
    )


@given(
    success=st.none() | st.integers(0, 200),
    fail=st.none() | st.integers(0, 200),
    start=st.none() | st.integers(0, 200),
    now=st.integers(0, 400),
)
def test_judging_is_total_and_consistent(
    success: int | None, fail: int | None, start: int | None, now: int
) -> None:
    def at(hours: int | None) -> datetime | None:
        return None if hours is None else T0 + hours * HOUR

    pings = state(last_success=at(success), last_fail=at(fail), last_start=at(start))
    kind, message, _ = judge(EVERY_DAY, pings, T0 + now * HOUR)
    assert (kind is None) == (message is None)
    if fail is not None and (success is None or fail > success):
        assert kind == "failed"
    elif kind is None:
        assert now <= (success or 0) + 25


def test_ping_tokens_depend_on_secret_and_key() -> None:
    a = ping_token(b"one", "backup")
    assert len(a) == 22 and a == ping_token(b"one", "backup")
    assert a != ping_token(b"two", "backup") and a != ping_token(b"one", "backup2")


def test_a_heartbeat_entry_validates() -> None:
    check = parse_check({"type": "heartbeat", "name": "Backup", "period": "1d", "grace": "1h"})
    assert isinstance(check, HeartbeatCheck)
    assert check.interval == 60.0 and check.target == "heartbeat://backup"
    nightly = parse_check(
        {"type": "heartbeat", "name": "N", "schedule": "0  3 * * *", "tz": "Europe/Berlin"}
    )
    assert isinstance(nightly, HeartbeatCheck) and nightly.schedule == "0 3 * * *"
    with pytest.raises(ValueError, match=r"either period .* or schedule .*, not neither"):
        parse_check({"type": "heartbeat", "name": "x"})
    with pytest.raises(ValueError, match="not both"):
        parse_check({"type": "heartbeat", "name": "x", "period": "1h", "schedule": "* * * * *"})
    with pytest.raises(ValueError, match="invalid cron schedule '61 \\* \\* \\* \\*'"):
        parse_check({"type": "heartbeat", "name": "x", "schedule": "61 * * * *"})
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_check({"type": "heartbeat", "name": "x", "period": "1h", "tz": "Mars/Base"})
    with pytest.raises(ValueError, match="interval"):
        parse_check({"type": "heartbeat", "name": "x", "period": "1h", "interval": "1m"})
