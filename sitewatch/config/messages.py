"""Error messages of the validator: plain words, a suggestion where one helps,
and never a resolved ``${VAR}`` value."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from sitewatch.config.models import ALERT_TYPES
from sitewatch.config.problems import Loc
from sitewatch.config.yamlread import Document

# Custom error types raised by model validators, and the field they are about.
# Errors a model raises about one of its fields: reported at that field.
ERROR_FIELD = {
    "timeout": ("timeout",),
    "key_missing": ("name",),
    "credentials": ("password",),
    "template_body": ("templates", "body"),
}


def redact(doc: Document, path: Loc, message: str) -> str:
    """Never echo a resolved ``${VAR}`` value: show the reference instead."""
    exact = doc.templates.get(path)
    if exact and exact[1] and exact[1] in message:
        message = message.replace(exact[1], exact[0])
    for template, resolved in doc.templates.values():
        if len(resolved) >= 6 and resolved in message:
            message = message.replace(resolved, template)
    return message


def kind_of(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def unknown_key(key: object, allowed: Iterable[str]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    else:
        message += f"; expected one of: {', '.join(sorted(allowed))}"
    return message


def undefined(what: str, name: str, known: Mapping[str, object]) -> str:
    message = f"unknown {what} {name!r}"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    where = "alerts.yaml" if what == "alert" else "monitors.yaml"
    field = "name" if what == "alert" else "key"
    return f"{message}: no {what} with that {field} in {where} or its fragments"


def message_of(err: ErrorDetails, model: type[BaseModel]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        fields = {f.alias or name for name, f in model.model_fields.items()}
        base = unknown_key(loc[-1], fields) if len(loc) == 1 else f"unknown key {loc[-1]!r}"
        if (
            len(loc) == 1
            and model in ALERT_TYPES.values()  # not e.g. `websites:` inside `defaults:`
            and str(loc[-1]) in {f for m in ALERT_TYPES.values() for f in m.model_fields} - fields
        ):
            kind_name = model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
            base = f"unknown key {loc[-1]!r} for an alert of type {kind_name!r}"
        return base
    if kind == "missing":
        return f"missing required key {loc[-1]!r}"
    if kind == "timezone_aware":
        return "give the time with its offset, such as 2026-12-03T09:30:00Z or +01:00"
    message = err["msg"]
    if message.startswith("Input should be"):
        message = "should be" + message.removeprefix("Input should be")
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if kind == "string_type" and isinstance(err.get("input"), bool):
        message += " (YAML reads yes/no/on/off/true/false as booleans: put the value in quotes)"
    elif kind in (
        "string_type",
        "int_parsing",
        "int_type",
        "bool_type",
        "bool_parsing",
        "literal_error",
    ):
        message += f" (got {err.get('input')!r})"
    return message
