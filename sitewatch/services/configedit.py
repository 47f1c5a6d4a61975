"""API writes go to the YAML: edit one entry, validate the whole config, write
atomically, reconcile. Git stays the source of truth.

Every write:
1. finds the file the entry lives in (``monitors.yaml``, ``alerts.yaml`` or a
   fragment) and checks ``If-Match`` against the file's revision, so a hand edit
   made since the client read it answers 412 instead of being overwritten;
2. edits only the entry's lines (``config.edit``);
3. validates the whole config with the new text, exactly as the watcher would,
   and confirms that nothing but the intended entry changed;
4. writes a temporary file beside the original, fsyncs it, renames it over the
   original (keeping its mode): a crash leaves the old file or the new one;
5. reconciles at once (the watcher then sees a revision already applied).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout

from sitewatch.config.edit import (
    EditError,
    Outline,
    edit,
    entries,
    keyed,
    named_key,
    outline,
    website_key,
)
from sitewatch.config.entries import Snapshot
from sitewatch.config.files import NOTE_SUFFIX, NOTES, ConfigFile, revision_of
from sitewatch.config.gitinfo import GitError, commit_file, git_dir, is_work_tree
from sitewatch.config.loader import ConfigLoader
from sitewatch.config.masking import MASK
from sitewatch.config.pages import note_key
from sitewatch.config.problems import Problem
from sitewatch.errors import ConfigError, SitewatchError
from sitewatch.reconcile.service import Reconciler
from sitewatch.store.runs import RunRecord

Kind = Literal["websites", "alerts", "status_pages"]
LOCK_FILE = ".sitewatch-write.lock"
LOCK_TIMEOUT = 30.0
_FRAGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,94}\.ya?ml\Z")
# How the API shows a secret; sent back unchanged, it means "keep the value".
_FILE_KIND: dict[Kind, str] = {
    "websites": "monitors",
    "alerts": "alerts",
    "status_pages": "status-pages",
}
_KEY_OF: dict[Kind, Callable[[Mapping[str, Any]], str]] = {
    "websites": website_key,
    "alerts": named_key,
    "status_pages": keyed,
}
_NOUN: dict[str, str] = {
    "websites": "website",
    "alerts": "alert",
    "status_pages": "status page",
    "incidents": "incident note",
}


class EditRefusedError(SitewatchError):
    """Base: the write was not made (it conflicts with the files' state). The web
    layer picks the HTTP status of each kind (``web/problems.py``)."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class ReadOnlyError(EditRefusedError):
    """Writes are off (read-only mode, or the folder cannot be written)."""


class NotFoundError(EditRefusedError):
    """No such entry in the files."""


class PreconditionFailedError(EditRefusedError):
    """The file changed since the revision the client read (If-Match)."""


class InvalidError(EditRefusedError):
    """The entry, or the config with it, does not validate: ``problems`` say where."""


def revision(content: bytes) -> str:
    """A file's revision: its ETag value (quoted, as HTTP wants it)."""
    return '"' + hashlib.sha256(content).hexdigest()[:24] + '"'


def write_atomic(path: Path, content: bytes) -> None:
    """Replace ``path`` so that a crash leaves either the old or the new content."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def remove_stale_temp_files(config_dir: Path) -> list[Path]:
    """Temp files a crash mid-write left behind (``.<name>.<random>.tmp`` beside a
    config file); the loader ignores them, this tidies them away at start."""
    removed = []
    folders = [config_dir, *(config_dir / f"{k}.d" for k in _FILE_KIND.values())]
    for folder in (*folders, config_dir / NOTES):
        if not folder.is_dir():
            continue
        for pattern in (".*.yaml.*.tmp", ".*.yml.*.tmp", f".*{NOTE_SUFFIX}.*.tmp"):
            for path in folder.glob(pattern):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


@dataclass(frozen=True, slots=True)
class Written:
    file: str  # relative to the config folder
    etag: str  # the file's revision
    fields: dict[str, Any]  # the entry as written (no defaults filled in)


@dataclass(frozen=True, slots=True)
class NoteFile:
    file: str  # relative to the config folder
    etag: str  # the file's revision
    text: str  # the file as written: front matter and Markdown


def note_path(key: str) -> str:
    return f"{NOTES}/{key}{NOTE_SUFFIX}"


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Applied:
    key: str  # the entry's key after the write ("" after a delete)
    file: str  # where it lives, relative to the config folder
    etag: str  # the file's new revision
    run: RunRecord | None  # the reconcile that applied it
    commit: str | None = None  # git mode: the commit of this write
    # The written files, validated: what the reconcile that follows applies.
    loaded: Snapshot | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class _Index:
    """A file's entries of one kind: where they are (``edit.outline``), or, for a
    file parsed whole, each one as written."""

    outline: Outline | None
    written: dict[str, dict[str, Any]] | None

    def __contains__(self, key: str) -> bool:
        if self.outline is not None:
            return key in self.outline.spans
        return self.written is not None and key in self.written

    def fields(self, key: str) -> dict[str, Any] | None:
        if self.outline is not None:
            return self.outline.fields(key)
        return None if self.written is None else self.written.get(key)


class ConfigEditor:
    def __init__(
        self,
        config_dir: Path,
        environ: Mapping[str, str],
        reconciler: Reconciler,
        *,
        read_only: bool = False,
        git_author: str | None = None,
        follows: str | None = None,
        reconcile: bool = True,
    ) -> None:
        self.git_author = git_author  # set: git mode, one commit per write
        self.follows = follows  # set: the git remote the config comes from
        # False: the caller applies the write (a followed remote, after the push).
        self.reconcile_after = reconcile
        self.config_dir = config_dir
        self.environ = environ
        self.reconciler = reconciler
        self.read_only = read_only
        self._lock = asyncio.Lock()
        # Across processes sharing the folder: read -> If-Match -> write -> rename
        # happen under this lock, so no acknowledged write is lost to another's.
        # (In git mode the lock lives in the git directory, out of ``git status``.)
        self._work_tree = git_author is not None and is_work_tree(config_dir)
        repo = git_dir(config_dir) if self._work_tree else None
        self._file_lock = FileLock(
            (repo / "sitewatch-write.lock") if repo else (config_dir / LOCK_FILE),
            timeout=LOCK_TIMEOUT,
        )
        # The reconciler's loader when it reads this folder: what it keeps is shared
        # (a write's "before" is then the state it last loaded, found unchanged).
        self._loader = (
            reconciler.loader
            if config_dir == reconciler.config_dir and environ is reconciler.loader.environ
            else ConfigLoader(config_dir, environ, max_file_bytes=reconciler.loader.max_file_bytes)
        )
        # relpath -> (content, where its entries are): every read of an entry needs
        # to know which file holds it, and a write where in the file it is.
        self._indexes: dict[str, tuple[bytes, _Index]] = {}

    def refusal(self) -> str | None:
        """Why writes are refused, or None. Runs no process: it is asked on every
        request, on the event loop (whether the folder is a git work tree is known
        from the start and from the last write, which asks git in a thread)."""
        if self.read_only:
            return "the API is read-only here (SITEWATCH_READ_ONLY): change the YAML in git"
        if self.follows is not None:
            return (
                f"this instance follows the git remote {self.follows}: change the YAML "
                "there, and sitewatch applies the commit"
            )
        if self.git_author is not None and not self._work_tree:
            return (
                f"git mode is on but {self.config_dir} is not in a git work tree: "
                "clone the config repository there, or turn SITEWATCH_GIT_MODE off"
            )
        if not os.access(self.config_dir, os.W_OK):
            return (
                f"the config folder {self.config_dir} is not writable by sitewatch: "
                "change the YAML in git"
            )
        return None

    async def entry(self, kind: Kind, key: str) -> Written | None:
        """Where ``key`` is written, the file's revision, and the entry as written."""
        return await asyncio.to_thread(self._entry, kind, key)

    def _entry(self, kind: Kind, key: str) -> Written | None:
        try:
            files, _ = self._loader.read()
        except ConfigError:  # a file cannot be read: reads go on from the last good state
            return None
        found = self._file_of(files, kind, key)
        if found is None:
            return None
        fields = self._index(found, kind).fields(key) or {}
        return Written(found.relpath, revision(found.content), fields)

    async def create(self, kind: Kind, fields: Mapping[str, Any], fragment: str | None) -> Applied:
        return await self._write(kind, None, fields, None, replace_all=True, fragment=fragment)

    async def update(
        self,
        kind: Kind,
        key: str,
        fields: Mapping[str, Any],
        if_match: str | None,
        *,
        partial: bool,
    ) -> Applied:
        return await self._write(kind, key, fields, if_match, replace_all=not partial)

    async def delete(self, kind: Kind, key: str, if_match: str | None) -> Applied:
        return await self._write(kind, key, None, if_match, replace_all=True)

    # -- the write ------------------------------------------------------------------

    def _index(self, f: ConfigFile, kind: Kind) -> _Index:
        cached = self._indexes.get(f.relpath)
        if cached is not None and cached[0] == f.content:
            return cached[1]
        try:
            text = f.content.decode()
        except UnicodeDecodeError:
            index = _Index(None, {})
        else:
            found = outline(text, kind, _KEY_OF[kind])
            if found is not None:
                index = _Index(found, None)
            else:  # parsed whole (anchors, aliases...: see ``edit.outline``)
                try:
                    index = _Index(None, entries(text, kind, _KEY_OF[kind]))
                except EditError:
                    index = _Index(None, {})
        self._indexes[f.relpath] = (f.content, index)
        return index

    def _file_of(self, files: list[ConfigFile], kind: Kind, key: str) -> ConfigFile | None:
        for f in files:
            if f.kind == _FILE_KIND[kind] and key in self._index(f, kind):
                return f
        return None

    def _target_for_create(self, files: list[ConfigFile], kind: Kind, fragment: str | None) -> Path:
        base = _FILE_KIND[kind]
        if fragment is None:
            existing = [f for f in files if f.kind == base and f.is_main]
            return self.config_dir / (existing[0].relpath if existing else f"{base}.yaml")
        name = fragment if fragment.endswith((".yaml", ".yml")) else f"{fragment}.yaml"
        if not _FRAGMENT.match(name):
            shown = fragment if len(fragment) <= 80 else fragment[:77] + "..."
            raise InvalidError(
                f"fragment must be a file name in {base}.d/: letters, digits, '.', '_' and "
                f"'-', starting with a letter or digit, at most 100 characters (got {shown!r})"
            )
        return self.config_dir / f"{base}.d" / name

    async def _write(
        self,
        kind: Kind,
        key: str | None,
        fields: Mapping[str, Any] | None,
        if_match: str | None,
        *,
        replace_all: bool,
        fragment: str | None = None,
    ) -> Applied:
        edit = functools.partial(
            self._edit_and_write, kind, key, fields, if_match, replace_all, fragment
        )
        return await self._apply(edit)

    async def _apply(self, edit: Callable[[], Applied]) -> Applied:
        """Refuse when writes are off; else ``edit`` under both locks, then reconcile."""
        reason = self.refusal()
        if reason and self.git_author is not None and not self._work_tree:
            # The folder may have become a work tree since: ask git, off the loop.
            self._work_tree = await asyncio.to_thread(is_work_tree, self.config_dir)
            reason = self.refusal()
        if reason:
            raise ReadOnlyError(reason)
        async with self._lock:
            applied = await asyncio.to_thread(self._locked, edit)
            if not self.reconcile_after:
                return applied
            run = await self.reconciler.reconcile("api", force=True, loaded=applied.loaded)
        return replace(applied, run=run, loaded=None)

    # -- incident notes: one Markdown file each -------------------------------------

    async def note(self, key: str) -> NoteFile | None:
        """An incident note's file as written, and its revision."""
        return await asyncio.to_thread(self._note, key)

    def _note(self, key: str) -> NoteFile | None:
        try:
            files, _ = self._loader.read()
        except ConfigError:
            return None
        relpath = note_path(key)
        found = next((f for f in files if f.relpath == relpath), None)
        if found is None:
            return None
        return NoteFile(relpath, revision(found.content), found.content.decode("utf-8", "replace"))

    async def write_note(
        self, key: str, text: str | None, if_match: str | None, *, must_exist: bool = False
    ) -> Applied:
        """Create or replace (``text``) or delete (None) the note ``key``: the whole
        file, validated with the rest of the config first, If-Match as for entries."""
        return await self._apply(
            functools.partial(self._write_note, key, text, if_match, must_exist)
        )

    def _write_note(
        self, key: str, text: str | None, if_match: str | None, must_exist: bool
    ) -> Applied:
        try:
            note_key(note_path(key))
        except ValueError as exc:
            raise InvalidError(f"an incident note's key names its file, and {exc}") from None
        relpath = note_path(key)
        path = self.config_dir / relpath
        try:
            files, _ = self._loader.read()
            before = self._load(files)
        except ConfigError as exc:
            raise EditRefusedError(
                "the config on disk has errors; fix them in the files first", exc.problems
            ) from None
        current = next((f for f in files if f.relpath == relpath), None)
        if current is None and (text is None or must_exist):
            raise NotFoundError(f"no incident note {key!r} in the config")
        wanted = if_match.strip() if if_match is not None else "*"
        if wanted != "*" and (current is None or wanted != revision(current.content)):
            raise PreconditionFailedError(
                f"{relpath} changed since you read it (If-Match {if_match}): read it "
                "again and retry"
            )
        content = None if text is None else text.encode()
        if content is None:
            overlay = [f for f in files if f.relpath != relpath]
        else:
            overlay = self._overlay(files, relpath, path, content)
        try:
            after = self._loader.load(overlay)
        except ConfigError as exc:
            raise InvalidError(
                "the incident note is not valid", _about(exc.problems, relpath)
            ) from None
        _confirm(before, after, "incidents", key, key if content is not None else "")
        if content is None:
            path.unlink()
            _sync_dir(path.parent)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, content)
        action = "delete" if content is None else ("create" if current is None else "update")
        commit = self._commit(
            relpath,
            f"sitewatch API: {action} incident note {key}",
            current.content if current is not None else None,
        )
        etag = revision(content) if content is not None else ""
        return Applied(key if content is not None else "", relpath, etag, None, commit, after)

    def _locked(self, edit: Callable[[], Applied]) -> Applied:
        """Run ``edit`` (read -> If-Match -> validate -> write -> rename) under the
        cross-process lock; in git mode, after asking git whether the folder is
        still a work tree (this runs in a thread, never on the event loop)."""
        try:
            with self._file_lock:
                if self.git_author is not None:
                    self._work_tree = is_work_tree(self.config_dir)
                    if not self._work_tree:
                        raise ReadOnlyError(self.refusal() or "not a git work tree")
                return edit()
        except Timeout:
            raise EditRefusedError(
                f"another writer holds the config write lock ({self._file_lock.lock_file}) "
                f"for over {LOCK_TIMEOUT:.0f}s; nothing was written, try again"
            ) from None

    def _edit_and_write(
        self,
        kind: Kind,
        key: str | None,
        fields: Mapping[str, Any] | None,
        if_match: str | None,
        replace_all: bool,
        fragment: str | None,
    ) -> Applied:
        try:
            files, _ = self._loader.read()
        except ConfigError as exc:
            raise EditRefusedError(
                "the config folder cannot be read; nothing was written: "
                + "; ".join(p.format() for p in exc.problems[:3]),
                exc.problems,
            ) from None
        try:
            before = self._load(files)
        except ConfigError as exc:
            raise EditRefusedError(
                "the config on disk has errors; fix them in the files first", exc.problems
            ) from None
        if key is None:
            path = self._target_for_create(files, kind, fragment)
            relpath = path.relative_to(self.config_dir).as_posix()
            current = next((f for f in files if f.relpath == relpath), None)
            old_text = current.content.decode() if current else ""
        else:
            current = self._file_of(files, kind, key)
            if current is None:
                raise NotFoundError(f"no {_NOUN[kind]} {key!r} in the config")
            relpath, path = current.relpath, self.config_dir / current.relpath
            old_text = current.content.decode()
            if if_match is not None and if_match.strip() not in ("*", revision(current.content)):
                raise PreconditionFailedError(
                    f"{relpath} changed since you read it (If-Match {if_match} is not its "
                    f"revision {revision(current.content)}): read it again and retry"
                )
        found = self._index(current, kind).outline if current is not None else None
        try:
            result = edit(
                old_text,
                kind,
                key,
                _KEY_OF[kind],
                fields,
                replace_all=replace_all,
                keep=MASK,
                found=found,
            )
        except EditError as exc:
            raise EditRefusedError(f"{relpath}: {exc}") from None
        new_key = _KEY_OF[kind](result.entry) if result.entry is not None else ""
        if key is None and new_key in _entries(before, kind):
            raise EditRefusedError(f"a {_NOUN[kind]} with key {new_key!r} exists already")
        content = result.text.encode()
        overlay = self._overlay(files, relpath, path, content)
        try:
            after = self._loader.load(overlay)
        except ConfigError as exc:
            raise InvalidError(
                f"the {_NOUN[kind]} is not valid", _about(exc.problems, relpath)
            ) from None
        _confirm(before, after, kind, key, new_key)
        if before.websites and not after.websites and not after.allow_empty:
            raise EditRefusedError(
                "this would remove the last website, which the reconciler refuses; nothing "
                "was written. Set allow_empty: true in monitors.yaml to really remove every one"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, content)
        action = "create" if key is None else ("delete" if fields is None else "update")
        commit = self._commit(
            relpath,
            f"sitewatch API: {action} {_NOUN[kind]} {new_key or key} in {relpath}",
            old_text.encode() if current is not None else None,
        )
        return Applied(new_key, relpath, revision(content), None, commit, after)

    def _commit(self, relpath: str, subject: str, previous: bytes | None) -> str | None:
        """Git mode: commit the file just written (None otherwise). If git fails,
        the file is put back as it was (``previous``; None: it did not exist), so
        no write is ever local-only."""
        if self.git_author is None:
            return None
        try:
            return commit_file(self.config_dir, relpath, subject, self.git_author)
        except GitError as exc:
            path = self.config_dir / relpath
            if previous is not None:
                write_atomic(path, previous)
            else:
                path.unlink(missing_ok=True)
            raise EditRefusedError(f"nothing was written: {exc}") from None

    def _load(self, files: list[ConfigFile]) -> Snapshot:
        """The files as they are, validated: the reconciler's last snapshot when they
        are the revision it holds (the usual case; no second load of the whole
        config), else loaded."""
        held = self.reconciler.status.snapshot
        if (
            held is not None
            and self._loader is self.reconciler.loader
            and held.revision == revision_of(files)
        ):
            return held
        return self._loader.load(files)

    def _overlay(
        self, files: list[ConfigFile], relpath: str, path: Path, content: bytes
    ) -> list[ConfigFile]:
        out = [replace(f, content=content) if f.relpath == relpath else f for f in files]
        if not any(f.relpath == relpath for f in files):
            display = (self.config_dir / relpath).as_posix()
            out.append(ConfigFile(_kind_of_file(relpath), relpath, display, content))
        return out


def _kind_of_file(relpath: str) -> str:
    if relpath.startswith(f"{NOTES}/"):
        return NOTES
    for kind in _FILE_KIND.values():
        if relpath.startswith(kind):
            return kind
    return "alerts"


EntryKind = Literal["websites", "alerts", "status_pages", "incidents"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("websites", "alerts", "status_pages", "incidents")


def _entries(snapshot: Snapshot, kind: EntryKind) -> Mapping[str, Any]:
    return {
        "websites": snapshot.websites,
        "alerts": snapshot.alerts,
        "status_pages": snapshot.status_pages,
        "incidents": snapshot.incidents,
    }[kind]


def _about(problems: tuple[Problem, ...], relpath: str) -> tuple[Problem, ...]:
    """The problems the edit caused (those in the edited file come first)."""
    errors = [p for p in problems if p.severity == "error"]
    return tuple(sorted(errors, key=lambda p: not p.file.endswith(relpath)))


def _confirm(
    before: Snapshot, after: Snapshot, kind: EntryKind, key: str | None, new_key: str
) -> None:
    """Nothing but the intended entry changed (other kinds may only see new bindings)."""
    changed = False
    for other in ENTRY_KINDS:
        old = {
            k: e.spec_hash
            for k, e in _entries(before, other).items()
            if not (other == kind and k == key)
        }
        new = {
            k: e.spec_hash
            for k, e in _entries(after, other).items()
            if not (other == kind and k == new_key)
        }
        changed = changed or old != new
    if changed or (new_key and new_key not in _entries(after, kind)):
        raise EditRefusedError(
            "the edit would have changed more than the entry; nothing was written "
            "(please report this with the file)"
        )
