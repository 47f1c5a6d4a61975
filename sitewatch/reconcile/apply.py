"""Apply a snapshot to the database: one transaction, under a lock, recorded.

PostgreSQL: a transaction-scoped advisory lock (``catalog.lock_reconcile``), so
two instances sharing a database never apply a revision at the same time (the
second waits, then finds nothing left to do). SQLite has a single writer already.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sitewatch.config.entries import AlertEntry, Snapshot, WebsiteEntry
from sitewatch.config.models import check_type, display_url
from sitewatch.errors import SitewatchError
from sitewatch.reconcile.diff import Change, Plan, TablePlan, plan, would_wipe
from sitewatch.store import catalog, publishing, runs
from sitewatch.store.catalog import RowState
from sitewatch.store.engine import Connection, Engine, begin_write
from sitewatch.store.migrate import current_revision
from sitewatch.store.natural import natural_key
from sitewatch.store.runs import RunRecord, RunStatus
from sitewatch.store.types import utcnow

WIPE_MESSAGE = (
    "refused: the config has no websites but the database has {count}; nothing was deleted. "
    "If you really mean to remove every website, set allow_empty: true in monitors.yaml"
)


WRITE_BATCH = 1000  # rows written by one statement

# Given the git commit the database holds, why the snapshot must not be applied
# (another instance applied a newer commit), or None to go on.
CommitGuard = Callable[[str | None], Awaitable[str | None]]


class SupersededError(SitewatchError):
    """The database holds a newer commit of the followed remote than the one being
    applied (another instance applied it meanwhile): nothing was written."""

    def __init__(self, newer: str, verdict: str) -> None:
        self.newer, self.verdict = newer, verdict
        super().__init__(f"the database holds the newer git commit {newer[:12]} ({verdict})")


@dataclass(frozen=True, slots=True)
class State:
    """What the database holds now."""

    websites: list[RowState]
    alerts: list[RowState]
    bindings: set[tuple[str, str]]
    maintenance: dict[str, str]  # key -> spec hash
    status_pages: dict[str, str]
    incidents: dict[str, str]

    def plan(self, snapshot: Snapshot) -> Plan:
        return plan(
            snapshot,
            self.websites,
            self.alerts,
            self.bindings,
            self.maintenance,
            status_pages=self.status_pages,
            incidents=self.incidents,
        )


async def read_state(conn: Connection) -> State:
    return State(
        await catalog.row_states(conn, "websites"),
        await catalog.row_states(conn, "alerts"),
        await catalog.bindings(conn),
        await catalog.maintenance_hashes(conn),
        await publishing.page_hashes(conn),
        await publishing.note_hashes(conn),
    )


async def apply_snapshot(
    engine: Engine,
    snapshot: Snapshot,
    *,
    trigger: str,
    git_commit: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    guard: CommitGuard | None = None,
) -> RunRecord:
    """Make the database hold ``snapshot``; the run is recorded in the same transaction.

    ``guard`` (a followed remote): asked, under the lock, about the commit the
    database holds; a reason raises ``SupersededError`` and nothing is written,
    so the database never goes back to an older commit."""
    started = clock()
    warnings = tuple(p.format() for p in snapshot.warnings)

    def finish(
        status: RunStatus, *, errors: tuple[str, ...] = (), counts: dict[str, int] | None = None
    ) -> RunRecord:
        c = counts or {}
        return RunRecord(
            status,
            trigger,
            started,
            clock(),
            snapshot.revision,
            git_commit,
            created=c.get("created", 0),
            updated=c.get("updated", 0),
            deleted=c.get("deleted", 0),
            restored=c.get("restored", 0),
            unchanged=c.get("unchanged", 0),
            errors=errors,
            warnings=warnings,
        )

    async with begin_write(engine) as conn:
        await catalog.lock_reconcile(conn)
        held: str | None = None
        if guard is not None:
            last_applied = await runs.latest(conn, applied_only=True)
            held = last_applied.git_commit if last_applied else None
            verdict = await guard(held)
            if verdict is not None and held is not None:
                raise SupersededError(held, verdict)
        state = await read_state(conn)
        if would_wipe(snapshot, state.websites):
            count = sum(1 for w in state.websites if not w.archived)
            run = finish("refused", errors=(WIPE_MESSAGE.format(count=count),))
            await runs.record(conn, run)
            return run
        # In a worker thread: the diff of 120,000 websites is ~0.2 s of CPU the
        # loop's checks need not wait for (both are only read while it runs).
        todo = await asyncio.to_thread(state.plan, snapshot)
        if todo.is_empty:
            run = finish("unchanged", counts=todo.counts())
            last = await runs.latest(conn)
            # An idempotent re-run writes nothing, not even a run row; a followed
            # remote's new commit is recorded (the instances serve what it says).
            moved = guard is not None and git_commit != held
            if last is None or last.revision != snapshot.revision or not last.ok or moved:
                await runs.record(conn, run)
            return run
        await execute(conn, snapshot, todo, clock())
        run = finish("applied", counts=todo.counts())
        await runs.record(conn, run)
        return run


async def execute(conn: Connection, snapshot: Snapshot, todo: Plan, now: datetime) -> None:
    """The writes of a plan, batched per kind."""

    def website(c: Change) -> dict[str, Any]:
        return website_columns(snapshot.websites[c.key], c)

    def alert(c: Change) -> dict[str, Any]:
        return alert_columns(snapshot.alerts[c.key], c)

    tables: list[tuple[catalog.Kind, TablePlan, Callable[[Change], dict[str, Any]]]] = [
        ("websites", todo.websites, website),
        ("alerts", todo.alerts, alert),
    ]
    for table, changes, columns in tables:
        # A thousand rows a statement: a first apply of 120,000 websites would
        # otherwise hold every row's parameters at once (190 MB more at its peak).
        for batch in _batches(changes.of("create")):
            rows = [{**columns(c), "created_at": now, "updated_at": now} for c in batch]
            await catalog.insert_rows(conn, table, rows)
        for batch in _batches([c for c in changes.changes if c.kind in ("update", "restore")]):
            rows = [
                {**columns(c), "row_id": c.row_id, "updated_at": now, "archived_at": None}
                for c in batch
            ]
            await catalog.update_rows(conn, table, rows)
        deletes = [c.row_id for c in changes.of("delete") if c.row_id is not None]
        await catalog.archive(conn, table, deletes, now)
    await catalog.change_bindings(conn, todo.bindings_added, todo.bindings_removed)
    if todo.maintenance is not None:
        await catalog.replace_maintenance(
            conn,
            [
                {
                    "key": d.key,
                    "spec": d.spec,
                    "spec_hash": d.spec_hash,
                    "source_file": d.source_file,
                }
                for d in todo.maintenance
            ],
        )
    if todo.status_pages is not None:
        logos = snapshot.logos
        await publishing.replace_pages(
            conn,
            [
                {
                    "key": d.key,
                    "spec": d.spec,
                    "spec_hash": d.spec_hash,
                    "source_file": d.source_file,
                    "logo": logos[d.key].content if d.key in logos else None,
                    "logo_type": logos[d.key].content_type if d.key in logos else None,
                }
                for d in todo.status_pages
            ],
        )
    if todo.incidents is not None:
        await publishing.replace_notes(
            conn,
            [
                {
                    "key": d.key,
                    "spec": d.spec,
                    "spec_hash": d.spec_hash,
                    "source_file": d.source_file,
                }
                for d in todo.incidents
            ],
        )


def _batches(changes: list[Change]) -> Iterator[list[Change]]:
    for begin in range(0, len(changes), WRITE_BATCH):
        yield changes[begin : begin + WRITE_BATCH]


def website_columns(entry: WebsiteEntry, change: Change) -> dict[str, Any]:
    assert change.desired is not None
    w = entry.model
    spec = change.desired.spec
    return {
        "key": change.key,
        "name": w.name,
        "sort_key": natural_key(w.name),
        "url": display_url(spec),  # the stored form: ${VAR} kept
        "type": check_type(w),
        "active": w.active,
        "interval_seconds": w.interval,
        "tags": list(w.tags),
        "spec": spec,
        "spec_hash": change.desired.spec_hash,
        "source_file": change.desired.source_file,
    }


def alert_columns(entry: AlertEntry, change: Change) -> dict[str, Any]:
    assert change.desired is not None
    return {
        "key": change.key,
        "type": entry.model.type,
        "enabled": entry.model.enabled,
        "spec": change.desired.spec,
        "spec_hash": change.desired.spec_hash,
        "source_file": change.desired.source_file,
    }


@dataclass(frozen=True, slots=True)
class Preview:
    """What ``sitewatch plan`` shows: the plan, the old specs of updated entries."""

    plan: Plan
    old_websites: dict[str, dict[str, Any]]
    old_alerts: dict[str, dict[str, Any]]
    refused: str | None
    migrated: bool


async def preview(engine: Engine, snapshot: Snapshot) -> Preview:
    """The plan against the database, read-only (an unmigrated database counts as empty)."""
    migrated = await current_revision(engine) is not None
    if not migrated:
        return Preview(plan(snapshot, [], [], set(), {}), {}, {}, None, migrated)
    async with engine.connect() as conn:
        state = await read_state(conn)
        # In a worker thread: the diff of 120,000 websites is ~0.2 s of CPU the
        # loop's checks need not wait for (both are only read while it runs).
        todo = await asyncio.to_thread(state.plan, snapshot)
        updated_w = [c.key for c in todo.websites.changes if c.kind in ("update", "restore")]
        updated_a = [c.key for c in todo.alerts.changes if c.kind in ("update", "restore")]
        old_w = await catalog.specs(conn, "websites", updated_w)
        old_a = await catalog.specs(conn, "alerts", updated_a)
    refused = None
    if would_wipe(snapshot, state.websites):
        refused = WIPE_MESSAGE.format(count=sum(1 for w in state.websites if not w.archived))
    return Preview(todo, old_w, old_a, refused, migrated)
