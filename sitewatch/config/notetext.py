"""Incident notes as files: one written from fields (the API's create and
replace), and an update added to one as written (comments, order and the
Markdown kept), which is what a team does most during an outage. Pure."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from sitewatch.config.edit import EditError
from sitewatch.config.pages import IncidentNote, split_front_matter

ORDER = ("title", "status", "impact", "started", "resolved", "websites", "groups", "pages")


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def note_text(note: IncidentNote, given: Mapping[str, Any]) -> str:
    """The file of a validated ``note``: the fields ``given`` (as sent, in a fixed
    order; defaults left out), then the Markdown body."""
    data: dict[str, Any] = {}
    for name in ORDER:
        if name not in given or given[name] is None:
            continue
        value = getattr(note, name)
        data[name] = _moment(value) if isinstance(value, datetime) else value
    if note.updates:
        data["updates"] = [
            {"at": _moment(u.at), "status": u.status, "message": u.message} for u in note.updates
        ]
    front = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    body = note.body.strip("\n")
    return f"---\n{front}---\n{body}\n" if body else f"---\n{front}---\n"


def with_update(text: str, status: str, message: str, at: datetime) -> str:
    """``text`` with one more update (and its status, and ``resolved:`` when it
    resolves; reopened, ``resolved:`` goes), everything else as written."""
    split = split_front_matter(text)
    if isinstance(split, str):
        raise EditError(split)
    lines = text.splitlines(keepends=True)
    closing = split[2] - 2  # the line index of the closing '---'
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 100
    data = rt.load("".join(lines[1:closing])) or CommentedMap()
    if not isinstance(data, CommentedMap):
        raise EditError("the front matter is not a mapping")
    updates = data.get("updates")
    if updates is None:
        updates = CommentedSeq()
        data["updates"] = updates
    if not isinstance(updates, CommentedSeq):
        raise EditError("updates: is not a list")
    entry = CommentedMap()
    entry["at"] = _moment(at)
    entry["status"] = status
    entry["message"] = LiteralScalarString(message) if "\n" in message else message
    updates.append(entry)
    data["status"] = status
    if status == "resolved":
        data.setdefault("resolved", _moment(at))
    elif "resolved" in data:
        del data["resolved"]
    out = io.StringIO()
    rt.dump(data, out)
    return "---\n" + out.getvalue() + "".join(lines[closing:])
