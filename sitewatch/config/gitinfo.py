"""The git commit of the config folder, when it is a git work tree.

The content hash (sha256 of the files) is the revision's identity; the commit is
what people recognise, so both are recorded. ``+dirty`` marks uncommitted edits.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sitewatch.errors import SitewatchError

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


class GitError(SitewatchError):
    """A git command failed (the message has its output)."""


def commit_file(config_dir: Path, relpath: str, message: str, author: str) -> str:
    """Commit one file of the config folder (nothing else staged goes with it);
    the new commit id. Blocking: call it from a worker thread."""
    import email.utils
    import os
    import subprocess

    git = shutil.which("git")
    if git is None:
        raise GitError("git is not installed")
    name, address = email.utils.parseaddr(author)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": name or "sitewatch",
        "GIT_AUTHOR_EMAIL": address or "sitewatch@localhost",
        "GIT_COMMITTER_NAME": name or "sitewatch",
        "GIT_COMMITTER_EMAIL": address or "sitewatch@localhost",
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [git, "-C", str(config_dir), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=GIT_TIMEOUT * 4,
            check=False,
        )
        if done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {(done.stderr or done.stdout).strip()}")
        return done.stdout.strip()

    run("add", "--", relpath)
    run("commit", "--quiet", "--only", "-m", message, "--", relpath)
    return run("rev-parse", "HEAD")


def _rev_parse(config_dir: Path, flag: str) -> str | None:
    """``git rev-parse FLAG`` in the folder; None without git or outside a work tree."""
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run(
        [git, "-C", str(config_dir), "rev-parse", flag],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def is_work_tree(config_dir: Path) -> bool:
    return _rev_parse(config_dir, "--is-inside-work-tree") == "true"


def git_dir(config_dir: Path) -> Path | None:
    """The repository's git directory (where sitewatch keeps its write lock in git
    mode, out of ``git status``), or None outside a work tree."""
    found = _rev_parse(config_dir, "--absolute-git-dir")
    return Path(found) if found else None
