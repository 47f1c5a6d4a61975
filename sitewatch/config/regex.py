"""Regular expressions from the config, compiled with RE2.

A pattern comes from a config committer and the text it runs on from a
monitored website: with a backtracking engine one crafted body can keep the
event loop busy for seconds (``(a+)+$`` on ``aaaa…!``). RE2 matches in time
linear in the text, and refuses at load what it cannot run that way
(backreferences, lookaround), with the reason.
"""

from __future__ import annotations

import functools
from typing import Protocol

import re2

from sitewatch.errors import SitewatchError

# A pattern's compiled program is bounded too: RE2 refuses one past this (bytes).
MAX_PROGRAM_MEMORY = 8 << 20


class RegexError(SitewatchError, ValueError):
    """The pattern is not one RE2 runs; the message says why."""


class Pattern(Protocol):
    """What the checker needs of a compiled pattern."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> object | None: ...


@functools.lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> Pattern:
    """Compile ``pattern`` with RE2 (cached: the same pattern in 1,000 websites is one)."""
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_MEMORY
    options.log_errors = False
    try:
        compiled: Pattern = re2.compile(pattern, options)
    except re2.error as exc:
        arg = exc.args[0] if exc.args else b""
        reason = (arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)) or "invalid"
        hint = ""
        if any(tok in pattern for tok in ("(?=", "(?!", "(?<=", "(?<!")):
            hint = " (lookaround is not supported: RE2 runs in linear time)"
        elif any(f"\\{d}" in pattern for d in "123456789"):
            hint = " (backreferences are not supported: RE2 runs in linear time)"
        raise RegexError(f"invalid regular expression for RE2: {reason}{hint}") from None
    return compiled
