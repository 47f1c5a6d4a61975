"""Session cookies and CSRF tokens: signed, expiring, not forgeable."""

from __future__ import annotations

import time

import pytest

from sitewatch.web.auth import TokenPolicy
from sitewatch.web.dashboard.actions import _safe_next
from sitewatch.web.dashboard.session import Session, Sessions

POLICY = TokenPolicy(write=("w-token-0123456789",), read=("r-token-0123456789",))


def test_login_gives_the_token_role() -> None:
    sessions = Sessions(POLICY)
    assert sessions.login_required
    write, read = sessions.login("w-token-0123456789"), sessions.login(" r-token-0123456789 ")
    assert write is not None and write.role == "write" and write.may_write
    assert read is not None and read.role == "read" and not read.may_write
    assert sessions.login("nope") is None
    assert sessions.login("") is None


def test_cookie_round_trip_and_tampering() -> None:
    sessions = Sessions(POLICY)
    s = sessions.new("read")
    value = sessions.encode(s)
    assert sessions.decode(value) == s
    body, _, sig = value.partition(".")
    forged = sessions.encode(Session(s.sid, "write", s.expires)).partition(".")[0]
    assert sessions.decode(f"{forged}.{sig}") is None  # role changed, old signature
    assert sessions.decode(f"{body}.{sig[:-2]}xx") is None
    assert sessions.decode("garbage") is None
    assert sessions.decode("%%%.%%%") is None
    assert sessions.decode(value, now=time.time() + 13 * 3600) is None  # expired


def test_key_comes_from_the_tokens() -> None:
    """Restarts and other instances accept the cookie; new tokens log everyone out."""
    s = Sessions(POLICY).new("write")
    value = Sessions(POLICY).encode(s)
    assert (
        Sessions(TokenPolicy(write=("w-token-0123456789",), read=("r-token-0123456789",))).decode(
            value
        )
        == s
    )
    assert Sessions(TokenPolicy(write=("other",))).decode(value) is None


def test_anonymous_sessions_only_without_tokens() -> None:
    open_sessions = Sessions(TokenPolicy())
    assert not open_sessions.login_required
    anon = open_sessions.new("anonymous")
    assert anon.may_write
    locked = Sessions(POLICY)
    assert locked.decode(locked.encode(anon)) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    sessions = Sessions(POLICY)
    a, b = sessions.new("write"), sessions.new("write")
    token = sessions.csrf_token(a)
    assert sessions.csrf_ok(a, token)
    assert not sessions.csrf_ok(b, token)
    assert not sessions.csrf_ok(a, None)
    assert not sessions.csrf_ok(a, "")


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/websites?tag=prod", "/websites?tag=prod"),
        ("/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/\t/evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_login_redirects_only_to_paths_of_this_site(target: str, safe: str) -> None:
    assert _safe_next(target) == safe
