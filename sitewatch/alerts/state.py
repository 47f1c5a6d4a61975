"""The alert state machine: pure transitions, no I/O.

Each (website, alert) pair has a state. ``failure_threshold`` consecutive
failures confirm DOWN and ``success_threshold`` consecutive successes confirm UP
again (confirmation both ways, so a flapping website does not page anyone). An
incident runs from the first failure of the streak that confirmed DOWN to the
check that confirmed UP.

Notifications: one DOWN per incident, reminders every ``reminder_interval``
while it lasts, one UP when it ends (if ``send_on_resolved`` and the DOWN went
out). While notifications are *held* (a maintenance window, or sitewatch's own
network looks down) DOWN and reminders wait: an incident still open when the
hold ends is notified at its next check. A recovery whose DOWN was sent is
always sent: it closes what people were told.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

Status = Literal["up", "down"]
Notice = Literal["down", "reminder", "up"]


@dataclass(frozen=True, slots=True)
class Rule:
    """The parts of an alert's config the state machine reads."""

    failure_threshold: int = 3
    success_threshold: int = 2
    send_on_resolved: bool = True
    reminder_interval: float | None = None  # seconds
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Observation:
    """One check result, as the state machine sees it."""

    ok: bool
    at: datetime
    error_kind: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class AlertState:
    status: Status = "up"
    failures: int = 0  # consecutive failures (counting toward DOWN while up)
    successes: int = 0  # consecutive successes (counting toward UP while down)
    first_failure_at: datetime | None = None  # start of the streak / incident
    cause_kind: str | None = None  # of the first failure
    cause_message: str | None = None
    notified: bool = False  # the DOWN of the current incident went out
    last_sent_at: datetime | None = None  # last DOWN or reminder


@dataclass(frozen=True, slots=True)
class Transition:
    state: AlertState
    notices: tuple[Notice, ...] = ()
    opened: bool = False  # an incident was confirmed by this observation
    closed: bool = False  # the open incident ended with this observation


def step(state: AlertState, rule: Rule, seen: Observation, *, hold: bool = False) -> Transition:
    """The state after ``seen``, and what to tell people about it."""
    if seen.ok:
        if state.status == "up":
            if state.failures == 0:
                return Transition(state)
            return Transition(AlertState())  # a streak of failures broken: no incident
        successes = state.successes + 1
        if successes < rule.success_threshold:
            return Transition(replace(state, successes=successes, failures=0))
        tell = rule.enabled and rule.send_on_resolved and state.notified
        return Transition(AlertState(), ("up",) if tell else (), closed=True)

    if state.status == "up":
        failures = state.failures + 1
        first = state.first_failure_at is None
        streak = replace(
            state,
            failures=failures,
            successes=0,
            first_failure_at=seen.at if first else state.first_failure_at,
            cause_kind=seen.error_kind if first else state.cause_kind,
            cause_message=seen.error_message if first else state.cause_message,
        )
        if failures < rule.failure_threshold:
            return Transition(streak)
        tell = rule.enabled and not hold
        down = replace(
            streak,
            status="down",
            notified=tell,
            last_sent_at=seen.at if tell else None,
        )
        return Transition(down, ("down",) if tell else (), opened=True)

    # Down and still failing.
    state = replace(state, failures=state.failures + 1, successes=0)
    if not rule.enabled or hold:
        return Transition(state)
    if not state.notified:
        return Transition(replace(state, notified=True, last_sent_at=seen.at), ("down",))
    due = (
        rule.reminder_interval is not None
        and state.last_sent_at is not None
        and (seen.at - state.last_sent_at).total_seconds() >= rule.reminder_interval
    )
    if due:
        return Transition(replace(state, last_sent_at=seen.at), ("reminder",))
    return Transition(state)
