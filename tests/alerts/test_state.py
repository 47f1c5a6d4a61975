"""The alert state machine, table-driven: sequences of check outcomes in, the
notices and incidents they cause out. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sitewatch.alerts.state import AlertState, Observation, Rule, step

T0 = datetime(2026, 11, 28, 12, tzinfo=UTC)


def run(
    rule: Rule, pattern: str, *, every: float = 30, hold: str = ""
) -> tuple[list[str], AlertState]:
    """Feed ``pattern`` ("." passes, "x" fails) one check per ``every`` seconds;
    ``hold`` marks with "h" the checks during which notifications are held.
    Returns one token per check: the notices, "+" opened, "-" closed, "" nothing."""
    state = AlertState()
    out: list[str] = []
    for i, c in enumerate(pattern):
        seen = Observation(
            c == ".", T0 + timedelta(seconds=every * i), None if c == "." else "status", None
        )
        held = i < len(hold) and hold[i] == "h"
        t = step(state, rule, seen, hold=held)
        token = ",".join(t.notices) + ("+" if t.opened else "") + ("-" if t.closed else "")
        out.append(token)
        state = t.state
    return out, state


@pytest.mark.parametrize(
    ("rule", "pattern", "expected"),
    [
        # Three failures confirm DOWN (one DOWN), two successes confirm UP.
        (Rule(3, 2), "..xxx..", ["", "", "", "", "down+", "", "up-"]),
        # Flapping below the threshold: nothing at all.
        (Rule(3, 2), "xx.xx.xx.", [""] * 9),
        # A single success inside an outage does not end it.
        (Rule(2, 2), "xx.x..", ["", "down+", "", "", "", "up-"]),
        # send_on_resolved false: the incident closes silently.
        (Rule(1, 1, send_on_resolved=False), "x.", ["down+", "-"]),
        # Disabled alert: incidents are tracked, nobody is told.
        (Rule(1, 1, enabled=False), "xx.", ["+", "", "-"]),
        # Threshold 1 both ways.
        (Rule(1, 1), "x.x.", ["down+", "up-", "down+", "up-"]),
    ],
)
def test_thresholds_and_notices(rule: Rule, pattern: str, expected: list[str]) -> None:
    assert run(rule, pattern)[0] == expected


def test_reminders_repeat_at_the_interval_while_down() -> None:
    tokens, _ = run(Rule(1, 1, reminder_interval=90), "xxxxxxxx.", every=30)
    # DOWN at 0 s; reminders at 90 s and 180 s; up at 240 s.
    assert tokens == ["down+", "", "", "reminder", "", "", "reminder", "", "up-"]


def test_held_down_is_sent_when_the_hold_ends_and_not_at_all_if_it_recovers() -> None:
    tokens, _ = run(Rule(2, 1), "xxxxx.", hold="hhh")
    assert tokens == ["", "+", "", "down", "", "up-"]
    tokens, _ = run(Rule(2, 1), "xxx.", hold="hhhh")
    assert tokens == ["", "+", "", "-"]  # resolved inside the hold: no DOWN, no UP


def test_no_reminder_while_held_but_recovery_of_a_sent_down_is_sent() -> None:
    tokens, _ = run(Rule(1, 1, reminder_interval=60), "xxxx.", every=60, hold="_hhhh")
    assert tokens == ["down+", "", "", "", "up-"]


def test_incident_starts_at_the_first_failure_with_its_cause() -> None:
    state = AlertState()
    rule = Rule(3, 1)
    causes = ["refused", "timeout", "status"]
    for i, kind in enumerate(causes):
        state = step(state, rule, Observation(False, T0 + timedelta(seconds=i), kind, kind)).state
    assert (state.status, state.first_failure_at, state.cause_kind) == ("down", T0, "refused")
