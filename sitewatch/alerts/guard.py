"""The connectivity guard: is it the websites that are down, or sitewatch's own
network? Pure decisions here; the canary probe runs in the service.

When most websites are unreachable at once, or the optional canary URL
(something that is always up, e.g. your own gateway) fails, sitewatch assumes
the problem is on its side: DOWN notifications are held, and the log, the
dashboard, ``/health`` and ``/metrics`` say so. Outages that are still there
when the network returns are notified at their next check.

Only failures that say nothing about the website count as "maybe it's us": a
website that answered (a wrong status, a failed assertion, a slow answer, a bad
certificate) proves the network works. And the share must be large and the
installation big enough for a majority to mean something: with 7 websites, 4
real outages at once are 4 real outages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The failures sitewatch's own network going away produces.
UNREACHABLE_KINDS = frozenset({"dns", "refused", "timeout", "connection"})


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    failure_ratio: float = 0.8  # share of websites unreachable at once that means "it's us"
    min_websites: int = 10  # below this many websites, only the canary can hold


@dataclass(frozen=True, slots=True)
class Verdict:
    offline: bool
    reason: str | None = None


def unreachable(ok: bool, error_kind: str | None) -> bool:
    """Did this result fail the way a dead network makes every check fail?"""
    return not ok and error_kind in UNREACHABLE_KINDS


def judge(
    latest_unreachable: Mapping[int, bool], policy: GuardPolicy, canary_ok: bool | None
) -> Verdict:
    """``latest_unreachable``: per website, did its last check fail without an
    answer; ``canary_ok``: None without a canary."""
    if canary_ok is False:
        return Verdict(True, "the canary URL fails")
    total = len(latest_unreachable)
    if total < policy.min_websites:
        return Verdict(False)
    failing = sum(latest_unreachable.values())
    if failing / total >= policy.failure_ratio:
        return Verdict(True, f"{failing} of {total} websites are unreachable at once")
    return Verdict(False)
