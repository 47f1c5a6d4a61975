"""What answers and pages show of an entry: its secrets masked, as the models mark them.

A field annotated ``Secret()`` (an SMTP password, a webhook's signing secret) is
shown as ``MASK`` unless its value is only a ``${VAR}`` reference (what the YAML
holds, not the secret). A mapping marked ``Secret(by_name=True)`` (request
headers) masks the entries named like a credential. A key the models do not know
(a newer file, a hand-edited row) is masked when its name looks like one: unknown
is never shown in the clear. Writing ``MASK`` back means "keep the value"
(``config/edit.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from sitewatch.config.models import ALERT_TYPES, Website, check_model
from sitewatch.config.pages import StatusPage
from sitewatch.config.types import Secret

MASK = "********"
Kind = Literal["websites", "alerts", "status_pages"]

# Header (and unknown field) names that carry credentials.
CREDENTIAL_NAME = re.compile(r"auth|cookie|token|secret|pass|key|session|signature", re.I)
_REFERENCE = re.compile(r"\$\{[^}]+\}")


def _mark(model: type[BaseModel], name: str) -> Secret | None:
    field = model.model_fields.get(name)
    if field is None:
        return None
    return next((m for m in field.metadata if isinstance(m, Secret)), None)


@cache
def _marks(model: type[BaseModel]) -> dict[str, Secret | None]:
    """Every key an entry of ``model`` may have (names and aliases) -> its mark."""
    out: dict[str, Secret | None] = {}
    for name, field in model.model_fields.items():
        out[name] = _mark(model, name)
        if field.alias:
            out[field.alias] = out[name]
    return out


def secret_marks(model: type[BaseModel]) -> dict[str, Secret]:
    """The marked fields of a model, by name (for tests and the docs)."""
    return {name: mark for name, mark in _marks(model).items() if mark is not None}


def _hidden(value: Any) -> Any:
    """A secret's value as shown: a ``${VAR}`` reference as is, any other text masked."""
    if isinstance(value, str):
        return value if _REFERENCE.fullmatch(value) else MASK
    if isinstance(value, Mapping):
        return {str(k): _hidden(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v) for v in value]
    return value


def _model_of(kind: Kind, fields: Mapping[str, Any]) -> type[BaseModel] | None:
    if kind == "websites":
        return check_model(fields) or Website
    if kind == "status_pages":
        return StatusPage  # nothing secret: a page is public
    return ALERT_TYPES.get(str(fields.get("type")))


def mask_entry(kind: Kind, fields: Mapping[str, Any]) -> dict[str, Any]:
    """An entry (as written in the YAML, or as stored) with its secrets masked."""
    model = _model_of(kind, fields)
    marks = _marks(model) if model is not None else {}
    out: dict[str, Any] = {}
    for key, value in fields.items():
        name = str(key)
        if name in marks:
            mark = marks[name]
        else:  # not a field we know: judged by its name
            mark = Secret() if CREDENTIAL_NAME.search(name) and name != "key" else None
        if mark is None:
            out[name] = value
        elif mark.by_name and isinstance(value, Mapping):
            out[name] = {
                str(k): _hidden(v) if CREDENTIAL_NAME.search(str(k)) else v
                for k, v in value.items()
            }
        else:
            out[name] = _hidden(value)
    return out
