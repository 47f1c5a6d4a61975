"""Expectations and JSON paths, without I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sitewatch.checker.expectations import Expectations, evaluate
from sitewatch.config.jsonpath import WILDCARD, find, parse_json_path
from sitewatch.config.models import Website

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def expect(**spec: Any) -> Expectations:
    return Expectations.of(Website.model_validate({"name": "x", "url": "http://a.test/", **spec}))


def judge(
    e: Expectations,
    status: int = 200,
    body: bytes | None = b"",
    ms: float = 10,
    cert: datetime | None = None,
) -> tuple[str, str] | None:
    return evaluate(e, status=status, body=body, total_ms=ms, cert_expires_at=cert, now=NOW)


def test_status_comes_first() -> None:
    e = expect(body_contains="ok", max_response_time="1s")
    assert judge(e, status=503, body=b"", ms=5000) == ("status", "got 503, expected 2xx")


def test_order_body_then_speed_then_certificate() -> None:
    e = expect(body_contains="ok", max_response_time="1s", tls_expiry_days=10)
    soon = NOW + timedelta(days=2)
    assert judge(e, body=b"nope", ms=5000, cert=soon) == (
        "assertion",
        "body_contains: 'ok' not found in the body",
    )
    assert judge(e, body=b"ok", ms=5000, cert=soon) == (
        "slow",
        "answered in 5000 ms, over max_response_time 1s",
    )
    kind, message = judge(e, body=b"ok", ms=5, cert=soon) or ("", "")
    assert kind == "tls" and message.startswith(
        "the certificate expires in 2.0 days (2026-11-30 12:00 UTC)"
    )
    assert judge(e, body=b"ok", ms=5, cert=NOW + timedelta(days=11)) is None


def test_body_is_not_needed_without_body_checks() -> None:
    assert judge(expect(), body=None) is None
    assert judge(expect(body_regex="x"), body=None) == (
        "too_large",
        "the body is larger than the read limit; body checks need all of it",
    )


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", ()),
        ("$.a.b", ("a", "b")),
        ("$.items[0].id", ("items", 0, "id")),
        ("$['odd key'][\"x\"]", ("odd key", "x")),
        ("$.items[*].ok", ("items", WILDCARD, "ok")),
        ("$.a.*", ("a", WILDCARD)),
        ("$.list[-1]", ("list", -1)),
    ],
)
def test_json_path_parses(path: str, steps: tuple[object, ...]) -> None:
    assert parse_json_path(path) == steps


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("status", "a JSON path starts with $"),
        ("$..a", "recursive descent (..) is not supported"),
        ("$.items[?(@.ok)]", "filter expressions ([?...]) are not supported"),
        ("$.", "expected a key name after '.'"),
        ("$.a[x]", "unexpected '[x]'"),
    ],
)
def test_json_path_errors_are_clear(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_json_path(path)


def test_find_selects_every_match() -> None:
    doc = {"items": [{"ok": True}, {"ok": False}, {"other": 1}]}
    assert list(find(doc, parse_json_path("$.items[*].ok"))) == [True, False]
    assert list(find(doc, parse_json_path("$.items[5].ok"))) == []


def test_json_assertion_needs_exactly_one_condition() -> None:
    with pytest.raises(
        ValidationError,
        match="give exactly one of equals, contains, matches, exists, less_than, greater_than",
    ):
        expect(json_assertions=[{"path": "$.a", "equals": 1, "exists": True}])
    with pytest.raises(ValidationError, match="recursive descent"):
        expect(json_assertions=[{"path": "$..a", "exists": True}])


def test_wildcard_requires_every_value() -> None:
    e = expect(json_assertions=[{"path": "$.items[*].ok", "equals": True}])
    body = b'{"items": [{"ok": true}, {"ok": false}]}'
    assert judge(e, body=body) == (
        "assertion",
        "json_assertions: $.items[*].ok is false, expected true",
    )
    assert judge(e, body=b'{"items": [{"ok": true}]}') is None
    assert judge(e, body=b'{"items": []}') == (
        "assertion",
        "json_assertions: $.items[*].ok does not exist",
    )


def test_equals_does_not_confuse_true_and_one() -> None:
    e = expect(json_assertions=[{"path": "$.n", "equals": 1}])
    assert judge(e, body=b'{"n": true}') is not None
    assert judge(e, body=b'{"n": 1.0}') is None
