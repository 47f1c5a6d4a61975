"""Watch the config *folder*: editors' save-by-rename, ``git checkout`` and deleted
files are all seen. Bursts are coalesced into one batch of changed paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from watchfiles import Change, awatch

_CONFIG_SUFFIXES = (".yaml", ".yml", ".md", ".svg", ".png", ".jpg", ".jpeg", ".webp", ".gif")


def is_config_change(change: Change, path: str) -> bool:
    """Keep YAML files, incident notes, logos, folders (``monitors.d`` renamed or
    removed) and git's branch refs; drop editor swap files, lock files and other git internals.
    Kubernetes ConfigMap volumes swap a ``..data`` symlink, which is kept too."""
    p = Path(path)
    if ".git" in p.parts:
        # A commit moves a branch ref (or HEAD): the applied revision's commit is
        # re-read, so ``+dirty`` goes once the live content is committed.
        inside = p.parts[p.parts.index(".git") + 1 :]
        return inside in (("HEAD",), ("packed-refs",)) or inside[:2] == ("refs", "heads")
    name = p.name
    if name.startswith("..") and name != "..":
        return True
    if name.startswith((".#", "#")) or name.endswith("~"):
        return False
    if p.suffix in _CONFIG_SUFFIXES:
        return True
    return p.suffix == "" or p.suffix == ".d"


async def watch(
    config_dir: Path,
    stop: asyncio.Event,
    *,
    debounce_ms: int = 1600,
    step_ms: int = 50,
) -> AsyncIterator[set[str]]:
    """Yield the set of changed paths after each burst (``step_ms`` of quiet,
    at most ``debounce_ms`` of grouping); ends when ``stop`` is set."""
    async for changes in awatch(
        config_dir,
        watch_filter=is_config_change,
        debounce=debounce_ms,
        step=step_ms,
        stop_event=stop,
        recursive=True,
        ignore_permission_denied=True,
    ):
        yield {path for _, path in changes}
