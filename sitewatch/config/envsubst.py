"""``${VAR}`` references in string values, resolved from an environment mapping.

Rules (documented in docs/configuration.md):

- ``${NAME}`` is replaced by the variable's value; an unset variable is an error.
- ``${NAME:-fallback}`` uses ``fallback`` when the variable is unset or empty.
- ``$$`` is a literal ``$``. A ``$`` followed by anything else stays as it is,
  so regular expressions such as ``ok$`` need no escaping.

The environment is passed in, never read from ``os.environ`` here, so tests and
callers decide what the configuration can see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sitewatch.errors import SitewatchError

_TOKEN = re.compile(r"\$(\$|\{)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvError(SitewatchError, ValueError):
    """A reference that cannot be resolved; the message names the variable."""


def has_reference(value: str) -> bool:
    """Cheap pre-check: only strings with ``$`` need the slow path."""
    return "$" in value


def refers(value: str) -> bool:
    """Whether ``value`` holds a ``${...}`` reference, not only ``$$`` escapes."""
    return any(match.group(1) == "{" for match in _TOKEN.finditer(value))


def substitute(value: str, environ: Mapping[str, str]) -> str:
    """Resolve every reference in ``value``; raise ``EnvError`` for the first bad one."""
    if "$" not in value:
        return value
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(value):
        start = match.start()
        if start < pos:  # inside a reference we already consumed
            continue
        out.append(value[pos:start])
        if match.group(1) == "$":
            out.append("$")
            pos = match.end()
            continue
        close = value.find("}", match.end())
        if close < 0:
            raise EnvError(f"unterminated reference {value[start:]!r}: add the closing '}}'")
        out.append(_resolve(value[match.end() : close], environ))
        pos = close + 1
    out.append(value[pos:])
    return "".join(out)


def _resolve(body: str, environ: Mapping[str, str]) -> str:
    name, sep, fallback = body.partition(":-")
    if not _NAME.match(name):
        raise EnvError(
            f"invalid reference ${{{body}}}: a variable name is letters, digits and '_' "
            "(write $$ for a literal $)"
        )
    value = environ.get(name)
    if sep:
        return value if value else fallback
    if value is None:
        raise EnvError(f"environment variable {name} is not set")
    return value


def resolve(stored: Any, environ: Mapping[str, str]) -> Any:
    """A stored spec with every ``${VAR}`` resolved (``EnvError`` when one is unset)."""
    if isinstance(stored, str):
        return substitute(stored, environ)
    if isinstance(stored, dict):
        return {k: resolve(v, environ) for k, v in stored.items()}
    if isinstance(stored, list):
        return [resolve(v, environ) for v in stored]
    return stored


def escape(value: str) -> str:
    """The inverse of ``substitute`` for a literal: ``substitute(escape(s)) == s``."""
    return value.replace("$", "$$")
