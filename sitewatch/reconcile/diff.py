"""Desired state (the YAML) vs actual state (the database) -> a plan. Pure: no I/O.

Entries are matched by ``key``. A changed entry is detected by the hash of its
stored spec and source file, so an idempotent re-run reads four short columns
per row instead of every spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sitewatch.config.entries import Entry, Snapshot
from sitewatch.store.catalog import RowState

ChangeKind = Literal["create", "update", "delete", "restore"]


@dataclass(frozen=True, slots=True)
class Desired:
    """One entry as the database should hold it."""

    key: str
    entry: Entry[Any]
    source_file: str
    spec_hash: str

    @property
    def spec(self) -> dict[str, Any]:
        """The stored form (a website's is made when asked: only written rows need it)."""
        return self.entry.stored


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    key: str
    desired: Desired | None = None  # None for deletes
    row_id: int | None = None  # None for creates


@dataclass(frozen=True, slots=True)
class TablePlan:
    changes: tuple[Change, ...] = ()
    unchanged: int = 0

    def of(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


@dataclass(frozen=True, slots=True)
class Plan:
    websites: TablePlan = field(default_factory=TablePlan)
    alerts: TablePlan = field(default_factory=TablePlan)
    bindings_added: frozenset[tuple[str, str]] = frozenset()
    bindings_removed: frozenset[tuple[str, str]] = frozenset()
    # The maintenance windows, status pages and incident notes to hold, each set
    # only when it differs from the database's (they are replaced as sets).
    maintenance: tuple[Desired, ...] | None = None
    status_pages: tuple[Desired, ...] | None = None
    incidents: tuple[Desired, ...] | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.websites.changes
            or self.alerts.changes
            or self.bindings_added
            or self.bindings_removed
            or self.maintenance is not None
            or self.status_pages is not None
            or self.incidents is not None
        )

    def counts(self) -> dict[str, int]:
        """Counts of websites by what happens to them (what the run records)."""
        return {
            "created": self.websites.count("create"),
            "updated": self.websites.count("update"),
            "deleted": self.websites.count("delete"),
            "restored": self.websites.count("restore"),
            "unchanged": self.websites.unchanged,
        }


def desired_websites(snapshot: Snapshot) -> dict[str, Desired]:
    return {
        key: Desired(key, e, e.source.relpath, e.spec_hash) for key, e in snapshot.websites.items()
    }


def desired_alerts(snapshot: Snapshot) -> dict[str, Desired]:
    return {
        key: Desired(key, e, e.source.relpath, e.spec_hash) for key, e in snapshot.alerts.items()
    }


def plan_table(desired: Mapping[str, Desired], actual: Iterable[RowState]) -> TablePlan:
    changes: list[Change] = []
    unchanged = 0
    seen: set[str] = set()
    for row in actual:
        seen.add(row.key)
        want = desired.get(row.key)
        if want is None:
            if not row.archived:
                changes.append(Change("delete", row.key, None, row.id))
        elif row.archived:
            changes.append(Change("restore", row.key, want, row.id))
        elif row.spec_hash != want.spec_hash:
            changes.append(Change("update", row.key, want, row.id))
        else:
            unchanged += 1
    changes.extend(Change("create", key, want) for key, want in desired.items() if key not in seen)
    return TablePlan(tuple(changes), unchanged)


def plan_set(
    entries: Mapping[str, Entry[Any]], stored: Mapping[str, str] | None
) -> tuple[Desired, ...] | None:
    """A set replaced whole: the entries to hold, or None when ``stored`` (key ->
    spec hash) has them already."""
    desired = {key: Desired(key, e, e.source.relpath, e.spec_hash) for key, e in entries.items()}
    if {k: d.spec_hash for k, d in desired.items()} == dict(stored or {}):
        return None
    return tuple(desired[k] for k in sorted(desired))


def plan(
    snapshot: Snapshot,
    websites: Iterable[RowState],
    alerts: Iterable[RowState],
    bindings: Iterable[tuple[str, str]],
    maintenance: Mapping[str, str] | None = None,
    *,
    status_pages: Mapping[str, str] | None = None,
    incidents: Mapping[str, str] | None = None,
) -> Plan:
    """What to do to make the database hold ``snapshot``; ``maintenance``,
    ``status_pages``, ``incidents``: the stored entries' key -> spec hash."""
    current = frozenset(bindings)
    return Plan(
        websites=plan_table(desired_websites(snapshot), websites),
        alerts=plan_table(desired_alerts(snapshot), alerts),
        bindings_added=snapshot.bindings - current,
        bindings_removed=current - snapshot.bindings,
        maintenance=plan_set(snapshot.maintenance, maintenance),
        status_pages=plan_set(snapshot.status_pages, status_pages),
        incidents=plan_set(snapshot.incidents, incidents),
    )


def would_wipe(snapshot: Snapshot, actual_websites: Iterable[RowState]) -> bool:
    """A config with zero websites while the database has some: refused unless allow_empty."""
    return (
        not snapshot.websites
        and not snapshot.allow_empty
        and any(not a.archived for a in actual_websites)
    )


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Top-level fields that differ: ``{"interval": ("30s", "1m")}``."""
    out: dict[str, tuple[Any, Any]] = {}
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            out[name] = (old.get(name), new.get(name))
    return out
