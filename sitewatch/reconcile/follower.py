"""Following a git remote: fetch on a poll and on a push webhook, apply commit by
commit.

Each new commit on the branch (oldest first) is checked out into a folder of its
own and validated there. A commit that does not validate is recorded with its
problems (``file:line:col``) and skipped: the last good commit stays applied, and
a later good commit is applied as usual. A good commit becomes the served
folder by swapping one symbolic link (``served``), inside the reconciler's lock
so that no reconcile ever reads two commits' files, and is then reconciled with
the existing rules (all or nothing). The applied commit survives a restart: it is
the link's target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sitewatch.config.loader import load_config
from sitewatch.errors import ConfigError
from sitewatch.reconcile.gitremote import GitRemote, GitRemoteError
from sitewatch.reconcile.service import Reconciler
from sitewatch.store.types import utcnow
from sitewatch.times import iso_z

log = logging.getLogger("sitewatch.git")

DEBOUNCE = 0.2  # seconds: pushes in a burst are one fetch


@dataclass
class GitStatus:
    """What /health, the API, the dashboard and /metrics say about the remote."""

    remote: str  # without credentials
    branch: str
    path: str
    fetched: str | None = None  # the branch's commit at the last fetch
    fetched_at: datetime | None = None  # the last successful fetch
    fetch_error: str | None = None  # of the last fetch, if it failed
    fetch_error_at: datetime | None = None
    applied: str | None = None  # the commit whose config is served
    applied_at: datetime | None = None
    attempted: str | None = None  # the last commit tried
    attempted_at: datetime | None = None
    attempted_errors: tuple[str, ...] = ()  # why it was refused (file:line:col: ...)
    fetches: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})

    @property
    def behind(self) -> bool:
        """The branch has a commit that is not applied (refused, or not yet)."""
        return self.fetched is not None and self.fetched != self.applied

    def numbers(self) -> dict[str, float]:
        """What /metrics shows of it."""
        return {
            "fetches_success": float(self.fetches["success"]),
            "fetches_failure": float(self.fetches["failure"]),
            "last_fetch_timestamp": self.fetched_at.timestamp() if self.fetched_at else 0.0,
            "refused": 1.0 if self.attempted_errors else 0.0,
            "behind": 1.0 if self.behind else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        """As /health and the API show it (times in ISO 8601 UTC)."""
        return {
            "remote": self.remote,
            "branch": self.branch,
            "path": self.path,
            "fetched_commit": self.fetched,
            "fetched_at": iso_z(self.fetched_at),
            "fetch_error": self.fetch_error,
            "fetch_error_at": iso_z(self.fetch_error_at),
            "applied_commit": self.applied,
            "applied_at": iso_z(self.applied_at),
            "attempted_commit": self.attempted,
            "attempted_at": iso_z(self.attempted_at),
            "attempted_errors": list(self.attempted_errors),
        }


class Follower:
    def __init__(
        self,
        remote: GitRemote,
        reconciler: Reconciler,
        environ: Mapping[str, str],
        *,
        poll: float = 60.0,
        max_file_bytes: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.remote = remote
        self.reconciler = reconciler
        self.environ = environ
        self.poll = poll
        self.max_file_bytes = max_file_bytes
        self.clock = clock
        self.trees = remote.root / "trees"
        self.served = remote.root / "served"
        spec = remote.spec
        self.status = GitStatus(remote.spec.shown_url, spec.branch, spec.path)
        self.status.applied = self._served_commit()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._refused: set[str] = set()  # commits whose config does not validate

    def _served_commit(self) -> str | None:
        """The commit a previous run served (the link's target: trees/<sha>/<path>)."""
        try:
            target = Path(os.readlink(self.served))
        except OSError:
            return None
        try:
            return target.relative_to(self.trees).parts[0]
        except (ValueError, IndexError):
            return None

    def wake(self) -> None:
        """A push arrived: fetch now rather than at the next poll."""
        self._wake.set()

    async def fetch(self) -> str:
        """Fetch the branch (not apply): the commit it points at now. A writer whose
        push was refused calls this; it waits for a sync in progress."""
        async with self._lock:
            fetched = await self.remote.fetch()
            self.status.fetched, self.status.fetched_at = fetched, self.clock()
            return fetched

    async def sync(self, trigger: str) -> None:
        """Fetch, then apply every new commit in order."""
        async with self._lock:
            try:
                fetched = await self.remote.fetch()
            except GitRemoteError as exc:
                self.status.fetch_error = str(exc)
                self.status.fetch_error_at = self.clock()
                self.status.fetches["failure"] += 1
                log.error("could not fetch %s: %s", self.status.remote, exc)
                return
            self.status.fetches["success"] += 1
            self.status.fetched, self.status.fetched_at = fetched, self.clock()
            self.status.fetch_error = None
            try:
                todo = await self.remote.new_commits(self.status.applied, fetched)
            except GitRemoteError as exc:
                log.error("could not list the new commits: %s", exc)
                todo = [fetched]
            # A commit refused for its content is not tried again: it cannot change.
            todo = [sha for sha in todo if sha not in self._refused]
            for sha in todo:
                await self._apply(sha, trigger)
            await asyncio.to_thread(self._prune)

    async def _apply(self, sha: str, trigger: str) -> None:
        tree = self.trees / sha
        self.status.attempted, self.status.attempted_at = sha, self.clock()
        try:
            await asyncio.to_thread(shutil.rmtree, tree, True)  # a partial earlier try
            folder = await self.remote.checkout(sha, tree)
        except GitRemoteError as exc:
            self.status.attempted_errors = (str(exc),)
            self._refuse(sha)
            return
        try:
            await asyncio.to_thread(self._validate, folder)
        except ConfigError as exc:
            inside = self.remote.spec.path.strip("/")
            inside = "" if inside in ("", ".") else f"{inside}/"
            self.status.attempted_errors = tuple(
                inside + p.format().removeprefix(f"{folder}/")
                for p in exc.problems
                if p.severity == "error"
            )
            await asyncio.to_thread(shutil.rmtree, tree, True)
            self._refuse(sha)
            return
        previous = self.status.applied
        run = await self.reconciler.reconcile(
            f"git {sha[:12]}", force=True, commit=sha, prepare=lambda: self._serve(folder)
        )
        if run is not None and not run.ok:
            # Refused (an emptied config) or the database is away: serve the last
            # good commit again; a database error is retried at the next sync.
            self.status.attempted_errors = run.errors
            if previous is not None:
                self._serve(self.trees / previous / self.remote.spec.path)
                self.reconciler.commit = previous
            if run.status == "refused":
                self._refuse(sha)
            return
        self.status.applied, self.status.applied_at = sha, self.clock()
        self.status.attempted_errors = ()
        self._refused.clear()  # older than what is applied now: never tried again
        author, subject = await self._describe(sha)
        log.info("applied git commit %s (%s, %s)", sha[:12], subject, author)

    def _refuse(self, sha: str) -> None:
        self._refused.add(sha)
        log.error(
            "git commit %s refused, %s stays applied:\n  %s",
            sha[:12],
            (self.status.applied or "nothing")[:12],
            "\n  ".join(self.status.attempted_errors),
        )

    async def _describe(self, sha: str) -> tuple[str, str]:
        try:
            return await self.remote.describe(sha)
        except GitRemoteError:
            return "?", "?"

    def _validate(self, folder: Path) -> None:
        if self.max_file_bytes is None:
            load_config(folder, self.environ)
        else:
            load_config(folder, self.environ, max_file_bytes=self.max_file_bytes)

    def _serve(self, folder: Path) -> None:
        """Point ``served`` at ``folder`` in one step (a new link renamed over it)."""
        temporary = self.served.with_name(".served.new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(folder)
        temporary.replace(self.served)

    def _prune(self) -> None:
        """Remove the trees of commits no longer served."""
        keep = self.status.applied
        if not self.trees.is_dir():
            return
        for tree in self.trees.iterdir():
            if tree.name != keep:
                shutil.rmtree(tree, ignore_errors=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Sync now, then on every poll and every push, until ``stop``."""
        trigger = "git poll"
        while not stop.is_set():
            self._wake.clear()
            await self.sync(trigger)
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            trigger = "git push" if self._wake.is_set() else "git poll"
            if self._wake.is_set():
                await asyncio.sleep(DEBOUNCE)  # the rest of a burst of pushes
