"""Maintenance windows in their time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from sitewatch.alerts.maintenance import covers, in_maintenance, open_at
from sitewatch.config.models import AnyWindow, parse_window


def window(**kw: Any) -> AnyWindow:
    return parse_window({"name": "w", "websites": "*", **kw})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Berlin: summer time ends 2026-10-25 03:00 CEST -> 02:00 CET; starts 2026-03-29 02:00 -> 03:00.
WEEKLY = {"timezone": "Europe/Berlin", "days": ["sun"], "start": "01:00", "duration": "3h"}


@pytest.mark.parametrize(
    ("at", "inside"),
    [
        (utc(2026, 10, 24, 22, 59), False),  # 00:59 CEST
        (utc(2026, 10, 24, 23, 0), True),  # 01:00 CEST: opens
        (utc(2026, 10, 25, 1, 30), True),  # 02:30 CET (after the clocks went back)
        (utc(2026, 10, 25, 1, 59), True),
        (utc(2026, 10, 25, 2, 0), False),  # three hours elapsed: closed
        (utc(2026, 11, 1, 0, 0), True),  # next Sunday 01:00 CET = 00:00 UTC
        (utc(2026, 11, 1, 2, 59), True),
        (utc(2026, 11, 1, 3, 0), False),
        (utc(2026, 10, 17, 23, 0), True),  # the Sunday before: 01:00 CEST
        (utc(2026, 10, 18, 23, 0), False),  # Monday 01:00 CEST
    ],
)
def test_weekly_window_keeps_local_time_across_autumn_change(at: datetime, inside: bool) -> None:
    assert (open_at(window(**WEEKLY), at) is not None) is inside


def test_spring_forward_start_in_the_skipped_hour() -> None:
    w = window(timezone="Europe/Berlin", days="sun", start="02:30", duration="1h")
    # 02:30 does not exist on 2026-03-29: read with the winter offset, 01:30 UTC.
    opening = open_at(w, utc(2026, 3, 29, 1, 45))
    assert opening is not None
    assert (opening.start, opening.end) == (utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30))
    assert open_at(w, utc(2026, 3, 29, 1, 29)) is None


def test_window_spanning_midnight_and_several_days() -> None:
    w = window(days=["fri"], start="22:00", duration="2d")  # UTC
    assert open_at(w, utc(2026, 11, 27, 21, 59)) is None  # Friday 21:59
    assert open_at(w, utc(2026, 11, 29, 21, 59)) is not None  # Sunday
    assert open_at(w, utc(2026, 11, 29, 22, 0)) is None


def test_one_off_window_in_local_time() -> None:
    w = window(timezone="America/New_York", start="2026-12-24T20:00", end="2026-12-26T08:00")
    assert open_at(w, utc(2026, 12, 25, 0, 59)) is None  # 19:59 EST
    assert open_at(w, utc(2026, 12, 25, 1, 0)) is not None
    assert open_at(w, utc(2026, 12, 26, 13, 0)) is None  # 08:00 EST


def test_selection_by_key_tag_or_star() -> None:
    by_key = window(websites=["shop"], days="mon", start="00:00", duration="1h")
    by_tag = parse_window(
        {"name": "t", "tags": ["eu"], "days": "mon", "start": "00:00", "duration": "1h"}
    )
    assert covers(by_key, "shop", []) and not covers(by_key, "blog", ["eu"])
    assert covers(by_tag, "blog", ["eu"]) and not covers(by_tag, "shop", [])
    assert covers(window(days="mon", start="00:00", duration="1h"), "any", [])
    monday = utc(2026, 11, 30, 0, 30)
    assert in_maintenance([by_tag], "blog", ["eu"], monday) is not None
    assert in_maintenance([by_tag], "shop", [], monday) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"timezone": "Mars/Olympus", "days": "mon", "start": "01:00", "duration": "1h"},
            "unknown time zone",
        ),
        ({"days": "mon", "start": "25:00", "duration": "1h"}, "HH:MM"),
        ({"days": "mon", "start": "01:00"}, "needs duration"),
        ({"start": "2026-12-24T20:00"}, "give days"),
        ({"start": "2026-12-24T20:00", "end": "2026-12-24T19:00"}, "must be after start"),
        ({"start": "yesterday", "end": "2026-12-24T19:00"}, "YYYY-MM-DDTHH:MM"),
        ({"days": "funday", "start": "01:00", "duration": "1h"}, "mon"),
    ],
)
def test_invalid_windows_say_what_is_wrong(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        window(**spec)


def test_windows_are_typed_and_their_stored_form_reads_back() -> None:
    """A weekly window's start is a time of day, a one-off's a date-time: parsed
    once, at load; the stored (JSON) form validates to the same window."""
    from datetime import time

    from sitewatch.config.models import OneOffWindow, WeeklyWindow

    weekly = window(days=["sun"], start="02:30", duration="2h")
    once = window(start="2026-12-24T22:00", end="2026-12-25T02:00")
    assert isinstance(weekly, WeeklyWindow) and weekly.start == time(2, 30)
    assert isinstance(once, OneOffWindow) and once.end == datetime(2026, 12, 25, 2, 0)
    for w in (weekly, once):
        stored = w.model_dump(mode="json")
        assert parse_window(stored) == w
    assert weekly.model_dump(mode="json")["start"] == "02:30"
    assert once.model_dump(mode="json")["start"] == "2026-12-24T22:00"


def test_a_stored_window_that_does_not_validate_is_left_out_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A row an older version wrote (a ${VAR} kept in its time zone) must not stop
    the alert engine that reads every window: it is left out and logged."""
    from sitewatch.alerts.engine import build_book

    good = window(days=["sun"], start="02:30", duration="2h").model_dump(mode="json")
    bad = {**good, "name": "old", "timezone": "${TZ}"}
    book = build_book([], [bad, good], {"TZ": "Europe/Berlin"})
    assert [w.name for w in book.windows] == ["w"]
    assert "maintenance window 'old' does not validate, not applied" in caplog.text
