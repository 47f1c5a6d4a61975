"""The reconciler: keeps the database in step with the config folder.

``reconcile()`` reads the folder, and when its content changed since the last
attempt, validates it and applies it (see ``apply``). A config that does not
validate changes nothing: the error is recorded and the last good revision
stays applied. ``run()`` does this at start, on every change the watcher sees,
and on a slow periodic resync (a safety net for missed file events).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sitewatch.config.entries import Snapshot
from sitewatch.config.files import DEFAULT_MAX_FILE_BYTES
from sitewatch.config.gitinfo import git_commit
from sitewatch.config.loader import ConfigLoader
from sitewatch.config.problems import Problem
from sitewatch.config.watcher import watch
from sitewatch.errors import ConfigError
from sitewatch.reconcile.apply import SupersededError, apply_snapshot
from sitewatch.store import runs
from sitewatch.store.engine import DatabaseError, Engine, begin_write
from sitewatch.store.runs import RunRecord
from sitewatch.store.types import utcnow

log = logging.getLogger("sitewatch.reconcile")


@dataclass
class ReconcileStatus:
    """What /health, the API and the dashboard report about the config."""

    last: RunRecord | None = None  # the last attempt, whatever its outcome
    applied: RunRecord | None = None  # the last attempt that left the database in step
    problems: tuple[Problem, ...] = ()  # errors of the last failed attempt
    snapshot: Snapshot | None = None  # the last valid config seen
    listeners: list[Callable[[RunRecord], None]] = field(default_factory=list)

    @property
    def applied_revision(self) -> str | None:
        return self.applied.revision if self.applied else None


class Reconciler:
    def __init__(
        self,
        engine: Engine,
        config_dir: Path,
        environ: Mapping[str, str],
        *,
        clock: Callable[[], datetime] = utcnow,
        debounce_ms: int = 1600,
        step_ms: int = 50,
        resync_seconds: float = 300.0,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.engine = engine
        self.config_dir = config_dir
        self.loader = ConfigLoader(config_dir, environ, max_file_bytes=max_file_bytes)
        self.clock = clock
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.resync_seconds = resync_seconds
        self.status = ReconcileStatus()
        self._attempted: str | None = None  # revision of the last completed attempt
        self._lock = asyncio.Lock()
        # The commit of a followed remote's served folder (None: ask the folder's git).
        self.commit: str | None = None
        # A followed remote: may ``commit`` be applied, given the database's?
        self.guard: Callable[[str | None, str | None], Awaitable[str | None]] | None = None

    async def restore_status(self) -> None:
        """Pick up the last runs recorded in the database (after a restart)."""
        async with self.engine.connect() as conn:
            self.status.last = await runs.latest(conn)
            self.status.applied = await runs.latest(conn, applied_only=True)

    async def resume(self) -> bool:
        """At a start: whether the files are the revision the database last applied.

        If so, it is taken as applied without reading it through (the checker
        already checks that state; reading 120,000 websites' config again takes
        seconds of CPU the catch-up of the missed slots needs): ``run`` reads it
        through later (``settle``), as any change would be. A last attempt that
        failed (a ``${VAR}`` gone from the environment rejects an unchanged
        file) or any unreadable file: False, read it through now."""
        applied, last = self.status.applied, self.status.last
        if applied is None or last is None or not last.ok or last.revision != applied.revision:
            return False
        async with self._lock:
            try:
                _files, revision = await asyncio.to_thread(self.loader.read)
            except ConfigError:
                return False
            if revision != applied.revision:
                return False
            self._attempted = revision
        log.info(
            "revision %s is the one applied: checking its websites, read through later",
            revision[:12],
        )
        return True

    async def reconcile(
        self,
        trigger: str,
        *,
        force: bool = False,
        commit: str | None = None,
        prepare: Callable[[], None] | None = None,
        loaded: Snapshot | None = None,
    ) -> RunRecord | None:
        """One reconcile; ``None`` when the files are as last attempted (nothing to do).

        ``commit``: the git commit the files are (a followed remote's), rather than
        asking the folder; with it, ``SupersededError`` reaches the caller when the
        database holds a newer commit (without it, that reconcile is skipped).
        ``prepare`` runs under the reconciler's lock before the files are read: a
        followed remote swaps the served folder there, so that no other reconcile
        reads half of one commit and half of another. ``loaded``: the files just
        validated by the caller (an API write), taken instead of loading them again
        when the folder is still that revision."""
        following = commit is not None
        async with self._lock:
            if prepare is not None:
                prepare()
            if commit is not None:
                self.commit = commit
            started = self.clock()
            try:
                files, revision = await asyncio.to_thread(self.loader.read)
            except ConfigError as exc:
                return await self._failed(trigger, started, exc, revision=None)
            if not force and revision == self._attempted:
                await self._follow_commit()
                return None
            try:
                if loaded is not None and loaded.revision == revision:
                    snapshot = loaded
                else:
                    snapshot = await asyncio.to_thread(self.loader.load, files)
            except ConfigError as exc:
                return await self._failed(trigger, started, exc, revision=revision)
            commit = self.commit or await git_commit(self.config_dir)
            guard = self.guard
            try:
                run = await apply_snapshot(
                    self.engine,
                    snapshot,
                    trigger=trigger,
                    git_commit=commit,
                    clock=self.clock,
                    guard=None if guard is None else functools.partial(guard, commit),
                )
            except SupersededError as exc:
                self._attempted = None
                if following:
                    raise
                log.info("%s: not applied, the served commit is older (%s)", trigger, exc)
                return None
            except (DatabaseError, OSError) as exc:
                # The database is unreachable: try again on the next event or resync.
                self._attempted = None
                log.error("reconcile of revision %s failed: database error: %s", revision[:12], exc)
                run = RunRecord(
                    "failed",
                    trigger,
                    started,
                    self.clock(),
                    revision,
                    commit,
                    errors=(f"database error: {type(exc).__name__}: {exc}",),
                )
                self._set(run)
                return run
            self._attempted = revision
            self.status.snapshot = snapshot
            self.status.problems = ()
            self._set(run)
            self._log(run)
            return run

    async def _follow_commit(self) -> None:
        """The files are as applied, but git may have moved on: committing the
        content that is live turns ``<commit>+dirty`` into the new commit."""
        applied = self.status.applied
        if applied is None or applied.revision != self._attempted or self.commit is not None:
            return
        commit = await git_commit(self.config_dir)
        if commit == applied.git_commit:
            return
        log.info(
            "revision %s is now git commit %s", (applied.revision or "?")[:12], commit or "none"
        )
        self.status.applied = replace(applied, git_commit=commit)
        last = self.status.last
        if last is not None and last.revision == applied.revision and last.ok:
            self.status.last = replace(last, git_commit=commit)

    async def _failed(
        self, trigger: str, started: datetime, exc: ConfigError, revision: str | None
    ) -> RunRecord:
        self._attempted = revision
        run = RunRecord(
            "failed",
            trigger,
            started,
            self.clock(),
            revision,
            errors=tuple(p.format() for p in exc.problems if p.severity == "error"),
            warnings=tuple(p.format() for p in exc.problems if p.severity == "warning"),
        )
        applied = self.status.applied_revision
        log.error(
            "config revision %s rejected, %s stays applied; %d error(s):\n  %s",
            (revision or "?")[:12],
            applied[:12] if applied else "nothing",
            len(run.errors),
            "\n  ".join(run.errors),
        )
        try:
            async with begin_write(self.engine) as conn:
                await runs.record(conn, run)
        except (DatabaseError, OSError) as db_exc:
            log.error("could not record the failed reconcile: %s", db_exc)
        self.status.problems = tuple(p for p in exc.problems if p.severity == "error")
        self._set(run)
        return run

    def _set(self, run: RunRecord) -> None:
        self.status.last = run
        if run.ok:
            self.status.applied = run
        for listener in list(self.status.listeners):
            try:  # each on its own: one that raises must not undo or hide the run
                listener(run)
            except Exception:
                log.exception("a listener of applied config changes failed")

    def _log(self, run: RunRecord) -> None:
        for warning in run.warnings:
            log.warning("%s", warning)
        label = (run.revision or "?")[:12] + (
            f" (git {run.git_commit[:12]})" if run.git_commit else ""
        )
        if run.status == "refused":
            log.error("revision %s %s", label, run.errors[0])
        elif run.status == "applied":
            log.info(
                "applied revision %s: %d created, %d updated, %d deleted, %d restored, "
                "%d unchanged in %.3fs",
                label,
                run.created,
                run.updated,
                run.deleted,
                run.restored,
                run.unchanged,
                run.duration_seconds,
            )
        else:
            log.info("revision %s already applied (%d websites)", label, run.unchanged)

    async def run(
        self,
        stop: asyncio.Event,
        *,
        watch_files: bool = True,
        initial: bool = True,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Reconcile now (unless ``initial`` is false), then on every change in the
        folder and every resync interval, until ``stop`` is set.

        ``settle``: the initial reconcile waits for it (after ``resume``, until
        the checker has caught up), while changes are watched and applied."""
        if initial and settle is None:
            await self.reconcile("startup", force=True)
        first = settle if initial else None
        resync = asyncio.create_task(self._resync(stop, first), name="sitewatch-config-resync")
        # The resync (and the read-through after ``settle``) fails this run, for the
        # supervisor to restart and report; the watching stays in this task, so it
        # is set up before the caller's next step (a change then is never missed).
        failed: list[BaseException] = []
        this = asyncio.current_task()

        def fail(task: asyncio.Task[None]) -> None:
            error = None if task.cancelled() else task.exception()
            if error is not None and this is not None:
                failed.append(error)
                this.cancel()

        resync.add_done_callback(fail)
        try:
            if not watch_files:
                await stop.wait()
                return
            async for changed in watch(
                self.config_dir, stop, debounce_ms=self.debounce_ms, step_ms=self.step_ms
            ):
                log.debug("config change: %s", ", ".join(sorted(changed)))
                await self.reconcile("watch")
        except asyncio.CancelledError:
            if failed and this is not None and this.uncancel() == 0:
                raise failed[0] from None
            raise
        finally:
            resync.remove_done_callback(fail)
            resync.cancel()
            await asyncio.gather(resync, return_exceptions=True)

    async def _resync(
        self, stop: asyncio.Event, first: Callable[[], Awaitable[None]] | None
    ) -> None:
        if first is not None:
            await first()
            await self.reconcile("startup", force=True)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.resync_seconds)
            except TimeoutError:
                await self.reconcile("resync")
