"""Value types of the configuration: durations, keys, tags, URLs, status sets.

Each is a pydantic type with a plain-English error message and a JSON Schema, so
editors and ``sitewatch validate`` say the same thing.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import yarl
from pydantic import (
    AfterValidator,
    BeforeValidator,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# -- durations -------------------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"
MAX_DURATION = 100 * 365 * 86400.0  # past any field's own maximum, far from overflow


def _short(value: object) -> str:
    """A value for an error message, cut short: a 309-digit number is not worth quoting."""
    if isinstance(value, int) and abs(value).bit_length() > 200:
        return "a number with more than 60 digits"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: object) -> float:
    """``"1h30m"`` -> 5400.0; numbers are seconds. Raises ``ValueError`` with a hint."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h (got {value!r})")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"a duration must be a finite number (got {value!r})")
        if value < 0:
            raise ValueError(f"a duration cannot be negative (got {_short(value)})")
        if value > MAX_DURATION:
            raise ValueError(f"a duration this long is not meaningful (got {_short(value)})")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h (got {value!r})")
    return _parse_text(value)


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> float:
    """Cached: every website repeats the same few ("30s", "10s"); errors are not cached."""
    text = value.strip().lower().replace(" ", "")
    if len(text) > 64:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h (got {_short(value)})")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not math.isfinite(total) or total > MAX_DURATION:
        raise ValueError(f"a duration this long is not meaningful (got {_short(value)})")
    if not text or pos != len(text):
        hint = " (add a unit: ms, s, m, h or d)" if text.replace(".", "").isdigit() else ""
        raise ValueError(f"expected a duration such as 30s, 5m or 1h{hint} (got {value!r})")
    return total


def format_duration(seconds: float) -> str:
    """5400.0 -> ``"1h30m"``; the shortest exact spelling in the config's own units."""
    if seconds <= 0:
        return "0s"
    millis = round(seconds * 1000)
    if millis % 1000:
        whole, ms = divmod(millis, 1000)
        return (format_duration(whole) if whole else "") + f"{ms}ms"
    rest = millis // 1000
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            out += f"{count}{unit}"
    return out


@dataclass(frozen=True, slots=True)
class DurationRange:
    """Annotated marker: a duration in seconds within [minimum, maximum]."""

    minimum: float = 0.0
    maximum: float | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                format_duration, when_used="json"
            ),
            json_schema_input_schema=core_schema.union_schema(
                [core_schema.str_schema(pattern=DURATION_PATTERN), core_schema.float_schema(ge=0)]
            ),
        )

    def _validate(self, value: object) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise PydanticCustomError("duration", str(exc)) from None
        if seconds < self.minimum:
            raise PydanticCustomError(
                "duration_too_short",
                "must be at least {minimum} (got {got})",
                {"minimum": format_duration(self.minimum), "got": _show(value)},
            )
        if self.maximum is not None and seconds > self.maximum:
            raise PydanticCustomError(
                "duration_too_long",
                "must be at most {maximum} (got {got})",
                {"maximum": format_duration(self.maximum), "got": _show(value)},
            )
        return seconds


def _show(value: object) -> str:
    if isinstance(value, int) and abs(value).bit_length() > 200:
        return _short(value)
    text = f'"{value}"' if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- keys and tags ----------------------------------------------------------

KEY_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/=-]{0,62}$"
_KEY_RE = re.compile(KEY_PATTERN)
_TAG_RE = re.compile(TAG_PATTERN)


def slugify(text: str) -> str:
    """``"Shop: Checkout (EU)"`` -> ``"shop-checkout-eu"``; '' when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:64].rstrip("-")


# Keys the dashboard's own pages use (/websites/new, /websites/archived, /alerts/new).
RESERVED_KEYS = frozenset({"new", "archived"})


def check_key(value: str) -> str:
    if value in RESERVED_KEYS:
        raise PydanticCustomError(
            "key_reserved",
            "{got} is reserved for the dashboard's own pages (/websites/{got}): choose another key",
            {"got": _show(value)},
        )
    if value.isascii() and value.isdigit():
        raise PydanticCustomError(
            "key_digits",
            "a key cannot be all digits: the API would read it as a numeric id; add a letter "
            "(got {got})",
            {"got": _show(value)},
        )
    if not _KEY_RE.match(value):
        raise PydanticCustomError(
            "key",
            "must be a slug: lowercase letters, digits, '-' and '_', starting and ending "
            "with a letter or digit, at most 64 characters (got {got})",
            {"got": _show(value)},
        )
    return value


def _check_tag(value: str) -> str:
    if not _TAG_RE.match(value):
        raise PydanticCustomError(
            "tag",
            "a tag is letters, digits and _ . : / = -, at most 63 characters (got {got})",
            {"got": _show(value)},
        )
    return value


Key = Annotated[
    str,
    AfterValidator(check_key),
    WithJsonSchema({"type": "string", "pattern": KEY_PATTERN, "maxLength": 64}),
]
Tag = Annotated[
    str,
    AfterValidator(_check_tag),
    WithJsonSchema({"type": "string", "pattern": TAG_PATTERN}),
]


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class OneOrMany:
    """Annotated marker: accept ``x`` where a list ``[x]`` is meant (schema too)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(_one_or_many, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        array = handler(schema)
        return {"anyOf": [array.get("items", {"type": "string"}), array]}


def one_or_many() -> OneOrMany:
    return OneOrMany()


# -- URLs -------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# What str.isspace() says is a space (both are Py_UNICODE_ISSPACE), in C: a
# character-by-character test in Python was a third of building a check target.
_SPACE = re.compile(r"\s")


def check_http_url(value: str) -> str:
    """Accept absolute http(s) URLs with a valid host; keep the text as written."""
    if _SPACE.search(value):
        raise PydanticCustomError(
            "url", "a URL cannot contain spaces (got {got})", {"got": _show(value)}
        )
    try:
        url = yarl.URL(value)
        port = url.port
    except ValueError as exc:
        raise PydanticCustomError("url", "not a valid URL: {error}", {"error": str(exc)}) from None
    if url.scheme not in ("http", "https"):
        raise PydanticCustomError(
            "url_scheme",
            "must be an http:// or https:// URL (got {got})",
            {"got": _show(value)},
        )
    host = url.raw_host
    if not host:
        raise PydanticCustomError(
            "url_host", "the URL has no host (got {got})", {"got": _show(value)}
        )
    if not _valid_host(host):
        raise PydanticCustomError("url_host", "invalid host {host} in URL", {"host": repr(host)})
    if port is not None and not 0 < port < 65536:
        raise PydanticCustomError("url_port", "invalid port {port} in URL", {"port": port})
    return value


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def check_host(value: str) -> str:
    """A host name or an IP address (no scheme, port or path)."""
    host = value.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not _valid_host(host):
        raise PydanticCustomError(
            "host",
            "a host is a name such as db.internal or an IP address: no scheme, port or path "
            "(got {got})",
            {"got": _show(value)},
        )
    return host


def host_in_url(host: str) -> str:
    """An IPv6 address in brackets, as URLs write it."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


HostName = Annotated[
    str,
    AfterValidator(check_host),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 253}),
]

HttpUrl = Annotated[
    str,
    AfterValidator(check_http_url),
    # ``${VAR}`` references are allowed in the raw YAML, so the pattern admits them.
    WithJsonSchema({"type": "string", "pattern": "^(https?://|.*\\$\\{)"}),
]

# -- expected status ----------------------------------------------------------

_STATUS_ITEM = re.compile(r"^(?:([1-5])xx|(\d{3})(?:-(\d{3}))?)$")
STATUS_ITEM_PATTERN = r"^([1-5]xx|\d{3}(-\d{3})?)$"


def _status_item(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError(f"not a status: {value!r}")
    text = str(value).strip().lower()
    match = _STATUS_ITEM.match(text)
    if not match:
        raise ValueError(
            "expected a code like 200, a class like 2xx or a range like 200-299 "
            f"(got {_show(value)})"
        )
    if match.group(1):
        return text
    low = int(match.group(2))
    high = int(match.group(3) or low)
    if not (100 <= low <= 599 and 100 <= high <= 599):
        raise ValueError(f"status codes are between 100 and 599 (got {_show(value)})")
    if high < low:
        raise ValueError(f"the range {text} is empty: write the lower code first")
    return text


def _parse_statuses(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PydanticCustomError("status", "expected at least one status code")
    try:
        return [_status_item(item) for item in items]
    except ValueError as exc:
        raise PydanticCustomError("status", str(exc)) from None


StatusSet = Annotated[
    list[str],
    BeforeValidator(_parse_statuses),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "string", "pattern": STATUS_ITEM_PATTERN},
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "oneOf": [
                            {"type": "integer", "minimum": 100, "maximum": 599},
                            {"type": "string", "pattern": STATUS_ITEM_PATTERN},
                        ]
                    },
                },
            ]
        }
    ),
]


def status_matcher(statuses: list[str]) -> Callable[[int], bool]:
    """A fast predicate for a normalised status set (``["2xx", "301"]``)."""
    ranges: list[tuple[int, int]] = []
    for item in statuses:
        if item.endswith("xx"):
            base = int(item[0]) * 100
            ranges.append((base, base + 99))
        else:
            low, _, high = item.partition("-")
            ranges.append((int(low), int(high or low)))
    return lambda code: any(low <= code <= high for low, high in ranges)


@dataclass(frozen=True, slots=True)
class Secret:
    """Marks a field whose value is a secret (``Annotated[str, Secret()]``): every
    answer and page shows it as ``********`` unless it is only a ``${VAR}``
    reference. ``by_name`` marks a mapping (request headers) whose entries are
    secrets when their name is a credential's (Authorization, Cookie, X-Api-Key).
    ``config/masking.py`` follows these marks."""

    by_name: bool = False
