"""The config folder -> a validated ``Snapshot`` (or every problem at once).

``ConfigLoader`` is the front door: it reads the files (``files.py``), parses
them (``yamlread.py``), keeping what did not change, and hands them to the
validator (``validator.py``). Keys are unique across all files; every entry
remembers its file and line. Nothing here touches the database or the network,
so ``sitewatch validate`` can run in the config repository's own CI.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from sitewatch.config.entries import Snapshot
from sitewatch.config.files import (
    DEFAULT_MAX_FILE_BYTES,
    NOTES,
    ConfigFile,
    list_files,
    revision_of,
)
from sitewatch.config.pages import split_front_matter
from sitewatch.config.problems import Problem
from sitewatch.config.validator import Cached, CacheKey, Validator
from sitewatch.config.yamlread import Composed, NeedsTree, compose
from sitewatch.memory import gc_paused


class ConfigLoader:
    """Loads a config folder, remembering work between loads.

    Parsed files are kept by content, and validated websites by their YAML text,
    so saving a one-line edit in a 10,000-website file re-validates one website.
    One loader serves a folder's readers (the reconciler and the API's editor: a
    second copy of what it keeps would cost ~2.6 KB a website): loads run in
    worker threads and mutate what is kept, so one runs at a time.
    """

    def __init__(
        self,
        config_dir: Path,
        environ: Mapping[str, str],
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.config_dir = config_dir
        self.environ = environ
        self.max_file_bytes = max_file_bytes
        self._composed: dict[str, tuple[bytes, Composed]] = {}
        self._entries: dict[CacheKey, Cached] = {}
        self._lock = threading.Lock()

    def read(self) -> tuple[list[ConfigFile], str]:
        files = list_files(self.config_dir, self.max_file_bytes)
        return files, revision_of(files)

    def load(self, files: list[ConfigFile] | None = None) -> Snapshot:
        """Validate the folder (or already-read ``files``); raise ``ConfigError`` on errors."""
        if files is None:
            files = list_files(self.config_dir, self.max_file_bytes)
        with self._lock:
            return self._load(files)

    def _load(self, files: list[ConfigFile]) -> Snapshot:
        revision = revision_of(files)
        composed = [self._compose(f) for f in files]
        self._composed = {f.relpath: self._composed[f.relpath] for f in files}
        cache, fresh = self._entries, set[str]()
        while True:
            validator = Validator(files, composed, revision, self.environ, cache)
            with gc_paused():
                try:
                    return validator.run()
                except NeedsTree as exc:
                    # A kept tree's websites were hollowed (``yamlread.Hollow``) and one
                    # is needed whole: that file is composed again, once.
                    if exc.relpath in fresh:
                        raise
                    fresh.add(exc.relpath)
                    cache = {**cache, **validator.cache_out}
                    del self._composed[exc.relpath]
                    composed = [self._compose(f) for f in files]
                finally:
                    self._entries = validator.cache_out

    def _compose(self, f: ConfigFile) -> Composed:
        known = self._composed.get(f.relpath)
        if known is not None and known[0] == f.content:
            return known[1]
        if f.kind == "asset":
            result = Composed(f.display, "", None)  # an image: read as bytes by the validator
        else:
            try:
                text = f.content.decode("utf-8")
            except UnicodeDecodeError as exc:
                result = Composed(
                    f.display, "", None, (Problem(f.display, 0, 0, (), f"not UTF-8 text: {exc}"),)
                )
            else:
                result = (
                    compose_note(text, f.display) if f.kind == NOTES else compose(text, f.display)
                )
        self._composed[f.relpath] = (f.content, result)
        return result


def compose_note(text: str, file: str) -> Composed:
    """An incident note's front matter as a YAML document whose lines are the file's."""
    split = split_front_matter(text)
    if isinstance(split, str):
        return Composed(file, text, None, (Problem(file, 1, 1, (), split),))
    return compose(split[0], file)


def load_config(
    config_dir: Path, environ: Mapping[str, str], *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Snapshot:
    """One-shot load (the CLI's ``validate`` and ``plan``)."""
    return ConfigLoader(config_dir, environ, max_file_bytes=max_file_bytes).load()
