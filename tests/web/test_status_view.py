"""What a status page shows, as plain functions: the documented state rules,
who is on a page, which notes and windows it shows, the daily bars."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitewatch.alerts.maintenance import upcoming
from sitewatch.config.models import parse_window
from sitewatch.config.pages import IncidentNote, StatusPage
from sitewatch.store.status import WebsiteStatus
from sitewatch.store.uptime import SealedDays
from sitewatch.web.statuspages.view import (
    bars,
    build,
    day_labels,
    day_ratios,
    group_members,
    level_of,
    maintenance_for,
    noted_days,
    notes_for,
    page_state,
    public_url,
    ratio_of,
    site_state,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def site(
    key: str, state: str = "up", streak: int = 1, tags: tuple[str, ...] = (), active: bool = True
) -> WebsiteStatus:
    return WebsiteStatus(
        website_id=hash(key) % 10_000,
        key=key,
        name=key.title(),
        url=f"https://{key}.example/",
        active=active,
        state=state,
        state_since=None,
        streak=streak,
        last_checked_at=NOW,
        last_status_code=None,
        last_response_ms=50.0,
        last_error_kind=None,
        last_error_message="boom" if state == "down" else None,
        cert_expires_at=None,
        tags=tags,
    )


def note(impact: str = "minor", status: str = "investigating", **fields: object) -> IncidentNote:
    data: dict[str, object] = {
        "title": "T",
        "status": status,
        "impact": impact,
        "started": "2026-12-02T10:00:00Z",
        "websites": ["a"],
        **fields,
    }
    if status == "resolved":
        data.setdefault("resolved", "2026-12-02T11:00:00Z")
    return IncidentNote.model_validate(data)


PAGE = StatusPage.model_validate(
    {
        "key": "p",
        "title": "P",
        "groups": [
            {"name": "Listed", "websites": ["b", "a"]},
            {"name": "Tagged", "websites": ["a"], "tags": ["api"]},
        ],
        "history_days": 10,
    }
)


@pytest.mark.parametrize(
    ("states", "notes", "expected"),
    [
        (["up", "up"], [], "operational"),
        (["up", "unknown", "paused"], [], "operational"),
        (["up", "maintenance"], [], "maintenance"),
        (["up", "degraded"], [], "degraded"),
        (["up", "up", "down"], [], "partial_outage"),
        (["up", "down"], [], "major_outage"),  # half of them
        (["down", "maintenance", "paused"], [], "major_outage"),
        (["up", "up"], ["minor"], "degraded"),
        (["up", "up"], ["major"], "partial_outage"),
        (["up", "degraded"], ["critical"], "major_outage"),
        (["up", "up", "down"], ["minor"], "partial_outage"),  # a note never lowers it
        ([], [], "operational"),
    ],
)
def test_the_documented_page_state_rules(
    states: list[str], notes: list[str], expected: str
) -> None:
    assert page_state(states, [note(i) for i in notes]) == expected  # type: ignore[arg-type]


def test_a_website_state() -> None:
    assert site_state(site("a"), False) == "up"
    assert site_state(site("a", "down", streak=1), False) == "degraded"  # one failed check
    assert site_state(site("a", "down", streak=2), False) == "down"
    assert site_state(site("a", "down", streak=5), True) == "maintenance"
    assert site_state(site("a", active=False), True) == "paused"
    assert site_state(site("a", "unknown"), False) == "unknown"


def test_groups_show_listed_websites_in_order_then_tagged_by_name() -> None:
    statuses = [site("a"), site("b"), site("zed", tags=("api",)), site("c", tags=("api",))]
    grouped = group_members(PAGE, statuses)
    assert [(g, [s.key for s in sites]) for g, sites in grouped] == [
        ("Listed", ["b", "a"]),
        ("Tagged", ["a", "c", "zed"]),
    ]
    # A website the store returned but no group names is never shown.
    assert "other" not in str(group_members(PAGE, [*statuses, site("other")]))


def test_which_notes_a_page_shows() -> None:
    shown = {"a": "A"}
    notes = [
        ("on-a", note()),
        ("elsewhere", note(websites=["x"])),
        ("by-group", note(websites=[], groups=["Tagged"])),
        ("other-page", note(pages=["q"])),
        ("this-page", note(websites=[], pages=["p"])),
    ]
    found = {v.key: v.affected for v in notes_for(PAGE, shown, notes)}
    assert found == {"on-a": ("A",), "by-group": ("Tagged",), "this-page": ()}


def test_maintenance_is_announced_unless_told_not_to() -> None:
    weekly = {
        "name": "sunday-deploys",
        "days": ["sun"],
        "start": "02:00",
        "duration": "2h",
        "timezone": "Europe/Berlin",
        "websites": ["a"],
    }
    window = parse_window(weekly)
    [o] = upcoming(window, NOW, timedelta(days=7))
    assert o.start == datetime(2026, 12, 6, 1, 0, tzinfo=UTC)  # 02:00 in Berlin, winter
    views = maintenance_for([window], [site("a"), site("b")], NOW)
    assert [(v.title, v.affected, v.ongoing, v.start.day) for v in views] == [
        ("Scheduled maintenance", ("A",), False, 6),
        ("Scheduled maintenance", ("A",), False, 13),  # announced two weeks ahead
    ]
    assert "sunday-deploys" not in repr(views)  # an internal name
    titled = parse_window({**weekly, "announce": "Database upgrade"})
    assert maintenance_for([titled], [site("a")], NOW)[0].title == "Database upgrade"
    assert maintenance_for([parse_window({**weekly, "announce": False})], [site("a")], NOW) == []
    assert maintenance_for([window], [site("b")], NOW) == []  # covers nothing on the page


def test_bars_merge_alike_days_and_title_each_run() -> None:
    first = NOW.replace(hour=0) - 9 * DAY
    series: list[tuple[int, int] | None] = [(100, 0)] * 10
    series[4] = (100, 10)  # 90%: down
    series[0] = None  # no data
    series[2] = (1000, 1)  # 99.9%: still up
    svg = str(bars([ratio_of(c) for c in series], day_labels(first, 10), {7: ["DB outage"]}))
    rects = re.findall(r'<rect x="(\d+)" width="(\d+)"[^>]*fill="url\(#sw-(\w+)\)"', svg)
    assert rects == [
        ("0", "4", "none"),
        ("4", "12", "up"),
        ("16", "4", "down"),
        ("20", "8", "up"),
        ("28", "4", "up"),  # the noted day stands alone
        ("32", "8", "up"),
    ]
    assert "Nov 28: 90.00% uptime" in svg and "Dec 1: 100% uptime · DB outage" in svg
    assert "Nov 24: no data" in svg and "Nov 25 to Nov 27: 99.90% to 100% uptime" in svg


def test_a_note_title_is_escaped_in_the_bars() -> None:
    svg = str(bars([None], ["Dec 3"], {0: ["<b>x</b>"]}))
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_a_note_marks_the_days_it_spans() -> None:
    first = NOW.replace(hour=0) - 9 * DAY
    views = notes_for(PAGE, {"a": "A"}, [("n", note(started="2026-11-30T23:00:00Z"))])
    assert noted_days(views, first, 10) == {"A": {i: ["T"] for i in (6, 7, 8, 9)}}  # still open
    closed = note(
        status="resolved", started="2026-11-30T23:00:00Z", resolved="2026-12-01T01:00:00Z"
    )
    views = notes_for(PAGE, {"a": "A"}, [("n", closed)])
    assert noted_days(views, first, 10) == {"A": {6: ["T"], 7: ["T"]}}


def test_the_whole_page_never_holds_what_it_does_not_show() -> None:
    page = StatusPage.model_validate({**PAGE.model_dump(), "show_response_times": False})
    view = build(
        page,
        [site("a", "down", streak=3), site("b"), site("c", tags=("api",))],
        [],
        [("n", note("major"))],
        {},
        {},
        NOW,
    )
    assert view.state == "partial_outage"  # a of a, b, c (a counted once per group)
    every = repr(view)
    assert "boom" not in every and "https://" not in every and "50.0" not in every


DAYS = st.integers(min_value=0, max_value=40)
COUNTS = st.tuples(st.integers(1, 50), st.integers(0, 50)).map(lambda c: (c[0], min(c[0], c[1])))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.tuples(DAYS, DAYS).map(lambda t: range(min(t), max(t))),
        st.frozensets(DAYS, max_size=30),
    ),
    st.dictionaries(DAYS, COUNTS, max_size=10),
    st.dictionaries(st.integers(41, 45), COUNTS, max_size=3),
    st.integers(0, 30),
    st.integers(1, 20),
)
def test_day_ratios_match_a_day_by_day_reading(
    present: range | frozenset[int],
    failed: dict[int, tuple[int, int]],
    fresh: dict[int, tuple[int, int]],
    first: int,
    count: int,
) -> None:
    failed = {d: c for d, c in failed.items() if d in present and c[1]}
    sealed = SealedDays(0, 0, present, failed)
    ratios, levels = day_ratios(sealed, fresh, first, count)
    for i in range(count):
        day = first + i
        counts = fresh.get(day) or failed.get(day)
        want = ratio_of(counts) if counts else (1.0 if day in present else None)
        assert ratios[i] == want, (day, ratios[i], want)
        assert levels[i] == level_of(want)


def test_show_urls_never_shows_credentials_queries_or_references() -> None:
    assert public_url("https://shop.example/checkout?x=1") == "https://shop.example/checkout"
    assert public_url("https://user:pw@shop.example:8443/a#f") == "https://shop.example:8443/a"
    assert public_url("https://api.example/h?token=s3cr3t") == "https://api.example/h"
    assert public_url("http://[::1]:8080/") == "http://[::1]:8080/"
    assert public_url("https://${API_HOST}/health") is None
    assert public_url("https://shop.example:99999/") is None  # not a URL
