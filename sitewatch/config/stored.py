"""The stored form of an entry: its JSON spec with ``${VAR}`` references kept,
so the database never holds a resolved secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

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

    ``dump`` is a fresh ``model_dump``, changed in place and returned.

    Every literal string is escaped (``$`` -> ``$$``) and every value that came
    from a reference is put back as the reference text, so resolving the stored
    form with the same environment gives the validated values, and the database
    never holds a resolved secret.
    """
    stored = dump
    _escape_in_place(stored)
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


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """A stored form not kept but made again from its validated model when needed.

    A website's stored form is wanted only when its row is written; kept for
    every website it was 1.1 KB each (132 MB at 120,000 websites), next to the
    model it is made from. Most websites share one ``Rebuilt`` (their file's
    defaults' ``${VAR}`` strings, usually none)."""

    templates: Mapping[Loc, tuple[str, str]]

    def of(self, model: BaseModel) -> dict[str, Any]:
        return stored_form(model.model_dump(mode="json", by_alias=True), self.templates)


NO_TEMPLATES = Rebuilt({})


def _step(container: Any, part: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(part)
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return container[part]
    return None


_CONTAINERS = (dict, list)  # a JSON dump's: exact types


def _escape_in_place(value: dict[str, Any] | list[Any]) -> None:
    """Escape every string value of a fresh dump where it is (a copy of every
    website's spec cost 12 µs of the 20 µs its stored form takes)."""
    pairs = value.items() if isinstance(value, dict) else enumerate(value)
    for k, v in pairs:
        if type(v) is str:
            if "$" in v:
                value[k] = escape(v)  # type: ignore[index]
        elif type(v) in _CONTAINERS:
            _escape_in_place(v)
