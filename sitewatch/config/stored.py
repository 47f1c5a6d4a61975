"""The stored form of an entry: its JSON spec with ``${VAR}`` references kept,
so the database never holds a resolved secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sitewatch.config.envsubst import escape
from sitewatch.config.problems import Loc
from sitewatch.config.yamlread import Document


def templates_by_entry(doc: Document) -> dict[Loc, dict[Loc, tuple[str, str]]]:
    """Group a document's ${VAR} strings by entry: ('websites', 3) -> {('headers', 'X'): ...}."""
    grouped: dict[Loc, dict[Loc, tuple[str, str]]] = {}
    for path, pair in doc.templates.items():
        split = 1 if path and path[0] == "defaults" else 2
        grouped.setdefault(path[:split], {})[path[split:]] = pair
    return grouped


def stored_form(dump: dict[str, Any], templates: Mapping[Loc, tuple[str, str]]) -> dict[str, Any]:
    """The JSON spec as stored: ``${VAR}`` references instead of resolved secrets.

    Every literal string is escaped (``$`` -> ``$$``) and every value that came
    from a reference is put back as the reference text, so resolving the stored
    form with the same environment gives the validated values, and the database
    never holds a resolved secret.
    """
    stored: dict[str, Any] = _escape_all(dump)
    for path, (template, resolved) in templates.items():
        parent: Any = stored
        for part in path[:-1]:
            parent = _step(parent, part)
        last = path[-1] if path else None
        if last is None:
            continue
        value = _step(parent, last)
        if value == escape(resolved):
            parent[last] = template
        elif value == [escape(resolved)]:  # one value where a list may stand (one_or_many)
            parent[last] = [template]
    return stored


def _step(container: Any, part: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(part)
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return container[part]
    return None


def _escape_all(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value) if "$" in value else value
    if isinstance(value, dict):
        return {k: _escape_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_all(v) for v in value]
    return value
