"""What a valid config is made of: entries (a model, where it is written, its
stored form) and the ``Snapshot`` of one revision, the reconciler's desired state."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sitewatch.config.models import AnyAlertModel, AnyCheck, AnyWindow
from sitewatch.config.pages import IncidentNote, StatusPage
from sitewatch.config.problems import Problem
from sitewatch.config.stored import Rebuilt

AnyAlert = AnyAlertModel
M = TypeVar("M", AnyCheck, AnyAlert, AnyWindow, StatusPage, IncidentNote)


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
class Entry(Generic[M]):
    """One valid entry: a website, an alert, a maintenance window, a status page or
    an incident note."""

    model: M  # validated, with ${VAR} references resolved
    source: Source
    # The JSON spec with ${VAR} references kept (``stored.stored_form``), or for a
    # website how to make it from ``model`` (not kept: 1.1 KB a website).
    form: dict[str, Any] | Rebuilt
    spec_hash: str  # identity of (stored, source file): what the reconciler compares

    @property
    def stored(self) -> dict[str, Any]:
        """The JSON spec as stored: ``${VAR}`` references, never their values."""
        form = self.form
        return form if isinstance(form, dict) else form.of(self.model)


WebsiteEntry = Entry[AnyCheck]
AlertEntry = Entry[AnyAlert]
MaintenanceEntry = Entry[AnyWindow]
PageEntry = Entry[StatusPage]
NoteEntry = Entry[IncidentNote]


@dataclass(frozen=True, slots=True)
class Logo:
    """A status page's logo: the image file's bytes, read with the config."""

    relpath: str
    content_type: str
    content: bytes


def spec_digest(stored: dict[str, Any], source_file: str) -> str:
    """The identity of an entry: its stored spec and its file *relative to the
    config folder* (never the folder's own path)."""
    canonical = json.dumps([stored, source_file], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """One valid revision of the configuration: the desired state."""

    revision: str
    websites: Mapping[str, WebsiteEntry]
    alerts: Mapping[str, AlertEntry]
    bindings: frozenset[tuple[str, str]]  # (website key, alert name)
    allow_empty: bool = False
    maintenance: Mapping[str, MaintenanceEntry] = field(default_factory=dict)
    status_pages: Mapping[str, PageEntry] = field(default_factory=dict)
    incidents: Mapping[str, NoteEntry] = field(default_factory=dict)
    logos: Mapping[str, Logo] = field(default_factory=dict)  # page key -> its logo
    warnings: tuple[Problem, ...] = ()
    files: tuple[str, ...] = ()
    # Per monitors file (relative path): the defaults in effect there for the
    # fields a form shows as placeholders, as written (never from a ${VAR}).
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Every website's tags, sorted (the dashboard's filter: made once a load, in
    # the loader's thread; once a page view it cost 94 ms at 120,000 websites).
    tags: tuple[str, ...] = ()
