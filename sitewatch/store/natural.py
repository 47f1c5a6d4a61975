"""Natural order for names: "Site 2" before "Site 10".

Stored with each website (``websites.sort_key``), so the database sorts and pages
in that order on both dialects without a collation of its own.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d+")
WIDTH = 20  # digits a number is padded to; longer runs sort by their own length first


def natural_key(name: str) -> str:
    """A string whose plain ordering is the natural, case-insensitive order of ``name``."""

    def pad(match: re.Match[str]) -> str:
        digits = match.group().lstrip("0") or "0"
        if len(digits) > WIDTH:
            return "9" * WIDTH + digits  # beyond the padding: still after every shorter one
        return digits.rjust(WIDTH, "0")

    return _DIGITS.sub(pad, name.casefold())
