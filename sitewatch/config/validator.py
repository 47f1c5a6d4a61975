"""The validator: composed YAML documents -> a ``Snapshot``, or every problem at once.

Every entry is validated by its pydantic model, placed (file, line), checked
across files (unique keys, references that exist) and bound (which alert
applies to which website). Nothing here touches the database or the network.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic

from pydantic import BaseModel, ValidationError
from yaml.nodes import Node, ScalarNode, SequenceNode

from sitewatch.config.entries import (
    AnyAlert,
    Entry,
    Logo,
    M,
    Snapshot,
    Source,
    spec_digest,
)
from sitewatch.config.files import NOTES, ConfigFile
from sitewatch.config.messages import (
    ERROR_FIELD,
    kind_of,
    message_of,
    redact,
    undefined,
    unknown_key,
)
from sitewatch.config.models import (
    ALERT_TYPES,
    CHECK_TYPES,
    AnyCheck,
    AnyWindow,
    AppriseAlert,
    MonitorsFile,
    Website,
    WebsiteDefaults,
    check_model,
    check_type,
    window_model,
)
from sitewatch.config.pages import (
    LOGO_TYPES,
    IncidentNote,
    StatusPage,
    note_key,
    split_front_matter,
)
from sitewatch.config.problems import Loc, Problem, sort_problems
from sitewatch.config.stored import NO_TEMPLATES, Rebuilt, stored_form, templates_by_entry
from sitewatch.config.types import slugify
from sitewatch.config.yamlread import (
    Builder,
    Composed,
    Document,
    Hollow,
    NeedsTree,
    TooLargeError,
)
from sitewatch.errors import ConfigError

_TOP_KEY = {
    "monitors": "websites",
    "alerts": "alerts",
    "status-pages": "status_pages",
    NOTES: "title",
}
# Which files define each kind of name that other entries refer to.
_DEFINED_IN = {"websites": "monitors", "alerts": "alerts", "pages": "status-pages"}
PUBLIC_NO_VARS = (
    "status pages and incident notes are public, so they take no ${VAR} references "
    "(a resolved value would be published): write the text itself, or $${ for a literal ${"
)
NO_VARS_IN_WINDOWS = (
    "maintenance windows take no ${VAR} references (they are announced on status pages, "
    "where a resolved value would be published): write the text itself, or $${ for a "
    "literal ${"
)
NO_VARS_IN_TEMPLATES = (
    "message templates take no ${VAR} references: what they render is sent, shown in "
    "previews and logged, and a resolved value would be published; write $${ for a literal ${"
)

# A validated website, reusable while its YAML text and defaults are unchanged.
Cached = tuple[AnyCheck, Rebuilt, str]
CacheKey = tuple[str, str, str]  # (file, defaults fingerprint, entry text)


@dataclass(frozen=True, slots=True)
class Placed(Generic[M]):
    """An entry while validating: with the document and path it was read from,
    for the problems found across files."""

    entry: Entry[M]
    doc: Document
    path: Loc


@dataclass
class Validator:
    files: list[ConfigFile]
    composed: list[Composed]
    revision: str
    environ: Mapping[str, str]
    cache_in: dict[CacheKey, Cached]
    cache_out: dict[CacheKey, Cached] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Entries written but not valid ("websites": keys, "alerts": names), and the
    # kinds of file that could not be read at all: a reference to them is not
    # also reported as unknown (a follow-on message that misleads).
    failed: dict[str, set[str]] = field(
        default_factory=lambda: {"websites": set(), "alerts": set(), "pages": set()}
    )
    unreadable: set[str] = field(default_factory=set)
    defaults_by_file: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self) -> Snapshot:
        websites: dict[str, Placed[AnyCheck]] = {}
        alerts: dict[str, Placed[AnyAlert]] = {}
        maintenance: dict[str, Placed[AnyWindow]] = {}
        pages: dict[str, Placed[StatusPage]] = {}
        notes: dict[str, Placed[IncidentNote]] = {}
        logos: dict[str, Logo] = {}
        assets = {f.relpath: f for f in self.files if f.kind == "asset"}
        allow_empty = False
        main_defaults = _Defaults({}, {})
        documents: list[Document] = []
        pairs = list(zip(self.files, self.composed, strict=True))
        # The main monitors file first: its defaults apply to the fragments too.
        pairs.sort(key=lambda p: (p[0].kind != "monitors", not p[0].is_main))
        for f, composed in pairs:
            if f.kind == "asset":
                continue
            builder = Builder(composed.file, self.environ)
            builder.problems.extend(composed.problems)
            doc = Document(
                composed.file, composed.root, builder.problems, builder.templates, composed.text
            )
            documents.append(doc)
            if composed.root is None:
                if composed.problems:
                    self.unreadable.add(f.kind)
                elif f.kind == NOTES:
                    self.report(
                        doc,
                        (),
                        "the front matter is empty: give title:, status:, "
                        "started: and what is affected",
                    )
                continue  # a syntax error (or an empty file)
            try:
                lazy = frozenset({"websites"}) if f.kind == "monitors" else frozenset()
                data = builder.build_top(composed.root, lazy)
            except NeedsTree as exc:  # a hollowed website, used by an alias elsewhere
                raise NeedsTree(f.relpath) from exc
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
                    f"expected a mapping with {_TOP_KEY[f.kind]}: (got {kind_of(data)})",
                )
                continue
            if f.kind in (NOTES, "status-pages"):
                for path in builder.templates:
                    self.report(doc, path, PUBLIC_NO_VARS)
                if f.kind == NOTES:
                    self.incident_note(f, doc, data, notes)
                else:
                    self.status_pages_file(f, doc, data, pages, assets, logos)
                continue
            if f.kind == "monitors":
                try:
                    allow, defaults = self.monitors_file(
                        f, doc, composed, builder, data, main_defaults, websites
                    )
                except NeedsTree as exc:
                    raise NeedsTree(f.relpath) from exc
                self.defaults_by_file[f.relpath] = _shown_defaults(defaults)
                if f.is_main:
                    allow_empty, main_defaults = allow, defaults
            else:
                self.alerts_file(f, doc, data, alerts, maintenance)
        for doc in documents:
            self.problems.extend(doc.problems)
        self.cross_check(websites, alerts, maintenance)
        tags = {t for site in websites.values() for t in site.entry.model.tags}
        self.cross_check_pages(websites, pages, notes, tags)
        bindings = self.bind(websites, alerts)
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise ConfigError(sort_problems(self.problems), self.revision)
        return Snapshot(
            revision=self.revision,
            websites={k: v.entry for k, v in websites.items()},
            alerts={k: v.entry for k, v in alerts.items()},
            bindings=frozenset(bindings),
            maintenance={k: v.entry for k, v in maintenance.items()},
            status_pages={k: v.entry for k, v in pages.items()},
            incidents={k: v.entry for k, v in notes.items()},
            logos={k: v for k, v in logos.items() if k in pages},
            allow_empty=allow_empty,
            warnings=tuple(sort_problems(self.problems)),
            files=tuple(f.relpath for f in self.files),
            defaults=self.defaults_by_file,
            tags=tuple(sorted(tags)),
        )

    # -- reporting -----------------------------------------------------------

    def report(
        self, doc: Document, path: Loc, message: str, *, key: bool = False, severity: str = "error"
    ) -> None:
        if any(path[: len(bad)] == bad for bad in (p.path for p in doc.problems)):
            return  # the YAML-level problem there was reported already; don't cascade
        line, column = doc.position(path, key=key)
        message = redact(doc, path, message)
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
            if kind in ERROR_FIELD:
                loc = (*loc, *ERROR_FIELD[kind])
            self.report(doc, loc, message_of(err, model), key=kind == "extra_forbidden")

    # -- monitors ------------------------------------------------------------

    def monitors_file(
        self,
        f: ConfigFile,
        doc: Document,
        composed: Composed,
        builder: Builder,
        data: dict[Any, Any],
        inherited: _Defaults,
        websites: dict[str, Placed[AnyCheck]],
    ) -> tuple[bool, _Defaults]:
        allowed = set(MonitorsFile.model_fields)
        for key in data:
            if key not in allowed:
                self.report(doc, (key,), unknown_key(key, allowed), key=True)
        allow_empty = data.get("allow_empty", False)
        if not isinstance(allow_empty, bool):
            self.report(doc, ("allow_empty",), f"expected true or false (got {allow_empty!r})")
            allow_empty = False
        elif allow_empty and not f.is_main:
            self.report(doc, ("allow_empty",), "allow_empty belongs in the main monitors.yaml")
        templates = templates_by_entry(doc)
        defaults = inherited
        raw_defaults = data.get("defaults")
        if raw_defaults is not None:
            if not isinstance(raw_defaults, dict):
                self.report(doc, ("defaults",), f"expected a mapping (got {kind_of(raw_defaults)})")
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
            self.report(doc, ("websites",), f"expected a list of websites (got {kind_of(value)})")
            return allow_empty, defaults
        fingerprint = defaults.fingerprint()
        shared = Rebuilt(defaults.templates) if defaults.templates else NO_TEMPLATES
        for index, node in enumerate(items.value):
            path: Loc = ("websites", index)
            text = composed.text[node.start_mark.index : node.end_mark.index]
            # Aliases pull in text from elsewhere: such entries are never cached.
            cache_key = (f.relpath, fingerprint, text) if "*" not in text else None
            cached = self.cache_in.get(cache_key) if cache_key else None
            if cached is None:
                if isinstance(node, Hollow):  # validated before, with other defaults
                    raise NeedsTree(f.relpath)
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
                        f"expected a website mapping with name: and url: (got {kind_of(item)})",
                    )
                    continue
                model = check_model(item)
                if model is None:
                    self.report(
                        doc,
                        (*path, "type"),
                        f"unknown check type {check_type(item)!r}: expected one of "
                        + ", ".join(CHECK_TYPES),
                    )
                    self.failed["websites"].add(
                        str(item.get("key") or slugify(str(item.get("name", ""))))
                    )
                    continue
                merged = _merge(defaults.values, item) if defaults.values else item
                if model is not Website:  # the defaults' HTTP settings are not its business
                    merged = {
                        k: v for k, v in merged.items() if k in item or k in model.model_fields
                    }
                try:
                    website = model.model_validate(merged)
                except ValidationError as exc:
                    self.report_validation(doc, path, exc, model)
                    self.failed["websites"].add(
                        str(item.get("key") or slugify(str(item.get("name", ""))))
                    )
                    continue
                form = Rebuilt({**defaults.templates, **own_templates}) if own_templates else shared
                cached = (website, form, spec_digest(form.of(website), f.relpath))
                if cache_key is None or len(doc.problems) != known_problems:
                    cache_key = None
            website, form, digest = cached
            source = Source(doc.file, node.start_mark.line + 1, f.relpath)
            placed = Placed(Entry(website, source, form, digest), doc, path)
            self.place(websites, website.key, placed, "website key", "key")
            if cache_key is not None:
                self.cache_out[cache_key] = cached
                if not isinstance(node, Hollow):
                    items.value[index] = Hollow(node)  # its nodes are not needed again
        return allow_empty, defaults

    # -- alerts --------------------------------------------------------------

    def alerts_file(
        self,
        f: ConfigFile,
        doc: Document,
        data: dict[Any, Any],
        alerts: dict[str, Placed[AnyAlert]],
        maintenance: dict[str, Placed[AnyWindow]],
    ) -> None:
        for key in data:
            if key not in ("alerts", "maintenance"):
                self.report(doc, (key,), unknown_key(key, {"alerts", "maintenance"}), key=True)
        self.maintenance_windows(f, doc, data, maintenance)
        items = data.get("alerts") or []
        if not isinstance(items, list):
            self.unreadable.add("alerts")
            self.report(doc, ("alerts",), f"expected a list of alerts (got {kind_of(items)})")
            return
        templates = templates_by_entry(doc)
        for index, item in enumerate(items):
            path: Loc = ("alerts", index)
            if not isinstance(item, dict):
                self.unreadable.add("alerts")  # which alert it was is unknown
                self.report(
                    doc,
                    path,
                    f"expected an alert mapping with name: and type: (got {kind_of(item)})",
                )
                continue
            if isinstance(item.get("name"), str):
                self.failed["alerts"].add(item["name"])  # until it validates, below
            kind = item.get("type")
            model = ALERT_TYPES.get(kind) if isinstance(kind, str) else None
            if model is None:
                expected = "one of " + ", ".join(ALERT_TYPES)
                if kind is None:
                    self.report(doc, path, f"missing required key 'type' ({expected})")
                else:
                    self.report(
                        doc, (*path, "type"), f"unknown alert type {kind!r}: expected {expected}"
                    )
                continue
            in_templates = [p for p in templates.get(path, {}) if p[:1] == ("templates",)]
            for where in in_templates:
                self.report(doc, (*path, *where), NO_VARS_IN_TEMPLATES)
            try:
                alert = model.model_validate(item)
            except ValidationError as exc:
                self.report_validation(doc, path, exc, model)
                continue
            if in_templates:
                continue
            if isinstance(alert, AppriseAlert):
                self.pager_through_apprise(doc, path, alert)
            self.failed["alerts"].discard(alert.name)
            line, _ = doc.position(path)
            source = Source(doc.file, line, f.relpath)
            stored = stored_form(
                alert.model_dump(mode="json", by_alias=True), templates.get(path, {})
            )
            digest = spec_digest(stored, f.relpath)
            placed = Placed(Entry(alert, source, stored, digest), doc, path)
            self.place(alerts, alert.name, placed, "alert name", "name")

    def pager_through_apprise(self, doc: Document, path: Loc, alert: AppriseAlert) -> None:
        """Apprise keys a pager's incidents by the message's first line: reminders
        and recoveries would not find the incident a DOWN opened."""
        for index, url in enumerate(alert.urls):
            scheme = url.partition("://")[0].lower()
            if scheme in ("pagerduty", "opsgenie"):
                self.report(
                    doc,
                    (*path, "urls", index),
                    f"{scheme}:// through Apprise keys incidents by the message text, so a "
                    f"reminder or an UP does not find the incident its DOWN opened; "
                    f"type: {scheme} keeps one incident per outage",
                    severity="warning",
                )

    def maintenance_windows(
        self,
        f: ConfigFile,
        doc: Document,
        data: dict[Any, Any],
        maintenance: dict[str, Placed[AnyWindow]],
    ) -> None:
        items = data.get("maintenance") or []
        if not isinstance(items, list):
            self.report(doc, ("maintenance",), f"expected a list of windows (got {kind_of(items)})")
            return
        templates = templates_by_entry(doc)
        for index, item in enumerate(items):
            path: Loc = ("maintenance", index)
            if not isinstance(item, dict):
                self.report(
                    doc, path, f"expected a window mapping with name: (got {kind_of(item)})"
                )
                continue
            for where in templates.get(path, {}):
                self.report(doc, (*path, *where), NO_VARS_IN_WINDOWS)
            model = window_model(item)
            try:
                window = model.model_validate(item)
            except ValidationError as exc:
                self.report_validation(doc, path, exc, model)
                continue
            line, _ = doc.position(path)
            stored = window.model_dump(mode="json")  # as written: no references to keep
            source = Source(doc.file, line, f.relpath)
            entry = Entry(window, source, stored, spec_digest(stored, f.relpath))
            self.place(maintenance, window.name, Placed(entry, doc, path), "maintenance window")

    def place(
        self,
        found: dict[str, Placed[M]],
        name: str,
        placed: Placed[M],
        what: str,
        field: str = "name",
    ) -> None:
        """Keep the first entry of each key or name; a second one is a problem at its own line."""
        first = found.get(name)
        if first is None:
            found[name] = placed
            return
        self.report(
            placed.doc,
            (*placed.path, field),
            f"duplicate {what} {name!r} (also defined at {first.entry.source})",
        )

    # -- status pages and incident notes ----------------------------------------

    def status_pages_file(
        self,
        f: ConfigFile,
        doc: Document,
        data: dict[Any, Any],
        pages: dict[str, Placed[StatusPage]],
        assets: Mapping[str, ConfigFile],
        logos: dict[str, Logo],
    ) -> None:
        for key in data:
            if key != "status_pages":
                self.report(doc, (key,), unknown_key(key, {"status_pages"}), key=True)
        items = data.get("status_pages") or []
        if not isinstance(items, list):
            self.unreadable.add("status-pages")
            self.report(
                doc, ("status_pages",), f"expected a list of status pages (got {kind_of(items)})"
            )
            return
        for index, item in enumerate(items):
            path: Loc = ("status_pages", index)
            if not isinstance(item, dict):
                self.unreadable.add("status-pages")
                self.report(
                    doc,
                    path,
                    "expected a status page mapping with key:, title: and groups: "
                    f"(got {kind_of(item)})",
                )
                continue
            if isinstance(item.get("key"), str):
                self.failed["pages"].add(item["key"])
            try:
                page = StatusPage.model_validate(item)
            except ValidationError as exc:
                self.report_validation(doc, path, exc, StatusPage)
                continue
            self.failed["pages"].discard(page.key)
            stored = page.model_dump(mode="json")
            identity = stored
            if page.logo is not None:
                image = assets.get(page.logo)
                if image is None:
                    self.report(
                        doc,
                        (*path, "logo"),
                        f"no image {page.logo!r} in the config folder: a logo is a file in "
                        "the folder itself or in assets/, at most 512 KiB",
                    )
                    continue
                suffix = "." + page.logo.rsplit(".", 1)[-1].lower()
                logos[page.key] = Logo(page.logo, LOGO_TYPES[suffix], image.content)
                identity = {**stored, "logo_sha256": hashlib.sha256(image.content).hexdigest()}
            line, _ = doc.position(path)
            entry = Entry(
                page, Source(doc.file, line, f.relpath), stored, spec_digest(identity, f.relpath)
            )
            self.place(pages, page.key, Placed(entry, doc, path), "status page key", "key")

    def incident_note(
        self,
        f: ConfigFile,
        doc: Document,
        data: dict[Any, Any],
        notes: dict[str, Placed[IncidentNote]],
    ) -> None:
        key: str | None = None
        try:
            key = note_key(f.relpath)
        except ValueError as exc:  # pydantic_core's error is a ValueError
            self.report(doc, (), f"the file's name is the incident's key, and {exc}")
        if "body" in data:
            self.report(doc, ("body",), "the note's Markdown goes below the front matter", key=True)
            return
        split = split_front_matter(f.content.decode("utf-8"))
        body = split[1] if isinstance(split, tuple) else ""
        try:
            note = IncidentNote.model_validate({**data, "body": body})
        except ValidationError as exc:
            self.report_validation(doc, (), exc, IncidentNote)
            return
        if key is None:
            return
        stored = note.model_dump(mode="json")
        entry = Entry(note, Source(doc.file, 1, f.relpath), stored, spec_digest(stored, f.relpath))
        self.place(notes, key, Placed(entry, doc, ()), "incident")

    def cross_check_pages(
        self,
        websites: dict[str, Placed[AnyCheck]],
        pages: dict[str, Placed[StatusPage]],
        notes: dict[str, Placed[IncidentNote]],
        tags: set[str],
    ) -> None:
        seen: dict[tuple[str, str], Placed[StatusPage]] = {}
        groups: dict[str, set[str]] = {}  # group name -> the pages that have it
        for placed in pages.values():
            page, doc, path = placed.entry.model, placed.doc, placed.path
            for field_name, value in (("slug", page.slug), ("domain", page.domain)):
                if value is None:
                    continue
                first = seen.setdefault((field_name, value), placed)
                if first is not placed:
                    self.report(
                        doc,
                        (*path, field_name),
                        f"duplicate {field_name} {value!r} (also used by status page "
                        f"{first.entry.model.key!r} at {first.entry.source})",
                    )
            for g, group in enumerate(page.groups):
                groups.setdefault(group.name, set()).add(page.key)
                for i, key in enumerate(group.websites):
                    if key not in websites and self._may_be_unknown("websites", key):
                        where = (*path, "groups", g, "websites", i)
                        self.report(doc, where, undefined("website", key, websites))
                for i, tag in enumerate(group.tags):
                    if tag not in tags and "monitors" not in self.unreadable:
                        self.report(
                            doc,
                            (*path, "groups", g, "tags", i),
                            f"no website has the tag {tag!r} yet: the group shows none for it",
                            severity="warning",
                        )
        for noted in notes.values():
            note, doc = noted.entry.model, noted.doc
            for i, key in enumerate(note.websites):
                if key not in websites and self._may_be_unknown("websites", key):
                    self.report(doc, ("websites", i), undefined("website", key, websites))
            for i, key in enumerate(note.pages):
                if key not in pages and self._may_be_unknown("pages", key):
                    self.report(doc, ("pages", i), _unknown_page(key, pages))
            for i, group_name in enumerate(note.groups):
                name = group_name
                if name not in groups and "status-pages" not in self.unreadable:
                    close = difflib.get_close_matches(name, list(groups), n=1, cutoff=0.6)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    self.report(
                        doc, ("groups", i), f"no status page has a group named {name!r}{hint}"
                    )

    # -- across files ----------------------------------------------------------

    def cross_check(
        self,
        websites: dict[str, Placed[AnyCheck]],
        alerts: dict[str, Placed[AnyAlert]],
        maintenance: dict[str, Placed[AnyWindow]],
    ) -> None:
        for site in websites.values():
            for i, name in enumerate(site.entry.model.alerts):
                if name not in alerts and self._may_be_unknown("alerts", name):
                    where = (*site.path, "alerts", i)
                    self.report(site.doc, where, undefined("alert", name, alerts))
        selectors: list[tuple[AnyAlert | AnyWindow, Document, Loc]]
        selectors = [(a.entry.model, a.doc, a.path) for a in alerts.values()]
        selectors += [(w.entry.model, w.doc, w.path) for w in maintenance.values()]
        for selector, doc, path in selectors:
            if selector.all_websites:
                continue
            for i, key in enumerate(selector.websites):
                if key not in websites and self._may_be_unknown("websites", key):
                    self.report(doc, (*path, "websites", i), undefined("website", key, websites))

    def _may_be_unknown(self, kind: str, name: str) -> bool:
        """Is ``name`` really undefined, or only invalid (reported at its own line)?"""
        return _DEFINED_IN[kind] not in self.unreadable and name not in self.failed[kind]

    def bind(
        self,
        websites: dict[str, Placed[AnyCheck]],
        alerts: dict[str, Placed[AnyAlert]],
    ) -> set[tuple[str, str]]:
        """Which alert applies to which website: listed on either side, by tag, or "*"."""
        bindings = {
            (key, name)
            for key, site in websites.items()
            for name in site.entry.model.alerts
            if name in alerts
        }
        by_tag: dict[str, list[str]] = {}
        for key, site in websites.items():
            for tag in site.entry.model.tags:
                by_tag.setdefault(tag, []).append(key)
        for name, placed in alerts.items():
            rule, doc, path = placed.entry.model, placed.doc, placed.path
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


def _unknown_page(key: str, pages: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(key, list(pages), n=1, cutoff=0.6)
    if close:
        return f"unknown status page {key!r}; did you mean {close[0]!r}?"
    return f"unknown status page {key!r}: no status page with that key in status-pages.yaml"


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


def _merge(defaults: dict[str, Any], entry: dict[Any, Any]) -> dict[Any, Any]:
    merged = {**defaults, **entry}
    if isinstance(defaults.get("headers"), dict) and isinstance(entry.get("headers"), dict):
        merged["headers"] = {**defaults["headers"], **entry["headers"]}
    return merged
