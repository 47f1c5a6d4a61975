"""Maintenance windows: when is a website's window open? Pure, no I/O.

Weekly windows start at a wall-clock time in their time zone, so "Sunday 02:00
Europe/Berlin" stays 02:00 local across daylight-saving changes (its UTC time
moves by an hour twice a year); the duration is elapsed time. A start in the
hour skipped in spring is read with the offset before the change (02:30 becomes
03:30 summer time); a start that exists twice in autumn is the first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sitewatch.config.models import WEEKDAYS, AnyWindow, OneOffWindow


@dataclass(frozen=True, slots=True)
class Opening:
    window: str  # its name
    start: datetime  # UTC
    end: datetime  # UTC


def _utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def openings(window: AnyWindow, around: datetime) -> Iterator[Opening]:
    """The occurrences of ``window`` that could contain ``around`` (UTC)."""
    zone = ZoneInfo(window.timezone)
    if isinstance(window, OneOffWindow):
        yield Opening(window.name, _utc(window.start, zone), _utc(window.end, zone))
        return
    length = timedelta(seconds=window.duration)
    today = around.astimezone(zone).date()
    days = {WEEKDAYS.index(d) for d in window.days}
    for back in range(length.days + 2):
        day: date = today - timedelta(days=back)
        if day.weekday() in days:
            start = _utc(datetime.combine(day, window.start), zone)
            yield Opening(window.name, start, start + length)


def open_at(window: AnyWindow, at: datetime) -> Opening | None:
    """The occurrence of ``window`` that is open at ``at`` (UTC), if any."""
    for opening in openings(window, at):
        if opening.start <= at < opening.end:
            return opening
    return None


def covers(window: AnyWindow, key: str, tags: Iterable[str]) -> bool:
    return window.all_websites or key in window.websites or bool(set(window.tags) & set(tags))


def in_maintenance(
    windows: Sequence[AnyWindow], key: str, tags: Iterable[str], at: datetime
) -> Opening | None:
    """The open window covering website ``key`` at ``at``, if any."""
    tag_list = list(tags)
    for window in windows:
        if covers(window, key, tag_list):
            opening = open_at(window, at)
            if opening is not None:
                return opening
    return None


def upcoming(window: AnyWindow, now: datetime, horizon: timedelta) -> list[Opening]:
    """The occurrences of ``window`` open now or starting within ``horizon``,
    soonest first (what a status page announces)."""
    until = now + horizon
    if isinstance(window, OneOffWindow):
        found = list(openings(window, now))
    else:
        found = []
        day = now
        while day <= until + timedelta(days=1):
            found.extend(openings(window, day))
            day += timedelta(days=1)
    unique = {(o.start, o.end): o for o in found if o.end > now and o.start < until}
    return [unique[k] for k in sorted(unique)]
