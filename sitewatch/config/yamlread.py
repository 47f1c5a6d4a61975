"""YAML text -> plain Python data, keeping every node's position.

Why not ``yaml.safe_load``: it forgets where values came from, silently keeps the
last of two duplicate keys, and offers no hook for ``${VAR}`` references. Here
libyaml (pyyaml's C parser) composes the node tree, and a small builder turns
nodes into dicts, lists and scalars:

- only the standard YAML tags are accepted (no arbitrary Python objects);
- duplicate keys are problems that name both lines;
- merge keys (``<<: *base``) and anchors work as in any YAML tool;
- ``${VAR}`` references are resolved in string values as they are built;
- aliases are expanded (each use gets its own copy and path) within a node budget,
  so a "billion laughs" document is refused instead of eating the memory.

The node tree is kept so that a validation error at ``websites[3].interval`` can be
mapped back to ``file:line:col``; a website's subtree, once validated and cached,
is hollowed out (``Hollow``): at 120,000 websites the tree was 1.8 KB a website,
the largest part of a first apply's peak. What needs a hollowed subtree again
(a problem found across files, a website whose defaults changed) composes the
text once more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sitewatch.config.envsubst import EnvError, refers, substitute
from sitewatch.config.problems import Loc, Problem
from sitewatch.errors import SitewatchError
from sitewatch.memory import gc_paused

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_T = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _T + "str", _T + "map", _T + "seq", _T + "merge"
_SAFE = SafeConstructor()
_SCALARS = {
    _T + "null": SafeConstructor.construct_yaml_null,
    _T + "bool": SafeConstructor.construct_yaml_bool,
    _T + "int": SafeConstructor.construct_yaml_int,
    _T + "float": SafeConstructor.construct_yaml_float,
    _T + "timestamp": SafeConstructor.construct_yaml_timestamp,
}


class Hollow:
    """Where a validated website's subtree was: its text's span, nothing inside.

    The validator keeps a website by its text (``composed.text[start:end]``),
    so an unchanged website needs no nodes on the next load either."""

    __slots__ = ("end_mark", "start_mark")

    def __init__(self, node: Node) -> None:
        self.start_mark = node.start_mark
        self.end_mark = node.end_mark


class NeedsTree(SitewatchError):  # noqa: N818 - a signal to the loader, not an error
    """A hollowed subtree is needed (to build a value): compose the file again."""

    def __init__(self, relpath: str = "") -> None:
        super().__init__(relpath)
        self.relpath = relpath


@dataclass(slots=True)
class Document:
    """One file being validated: its node tree and what went wrong reading it."""

    file: str
    root: Node | None
    problems: list[Problem] = field(default_factory=list)
    # path -> (text as written, resolved value), for every string with a ${VAR}
    templates: dict[Loc, tuple[str, str]] = field(default_factory=dict)
    text: str = ""  # the YAML, to compose again where a subtree was hollowed
    _whole: Node | None = None

    def position(self, path: Loc, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of ``path``, or of its deepest existing ancestor."""
        if self.root is None:
            return (1, 1)
        key_node, node, depth = locate(self.root, path)
        if isinstance(node, Hollow) and depth < len(path):
            if self._whole is None:
                with gc_paused():
                    self._whole = yaml.compose(self.text, Loader=_Loader)
            if self._whole is not None:
                key_node, node, depth = locate(self._whole, path)
        target = key_node if key and key_node is not None else node
        mark = target.start_mark
        return (mark.line + 1, mark.column + 1)


@dataclass(frozen=True, slots=True)
class Composed:
    """A file's node tree (or why there is none), before any value is built."""

    file: str
    text: str
    root: Node | None
    problems: tuple[Problem, ...] = ()


def compose(text: str, file: str) -> Composed:
    """libyaml's node tree of one document; never raises for bad input."""
    try:
        with gc_paused():
            root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return Composed(file, text, None, (_syntax_problem(file, exc, text),))
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        return Composed(file, text, None, (Problem(file, 1, 1, (), f"cannot read YAML: {exc}"),))
    return Composed(file, text, root)


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError, text: str | bytes) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    message = f"YAML syntax error: {exc.problem or exc.context}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        message += "; YAML does not allow tabs for indentation, use spaces"
    if "expected a single document" in message:
        message = "a config file holds one YAML document; remove the extra '---'"
    return Problem(file, line, col, (), message)


def _char_at(text: str | bytes, line: int, column: int) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = text.splitlines()
    return lines[line][column] if line < len(lines) and column < len(lines[line]) else ""


MAX_NODES = 2_000_000


class TooLargeError(SitewatchError):
    def __init__(self) -> None:
        super().__init__(
            f"more than {MAX_NODES:,} values once aliases are expanded: refusing to read"
        )


class Builder:
    """Builds Python values from nodes, recording problems instead of raising.

    One builder serves one file for one load; ``build`` may be called for parts
    of the tree (the loader builds only the websites it has not seen before).
    """

    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.file = file
        self.environ = environ
        self.problems: list[Problem] = []
        self.templates: dict[Loc, tuple[str, str]] = {}
        self._building: set[int] = set()
        self._budget = MAX_NODES

    def problem(self, node: Node, path: Loc, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, path, message))

    def build(self, node: Node | Hollow, path: Loc) -> Any:
        if isinstance(node, Hollow):
            raise NeedsTree
        self._budget -= 1
        if self._budget < 0:
            raise TooLargeError
        ident = id(node)
        if ident in self._building:
            self.problem(node, path, "recursive alias: a node cannot contain itself")
            return None
        if isinstance(node, ScalarNode):
            value = self._scalar(node, path)
        else:
            self._building.add(ident)
            try:
                if isinstance(node, MappingNode):
                    value = self._mapping(node, path)
                elif isinstance(node, SequenceNode):
                    value = self._sequence(node, path)
                else:  # pragma: no cover - yaml has no other node kinds
                    value = None
            finally:
                self._building.discard(ident)
        return value

    def _scalar(self, node: ScalarNode, path: Loc) -> Any:
        tag = node.tag
        if tag == _STR:
            text: str = node.value
            if "$" not in text:
                return text
            try:
                resolved = substitute(text, self.environ)
            except EnvError as exc:
                self.problem(node, path, str(exc))
                return text
            if refers(text):  # not only $$ escapes: a value to keep out of stored forms
                self.templates[path] = (text, resolved)
            return resolved
        constructor = _SCALARS.get(tag)
        if constructor is None:
            self.problem(node, path, f"unsupported YAML tag {tag!r}: sitewatch reads plain YAML")
            return None
        try:
            return constructor(_SAFE, node)
        except (ValueError, yaml.YAMLError) as exc:
            self.problem(node, path, f"invalid {tag.removeprefix(_T)} value: {exc}")
            return None

    def _sequence(self, node: SequenceNode, path: Loc) -> list[Any]:
        if node.tag != _SEQ:
            self.problem(
                node, path, f"unsupported YAML tag {node.tag!r}: sitewatch reads plain YAML"
            )
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]

    def build_top(self, node: Node, lazy: frozenset[str]) -> Any:
        """Build the document but leave the values of ``lazy`` top-level keys as nodes."""
        if isinstance(node, MappingNode):
            return self._mapping(node, (), lazy)
        return self.build(node, ())

    def _mapping(
        self, node: MappingNode, path: Loc, lazy: frozenset[str] = frozenset()
    ) -> dict[Any, Any]:
        if node.tag != _MAP:
            self.problem(
                node, path, f"unsupported YAML tag {node.tag!r}: sitewatch reads plain YAML"
            )
        merged: dict[Any, Any] = {}
        own: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge_into(merged, value_node, path)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, path, "mapping keys must be plain scalars")
                continue
            key = self.build(key_node, path)
            if key is None:
                key = "null"
            if key in own:
                self.problem(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first defined at line {first_line[key]})",
                )
                continue
            first_line[key] = key_node.start_mark.line + 1
            own[key] = value_node if key in lazy else self.build(value_node, (*path, key))
        if merged:
            merged.update(own)
            return merged
        return own

    def _merge_into(self, merged: dict[Any, Any], value_node: Node, path: Loc) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        # Earlier sources win in a merge list, as in YAML 1.1's merge-key spec.
        for source in reversed(sources):
            value = self.build(source, path)
            if not isinstance(value, dict):
                self.problem(source, path, "a merge key (<<) takes a mapping or a list of mappings")
                continue
            merged.update(value)


def locate(root: Node, path: Loc) -> tuple[Node | None, Node | Hollow, int]:
    """The (key node, value node) at ``path``, or at its deepest existing ancestor,
    and how many parts of ``path`` it followed."""
    key_node: Node | None = None
    node: Node | Hollow = root
    depth = 0
    for part in path:
        found = _child(node, part)
        if found is None:
            break
        key_node, node = found
        depth += 1
    return key_node, node, depth


def _child(node: Node | Hollow, part: str | int) -> tuple[Node | None, Node] | None:
    if isinstance(node, SequenceNode) and isinstance(part, int):
        return (None, node.value[part]) if 0 <= part < len(node.value) else None
    if not isinstance(node, MappingNode):
        return None
    merges: list[Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            merges.extend(
                value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            )
        elif isinstance(key_node, ScalarNode) and _key_matches(key_node, part):
            return key_node, value_node
    for source in merges:
        found = _child(source, part)
        if found is not None:
            return found
    return None


def _key_matches(key_node: ScalarNode, part: str | int) -> bool:
    if key_node.value == str(part):
        return True
    return (
        key_node.tag != _STR and isinstance(part, int) and key_node.value.lstrip("+0") == str(part)
    )
