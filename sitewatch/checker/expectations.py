"""Judging a response against a website's expectations: pure functions, no I/O.

The probe gathers facts (status, body, timings, certificate expiry); this module
decides pass or fail and writes the message a person reads on the dashboard.
The first failing expectation wins, in the order status, body, JSON, speed,
certificate: the most fundamental problem is the one worth reporting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sitewatch.config.jsonpath import Step, find, parse_json_path
from sitewatch.config.models import JsonAssertion, Website
from sitewatch.config.regex import Pattern, compile_regex
from sitewatch.config.types import format_duration, status_matcher

Failure = tuple[str, str]  # (error kind, message)


@dataclass(frozen=True, slots=True)
class JsonCheck:
    path: str
    steps: tuple[Step, ...]
    condition: str
    expected: Any
    pattern: Pattern | None = None


@dataclass(frozen=True, slots=True)
class Expectations:
    statuses: tuple[str, ...] = ("2xx",)
    status_ok: Callable[[int], bool] = field(default=lambda code: 200 <= code <= 299)
    body_contains: tuple[str, ...] = ()
    body_regex: Pattern | None = None
    json_checks: tuple[JsonCheck, ...] = ()
    max_response_ms: float | None = None
    tls_expiry_days: int | None = None

    @property
    def needs_body(self) -> bool:
        return bool(self.body_contains or self.body_regex or self.json_checks)

    @classmethod
    def of(cls, website: Website) -> Expectations:
        return cls(
            statuses=tuple(website.expected_status),
            status_ok=status_matcher(list(website.expected_status)),
            body_contains=tuple(website.body_contains),
            body_regex=compile_regex(website.body_regex) if website.body_regex else None,
            json_checks=tuple(_json_check(a) for a in website.json_assertions),
            max_response_ms=(
                website.max_response_time * 1000 if website.max_response_time else None
            ),
            tls_expiry_days=website.tls_expiry_days,
        )


def _json_check(assertion: JsonAssertion) -> JsonCheck:
    condition = assertion.condition
    expected = getattr(assertion, condition)
    pattern = None
    if condition == "matches" and assertion.matches is not None:
        pattern = compile_regex(assertion.matches)
    return JsonCheck(assertion.path, parse_json_path(assertion.path), condition, expected, pattern)


def evaluate(
    expect: Expectations,
    *,
    status: int,
    body: bytes | None,
    total_ms: float,
    cert_expires_at: datetime | None,
    now: datetime,
    charset: str = "utf-8",
) -> Failure | None:
    """``None`` when every expectation holds; else the first failure.

    ``body`` is ``None`` when it was larger than the read limit.
    """
    if not expect.status_ok(status):
        return "status", f"got {status}, expected {_statuses(expect.statuses)}"
    if expect.needs_body:
        if body is None:
            return "too_large", "the body is larger than the read limit; body checks need all of it"
        failure = _body(expect, body, charset)
        if failure:
            return failure
    if expect.max_response_ms is not None and total_ms > expect.max_response_ms:
        return (
            "slow",
            f"answered in {total_ms:.0f} ms, over max_response_time "
            f"{format_duration(expect.max_response_ms / 1000)}",
        )
    if expect.tls_expiry_days is not None and cert_expires_at is not None:
        days = (cert_expires_at - now).total_seconds() / 86400
        if days < expect.tls_expiry_days:
            return (
                "tls",
                f"the certificate expires in {max(days, 0):.1f} days "
                f"({cert_expires_at:%Y-%m-%d %H:%M} UTC), within tls_expiry_days "
                f"{expect.tls_expiry_days}",
            )
    return None


def _statuses(statuses: tuple[str, ...]) -> str:
    return " or ".join(statuses)


def _body(expect: Expectations, body: bytes, charset: str) -> Failure | None:
    text = body.decode(charset, errors="replace")
    for needle in expect.body_contains:
        if needle not in text:
            return "assertion", f"body_contains: {needle!r} not found in the body"
    if expect.body_regex is not None and not expect.body_regex.search(text):
        return "assertion", f"body_regex: /{expect.body_regex.pattern}/ does not match the body"
    if expect.json_checks:
        try:
            document = json.loads(text)
        except ValueError as exc:
            return "assertion", f"json_assertions: the body is not JSON ({exc})"
        except RecursionError:
            return "assertion", "json_assertions: the body's JSON is nested too deeply to read"
        for check in expect.json_checks:
            failure = check_json(check, document)
            if failure:
                return "assertion", f"json_assertions: {check.path} {failure}"
    return None


def check_json(check: JsonCheck, document: Any) -> str | None:
    """``None`` when the assertion holds, else what was seen.

    A path with ``[*]`` must select at least one value, and every value it
    selects must satisfy the condition (``exists`` asks only for presence).
    """
    values = list(find(document, check.steps))
    if check.condition == "exists":
        if bool(values) != bool(check.expected):
            return "does not exist" if check.expected else f"exists (= {_show(values[0])})"
        return None
    if not values:
        return "does not exist"
    for value in values:
        problem = _condition(check, value)
        if problem:
            return problem
    return None


def _condition(check: JsonCheck, value: Any) -> str | None:
    expected = check.expected
    if check.condition == "equals":
        if not _equal(value, expected):
            return f"is {_show(value)}, expected {_show(expected)}"
    elif check.condition == "contains":
        if str(expected) not in _text(value):
            return f"is {_show(value)}, which does not contain {expected!r}"
    elif check.condition == "matches":
        assert check.pattern is not None
        if not check.pattern.search(_text(value)):
            return f"is {_show(value)}, which does not match /{check.pattern.pattern}/"
    else:
        if not _is_number(value):
            return f"is {_show(value)}, not a number"
        if check.condition == "less_than" and not value < expected:
            return f"is {_show(value)}, expected less than {_show(expected)}"
        if check.condition == "greater_than" and not value > expected:
            return f"is {_show(value)}, expected greater than {_show(expected)}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    return bool(value == expected)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _show(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 80 else text[:77] + "..."
