"""Edit one entry of a YAML file and leave every other byte as it was.

ruamel.yaml's round-trip loader keeps the entry's comments; only the entry's own
lines are rewritten (dumped with the file's indentation) and spliced into the
original text, so comments, blank lines, quoting, anchors and every other entry
stay byte-for-byte. Pure: text in, text out; the caller validates the result and
writes it.

A round-trip parse costs ~0.27 ms a website (33 s for a 120,000-website file),
so the entries are found with libyaml's event parser instead (``outline``: 4 us a
website) and only the edited entry's lines are parsed round-trip. A file whose
entries may share YAML (anchors, aliases, merge keys, tags) is parsed whole.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml as libyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
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
    at: int = 0  # offset of line ``start`` in the text (an ``Outline``'s)
    to: int = 0  # offset just past line ``end``


def _yaml(text: str) -> tuple[YAML, Any]:
    try:
        _data, sequence, offset = load_yaml_guess_indent(text)
    except YAMLError as exc:
        raise EditError(f"the file is not valid YAML: {exc}") from None
    except IndexError:  # ruamel's guess trips on a "-" alone on its line: the defaults
        sequence, offset = None, None
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=sequence or 4, offset=offset if offset is not None else 2)
    try:
        return yaml, yaml.load(text)
    except YAMLError as exc:
        raise EditError(f"the file is not valid YAML: {exc}") from None


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _locate(seq: CommentedSeq, lines: list[str], index: int) -> _Located:
    line, col = seq.lc.item(index)
    after = seq.lc.item(index + 1)[0] if index + 1 < len(seq) else None
    return _span(lines, index, line, col, after)


def _span(lines: list[str], index: int, line: int, col: int, after: int | None) -> _Located:
    """The lines of the item at ``line``/``col`` (its first key); ``after``: the line
    of the next item, None for the last one."""
    dash = lines[line].index("-", 0, col + 1) if "-" in lines[line][: col + 1] else col - 2
    if after is not None:
        stop = after
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


# Line breaks where str.splitlines and YAML disagree: such a text is parsed whole.
_ODD_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_STR = "tag:yaml.org,2002:str"
_RESOLVER = VersionedResolver()  # YAML 1.2, as ruamel's round-trip loader reads
_WORDS = frozenset(
    w for word in ("true", "false", "null") for w in (word, word.title(), word.upper())
)
_EventLoader: Any = getattr(libyaml, "CSafeLoader", libyaml.SafeLoader)


class _Unsure(SitewatchError):  # noqa: N818 - control flow inside ``outline``, never escapes
    """The file's entries may share YAML or read otherwise round-trip: parse it whole."""


@dataclass(frozen=True, slots=True)
class Outline:
    """Where each entry of a file's section is: what a write or a read of one entry
    needs without parsing the file round-trip. Made by ``outline``."""

    text: str
    section: str
    spans: dict[str, _Located]  # by key (the first entry of a key written twice)
    last: _Located | None  # the section's last entry

    def fields(self, key: str) -> dict[str, Any] | None:
        """The entry ``key`` as written (plain values, no defaults filled in)."""
        span = self.spans.get(key)
        if span is None:
            return None
        try:  # as in the file: a line break after its last line or not (a ``|`` block's end)
            return dict(_plain(self.item(span, ended=span.to < len(self.text))[1]))
        except EditError:
            return None

    def item(self, span: _Located, *, ended: bool = True) -> tuple[YAML, CommentedMap]:
        """The entry at ``span`` parsed round-trip on its own, with a ``YAML`` set to
        its indentation (its section's: the file's other lists may differ)."""
        lines = "\n".join(self.text[span.at : span.to].splitlines())  # as ``edit`` reads
        yaml, own = _yaml(f"{self.section}:\n{lines}" + ("\n" if ended else ""))
        seq = own.get(self.section) if isinstance(own, CommentedMap) else None
        item = seq[0] if isinstance(seq, CommentedSeq) and len(seq) == 1 else None
        if not isinstance(item, CommentedMap):  # ``outline`` saw one block mapping there
            raise EditError("the entry's lines do not read as one entry alone")
        return yaml, item


def outline(text: str, section: str, key_of: Callable[[Mapping[str, Any]], str]) -> Outline | None:
    """The entries of ``section`` and their lines, from libyaml's events; None when
    the file is not valid YAML or its entries cannot be read one at a time (an
    anchor, alias, merge key or tag anywhere, a flow-style list or entry, more than
    one document, a key or name that is not a string): then it is parsed whole."""
    if _ODD_BREAKS.search(text):
        return None
    try:
        items = _items(libyaml.parse(text, Loader=_EventLoader), section)
    except (libyaml.YAMLError, _Unsure, StopIteration):  # (an empty file has no document)
        return None
    if items is None:
        return None
    ended = text.splitlines(keepends=True)
    offsets = [0]
    for text_line in ended:
        offsets.append(offsets[-1] + len(text_line))
    bare = text.splitlines()
    spans: dict[str, _Located] = {}
    last = None
    for i, (first, col, written) in enumerate(items):
        if "-" not in bare[first][:col]:
            return None  # its "-" on a line of its own (or a comment) above it
        after = items[i + 1][0] if i + 1 < len(items) else None
        where = _span(bare, i, first, col, after)
        last = _Located(
            i,
            where.start,
            where.end,
            where.dash,
            offsets[where.start],
            offsets[where.end] + len(bare[where.end]),
        )
        spans.setdefault(key_of(written), last)
    return Outline(text, section, spans, last)


def _items(
    events: Iterator[libyaml.Event], section: str
) -> list[tuple[int, int, dict[str, str]]] | None:
    """(line, column, its key and name) of each entry of ``section``; None when the
    section is missing or not a block list (parsed whole: small, or odd)."""

    def take() -> libyaml.Event:
        event = next(events)
        if isinstance(event, libyaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Unsure
        if getattr(event, "tag", None) is not None:
            raise _Unsure
        if isinstance(event, libyaml.ScalarEvent) and event.value == "<<":
            raise _Unsure
        return event

    def skip(event: libyaml.Event) -> None:
        depth = int(isinstance(event, libyaml.CollectionStartEvent))
        while depth:
            event = take()
            if isinstance(event, libyaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, libyaml.CollectionEndEvent):
                depth -= 1

    take()  # the stream's start
    if getattr(take(), "version", None) is not None:
        raise _Unsure  # a %YAML directive: 1.1 reads "yes" as a boolean
    top = take()
    if not isinstance(top, libyaml.MappingStartEvent) or top.flow_style:
        raise _Unsure
    found: list[tuple[int, int, dict[str, str]]] | None = None
    while not isinstance(key := take(), libyaml.MappingEndEvent):
        value = take()
        if not isinstance(key, libyaml.ScalarEvent) or key.value != section:
            skip(key)
            skip(value)
            continue
        if found is not None:
            raise _Unsure  # the section twice
        if not isinstance(value, libyaml.SequenceStartEvent) or value.flow_style:
            skip(value)
            return None
        found = []
        while not isinstance(item := take(), libyaml.SequenceEndEvent):
            if not isinstance(item, libyaml.MappingStartEvent) or item.flow_style:
                raise _Unsure
            written: dict[str, str] = {}
            while not isinstance(name := take(), libyaml.MappingEndEvent):
                field = take()
                if isinstance(name, libyaml.ScalarEvent) and name.value in ("key", "name"):
                    if name.value in written:
                        raise _Unsure
                    written[name.value] = _string(field)
                skip(name)
                skip(field)
            mark = item.start_mark
            assert mark is not None  # libyaml marks every event
            found.append((mark.line, mark.column, written))
    if not isinstance(take(), libyaml.DocumentEndEvent):
        raise _Unsure
    if not isinstance(take(), libyaml.StreamEndEvent):
        raise _Unsure  # another document
    return found


def _string(event: libyaml.Event) -> str:
    """A key's or name's value as the round-trip loader reads it, when a string."""
    if not isinstance(event, libyaml.ScalarEvent):
        raise _Unsure
    value = event.value
    if value[:1].isalpha() and value not in _WORDS:
        return str(value)  # YAML 1.2 resolves no other plain scalar that starts with a letter
    if event.implicit[0] and _RESOLVER.resolve(ScalarNode, value, (True, False)) != _STR:
        raise _Unsure  # a number, a boolean, a null: what key_of makes of it, only ruamel knows
    return str(event.value)


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
    found: Outline | None = None,
) -> Edit:
    """Create (``key`` None), update (``fields`` given) or delete (``fields`` None)
    the entry of ``section`` whose ``key_of`` is ``key``. A field sent as ``keep``
    (the API's secret mask) keeps its current value. ``found``: ``text``'s outline,
    when the caller has it."""
    if found is None or found.text != text or found.section != section:
        found = outline(text, section, key_of)
    if found is None or (key is None and found.last is None):
        return _edit_whole(text, section, key, key_of, fields, replace_all=replace_all, keep=keep)
    lines = text.splitlines()
    if key is None:  # after the last entry
        assert fields is not None
        assert found.last is not None
        item = CommentedMap()
        _set_fields(item, fields, replace_all=True, keep=keep)
        yaml, _ = found.item(found.last)
        return Edit(_append(yaml, lines, found.last, section, item, text), _plain(item))
    where = found.spans.get(key)
    if where is None:
        raise EditError(f"no entry {key!r} in {section}:")
    if fields is None:
        return Edit(_delete(lines, where, text), None)
    yaml, item = found.item(where)
    _set_fields(item, fields, replace_all=replace_all, keep=keep)
    rendered = _render(yaml, section, item, where.dash)
    new_lines = lines[: where.start] + rendered + lines[where.end + 1 :]
    return Edit(_join(new_lines, text), _plain(item))


def _edit_whole(
    text: str,
    section: str,
    key: str | None,
    key_of: Callable[[Mapping[str, Any]], str],
    fields: Mapping[str, Any] | None,
    *,
    replace_all: bool = True,
    keep: str | None = None,
) -> Edit:
    """``edit`` of a file parsed whole, round-trip (see ``outline``)."""
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
        return Edit(_delete(lines, where, text), None)
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


def _delete(lines: list[str], where: _Located, text: str) -> str:
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
    return _join(before + after, text)


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
        return _append(yaml, lines, _locate(seq, lines, len(seq) - 1), section, item, text)
    rendered = _render(yaml, section, item, 2)
    if section in data:  # "websites: []" or "websites:" with nothing under it
        line = data.lc.key(section)[0]
        head = lines[line].split(":", 1)[0]
        return _join([*lines[:line], f"{head}:", *rendered, *lines[line + 1 :]], text)
    tail = [""] if lines and lines[-1].strip() else []
    return _join([*lines, *tail, f"{section}:", *rendered], text)


def _append(
    yaml: YAML, lines: list[str], last: _Located, section: str, item: CommentedMap, text: str
) -> str:
    """``item`` after the ``last`` entry, a blank line between."""
    at = last.end + 1
    rendered = _render(yaml, section, item, last.dash)
    return _join([*lines[:at], "", *rendered, *lines[at:]], text)


def _join(lines: list[str], original: str) -> str:
    """The lines as a text, with ``original``'s line breaks (a CRLF file stays one)."""
    first = original.find("\n")
    newline = "\r\n" if first > 0 and original[first - 1] == "\r" else "\n"
    return newline.join(lines) + (newline if original.endswith("\n") or not original else "")
