"""Due-time maths, without I/O."""

from __future__ import annotations

import statistics

import pytest

from sitewatch.checker.schedule import first_due, next_due, next_slot, phase


def test_phase_is_stable_and_within_the_interval() -> None:
    assert phase("shop", 30) == phase("shop", 30)
    assert 0 <= phase("shop", 30) < 30
    assert phase("shop", 30) != phase("blog", 30)


def test_phases_spread_evenly_over_the_interval() -> None:
    # 10,000 websites on one 30 s interval: about 333 per second, never a pile-up.
    per_second = [0] * 30
    for n in range(10_000):
        per_second[int(phase(f"site-{n}", 30))] += 1
    assert max(per_second) < 400 and min(per_second) > 270
    assert abs(statistics.mean(per_second) - 333.3) < 1


@pytest.mark.parametrize(
    ("after", "expected"),
    [(0.0, 7.0), (6.9, 7.0), (7.0, 37.0), (36.0, 37.0), (100.0, 127.0)],
)
def test_next_slot_is_the_first_grid_point_after(after: float, expected: float) -> None:
    assert next_slot(after, 30, 7) == pytest.approx(expected)


def test_fixed_rate_does_not_add_the_run_time() -> None:
    # Due at 37, the check took 4 s: the next run is at 67, not 71.
    assert next_due(due=37, now=41, interval=30, offset=7, failing=False, retry_interval=None) == 67


def test_missed_slots_are_skipped_not_caught_up() -> None:
    # The check ran 75 s late: the next run is the next grid point after now.
    assert (
        next_due(due=37, now=112, interval=30, offset=7, failing=False, retry_interval=None) == 127
    )


def test_retry_interval_while_failing_then_back_to_the_grid() -> None:
    failing = next_due(due=37, now=38, interval=60, offset=37, failing=True, retry_interval=10)
    assert failing == 47
    late = next_due(due=47, now=69, interval=60, offset=37, failing=True, retry_interval=10)
    assert late == 77  # fixed rate on the retry grid too
    assert next_due(due=77, now=78, interval=60, offset=37, failing=False, retry_interval=10) == 97


def test_retry_interval_longer_than_interval_is_ignored() -> None:
    assert next_due(due=7, now=8, interval=30, offset=7, failing=True, retry_interval=60) == 37


def test_first_due_puts_a_slot_missed_while_down_first() -> None:
    """The checker's first load builds the websites in this order."""
    now = 10_000.0
    missed = first_due("shop", 30, now - 45, now)  # the slot after its last check went by
    never = first_due("blog", 30, None, now)  # never checked: its next slot
    recent = first_due("docs", 30, now - 1, now)
    assert missed <= now < never and now < recent
    assert never == next_slot(now, 30, phase("blog", 30))
    assert recent == next_slot(now - 1, 30, phase("docs", 30))
