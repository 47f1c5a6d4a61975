"""The git commit of the config folder, when it is a git work tree.

The content hash (sha256 of the files) is the revision's identity; the commit is
what people recognise, so both are recorded. ``+dirty`` marks uncommitted edits.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

GIT_TIMEOUT = 5.0


async def git_commit(config_dir: Path) -> str | None:
    """``"<40 hex>"`` or ``"<40 hex>+dirty"``; ``None`` outside git or without git."""
    git = shutil.which("git")
    if git is None:
        return None
    head = await _git(git, config_dir, "rev-parse", "--verify", "-q", "HEAD")
    if not head:
        return None
    status = await _git(
        git, config_dir, "status", "--porcelain", "--untracked-files=normal", "--", "."
    )
    return f"{head}+dirty" if status else head


async def _git(git: str, cwd: Path, *args: str) -> str | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            git,
            "-C",
            str(cwd),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), GIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out.decode().strip() if proc.returncode == 0 else None
