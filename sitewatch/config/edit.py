"""Edit one entry of a YAML file and leave every other byte as it was.

ruamel.yaml's round-trip loader finds the entry and keeps its comments; only the
entry's own lines are rewritten (dumped with the file's indentation) and spliced
into the original text, so comments, blank lines, quoting, anchors and every
other entry stay byte-for-byte. Pure: text in, text out; the caller validates the
result and writes it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from sitewatch.config.types import slugify
from sitewatch.errors import SitewatchError


class EditError(SitewatchError):
    """The file cannot be edited safely (the message says why)."""


def website_key(item: Mapping[str, Any]) -> str:
    key = item.get("key")
    return str(key) if key else slugify(str(item.get("name", "")))


def named_key(item: Mapping[str, Any]) -> str:
    return str(item.get("name", ""))


def keyed(item: Mapping[str, Any]) -> str:
    """The key of an entry that always writes one (a status page)."""
    return str(item.get("key", ""))


@dataclass(frozen=True, slots=True)
class _Located:
    index: int
    start: int  # 0-based line of the item's "- "
    end: int  # last line of its own content (inclusive)
    dash: int  # column of the "-"


def _yaml(text: str) -> tuple[YAML, Any]:
    try:
        _data, sequence, offset = load_yaml_guess_indent(text)
    except YAMLError as exc:
        raise EditError(f"the file is not valid YAML: {exc}") from None
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=sequence or 4, offset=offset if offset is not None else 2)
    return yaml, yaml.load(text)


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _locate(seq: CommentedSeq, lines: list[str], index: int) -> _Located:
    line, col = seq.lc.item(index)
    dash = lines[line].index("-", 0, col + 1) if "-" in lines[line][: col + 1] else col - 2
    if index + 1 < len(seq):
        stop = seq.lc.item(index + 1)[0]
    else:
        stop = line + 1
        while stop < len(lines) and (
            not _is_content(lines[stop]) or len(lines[stop]) - len(lines[stop].lstrip()) > dash
        ):
            stop += 1
    end = stop - 1
    while end > line and not _is_content(lines[end]):
        end -= 1
    return _Located(index, line, end, dash)


def _render(yaml: YAML, section: str, item: CommentedMap, dash: int) -> list[str]:
    """The item's lines at the file's indentation. Dumped inside its section, so
    end-of-line comments keep their columns."""
    buffer = io.StringIO()
    yaml.dump(CommentedMap({section: CommentedSeq([item])}), buffer)
    body = buffer.getvalue().splitlines()[1:]
    while body and not _is_content(body[-1]):
        body.pop()  # comments after the entry belong to what follows it
    first = body[0] if body else ""
    shift = dash - (len(first) - len(first.lstrip()))
    if shift > 0:
        body = [" " * shift + line if line else line for line in body]
    elif shift < 0:
        body = [line[-shift:] if line[:-shift].strip() == "" else line for line in body]
    return body


def _styled(new: Any, old: Any) -> Any:
    """A new value, in the old value's flow/block style where it had one."""
    if isinstance(new, list):
        seq = CommentedSeq(new)
        scalars = all(not isinstance(v, (list, dict)) for v in new)
        if (isinstance(old, CommentedSeq) and old.fa.flow_style()) or (old is None and scalars):
            seq.fa.set_flow_style()
        return seq
    if isinstance(new, dict):
        mapping = CommentedMap(new)
        if isinstance(old, CommentedMap) and old.fa.flow_style():
            mapping.fa.set_flow_style()
        return mapping
    return new


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _unmask(new: Any, old: Any, keep: str | None, name: str) -> Any:
    """A value sent back masked (as the API shows secrets) means: keep what is there."""
    if keep is None:
        return new
    if new == keep:
        if old is None:
            raise EditError(f"{name}: {keep!r} is the mask the API shows; send the real value")
        return old
    if isinstance(new, dict) and isinstance(old, Mapping):
        return {k: _unmask(v, old.get(k), keep, f"{name}.{k}") for k, v in new.items()}
    return new


def _set_fields(
    item: CommentedMap, fields: Mapping[str, Any], *, replace_all: bool, keep: str | None = None
) -> None:
    fields = {k: _unmask(v, item.get(k), keep, k) for k, v in fields.items()}
    if replace_all:
        for name in [k for k in item if k not in fields]:
            del item[name]
    for name, value in fields.items():
        if value is None and not replace_all:
            item.pop(name, None)  # PATCH with null: back to the default
        elif name not in item or _plain(item[name]) != _plain(value):
            item[name] = _styled(value, item.get(name))


@dataclass(frozen=True, slots=True)
class Edit:
    text: str  # the new file content
    entry: dict[str, Any] | None  # the entry as written (None after a delete)


def entries(
    text: str, section: str, key_of: Callable[[Mapping[str, Any]], str]
) -> dict[str, dict[str, Any]]:
    """Every entry of ``section`` as written in the file (plain values, no
    defaults filled in), by key."""
    _, data = _yaml(text)
    seq = data.get(section) if isinstance(data, Mapping) else None
    if not isinstance(seq, list):
        return {}
    return {key_of(item): dict(_plain(item)) for item in seq if isinstance(item, Mapping)}


def edit(
    text: str,
    section: str,
    key: str | None,
    key_of: Callable[[Mapping[str, Any]], str],
    fields: Mapping[str, Any] | None,
    *,
    replace_all: bool = True,
    keep: str | None = None,
) -> Edit:
    """Create (``key`` None), update (``fields`` given) or delete (``fields`` None)
    the entry of ``section`` whose ``key_of`` is ``key``. A field sent as ``keep``
    (the API's secret mask) keeps its current value."""
    yaml, data = _yaml(text)
    lines = text.splitlines()
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise EditError("the file's top level is not a mapping")
    seq = data.get(section)
    if seq is not None and not isinstance(seq, CommentedSeq):
        raise EditError(f"{section}: is not a list")
    if key is None:
        assert fields is not None
        item = CommentedMap()
        _set_fields(item, fields, replace_all=True, keep=keep)
        return Edit(_insert(yaml, lines, data, seq, section, item, text), _plain(item))
    index = next(
        (i for i, it in enumerate(seq or []) if isinstance(it, Mapping) and key_of(it) == key),
        None,
    )
    if seq is None or index is None:
        raise EditError(f"no entry {key!r} in {section}:")
    where = _locate(seq, lines, index)
    if any(getattr(v, "anchor", None) and v.anchor.value for v in _walk(seq[index])):
        raise EditError(f"{key!r} defines a YAML anchor other entries may use: edit it in the file")
    if fields is None:
        start = where.start
        while start > 0 and lines[start - 1].strip().startswith("#"):
            start -= 1  # the comment right above the entry is about it
        after = lines[where.end + 1 :]
        before = lines[:start]
        if (
            after
            and not after[0].strip()
            and (not before or not before[-1].strip() or before[-1].rstrip().endswith(":"))
        ):
            after = after[1:]
        while not after and before and not before[-1].strip():
            before.pop()
        return Edit(_join(before + after, text), None)
    # Re-read the file up to the entry's last line: the blank lines and comments
    # after it belong to what follows (they stay where they are in ``lines``), but
    # ruamel attaches them to the entry's last key, so new keys would land after them.
    _, own = _yaml("\n".join(lines[: where.end + 1]) + "\n")
    item = own[section][index]
    if getattr(item, "merge", None):
        raise EditError(f"{key!r} uses a YAML merge key (<<): edit it in the file")
    _set_fields(item, fields, replace_all=replace_all, keep=keep)
    rendered = _render(yaml, section, item, where.dash)
    new_lines = lines[: where.start] + rendered + lines[where.end + 1 :]
    return Edit(_join(new_lines, text), _plain(item))


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, Mapping):
        for v in value.values():
            out += _walk(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk(v)
    return out


def _insert(
    yaml: YAML,
    lines: list[str],
    data: CommentedMap,
    seq: CommentedSeq | None,
    section: str,
    item: CommentedMap,
    text: str,
) -> str:
    if seq:
        last = _locate(seq, lines, len(seq) - 1)
        rendered = _render(yaml, section, item, last.dash)
        at = last.end + 1
        return _join([*lines[:at], "", *rendered, *lines[at:]], text)
    rendered = _render(yaml, section, item, 2)
    if section in data:  # "websites: []" or "websites:" with nothing under it
        line = data.lc.key(section)[0]
        head = lines[line].split(":", 1)[0]
        return _join([*lines[:line], f"{head}:", *rendered, *lines[line + 1 :]], text)
    tail = [""] if lines and lines[-1].strip() else []
    return _join([*lines, *tail, f"{section}:", *rendered], text)


def _join(lines: list[str], original: str) -> str:
    return "\n".join(lines) + ("\n" if original.endswith("\n") or not original else "")
