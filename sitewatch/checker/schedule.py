"""Due-time maths: pure functions of wall-clock seconds, tested without I/O.

Every website runs on a fixed grid: ``phase + k * interval``, where the phase is
derived from its key. That one rule gives what the scheduler promises:

- fixed rate: the next run is the next grid point, however long a check took;
- spread: phases are uniform over the interval, so 10,000 websites with the
  same interval do not fire in the same second;
- stable: the same key and interval give the same grid after a reload or a
  restart (and on every instance sharing a database), and after a restart every
  website is due again within one interval.

While a website fails and has a ``retry_interval``, it is checked on a grid of
that shorter step anchored at the failed run, until a check passes.
"""

from __future__ import annotations

import hashlib
import math


def phase(key: str, interval: float) -> float:
    """The website's offset within its interval, in [0, interval)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


def next_slot(after: float, interval: float, offset: float) -> float:
    """The first grid point ``offset + k * interval`` strictly after ``after``."""
    k = math.floor((after - offset) / interval) + 1
    slot = offset + k * interval
    # Guard against float rounding putting the slot at or before ``after``.
    return slot if slot > after else slot + interval


def next_due(
    *,
    due: float,
    now: float,
    interval: float,
    offset: float,
    failing: bool,
    retry_interval: float | None,
) -> float:
    """When to run again after the run that was due at ``due`` finished at ``now``.

    Slots that passed while the check ran (or waited for a free slot) are
    skipped, never run back to back to catch up.
    """
    if failing and retry_interval is not None and retry_interval < interval:
        steps = max(math.floor((now - due) / retry_interval) + 1, 1)
        return due + steps * retry_interval
    return next_slot(max(due, now), interval, offset)


def first_due(key: str, interval: float, last_checked: float | None, now: float) -> float:
    """When a website falls due at start: the slot after its last check (in the
    past when that slot went by while sitewatch was down), else its next slot."""
    return next_slot(now if last_checked is None else last_checked, interval, phase(key, interval))
