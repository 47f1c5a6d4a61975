"""The connectivity guard: is it the websites that are down, or sitewatch's own
network? Pure decisions here; the canary probe runs in the service.

When most websites fail at once, or the optional canary URL (something that is
always up, e.g. your own gateway) fails, sitewatch assumes the problem is on its
side: DOWN notifications are held and the log and status say so. Outages that
are still there when the network returns are notified at their next check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    failure_ratio: float = 0.5  # share of websites failing at once that means "it's us"
    min_websites: int = 5  # below this many websites, a majority proves nothing


@dataclass(frozen=True, slots=True)
class Verdict:
    offline: bool
    reason: str | None = None


def judge(latest_ok: Mapping[int, bool], policy: GuardPolicy, canary_ok: bool | None) -> Verdict:
    """``latest_ok``: each website's last result; ``canary_ok``: None without a canary."""
    if canary_ok is False:
        return Verdict(True, "the canary URL fails")
    total = len(latest_ok)
    if total < policy.min_websites:
        return Verdict(False)
    failing = total - sum(latest_ok.values())
    if failing / total >= policy.failure_ratio:
        return Verdict(True, f"{failing} of {total} websites fail at once")
    return Verdict(False)
