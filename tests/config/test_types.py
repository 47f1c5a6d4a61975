"""Pure value types: durations, slugs, status sets, references."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from sitewatch.config.envsubst import EnvError, escape, refers, substitute
from sitewatch.config.types import (
    _SPACE,
    check_http_url,
    format_duration,
    parse_duration,
    slugify,
    status_matcher,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("1.5s", 1.5),
        ("2d", 172800),
        (45, 45),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1h 30", "-1s", "abc"])
def test_parse_duration_rejects(text: str) -> None:
    for _ in range(2):  # the second time from the cache, if errors were cached
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(text)


def test_the_url_space_test_is_str_isspace() -> None:
    """check_http_url's regex and str.isspace agree on every code point."""
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(_SPACE.search(char)) is char.isspace(), hex(code)
    with pytest.raises(PydanticCustomError, match="cannot contain spaces"):
        check_http_url("https://example.com/a\u3000b")
    assert check_http_url("https://example.com/a%20b") == "https://example.com/a%20b"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (90, "1m30s"), (3600, "1h"), (0.25, "250ms"), (86400 + 1, "1d1s"), (0, "0s")],
)
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Shop", "shop"),
        ("Shop: Checkout (EU)", "shop-checkout-eu"),
        ("Ünïcode Straße", "unicode-strae"),
        ("!!!", ""),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_status_matcher() -> None:
    match = status_matcher(["2xx", "301", "400-404"])
    assert [c for c in (199, 200, 299, 300, 301, 302, 400, 404, 405) if match(c)] == [
        200,
        299,
        301,
        400,
        404,
    ]


@pytest.mark.parametrize(
    ("text", "env", "out"),
    [
        ("plain", {}, "plain"),
        ("${A}", {"A": "1"}, "1"),
        ("x${A}y${B}z", {"A": "1", "B": "2"}, "x1y2z"),
        ("$$", {}, "$"),
        ("$${A}", {"A": "1"}, "${A}"),
        ("ok$", {}, "ok$"),
        ("a$b", {}, "a$b"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fallback}", {"A": "set"}, "set"),
    ],
)
def test_substitute(text: str, env: dict[str, str], out: str) -> None:
    assert substitute(text, env) == out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${MISSING}", "environment variable MISSING is not set"),
        ("${", "unterminated"),
        ("${a b}", "invalid reference"),
    ],
)
def test_substitute_errors(text: str, message: str) -> None:
    with pytest.raises(EnvError, match=message):
        substitute(text, {})


@pytest.mark.parametrize("text", ["", "$", "$$", "${X}", "a$b$$c"])
def test_escape_is_the_inverse_of_substitute(text: str) -> None:
    assert substitute(escape(text), {"X": "nope"}) == text


class _Every(Mapping[str, str]):
    """An environment where every name is set, to a value that names it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __getitem__(self, name: str) -> str:
        return f"<{self.prefix}{name}>"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@given(st.text(alphabet="${}AB:-. ", max_size=14))
def test_refers_is_whether_the_environment_matters(text: str) -> None:
    """``refers``: a value is a template (kept out of stored forms, refused where it
    would be published) exactly when the environment changes what it resolves to,
    not when it only holds ``$$`` escapes or a lone ``$``."""

    def outcome(env: Mapping[str, str]) -> str | None:
        try:
            return substitute(text, env)
        except EnvError:
            return None

    matters = outcome(_Every("1")) is None or outcome(_Every("1")) != outcome(_Every("2"))
    assert refers(text) == matters


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$$", False),
        ("$${A}", False),
        ("$.status", False),
        ("ok$", False),
        ("$$${A}", True),
        ("${A}", True),
        ("a${A:-x}", True),
        ("${", True),
    ],
)
def test_refers(text: str, expected: bool) -> None:
    assert refers(text) is expected
