"""The config folder -> a validated ``Snapshot`` (or every problem at once).

Layout of a config folder::

    monitors.yaml        defaults:, websites:, allow_empty:
    monitors.d/*.yaml    more websites (a team's own file), same shape
    alerts.yaml          alerts:
    alerts.d/*.yaml      more alerts

Keys are unique across all files. Every entry remembers its file and line.
Nothing here touches the database or the network, so ``sitewatch validate`` can
run in the config repository's own CI.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import Node, ScalarNode, SequenceNode

from sitewatch.config.envsubst import escape
from sitewatch.config.models import (
    ALERT_TYPES,
    EmailAlert,
    MaintenanceWindow,
    MonitorsFile,
    WebhookAlert,
    Website,
    WebsiteDefaults,
)
from sitewatch.config.problems import Loc, Problem, sort_problems
from sitewatch.config.types import slugify
from sitewatch.config.yamlread import (
    Builder,
    Composed,
    Document,
    TooLargeError,
    compose,
    gc_paused,
)
from sitewatch.errors import ConfigError, SitewatchError

AnyAlert = EmailAlert | WebhookAlert
KINDS = ("monitors", "alerts")
_SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_FILE_BYTES = 16 << 20
# Custom error types raised by model validators, and the field they are about.
_TOP_KEY = {"monitors": "websites", "alerts": "alerts"}
_ERROR_FIELD = {"timeout": "timeout", "key_missing": "name", "credentials": "password"}


@dataclass(frozen=True, slots=True)
class Source:
    """Where an entry is defined: the file as shown to users and the 1-based line.

    ``relpath`` is the file relative to the config folder: what is stored, so the
    same folder named another way (or copied elsewhere) is the same config.
    """

    file: str
    line: int
    relpath: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class WebsiteEntry:
    website: Website
    source: Source
    stored: dict[str, Any]  # JSON spec with ${VAR} references kept (see ``stored_form``)
    spec_hash: str  # identity of (stored, source file): what the reconciler compares


@dataclass(frozen=True, slots=True)
class AlertEntry:
    alert: AnyAlert
    source: Source
    stored: dict[str, Any]
    spec_hash: str


@dataclass(frozen=True, slots=True)
class MaintenanceEntry:
    window: MaintenanceWindow
    source: Source
    stored: dict[str, Any]
    spec_hash: str


def spec_digest(stored: dict[str, Any], source_file: str) -> str:
    """The identity of an entry: its stored spec and its file *relative to the
    config folder* (never the folder's own path)."""
    canonical = json.dumps([stored, source_file], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# A validated website, reusable while its YAML text and defaults are unchanged.
_Cached = tuple[Website, dict[str, Any], str]
_CacheKey = tuple[str, str, str]  # (file, defaults fingerprint, entry text)


@dataclass(frozen=True, slots=True)
class ConfigFile:
    kind: str  # "monitors" or "alerts"
    relpath: str  # relative to the config folder, e.g. "monitors.d/team-a.yaml"
    display: str  # as shown in messages, e.g. "config/monitors.d/team-a.yaml"
    content: bytes

    @property
    def is_main(self) -> bool:
        return "/" not in self.relpath


@dataclass(frozen=True)
class Snapshot:
    """One valid revision of the configuration: the desired state."""

    revision: str
    websites: Mapping[str, WebsiteEntry]
    alerts: Mapping[str, AlertEntry]
    bindings: frozenset[tuple[str, str]]  # (website key, alert name)
    allow_empty: bool = False
    maintenance: Mapping[str, MaintenanceEntry] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()
    files: tuple[str, ...] = ()
    # Per monitors file (relative path): the defaults in effect there for the
    # fields a form shows as placeholders, as written (never from a ${VAR}).
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def list_files(config_dir: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[ConfigFile]:
    """Read every config file of the folder, in a stable order.

    Only regular files inside the folder are read (a symlink may point to
    another file in it). A FIFO, a device, a directory named ``*.yaml``, a
    symlink leading out of the folder or round in a loop, or a file over
    ``max_bytes`` is a problem naming the file: never a hang, never unbounded
    memory. Every such problem is reported at once.
    """
    if not config_dir.is_dir():
        raise ConfigError([Problem(str(config_dir), 0, 0, (), "config folder not found")])
    try:
        root = config_dir.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError([Problem(str(config_dir), 0, 0, (), f"cannot open: {exc}")]) from None
    found: list[ConfigFile] = []
    problems: list[Problem] = []
    for kind in KINDS:
        mains = [config_dir / f"{kind}{suffix}" for suffix in _SUFFIXES]
        present = [p for p in mains if os.path.lexists(p)]
        if len(present) > 1:
            raise ConfigError(
                [
                    Problem(
                        _display(config_dir, present[1]),
                        0,
                        0,
                        (),
                        f"both {kind}.yaml and {kind}.yml exist: keep one",
                    )
                ]
            )
        fragments = config_dir / f"{kind}.d"
        paths = list(present)
        if fragments.is_dir() and _inside(root, fragments):
            try:
                paths += sorted(
                    p
                    for p in fragments.iterdir()
                    if p.suffix in _SUFFIXES and not p.name.startswith(".")
                )
            except OSError as exc:
                problems.append(
                    Problem(_display(config_dir, fragments), 0, 0, (), _os_message(exc))
                )
        elif os.path.lexists(fragments) and fragments.is_dir():
            problems.append(
                Problem(
                    _display(config_dir, fragments),
                    0,
                    0,
                    (),
                    "leads outside the config folder: only files inside it are read",
                )
            )
        for path in paths:
            display = _display(config_dir, path)
            try:
                content = read_config_file(root, path, max_bytes)
            except ConfigFileError as exc:
                problems.append(Problem(display, 0, 0, (), str(exc)))
                continue
            found.append(
                ConfigFile(kind, path.relative_to(config_dir).as_posix(), display, content)
            )
    if problems:
        raise ConfigError(problems)
    return found


class ConfigFileError(SitewatchError):
    """A config file that is not read, and why (the message names no path)."""


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _os_message(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop: cannot be read"
    return f"cannot read: {exc.strerror or exc}"


def read_config_file(root: Path, path: Path, max_bytes: int) -> bytes:
    """The bytes of one config file, if it is a regular file inside ``root``.

    Opened without blocking (a FIFO would otherwise wait for a writer forever)
    and read up to ``max_bytes`` (a symlink to ``/dev/zero`` never ends)."""
    try:
        resolved = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        raise ConfigFileError("a symlink loop: cannot be read") from None
    except OSError as exc:
        raise ConfigFileError(_os_message(exc)) from None
    if not resolved.is_relative_to(root):
        raise ConfigFileError(
            f"a symlink to {resolved}, outside the config folder: only files inside it are read"
        )
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigFileError(_os_message(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else _special(info.st_mode)
            raise ConfigFileError(f"{what}, not a regular file: only regular files are read")
        if info.st_size > max_bytes:
            raise ConfigFileError(_too_large(max_bytes))
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # it grew while being read
                raise ConfigFileError(_too_large(max_bytes))
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigFileError(_os_message(exc)) from None
    finally:
        os.close(fd)


def _too_large(max_bytes: int) -> str:
    return (
        f"larger than {max_bytes:,} bytes (SITEWATCH_CONFIG_MAX_FILE_BYTES): "
        "split it into fragments or raise the limit"
    )


def _special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _display(config_dir: Path, path: Path) -> str:
    return (config_dir / path.relative_to(config_dir)).as_posix()


def revision_of(files: Iterable[ConfigFile]) -> str:
    """sha256 over the names and contents of the files: the config's identity."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relpath.encode() + b"\0" + str(len(f.content)).encode() + b"\0" + f.content)
    return digest.hexdigest()


class ConfigLoader:
    """Loads a config folder, remembering work between loads.

    Parsed files are kept by content, and validated websites by their YAML text,
    so saving a one-line edit in a 10,000-website file re-validates one website.
    """

    def __init__(
        self,
        config_dir: Path,
        environ: Mapping[str, str],
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.config_dir = config_dir
        self.environ = environ
        self.max_file_bytes = max_file_bytes
        self._composed: dict[str, tuple[bytes, Composed]] = {}
        self._entries: dict[_CacheKey, _Cached] = {}

    def read(self) -> tuple[list[ConfigFile], str]:
        files = list_files(self.config_dir, self.max_file_bytes)
        return files, revision_of(files)

    def load(self, files: list[ConfigFile] | None = None) -> Snapshot:
        """Validate the folder (or already-read ``files``); raise ``ConfigError`` on errors."""
        if files is None:
            files = list_files(self.config_dir, self.max_file_bytes)
        revision = revision_of(files)
        composed = [self._compose(f) for f in files]
        self._composed = {f.relpath: self._composed[f.relpath] for f in files}
        validator = _Validator(files, composed, revision, self.environ, self._entries)
        with gc_paused():
            try:
                return validator.run()
            finally:
                self._entries = validator.cache_out

    def _compose(self, f: ConfigFile) -> Composed:
        known = self._composed.get(f.relpath)
        if known is not None and known[0] == f.content:
            return known[1]
        try:
            text = f.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            result = Composed(
                f.display, "", None, (Problem(f.display, 0, 0, (), f"not UTF-8 text: {exc}"),)
            )
        else:
            result = compose(text, f.display)
        self._composed[f.relpath] = (f.content, result)
        return result


def load_config(
    config_dir: Path, environ: Mapping[str, str], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Snapshot:
    """One-shot load (the CLI's ``validate`` and ``plan``)."""
    return ConfigLoader(config_dir, environ, max_file_bytes=max_file_bytes).load()


@dataclass
class _Validator:
    files: list[ConfigFile]
    composed: list[Composed]
    revision: str
    environ: Mapping[str, str]
    cache_in: dict[_CacheKey, _Cached]
    cache_out: dict[_CacheKey, _Cached] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Entries written but not valid ("websites": keys, "alerts": names), and the
    # kinds of file that could not be read at all: a reference to them is not
    # also reported as unknown (a follow-on message that misleads).
    failed: dict[str, set[str]] = field(
        default_factory=lambda: {"websites": set(), "alerts": set()}
    )
    unreadable: set[str] = field(default_factory=set)
    defaults_by_file: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self) -> Snapshot:
        websites: dict[str, tuple[WebsiteEntry, Document, Loc]] = {}
        alerts: dict[str, tuple[AlertEntry, Document, Loc]] = {}
        maintenance: dict[str, tuple[MaintenanceEntry, Document, Loc]] = {}
        allow_empty = False
        main_defaults = _Defaults({}, {})
        documents: list[Document] = []
        pairs = list(zip(self.files, self.composed, strict=True))
        # The main monitors file first: its defaults apply to the fragments too.
        pairs.sort(key=lambda p: (p[0].kind != "monitors", not p[0].is_main))
        for f, composed in pairs:
            builder = Builder(composed.file, self.environ)
            builder.problems.extend(composed.problems)
            doc = Document(composed.file, composed.root, builder.problems, builder.templates)
            documents.append(doc)
            if composed.root is None:
                if composed.problems:
                    self.unreadable.add(f.kind)
                continue  # a syntax error (or an empty file)
            try:
                lazy = frozenset({"websites"}) if f.kind == "monitors" else frozenset()
                data = builder.build_top(composed.root, lazy)
            except TooLargeError as exc:
                builder.problems.append(Problem(doc.file, 1, 1, (), str(exc)))
                self.unreadable.add(f.kind)
                continue
            if data is None:
                data = {}
            if not isinstance(data, dict):
                self.unreadable.add(f.kind)
                self.report(
                    doc,
                    (),
                    f"expected a mapping with {_TOP_KEY[f.kind]}: (got {_kind_of(data)})",
                )
                continue
            if f.kind == "monitors":
                allow, defaults = self.monitors_file(
                    f, doc, composed, builder, data, main_defaults, websites
                )
                self.defaults_by_file[f.relpath] = _shown_defaults(defaults)
                if f.is_main:
                    allow_empty, main_defaults = allow, defaults
            else:
                self.alerts_file(f, doc, data, alerts, maintenance)
        for doc in documents:
            self.problems.extend(doc.problems)
        self.cross_check(websites, alerts, maintenance)
        bindings = self.bind(websites, alerts)
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise ConfigError(sort_problems(self.problems), self.revision)
        return Snapshot(
            revision=self.revision,
            websites={k: v[0] for k, v in websites.items()},
            alerts={k: v[0] for k, v in alerts.items()},
            bindings=frozenset(bindings),
            maintenance={k: v[0] for k, v in maintenance.items()},
            allow_empty=allow_empty,
            warnings=tuple(sort_problems(self.problems)),
            files=tuple(f.relpath for f in self.files),
            defaults=self.defaults_by_file,
        )

    # -- reporting -----------------------------------------------------------

    def report(
        self, doc: Document, path: Loc, message: str, *, key: bool = False, severity: str = "error"
    ) -> None:
        if any(path[: len(bad)] == bad for bad in (p.path for p in doc.problems)):
            return  # the YAML-level problem there was reported already; don't cascade
        line, column = doc.position(path, key=key)
        message = _redact(doc, path, message)
        self.problems.append(
            Problem(
                doc.file,
                line,
                column,
                path,
                message,
                "warning" if severity == "warning" else "error",
            )
        )

    def report_validation(
        self, doc: Document, prefix: Loc, exc: ValidationError, model: type[BaseModel]
    ) -> None:
        for err in exc.errors(include_url=False):
            loc: Loc = (*prefix, *err["loc"])
            kind = err["type"]
            if kind in _ERROR_FIELD:
                loc = (*loc, _ERROR_FIELD[kind])
            self.report(doc, loc, _message(err, model), key=kind == "extra_forbidden")

    # -- monitors ------------------------------------------------------------

    def monitors_file(
        self,
        f: ConfigFile,
        doc: Document,
        composed: Composed,
        builder: Builder,
        data: dict[Any, Any],
        inherited: _Defaults,
        websites: dict[str, tuple[WebsiteEntry, Document, Loc]],
    ) -> tuple[bool, _Defaults]:
        allowed = set(MonitorsFile.model_fields)
        for key in data:
            if key not in allowed:
                self.report(doc, (key,), _unknown_key(key, allowed), key=True)
        allow_empty = data.get("allow_empty", False)
        if not isinstance(allow_empty, bool):
            self.report(doc, ("allow_empty",), f"expected true or false (got {allow_empty!r})")
            allow_empty = False
        elif allow_empty and not f.is_main:
            self.report(doc, ("allow_empty",), "allow_empty belongs in the main monitors.yaml")
        templates = _templates_by_entry(doc)
        defaults = inherited
        raw_defaults = data.get("defaults")
        if raw_defaults is not None:
            if not isinstance(raw_defaults, dict):
                self.report(
                    doc, ("defaults",), f"expected a mapping (got {_kind_of(raw_defaults)})"
                )
            else:
                try:
                    WebsiteDefaults.model_validate(raw_defaults)
                except ValidationError as exc:
                    self.report_validation(doc, ("defaults",), exc, WebsiteDefaults)
                else:
                    defaults = _Defaults(
                        _merge(inherited.values, raw_defaults),
                        {**inherited.templates, **templates.get(("defaults",), {})},
                    )
        items = data.get("websites")
        if items is None or (isinstance(items, ScalarNode) and items.tag.endswith(":null")):
            return allow_empty, defaults
        if not isinstance(items, SequenceNode):
            self.unreadable.add("monitors")
            value = builder.build(items, ("websites",)) if isinstance(items, Node) else items
            self.report(doc, ("websites",), f"expected a list of websites (got {_kind_of(value)})")
            return allow_empty, defaults
        fingerprint = defaults.fingerprint()
        for index, node in enumerate(items.value):
            path: Loc = ("websites", index)
            text = composed.text[node.start_mark.index : node.end_mark.index]
            # Aliases pull in text from elsewhere: such entries are never cached.
            cache_key = (f.relpath, fingerprint, text) if "*" not in text else None
            cached = self.cache_in.get(cache_key) if cache_key else None
            if cached is None:
                known_problems = len(doc.problems)
                outer, builder.templates = builder.templates, {}
                item = builder.build(node, path)
                own_templates = {p[2:]: pair for p, pair in builder.templates.items()}
                outer.update(builder.templates)
                builder.templates = outer
                if not isinstance(item, dict):
                    self.unreadable.add("monitors")  # which website it was is unknown
                    self.report(
                        doc,
                        path,
                        f"expected a website mapping with name: and url: (got {_kind_of(item)})",
                    )
                    continue
                try:
                    website = Website.model_validate(
                        _merge(defaults.values, item) if defaults.values else item
                    )
                except ValidationError as exc:
                    self.report_validation(doc, path, exc, Website)
                    self.failed["websites"].add(
                        str(item.get("key") or slugify(str(item.get("name", ""))))
                    )
                    continue
                entry_templates = {**defaults.templates, **own_templates}
                stored = stored_form(
                    website.model_dump(mode="json", by_alias=True), entry_templates
                )
                cached = (website, stored, spec_digest(stored, f.relpath))
                if cache_key is None or len(doc.problems) != known_problems:
                    cache_key = None
            if cache_key is not None:
                self.cache_out[cache_key] = cached
            website, stored, digest = cached
            key = website.ident
            source = Source(doc.file, node.start_mark.line + 1, f.relpath)
            if key in websites:
                first = websites[key][0].source
                self.report(
                    doc, (*path, "key"), f"duplicate website key {key!r} (also defined at {first})"
                )
                continue
            websites[key] = (WebsiteEntry(website, source, stored, digest), doc, path)
        return allow_empty, defaults

    # -- alerts --------------------------------------------------------------

    def alerts_file(
        self,
        f: ConfigFile,
        doc: Document,
        data: dict[Any, Any],
        alerts: dict[str, tuple[AlertEntry, Document, Loc]],
        maintenance: dict[str, tuple[MaintenanceEntry, Document, Loc]],
    ) -> None:
        for key in data:
            if key not in ("alerts", "maintenance"):
                self.report(doc, (key,), _unknown_key(key, {"alerts", "maintenance"}), key=True)
        self.maintenance_windows(f, doc, data, maintenance)
        items = data.get("alerts") or []
        if not isinstance(items, list):
            self.unreadable.add("alerts")
            self.report(doc, ("alerts",), f"expected a list of alerts (got {_kind_of(items)})")
            return
        templates = _templates_by_entry(doc)
        for index, item in enumerate(items):
            path: Loc = ("alerts", index)
            if not isinstance(item, dict):
                self.unreadable.add("alerts")  # which alert it was is unknown
                self.report(
                    doc,
                    path,
                    f"expected an alert mapping with name: and type: (got {_kind_of(item)})",
                )
                continue
            if isinstance(item.get("name"), str):
                self.failed["alerts"].add(item["name"])  # until it validates, below
            kind = item.get("type")
            model = ALERT_TYPES.get(kind) if isinstance(kind, str) else None
            if model is None:
                expected = " or ".join(ALERT_TYPES)
                if kind is None:
                    self.report(doc, path, f"missing required key 'type' ({expected})")
                else:
                    self.report(
                        doc, (*path, "type"), f"unknown alert type {kind!r}: expected {expected}"
                    )
                continue
            try:
                alert = model.model_validate(item)
            except ValidationError as exc:
                self.report_validation(doc, path, exc, model)
                continue
            self.failed["alerts"].discard(alert.name)
            line, _ = doc.position(path)
            source = Source(doc.file, line, f.relpath)
            if alert.name in alerts:
                first = alerts[alert.name][0].source
                self.report(
                    doc,
                    (*path, "name"),
                    f"duplicate alert name {alert.name!r} (also defined at {first})",
                )
                continue
            stored = stored_form(
                alert.model_dump(mode="json", by_alias=True), templates.get(path, {})
            )
            digest = spec_digest(stored, f.relpath)
            alerts[alert.name] = (AlertEntry(alert, source, stored, digest), doc, path)

    def maintenance_windows(
        self,
        f: ConfigFile,
        doc: Document,
        data: dict[Any, Any],
        maintenance: dict[str, tuple[MaintenanceEntry, Document, Loc]],
    ) -> None:
        items = data.get("maintenance") or []
        if not isinstance(items, list):
            self.report(
                doc, ("maintenance",), f"expected a list of windows (got {_kind_of(items)})"
            )
            return
        templates = _templates_by_entry(doc)
        for index, item in enumerate(items):
            path: Loc = ("maintenance", index)
            if not isinstance(item, dict):
                self.report(
                    doc, path, f"expected a window mapping with name: (got {_kind_of(item)})"
                )
                continue
            try:
                window = MaintenanceWindow.model_validate(item)
            except ValidationError as exc:
                self.report_validation(doc, path, exc, MaintenanceWindow)
                continue
            line, _ = doc.position(path)
            if window.name in maintenance:
                first = maintenance[window.name][0].source
                self.report(
                    doc,
                    (*path, "name"),
                    f"duplicate maintenance window {window.name!r} (also defined at {first})",
                )
                continue
            stored = stored_form(window.model_dump(mode="json"), templates.get(path, {}))
            source = Source(doc.file, line, f.relpath)
            entry = MaintenanceEntry(window, source, stored, spec_digest(stored, f.relpath))
            maintenance[window.name] = (entry, doc, path)

    # -- across files ----------------------------------------------------------

    def cross_check(
        self,
        websites: dict[str, tuple[WebsiteEntry, Document, Loc]],
        alerts: dict[str, tuple[AlertEntry, Document, Loc]],
        maintenance: dict[str, tuple[MaintenanceEntry, Document, Loc]],
    ) -> None:
        for entry, doc, path in websites.values():
            for i, name in enumerate(entry.website.alerts):
                if name not in alerts and self._may_be_unknown("alerts", name):
                    self.report(doc, (*path, "alerts", i), _undefined("alert", name, alerts))
        selectors: list[tuple[AnyAlert | MaintenanceWindow, Document, Loc]]
        selectors = [(e.alert, doc, path) for e, doc, path in alerts.values()]
        selectors += [(e.window, doc, path) for e, doc, path in maintenance.values()]
        for selector, doc, path in selectors:
            if selector.all_websites:
                continue
            for i, key in enumerate(selector.websites):
                if key not in websites and self._may_be_unknown("websites", key):
                    self.report(doc, (*path, "websites", i), _undefined("website", key, websites))

    def _may_be_unknown(self, kind: str, name: str) -> bool:
        """Is ``name`` really undefined, or only invalid (reported at its own line)?"""
        files = "monitors" if kind == "websites" else "alerts"
        return files not in self.unreadable and name not in self.failed[kind]

    def bind(
        self,
        websites: dict[str, tuple[WebsiteEntry, Document, Loc]],
        alerts: dict[str, tuple[AlertEntry, Document, Loc]],
    ) -> set[tuple[str, str]]:
        """Which alert applies to which website: listed on either side, by tag, or "*"."""
        bindings = {
            (key, name)
            for key, (e, _, _) in websites.items()
            for name in e.website.alerts
            if name in alerts
        }
        by_tag: dict[str, list[str]] = {}
        for key, (e, _, _) in websites.items():
            for tag in e.website.tags:
                by_tag.setdefault(tag, []).append(key)
        for name, (entry, doc, path) in alerts.items():
            rule = entry.alert
            if rule.all_websites:
                bindings.update((key, name) for key in websites)
            else:
                bindings.update((key, name) for key in rule.websites if key in websites)
            for tag in rule.tags:
                bindings.update((key, name) for key in by_tag.get(tag, ()))
            errors = any(p.severity == "error" for p in self.problems)
            if not errors and not any(b[1] == name for b in bindings):
                # (with errors, the websites it would apply to may be the broken ones)
                self.report(
                    doc,
                    path,
                    f"alert {name!r} applies to no website: list it in a website's alerts:, "
                    'or give it websites: (keys or "*") or tags:',
                    severity="warning",
                )
        return bindings


SHOWN_DEFAULTS = ("interval", "timeout", "retry_interval", "expected_status", "method")


def _shown_defaults(defaults: _Defaults) -> dict[str, Any]:
    """The defaults a form may show: plain values only, never one from a ${VAR}."""
    from_vars = {path[0] for path in defaults.templates if path}
    return {
        k: v
        for k, v in defaults.values.items()
        if k in SHOWN_DEFAULTS and k not in from_vars and isinstance(v, str | int | float | list)
    }


@dataclass(frozen=True, slots=True)
class _Defaults:
    values: dict[str, Any]  # raw (resolved) values, merged main file -> fragment
    templates: dict[Loc, tuple[str, str]]  # relative path -> (${VAR} text, resolved)

    def fingerprint(self) -> str:
        """Identity of these defaults, part of a cached website's key."""
        return hashlib.sha256(repr((self.values, self.templates)).encode()).hexdigest()


def _templates_by_entry(doc: Document) -> dict[Loc, dict[Loc, tuple[str, str]]]:
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
        if last is not None and _step(parent, last) == escape(resolved):
            parent[last] = template
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


def _merge(defaults: dict[str, Any], entry: dict[Any, Any]) -> dict[Any, Any]:
    merged = {**defaults, **entry}
    if isinstance(defaults.get("headers"), dict) and isinstance(entry.get("headers"), dict):
        merged["headers"] = {**defaults["headers"], **entry["headers"]}
    return merged


def _redact(doc: Document, path: Loc, message: str) -> str:
    """Never echo a resolved ``${VAR}`` value: show the reference instead."""
    exact = doc.templates.get(path)
    if exact and exact[1] and exact[1] in message:
        message = message.replace(exact[1], exact[0])
    for template, resolved in doc.templates.values():
        if len(resolved) >= 6 and resolved in message:
            message = message.replace(resolved, template)
    return message


def _kind_of(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _unknown_key(key: object, allowed: Iterable[str]) -> str:
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    else:
        message += f"; expected one of: {', '.join(sorted(allowed))}"
    return message


def _undefined(what: str, name: str, known: Mapping[str, object]) -> str:
    message = f"unknown {what} {name!r}"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    where = "alerts.yaml" if what == "alert" else "monitors.yaml"
    field = "name" if what == "alert" else "key"
    return f"{message}: no {what} with that {field} in {where} or its fragments"


def _message(err: ErrorDetails, model: type[BaseModel]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        fields = {f.alias or name for name, f in model.model_fields.items()}
        base = _unknown_key(loc[-1], fields) if len(loc) == 1 else f"unknown key {loc[-1]!r}"
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
