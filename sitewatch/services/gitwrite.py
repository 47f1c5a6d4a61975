"""API and dashboard writes while following a git remote: each one a commit on
top of the applied commit, pushed to the branch, acknowledged only once pushed.

The edit is the same entry-based edit as in a folder (``ConfigEditor``), made in
the clone's work tree and committed there with the writer as author. If the
remote moved on meanwhile, the push is refused; the branch is fetched and the
edit made again on the new content, because an edit touches one entry: a change
to another entry (even in the same file) is not a conflict. When the same entry
changed upstream, that is a real conflict: 409, with the value it has there. A
push that keeps failing leaves the remote as it was and the write refused; the
served folder is never written, so nothing is ever only local.

With a review branch (``SITEWATCH_GIT_PUSH_BRANCH``), a write is a commit pushed
there instead, on top of the edits already waiting in it, and applies once the
team merges it: the answer is ``ProposedForReview``, not the applied entry.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from sitewatch.config.masking import mask_entry
from sitewatch.errors import SitewatchError
from sitewatch.reconcile.follower import Follower
from sitewatch.reconcile.gitremote import GitRemoteError, PushRejectedError
from sitewatch.reconcile.service import Reconciler
from sitewatch.services.configedit import (
    Applied,
    ConfigEditor,
    EditRefusedError,
    Kind,
    NoteFile,
    PreconditionFailedError,
    Written,
)

# Who is writing (a token's or a session's name), set per request by the web layer.
WRITER: contextvars.ContextVar[str | None] = contextvars.ContextVar("writer", default=None)
PUSH_ATTEMPTS = 3


class UpstreamConflictError(EditRefusedError):
    """The entry was changed in the remote since the commit this instance applied."""


class ProposedForReview(SitewatchError):  # noqa: N818 (an outcome, not an error)
    """Not a failure: the write was pushed to the review branch, as a commit that
    applies once merged. The web layer answers 202 (the API) or says so (the
    dashboard)."""

    def __init__(self, branch: str, commit: str | None, what: str) -> None:
        self.branch, self.commit, self.what = branch, commit, what
        at = f" as commit {commit[:12]}" if commit else ""
        super().__init__(
            f"{what}: pushed to the branch {branch!r}{at} for review; it applies once "
            "merged into the followed branch"
        )


Edit = Callable[[ConfigEditor, str | None], Awaitable[Applied]]


class RemoteEditor:
    """``ConfigEditor``'s interface for a followed remote: reads from the served
    commit, writes as pushed commits."""

    def __init__(
        self,
        follower: Follower,
        environ: Mapping[str, str],
        reconciler: Reconciler,
        *,
        author: str,
        branch: str | None = None,
    ) -> None:
        self.follower = follower
        self.environ = environ
        self.reconciler = reconciler
        self.author = author  # when the writer has no name
        self.branch = branch or follower.remote.spec.branch
        # Another branch: writes are proposed there, for the team to merge.
        self.review = self.branch != follower.remote.spec.branch
        # Reads: the served commit's files, through the folder editor's parser.
        self.served = ConfigEditor(
            reconciler.config_dir, environ, reconciler, read_only=True, reconcile=False
        )
        self._lock = asyncio.Lock()

    def refusal(self) -> str | None:
        if self.follower.status.applied is None:
            return (
                f"nothing from the git remote {self.follower.status.remote} is applied yet "
                "(see /health): writes wait for the first good commit"
            )
        return None

    async def entry(self, kind: Kind, key: str) -> Written | None:
        return await self.served.entry(kind, key)

    async def note(self, key: str) -> NoteFile | None:
        return await self.served.note(key)

    async def create(self, kind: Kind, fields: Mapping[str, Any], fragment: str | None) -> Applied:
        return await self._push(
            kind, None, None, lambda ed, _: ed.create(kind, fields, fragment), f"create {kind}"
        )

    async def update(
        self,
        kind: Kind,
        key: str,
        fields: Mapping[str, Any],
        if_match: str | None,
        *,
        partial: bool,
    ) -> Applied:
        return await self._push(
            kind,
            key,
            if_match,
            lambda ed, match: ed.update(kind, key, fields, match, partial=partial),
            f"update {kind[:-1]} {key}",
        )

    async def delete(self, kind: Kind, key: str, if_match: str | None) -> Applied:
        return await self._push(
            kind,
            key,
            if_match,
            lambda ed, match: ed.delete(kind, key, match),
            f"delete {kind[:-1]} {key}",
        )

    async def write_note(
        self, key: str, text: str | None, if_match: str | None, *, must_exist: bool = False
    ) -> Applied:
        return await self._push(
            None,
            key,
            if_match,
            lambda ed, match: ed.write_note(key, text, match, must_exist=must_exist),
            f"write incident note {key}",
        )

    # -- the push ---------------------------------------------------------------------

    async def _seen(self, editor: ConfigEditor, kind: Kind | None, key: str | None) -> object:
        """The entry (or note) as ``editor``'s folder has it: what a conflict compares."""
        if key is None:
            return None
        if kind is None:
            note = await editor.note(key)
            return None if note is None else note.text
        found = await editor.entry(kind, key)
        return None if found is None else found.fields

    async def _push(
        self, kind: Kind | None, key: str | None, if_match: str | None, edit: Edit, what: str
    ) -> Applied:
        reason = self.refusal()
        if reason:
            raise EditRefusedError(reason)
        remote = self.follower.remote
        author = WRITER.get() or self.author
        async with self._lock:
            if self.review:
                await self._propose(kind, key, if_match, edit, what, author)
            base = self.follower.status.applied
            assert base is not None
            before = await self._seen(self.served, kind, key)
            match = if_match
            for _ in range(PUSH_ATTEMPTS):
                editor = await self._editor_at(base, author)
                if match is None or base != self.follower.status.applied:
                    upstream = await self._seen(editor, kind, key)
                    if upstream != before:
                        raise UpstreamConflictError(self._conflict(kind, key, base, upstream))
                applied = await edit(editor, match)
                try:
                    await remote.push(self.branch)
                except PushRejectedError:
                    try:
                        base = await self.follower.fetch()
                    except GitRemoteError as exc:
                        raise EditRefusedError(f"nothing was written: {exc}") from None
                    match = None  # If-Match held against what the writer read
                    continue
                except GitRemoteError as exc:
                    raise EditRefusedError(
                        f"nothing was written: the push was refused ({exc})"
                    ) from None
                await self.follower.sync(f"api: {what}")
                return replace(applied, run=self.reconciler.status.last, loaded=None)
        raise EditRefusedError(
            f"nothing was written: the branch moved on {PUSH_ATTEMPTS} times while "
            "pushing; try again"
        )

    async def _editor_at(self, base: str, author: str) -> ConfigEditor:
        """An editor of the work tree checked out at ``base``, committing as ``author``."""
        try:
            folder = await self.follower.remote.work_at(base)
        except GitRemoteError as exc:
            raise EditRefusedError(f"nothing was written: {exc}") from None
        # (It asks git whether the folder is a work tree: off the loop.)
        return await asyncio.to_thread(
            functools.partial(
                ConfigEditor,
                folder,
                self.environ,
                self.reconciler,
                git_author=author,
                reconcile=False,
            )
        )

    async def _review_base(self) -> str:
        """Where a proposed edit goes: on top of the edits waiting in the review
        branch, or on the applied commit when there are none (no branch, or one
        that is merged already)."""
        applied = self.follower.status.applied
        assert applied is not None
        try:
            tip = await self.follower.fetch_branch(self.branch)
        except GitRemoteError as exc:
            raise EditRefusedError(f"nothing was written: {exc}") from None
        if tip is None or await self.follower.remote.is_ancestor(tip, applied):
            return applied
        return tip

    async def _propose(
        self,
        kind: Kind | None,
        key: str | None,
        if_match: str | None,
        edit: Edit,
        what: str,
        author: str,
    ) -> None:
        """Commit the edit on the review branch and push it; raises ``ProposedForReview``.
        If-Match holds against what is served (what the writer read); the edit is
        then made on the branch's content, which may already change the entry."""
        if if_match is not None and if_match.strip() != "*" and key is not None:
            read = await (self.served.note(key) if kind is None else self.served.entry(kind, key))
            if read is not None and read.etag != if_match.strip():
                raise PreconditionFailedError(
                    f"{read.file} changed since you read it (If-Match {if_match} is not its "
                    f"revision {read.etag}): read it again and retry"
                )
        remote = self.follower.remote
        for _ in range(PUSH_ATTEMPTS):
            editor = await self._editor_at(await self._review_base(), author)
            applied = await edit(editor, None)
            try:
                await remote.push(self.branch)
            except PushRejectedError:
                continue  # someone pushed to the review branch: on top of theirs
            except GitRemoteError as exc:
                raise EditRefusedError(
                    f"nothing was written: the push was refused ({exc})"
                ) from None
            raise ProposedForReview(self.branch, applied.commit, what)
        raise EditRefusedError(
            f"nothing was written: the branch {self.branch!r} moved on {PUSH_ATTEMPTS} "
            "times while pushing; try again"
        )

    def _conflict(self, kind: Kind | None, key: str | None, base: str, upstream: object) -> str:
        shown: object = upstream
        if kind is not None and isinstance(upstream, dict):
            shown = mask_entry(kind, upstream)
        value = (
            "it is deleted there"
            if upstream is None
            else f"its value there: {json.dumps(shown, default=str)}"
        )
        return (
            f"{kind[:-1] if kind else 'incident note'} {key!r} was changed in the git "
            f"remote since commit {base[:12]}, which this write was based on; {value}. "
            "Read it again and retry"
        )
