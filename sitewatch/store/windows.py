"""The time windows of uptime: hours, days, the sliding windows and their marks (pure).

``uptime_totals`` keep running sums of each sliding window per website; the
``housekeeping`` marks named here record how far sealing and the windows got.
"""

from __future__ import annotations

from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DAILY_SEALED = "rollups_daily_sealed_until"
HOURLY_SEALED = "rollups_hourly_sealed_until"
# ``uptime_totals`` hold, per window w, every hourly rollup with bucket >= mark - w.
TOTALS_FROM = "uptime_totals_window_end"

# The windows ``uptime_totals`` keeps sliding sums for, and their column suffixes.
SLIDING: dict[timedelta, str] = {
    timedelta(hours=24): "24h",
    timedelta(days=7): "7d",
    timedelta(days=30): "30d",
}
SUMS = ("checks", "failures", "timed", "sum_ms")
TOTAL_COLUMNS = tuple(f"{n}_{suffix}" for suffix in SLIDING.values() for n in SUMS)
LONGEST_WINDOW = max(SLIDING)
SHORTEST_WINDOW = min(SLIDING)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
