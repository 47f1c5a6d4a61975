"""What a status page shows, computed from what the store holds. Pure: no I/O.

The rules a visitor's "operational" rests on (docs/status-pages.md):

- A website is **down** when its last two checks or more failed, **degraded**
  when only the last one failed (a blip the next check may clear), **up** when
  the last passed, **maintenance** while a maintenance window covering it is
  open, **paused** when ``active: false``, **unknown** before its first check.
- The page is in **major outage** when at least half of its websites that count
  (up, degraded or down) are down, or an open incident note says
  ``impact: critical``; in **partial outage** when any is down or an open note
  says ``impact: major``; **degraded** when any is degraded or an open note says
  ``impact: minor``; **maintenance** when any is in maintenance; else
  **operational**.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Literal, cast
from urllib.parse import urlsplit, urlunsplit

from markupsafe import Markup, escape

from sitewatch.alerts.maintenance import covers, in_maintenance, upcoming
from sitewatch.config.models import AnyWindow
from sitewatch.config.pages import IncidentNote, StatusPage
from sitewatch.store.natural import natural_key
from sitewatch.store.status import WebsiteStatus
from sitewatch.store.uptime import DayCounts, SealedDays, day_number

SiteState = Literal["up", "degraded", "down", "maintenance", "paused", "unknown"]
PageState = Literal["operational", "degraded", "partial_outage", "major_outage", "maintenance"]

SITE_LABELS: dict[SiteState, str] = {
    "up": "Operational",
    "degraded": "Degraded",
    "down": "Outage",
    "maintenance": "Maintenance",
    "paused": "Not monitored",
    "unknown": "No data yet",
}
PAGE_LABELS: dict[PageState, str] = {
    "operational": "All systems operational",
    "degraded": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "maintenance": "Scheduled maintenance in progress",
}
_RANK: dict[PageState, int] = {
    "operational": 0,
    "maintenance": 1,
    "degraded": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
_IMPACT: dict[str, PageState] = {
    "minor": "degraded",
    "major": "partial_outage",
    "critical": "major_outage",
}
STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}
NO_DAYS = SealedDays(0, 0, range(0), {})
ANNOUNCE = timedelta(days=14)  # how far ahead maintenance is announced
PAST_NOTES = 20  # resolved incidents listed at most


@dataclass(frozen=True, slots=True)
class SiteView:
    name: str
    url: str | None  # only with show_urls
    state: SiteState
    label: str
    response_ms: float | None  # only with show_response_times
    uptime: float | None  # over the page's history_days
    days: tuple[float | None, ...]  # uptime per day, oldest first (None: no checks)
    bars: Markup  # the daily bars (inline SVG)


@dataclass(frozen=True, slots=True)
class GroupView:
    name: str
    state: SiteState  # its worst website's
    websites: tuple[SiteView, ...]


@dataclass(frozen=True, slots=True)
class NoteView:
    key: str
    note: IncidentNote
    affected: tuple[str, ...]  # names of the websites and groups it names, on this page


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    title: str
    start: datetime
    end: datetime
    ongoing: bool
    affected: tuple[str, ...]  # website names on this page


@dataclass(frozen=True, slots=True)
class PageView:
    page: StatusPage
    state: PageState
    label: str
    groups: tuple[GroupView, ...]
    open_incidents: tuple[NoteView, ...]
    past_incidents: tuple[NoteView, ...]
    maintenance: tuple[MaintenanceView, ...]
    generated_at: datetime


# -- who is on a page ----------------------------------------------------------------


def members(page: StatusPage) -> tuple[frozenset[str], frozenset[str]]:
    """The keys and tags a page's groups name (what the store is asked for)."""
    keys = frozenset(k for g in page.groups for k in g.websites)
    tags = frozenset(t for g in page.groups for t in g.tags)
    return keys, tags


def group_members(
    page: StatusPage, statuses: Iterable[WebsiteStatus]
) -> list[tuple[str, list[WebsiteStatus]]]:
    """Each group's websites: those listed, in their order, then those with one of
    its tags, by name. Nothing else of ``statuses`` is ever returned."""
    by_key = {s.key: s for s in statuses}
    tagged = sorted(by_key.values(), key=lambda s: (natural_key(s.name), s.key))
    out: list[tuple[str, list[WebsiteStatus]]] = []
    for group in page.groups:
        chosen = [by_key[k] for k in group.websites if k in by_key]
        seen = {s.key for s in chosen}
        wanted = set(group.tags)
        for s in tagged:
            if s.key not in seen and wanted.intersection(s.tags):
                chosen.append(s)
                seen.add(s.key)
        out.append((group.name, chosen))
    return out


def public_url(url: str) -> str | None:
    """What ``show_urls`` shows of a website's URL: scheme, host and path. No
    user or password, no query (tokens live there), nothing with a ``${VAR}``."""
    if "${" in url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


# -- states -------------------------------------------------------------------------------


def site_state(s: WebsiteStatus, in_window: bool) -> SiteState:
    if not s.active:
        return "paused"
    if in_window:
        return "maintenance"
    if s.state == "up":
        return "up"
    if s.state == "down":
        return "down" if s.streak >= 2 else "degraded"
    return "unknown"


_SITE_ORDER: dict[SiteState, int] = {
    "unknown": 0,
    "paused": 0,
    "up": 1,
    "maintenance": 2,
    "degraded": 3,
    "down": 4,
}


def worst(states: Iterable[SiteState]) -> SiteState:
    return max(states, key=_SITE_ORDER.__getitem__, default="unknown")


def page_state(states: Sequence[SiteState], open_notes: Iterable[IncidentNote]) -> PageState:
    """The documented rules (module docstring)."""
    counted = [s for s in states if s in ("up", "degraded", "down")]
    down = sum(1 for s in counted if s == "down")
    if counted and down * 2 >= len(counted) and down:
        state: PageState = "major_outage"
    elif down:
        state = "partial_outage"
    elif "degraded" in counted:
        state = "degraded"
    elif "maintenance" in states:
        state = "maintenance"
    else:
        state = "operational"
    for note in open_notes:
        declared = _IMPACT[note.impact]
        if _RANK[declared] > _RANK[state]:
            state = declared
    return state


# -- incident notes and maintenance ----------------------------------------------------------


def notes_for(
    page: StatusPage,
    shown: Mapping[str, str],
    notes: Iterable[tuple[str, IncidentNote]],
) -> list[NoteView]:
    """The notes this page shows (``shown``: website key -> name, on this page):
    those naming the page, or, naming no page, one of its websites or groups."""
    groups = {g.name for g in page.groups}
    out: list[NoteView] = []
    for key, note in notes:
        if note.pages and page.key not in note.pages:
            continue
        sites = [shown[k] for k in note.websites if k in shown]
        named_groups = [g for g in note.groups if g in groups]
        if not note.pages and not sites and not named_groups:
            continue
        out.append(NoteView(key, note, tuple(dict.fromkeys([*named_groups, *sites]))))
    return out


def maintenance_for(
    windows: Iterable[AnyWindow],
    sites: Sequence[WebsiteStatus],
    now: datetime,
    horizon: timedelta = ANNOUNCE,
) -> list[MaintenanceView]:
    """Windows covering a website of the page, open now or starting soon."""
    out: list[MaintenanceView] = []
    for window in windows:
        if window.announce is False:
            continue
        affected = [s.name for s in sites if covers(window, s.key, s.tags)]
        if not affected:
            continue
        title = window.announce if isinstance(window.announce, str) else "Scheduled maintenance"
        for o in upcoming(window, now, horizon):
            out.append(
                MaintenanceView(
                    title, o.start, o.end, o.start <= now, tuple(dict.fromkeys(affected))
                )
            )
    return sorted(out, key=lambda m: (m.start, m.title))


# -- daily bars ---------------------------------------------------------------------------------

DAY = timedelta(days=1)
PITCH = 4  # user units per day: a 3-unit bar and a 1-unit gap
BAR_LEVELS = ("none", "up", "minor", "degraded", "down")


def level_of(ratio: float | None) -> str:
    """A day's bar colour by its uptime (None: no checks that day)."""
    if ratio is None:
        return "none"
    if ratio >= 0.999:
        return "up"
    if ratio >= 0.99:
        return "minor"
    if ratio >= 0.95:
        return "degraded"
    return "down"


def ratio_of(counts: DayCounts | None) -> float | None:
    if counts is None or not counts[0]:
        return None
    return (counts[0] - counts[1]) / counts[0]


def day_ratios(
    sealed: SealedDays, fresh: Mapping[int, DayCounts], first: int, count: int
) -> tuple[list[float | None], list[str]]:
    """Uptime and bar level per day from day number ``first`` for ``count`` days.
    Work in proportion to the days with a failure, not to the days: a page of
    500 websites has 45,000 days, nearly all of them 100 %."""
    ratios: list[float | None] = [None] * count
    levels = ["none"] * count
    present = sealed.days
    if isinstance(present, range):
        lo, hi = max(present.start, first) - first, min(present.stop, first + count) - first
        if hi > lo:
            ratios[lo:hi] = [1.0] * (hi - lo)
            levels[lo:hi] = ["up"] * (hi - lo)
    else:
        for day in present:
            if 0 <= day - first < count:
                ratios[day - first], levels[day - first] = 1.0, "up"
    for source in (sealed.failed, fresh):
        for day, (checks, failures) in source.items():
            if 0 <= day - first < count and checks:
                ratio = (checks - failures) / checks
                ratios[day - first], levels[day - first] = ratio, level_of(ratio)
    return ratios, levels


def bars(
    ratios: Sequence[float | None],
    labels: Sequence[str],
    noted: Mapping[int, Sequence[str]],
    levels: Sequence[str] | None = None,
) -> Markup:
    """One inline SVG: a bar per day of ``ratios`` (uptime per day, oldest first,
    None without checks; ``labels`` name the days). Runs of alike days are one
    element filled with a bar pattern (``patterns()``), so a page of 500
    websites stays small and fast; each run, and each day with a note
    (``noted``: day index -> titles), has a title."""
    count = len(ratios)
    if levels is None:
        levels = [level_of(r) for r in ratios]
    parts = [
        f'<svg class="sw-bars" viewBox="0 0 {count * PITCH} 24" preserveAspectRatio="none" '
        'role="img" aria-label="Uptime per day">'
    ]
    for i, j, level in _runs(levels, noted):
        span = labels[i] if j == i + 1 else f"{labels[i]} to {labels[j - 1]}"
        if level == "none":
            text = f"{span}: no data"
        else:
            run = cast("list[float]", ratios[i:j])  # a run of one level: no None
            low, high = min(run), max(run)
            text = f"{span}: {percent_of(low)} uptime"
            if high != low:
                text = f"{span}: {percent_of(low)} to {percent_of(high)} uptime"
        titles = noted.get(i)
        if titles:  # the only text from outside: escaped (labels and numbers are ours)
            text += " · " + " · ".join(str(escape(t)) for t in titles)
        parts.append(
            f'<rect x="{i * PITCH}" width="{(j - i) * PITCH}" height="24" '
            f'fill="url(#sw-{level})"><title>{text}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(levels: Sequence[str], noted: Mapping[int, Sequence[str]]) -> list[tuple[int, int, str]]:
    """(start, end, level) of each run of equal levels; a noted day stands alone.
    ``groupby`` finds the runs in C: 500 websites x 90 days are 45,000 days."""
    out: list[tuple[int, int, str]] = []
    i = 0
    for level, group in groupby(levels):
        j = i + len(list(group))
        cuts = sorted(d for d in noted if i <= d < j) if noted else []
        for d in cuts:
            if d > i:
                out.append((i, d, level))
            out.append((d, d + 1, level))
            i = d + 1
        if i < j:
            out.append((i, j, level))
        i = j
    return out


def percent_of(ratio: float) -> str:
    """Never rounded up: 100% means no failed check at all."""
    return "100%" if ratio >= 1 else f"{int(ratio * 10000) / 100:.2f}%"


def day_labels(first: datetime, count: int) -> list[str]:
    return [f"{first + i * DAY:%b %-d}" for i in range(count)]


def patterns() -> Markup:
    """The bar patterns every ``bars()`` SVG fills with (once per page)."""
    defs = "".join(
        f'<pattern id="sw-{level}" width="{PITCH}" height="24" patternUnits="userSpaceOnUse">'
        f'<rect width="{PITCH - 1}" height="24" rx="0.6" class="sw-{level}"/></pattern>'
        for level in BAR_LEVELS
    )
    return Markup(
        f'<svg width="0" height="0" class="absolute" aria-hidden="true"><defs>{defs}</defs></svg>'
    )


def noted_days(
    views: Iterable[NoteView], first: datetime, count: int
) -> dict[str, dict[int, list[str]]]:
    """Per affected name, the days (indexes from ``first``) each note spans: the
    titles shown on those bars."""
    out: dict[str, dict[int, list[str]]] = {}
    for view in views:
        start = (_floor_day(view.note.started) - first) // DAY
        end = (
            count - 1
            if view.note.resolved is None
            else (_floor_day(view.note.resolved) - first) // DAY
        )
        for day in range(max(start, 0), min(end, count - 1) + 1):
            for name in view.affected:
                titles = out.setdefault(name, {}).setdefault(day, [])
                if view.note.title not in titles:
                    titles.append(view.note.title)
    return out


def _floor_day(moment: datetime) -> datetime:
    m = moment.astimezone(UTC)
    return datetime(m.year, m.month, m.day, tzinfo=UTC)


# -- the whole page --------------------------------------------------------------------------------


def build(
    page: StatusPage,
    statuses: Sequence[WebsiteStatus],
    windows: Sequence[AnyWindow],
    notes: Iterable[tuple[str, IncidentNote]],
    sealed: Mapping[int, SealedDays],
    recent: Mapping[int, Mapping[int, DayCounts]],
    now: datetime,
) -> PageView:
    """``sealed``: each website's sealed days of the page's range; ``recent``: the
    counts of the days not sealed yet (website id -> day number -> counts)."""
    grouped = group_members(page, statuses)
    on_page = {s.key: s for _, sites in grouped for s in sites}
    shown = {k: s.name for k, s in on_page.items()}
    views = notes_for(page, shown, notes)
    open_views = sorted((v for v in views if v.note.open), key=lambda v: v.note.started)
    past = sorted(
        (v for v in views if not v.note.open),
        key=lambda v: v.note.started,
        reverse=True,
    )[:PAST_NOTES]
    count = page.history_days
    first = _floor_day(now) - (count - 1) * DAY
    first_number = day_number(first)
    labels = day_labels(first, count)
    by_name = noted_days(views, first, count)
    groups: list[GroupView] = []
    states: dict[str, SiteState] = {}  # each website counted once, in however many groups
    for name, sites in grouped:
        views_here: list[SiteView] = []
        for s in sites:
            state = site_state(s, in_maintenance(windows, s.key, s.tags, now) is not None)
            states[s.key] = state
            before = sealed.get(s.website_id, NO_DAYS)
            fresh = recent.get(s.website_id, {})
            checks, failures = before.checks, before.failures
            ratios, levels = day_ratios(before, fresh, first_number, count)
            for c in fresh.values():
                checks += c[0]
                failures += c[1]
            noted = _merge_days(by_name.get(s.name, {}), by_name.get(name, {}))
            views_here.append(
                SiteView(
                    name=s.name,
                    url=public_url(s.url) if page.show_urls else None,
                    state=state,
                    label=SITE_LABELS[state],
                    response_ms=s.last_response_ms
                    if page.show_response_times and state in ("up", "degraded")
                    else None,
                    uptime=(checks - failures) / checks if checks else None,
                    days=tuple(ratios),
                    bars=bars(ratios, labels, noted, levels),
                )
            )
        groups.append(GroupView(name, worst(v.state for v in views_here), tuple(views_here)))
    overall = page_state(list(states.values()), (v.note for v in open_views))
    return PageView(
        page=page,
        state=overall,
        label=PAGE_LABELS[overall],
        groups=tuple(groups),
        open_incidents=tuple(open_views),
        past_incidents=tuple(past),
        maintenance=tuple(maintenance_for(windows, list(on_page.values()), now)),
        generated_at=now,
    )


def _merge_days(a: Mapping[int, list[str]], b: Mapping[int, list[str]]) -> Mapping[int, list[str]]:
    if not b:
        return a
    out = {d: list(t) for d, t in a.items()}
    for d, titles in b.items():
        out.setdefault(d, [])
        out[d] += [t for t in titles if t not in out[d]]
    return out
