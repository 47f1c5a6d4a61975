"""What a status page shows, as plain functions: the documented state rules,
who is on a page, which notes and windows it shows, the daily bars."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from sitewatch.alerts.maintenance import upcoming
from sitewatch.config.models import parse_window
from sitewatch.config.pages import IncidentNote, StatusPage
from sitewatch.store.status import WebsiteStatus
from sitewatch.web.statuspages.view import (
    bars,
    build,
    group_members,
    maintenance_for,
    notes_for,
    page_state,
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
    days = {first + i * DAY: (100, 0) for i in range(10)}
    days[first + 4 * DAY] = (100, 10)  # 90%: down
    del days[first]  # no data
    svg = str(bars(days, first, 10, {first + 7 * DAY: ["DB outage"]}))
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
    assert "Nov 24: no data" in svg and "Nov 25 to Nov 27: 100% uptime" in svg


def test_a_note_title_is_escaped_in_the_bars() -> None:
    svg = str(bars({}, NOW, 1, {NOW: ["<b>x</b>"]}))
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_the_whole_page_never_holds_what_it_does_not_show() -> None:
    page = StatusPage.model_validate({**PAGE.model_dump(), "show_response_times": False})
    view = build(
        page,
        [site("a", "down", streak=3), site("b"), site("c", tags=("api",))],
        [],
        [("n", note("major"))],
        {},
        NOW,
    )
    assert view.state == "partial_outage"  # a of a, b, c (a counted once per group)
    every = repr(view)
    assert "boom" not in every and "https://" not in every and "50.0" not in every
