"""The record of reconcile runs: what was applied, when, and what went wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sitewatch.store.tables import reconcile_runs
from sitewatch.times import iso_z

RunStatus = Literal["applied", "unchanged", "failed", "refused"]
KEEP_RUNS = 1000


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One reconcile attempt, as stored and as reported by /health and the API."""

    status: RunStatus
    trigger: str
    started_at: datetime
    finished_at: datetime
    revision: str | None = None
    git_commit: str | None = None
    created: int = 0
    updated: int = 0
    deleted: int = 0
    restored: int = 0
    unchanged: int = 0
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "unchanged")

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "trigger": self.trigger,
            "revision": self.revision,
            "git_commit": self.git_commit,
            "started_at": iso_z(self.started_at),
            "finished_at": iso_z(self.finished_at),
            "duration_seconds": round(self.duration_seconds, 6),
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "restored": self.restored,
            "unchanged": self.unchanged,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


_COLUMNS = (
    "status",
    "trigger",
    "started_at",
    "finished_at",
    "revision",
    "git_commit",
    "created",
    "updated",
    "deleted",
    "restored",
    "unchanged",
)


async def record(conn: AsyncConnection, run: RunRecord) -> None:
    values: dict[str, Any] = {c: getattr(run, c) for c in _COLUMNS}
    values.update(
        errors=list(run.errors), warnings=list(run.warnings), duration_seconds=run.duration_seconds
    )
    result = await conn.execute(insert(reconcile_runs).values(values))
    newest = result.inserted_primary_key
    if newest is not None and newest[0] % 100 == 0:  # prune now and then, not on every run
        await conn.execute(
            delete(reconcile_runs).where(reconcile_runs.c.id <= newest[0] - KEEP_RUNS)
        )


async def latest(conn: AsyncConnection, *, applied_only: bool = False) -> RunRecord | None:
    found = await recent(conn, limit=1, applied_only=applied_only)
    return found[0] if found else None


async def recent(
    conn: AsyncConnection, *, limit: int, applied_only: bool = False
) -> list[RunRecord]:
    """The last ``limit`` runs, newest first (``applied_only``: those that applied)."""
    query = select(reconcile_runs).order_by(reconcile_runs.c.id.desc()).limit(limit)
    if applied_only:
        query = query.where(reconcile_runs.c.status.in_(("applied", "unchanged")))
    return [
        RunRecord(
            **{c: row[c] for c in _COLUMNS},
            errors=tuple(row["errors"]),
            warnings=tuple(row["warnings"]),
        )
        for row in (await conn.execute(query)).mappings()
    ]
