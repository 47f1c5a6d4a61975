"""Applies check results to the alert states, inside the result writer's transaction.

For each result of a website that has alerts: is a maintenance window open for
it, does the connectivity guard hold notifications, and what does the state
machine say? State changes, incidents and outbox rows are written on the
caller's connection, so they commit (or not) together with the results.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from sitewatch.alerts import payload
from sitewatch.alerts.guard import GuardPolicy, Verdict, judge, unreachable
from sitewatch.alerts.maintenance import Opening, in_maintenance
from sitewatch.alerts.state import AlertState, Observation, Rule, step
from sitewatch.config.envsubst import EnvError, resolve
from sitewatch.config.models import AlertRule, AnyWindow, stored_windows
from sitewatch.store import alerting as store
from sitewatch.store.engine import Connection
from sitewatch.store.types import utcnow

log = logging.getLogger("sitewatch.alerts")

RULE_FIELDS = ("failure_threshold", "success_threshold", "send_on_resolved", "reminder_interval")


class Timed(Protocol):
    @property
    def dns_ms(self) -> float | None: ...
    @property
    def connect_ms(self) -> float | None: ...
    @property
    def tls_ms(self) -> float | None: ...
    @property
    def first_byte_ms(self) -> float | None: ...
    @property
    def total_ms(self) -> float | None: ...


def _phases(timed: Timed | None) -> dict[str, float | None] | None:
    if timed is None:
        return None
    return {
        "dns_ms": timed.dns_ms,
        "connect_ms": timed.connect_ms,
        "tls_ms": timed.tls_ms,
        "first_byte_ms": timed.first_byte_ms,
        "total_ms": timed.total_ms,
    }


class Outcome(Protocol):
    """What the engine reads of a check result (the checker's ``CheckResult``)."""

    @property
    def website_id(self) -> int: ...
    @property
    def checked_at(self) -> datetime: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def timings(self) -> Timed | None: ...


@dataclass(frozen=True, slots=True)
class Bound:
    alert_id: int
    alert_key: str
    rule: Rule


@dataclass(frozen=True, slots=True)
class Book:
    """Which alerts apply to which website, and the maintenance windows."""

    by_website: Mapping[int, tuple[Bound, ...]] = field(default_factory=dict)
    websites: Mapping[int, payload.WebsiteInfo] = field(default_factory=dict)
    windows: tuple[AnyWindow, ...] = ()


def rule_of(spec: Mapping[str, Any], environ: Mapping[str, str]) -> Rule:
    """The state machine's view of an alert (thresholds need no secrets)."""
    fields = {k: spec[k] for k in RULE_FIELDS if k in spec}
    try:
        parsed = AlertRule.model_validate({"name": spec["name"], **resolve(fields, environ)})
    except (EnvError, ValidationError) as exc:
        log.error("alert %s: %s; using the default thresholds", spec.get("name"), exc)
        parsed = AlertRule.model_validate({"name": spec["name"]})
    return Rule(
        failure_threshold=parsed.failure_threshold,
        success_threshold=parsed.success_threshold,
        send_on_resolved=parsed.send_on_resolved,
        reminder_interval=parsed.reminder_interval,
        enabled=bool(spec.get("enabled", True)),
    )


def build_book(
    bindings: Iterable[store.Binding],
    windows: Iterable[Mapping[str, Any]],
    environ: Mapping[str, str],
) -> Book:
    rules: dict[int, Rule] = {}
    by_website: dict[int, list[Bound]] = {}
    websites: dict[int, payload.WebsiteInfo] = {}
    for b in bindings:
        rule = rules.get(b.alert_id)
        if rule is None:
            rule = rules[b.alert_id] = rule_of(b.alert_spec, environ)
        by_website.setdefault(b.website_id, []).append(Bound(b.alert_id, b.alert_key, rule))
        websites[b.website_id] = payload.WebsiteInfo(
            b.website_id,
            b.website_key,
            b.website_name,
            b.website_url,
            b.website_tags,
            b.website_type,
        )
    parsed, refused = stored_windows(windows)
    for name, why in refused:
        log.error("maintenance window %r does not validate, not applied: %s", name, why)
    return Book({k: tuple(v) for k, v in by_website.items()}, websites, parsed)


def _state(raw: Mapping[str, Any] | None) -> tuple[AlertState, int | None]:
    if raw is None:
        return AlertState(), None
    return (
        AlertState(
            status=raw["status"],
            failures=raw["failures"],
            successes=raw["successes"],
            first_failure_at=raw["first_failure_at"],
            cause_kind=raw["cause_kind"],
            cause_message=raw["cause_message"],
            notified=raw["notified"],
            last_sent_at=raw["last_sent_at"],
        ),
        raw["incident_id"],
    )


def _columns(state: AlertState, incident_id: int | None) -> dict[str, Any]:
    return {
        "status": state.status,
        "failures": state.failures,
        "successes": state.successes,
        "first_failure_at": state.first_failure_at,
        "cause_kind": state.cause_kind,
        "cause_message": state.cause_message,
        "notified": state.notified,
        "last_sent_at": state.last_sent_at,
        "incident_id": incident_id,
    }


def _why_held(window: Opening | None, verdict: Verdict) -> str:
    """What an incident confirmed during a hold records as its reason."""
    if window is not None:
        return f"maintenance window {window.window!r}"
    return f"sitewatch's own network looks down ({verdict.reason})"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    retry_for: float = 86400.0  # seconds to keep retrying a notification
    dashboard_url: str | None = None
    guard: GuardPolicy = field(default_factory=GuardPolicy)


class AlertEngine:
    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.book = Book()
        # website id -> its last check failed without an answer (the guard counts these)
        self.latest_unreachable: dict[int, bool] = {}
        self.canary_ok: bool | None = None
        self.verdict = Verdict(False)
        self.enqueued_total = 0
        self.held_total = 0  # DOWNs confirmed while notifications were held

    def set_book(self, book: Book, active_ids: Iterable[int]) -> None:
        self.book = book
        active = set(active_ids)
        self.latest_unreachable = {k: v for k, v in self.latest_unreachable.items() if k in active}

    def _judge(self) -> None:
        verdict = judge(self.latest_unreachable, self.options.guard, self.canary_ok)
        if verdict.offline and not self.verdict.offline:
            log.warning(
                "sitewatch's own network looks down (%s): DOWN notifications are held",
                verdict.reason,
            )
        elif self.verdict.offline and not verdict.offline:
            log.warning("the network is back: outages still open will be notified")
        self.verdict = verdict

    async def apply(self, conn: Connection, results: Sequence[Outcome]) -> int:
        """Move the states on by ``results``; the number of notifications queued.

        Results of kind ``internal`` (sitewatch could not check) say nothing about
        the website: they never move a state, nor count for the connectivity guard."""
        results = [r for r in results if r.error_kind != "internal"]
        for r in results:
            self.latest_unreachable[r.website_id] = unreachable(r.ok, r.error_kind)
        self._judge()
        book = self.book
        relevant = sorted(
            (r for r in results if r.website_id in book.by_website), key=lambda r: r.checked_at
        )
        if not relevant:
            return 0
        states = await store.load_states(conn, (r.website_id for r in relevant))
        changed: dict[tuple[int, int], dict[str, Any]] = {}
        resolved: list[dict[str, Any]] = []
        notified: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for r in relevant:
            site = book.websites[r.website_id]
            window = in_maintenance(book.windows, site.key, site.tags, r.checked_at)
            hold = self.verdict.offline or window is not None
            seen = Observation(r.ok, r.checked_at, r.error_kind, r.error_message)
            for bound in book.by_website[r.website_id]:
                key = (r.website_id, bound.alert_id)
                before, incident_id = _state(states.get(key))
                t = step(before, bound.rule, seen, hold=hold)
                if t.opened:
                    held = bound.rule.enabled and not t.state.notified
                    if held:
                        self.held_total += 1
                    incident_id = await store.open_incident(
                        conn,
                        website_id=r.website_id,
                        alert_id=bound.alert_id,
                        started_at=t.state.first_failure_at or r.checked_at,
                        confirmed_at=r.checked_at,
                        cause_kind=t.state.cause_kind,
                        cause_message=t.state.cause_message,
                        notified=t.state.notified,
                        held_reason=_why_held(window, self.verdict) if held else None,
                    )
                elif "down" in t.notices and incident_id is not None:
                    notified.append(
                        {"incident_id": incident_id, "resolved_at": None, "notified": True}
                    )
                incident_state = before if t.closed else t.state
                for notice in t.notices:
                    messages.append(
                        self._message(notice, r, site, bound, incident_id, incident_state)
                    )
                if t.closed and incident_id is not None:
                    resolved.append(
                        {
                            "incident_id": incident_id,
                            "resolved_at": r.checked_at,
                            "notified": before.notified,
                        }
                    )
                    incident_id = None
                if t.state != before or key not in states:
                    row = _columns(t.state, incident_id)
                    states[key] = row
                    changed[key] = {
                        "website_id": key[0],
                        "alert_id": key[1],
                        "updated_at": r.checked_at,
                        **row,
                    }
        await store.save_states(conn, list(changed.values()))
        await store.update_incidents(conn, notified + resolved)
        await store.enqueue(conn, messages)
        self.enqueued_total += len(messages)
        return len(messages)

    def _message(
        self,
        kind: str,
        r: Outcome,
        site: payload.WebsiteInfo,
        bound: Bound,
        incident_id: int | None,
        state: AlertState,
    ) -> dict[str, Any]:
        event_id = str(uuid.uuid4())
        now = utcnow()
        ev = payload.event(
            kind=kind,
            event_id=event_id,
            at=r.checked_at,
            alert=bound.alert_key,
            website=site,
            incident=payload.incident_info(
                incident_id,
                state.first_failure_at,
                r.checked_at if kind == "up" else None,
                state.cause_kind,
                state.cause_message,
                site.key,
            ),
            last_result=payload.result_info(
                r.checked_at,
                r.ok,
                r.status_code,
                r.timings.total_ms if r.timings else None,
                r.error_kind,
                r.error_message,
                _phases(r.timings),
            ),
            dashboard_url=self.options.dashboard_url,
        )
        return {
            "event_id": event_id,
            "alert_id": bound.alert_id,
            "website_id": site.id,
            "incident_id": incident_id,
            "kind": kind,
            "payload": ev,
            "created_at": now,
            "next_attempt_at": now,
            "deadline_at": now + timedelta(seconds=self.options.retry_for),
        }

    async def test_message(self, conn: Connection, alert_id: int, alert_key: str) -> str:
        """Queue a test notification for an alert; its event id."""
        event_id = str(uuid.uuid4())
        now = utcnow()
        ev = payload.event(
            kind="test",
            event_id=event_id,
            at=now,
            alert=alert_key,
            website=None,
            dashboard_url=self.options.dashboard_url,
        )
        await store.enqueue(
            conn,
            [
                {
                    "event_id": event_id,
                    "alert_id": alert_id,
                    "website_id": None,
                    "incident_id": None,
                    "kind": "test",
                    "payload": ev,
                    "created_at": now,
                    "next_attempt_at": now,
                    "deadline_at": now + timedelta(seconds=self.options.retry_for),
                }
            ],
        )
        self.enqueued_total += 1
        return event_id
