"""A small JSONPath subset for assertions on JSON bodies.

Supported: ``$`` (the whole document), ``.name``, ``['any key']`` / ``["any key"]``,
``[0]`` and ``[-1]`` (list indexes), and ``[*]`` / ``.*`` (every item). That covers
what uptime checks ask of a health endpoint without a dependency; filters and
recursive descent are refused with a clear message instead of half-supported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

WILDCARD = object()
Step = str | int | object  # a key, an index, or WILDCARD

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INDEX = re.compile(r"\[(-?\d+)\]")
_QUOTED = re.compile(r"""\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]""")


@lru_cache(maxsize=4096)
def parse_json_path(path: str) -> tuple[Step, ...]:
    """``"$.items[0]['a b']"`` -> ``("items", 0, "a b")``; ``ValueError`` says what is wrong."""
    text = path.strip()
    if not text.startswith("$"):
        raise ValueError(f"a JSON path starts with $ (got {path!r})")
    steps: list[Step] = []
    pos = 1
    while pos < len(text):
        rest = text[pos:]
        if rest.startswith(".."):
            raise ValueError(f"recursive descent (..) is not supported (in {path!r})")
        if rest.startswith(".*"):
            steps.append(WILDCARD)
            pos += 2
        elif rest.startswith("."):
            match = _NAME.match(text, pos + 1)
            if not match:
                raise ValueError(
                    f"expected a key name after '.' at position {pos + 1} of {path!r}; "
                    "write ['key'] for other keys"
                )
            steps.append(match.group(0))
            pos = match.end()
        elif rest.startswith("[*]"):
            steps.append(WILDCARD)
            pos += 3
        elif (index := _INDEX.match(text, pos)) is not None:
            steps.append(int(index.group(1)))
            pos = index.end()
        elif (quoted := _QUOTED.match(text, pos)) is not None:
            raw = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
            steps.append(re.sub(r"\\(.)", r"\1", raw))
            pos = quoted.end()
        elif rest.startswith("[?"):
            raise ValueError(f"filter expressions ([?...]) are not supported (in {path!r})")
        else:
            raise ValueError(f"unexpected {rest[:10]!r} at position {pos} of {path!r}")
    return tuple(steps)


def find(document: Any, steps: tuple[Step, ...]) -> Iterator[Any]:
    """Every value the path selects, in document order (none when it does not exist)."""
    if not steps:
        yield document
        return
    step, rest = steps[0], steps[1:]
    if step is WILDCARD:
        if isinstance(document, list):
            children: list[Any] = document
        elif isinstance(document, dict):
            children = list(document.values())
        else:
            return
        for child in children:
            yield from find(child, rest)
    elif isinstance(step, str):
        if isinstance(document, dict) and step in document:
            yield from find(document[step], rest)
    elif isinstance(step, int) and isinstance(document, list):
        in_range = -len(document) <= step < len(document)
        yield from find(document[step], rest) if in_range else ()
