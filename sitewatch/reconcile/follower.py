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

Several instances sharing one database: the oldest live instance (``leads``)
fetches on the poll; the others read which commit the database holds every
``FOLLOW_EVERY`` seconds and fetch only when it moved, so that all serve the
same commit. Any instance may still apply (a webhook or a write it received):
under the reconcile lock, the database never goes back to an older commit than
the one it holds (``_verdict``).
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
from sitewatch.reconcile.apply import SupersededError
from sitewatch.reconcile.gitremote import GitRemote, GitRemoteError
from sitewatch.reconcile.service import Reconciler
from sitewatch.store import runs
from sitewatch.store.engine import DatabaseError
from sitewatch.store.types import utcnow
from sitewatch.times import iso_z

log = logging.getLogger("sitewatch.git")

DEBOUNCE = 0.2  # seconds: pushes in a burst are one fetch
FOLLOW_EVERY = 2.0  # seconds: an instance that does not lead reads the database's commit


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
    push_branch: str | None = None  # where API writes go: the branch, or one for review
    leads: bool = True  # this instance fetches on the poll (the others follow the database)
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
            "leader": 1.0 if self.leads else 0.0,
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
            "push_branch": self.push_branch,
            "leads": self.leads,
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
        # Whether this instance fetches on the poll (the cluster's oldest instance).
        self.leads: Callable[[], bool] = lambda: True
        self._trust_unknown = False  # see _verdict
        reconciler.guard = self._verdict

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

    async def fetch_branch(self, branch: str) -> str | None:
        """Fetch another branch (the review branch writes go to); its commit or None.
        Under the same lock as every fetch: two fetches into one clone collide."""
        async with self._lock:
            return await self.remote.fetch_branch(branch)

    async def sync(self, trigger: str) -> None:
        """Fetch, then apply every new commit in order."""
        async with self._lock:
            # Twice at most: a commit another instance applied, unknown here, means
            # this fetch is older than theirs; fetch again, then trust what it says.
            for again in (False, True):
                self._trust_unknown = again
                if not await self._sync_once(trigger):
                    break
            self._trust_unknown = False
            await asyncio.to_thread(self._prune)

    async def _sync_once(self, trigger: str) -> bool:
        """One fetch and its new commits; True when another fetch is needed."""
        try:
            fetched = await self.remote.fetch()
        except GitRemoteError as exc:
            self.status.fetch_error = str(exc)
            self.status.fetch_error_at = self.clock()
            self.status.fetches["failure"] += 1
            log.error("could not fetch %s: %s", self.status.remote, exc)
            return False
        self.status.fetches["success"] += 1
        self.status.fetched, self.status.fetched_at = fetched, self.clock()
        self.status.fetch_error = None
        try:
            todo = await self.remote.new_commits(self.status.applied, fetched)
        except GitRemoteError as exc:
            log.error("could not list the new commits: %s", exc)
            todo = [fetched]
        # A commit refused for its content is not tried again: it cannot change.
        for sha in [sha for sha in todo if sha not in self._refused]:
            if await self._apply(sha, trigger) == "unknown":
                return True
        return False

    async def follow_database(self) -> None:
        """Not leading: when the database holds another commit than the one served
        here (the leader applied it), fetch and apply up to it."""
        try:
            async with self.reconciler.engine.connect() as conn:
                run = await runs.latest(conn, applied_only=True)
        except (DatabaseError, OSError) as exc:
            log.debug("could not read the applied commit: %s", exc)
            return
        held = run.git_commit if run is not None else None
        if held is not None and held != self.status.applied and held not in self._refused:
            await self.sync("git: as another instance applied it")

    async def _verdict(self, sha: str | None, held: str | None) -> str | None:
        """Why ``sha`` must not be applied over ``held``, the commit the database
        holds, or None. "behind": ``held`` is newer on the branch as fetched here;
        "unknown": ``held`` was applied by an instance that fetched after this one
        (unless trusted: fetched again, ``held`` is gone from the branch)."""
        if sha is None or held is None or held == sha:
            return None
        if not await self.remote.has(held):
            return None if self._trust_unknown else "unknown"
        fetched = self.status.fetched
        if (
            fetched is not None
            and await self.remote.is_ancestor(sha, held)
            and await self.remote.is_ancestor(held, fetched)
        ):
            return "behind"
        return None

    async def _apply(self, sha: str, trigger: str) -> str:
        """Check ``sha`` out, validate it, serve it and reconcile: "applied",
        "refused" (the config, or the database away), or why another instance's
        newer commit superseded it ("behind", "unknown")."""
        tree = self.trees / sha
        self.status.attempted, self.status.attempted_at = sha, self.clock()
        try:
            await asyncio.to_thread(shutil.rmtree, tree, True)  # a partial earlier try
            folder = await self.remote.checkout(sha, tree)
        except GitRemoteError as exc:
            self.status.attempted_errors = (str(exc),)
            self._refuse(sha)
            return "refused"
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
            return "refused"
        previous = self.status.applied
        try:
            run = await self.reconciler.reconcile(
                f"git {sha[:12]}", force=True, commit=sha, prepare=lambda: self._serve(folder)
            )
        except SupersededError as exc:
            # Another instance applied a newer commit: this one is skipped, the
            # next (or another fetch) reaches theirs.
            log.info("git commit %s skipped: %s", sha[:12], exc)
            self._serve_again(previous)
            return exc.verdict
        if run is not None and not run.ok:
            # Refused (an emptied config) or the database is away: serve the last
            # good commit again; a database error is retried at the next sync.
            self.status.attempted_errors = run.errors
            self._serve_again(previous)
            if run.status == "refused":
                self._refuse(sha)
            return "refused"
        self.status.applied, self.status.applied_at = sha, self.clock()
        self.status.attempted_errors = ()
        self._refused.clear()  # older than what is applied now: never tried again
        author, subject = await self._describe(sha)
        log.info("applied git commit %s (%s, %s)", sha[:12], subject, author)
        return "applied"

    def _serve_again(self, previous: str | None) -> None:
        """Serve the commit served before an attempt that did not apply."""
        if previous is not None:
            self._serve(self.trees / previous / self.remote.spec.path)
            self.reconciler.commit = previous

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
        """Until ``stop``: sync now and on every poll when leading (else follow the
        database's commit), and at once on every push."""
        first, pushed = True, False
        while not stop.is_set():
            self._wake.clear()
            self.status.leads = self.leads()
            if first or pushed or self.status.leads:
                first = False
                await self.sync("git push" if pushed else "git poll")
            else:
                await self.follow_database()
            wait = self.poll if self.status.leads else min(self.poll, FOLLOW_EVERY)
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            pushed = self._wake.is_set()
            if pushed:
                await asyncio.sleep(DEBOUNCE)  # the rest of a burst of pushes
