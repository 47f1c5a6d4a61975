"""sitewatch's own clone of a git remote: fetch, list new commits, check one out.

It runs the ``git`` command, as Argo CD does: the one git implementation that
knows every transport (https, ssh, git, file) and credential helper. The clone is
bare and shallow (the branch's last ``DEPTH`` commits: enough to apply every new
commit one by one, never the whole history), in sitewatch's data folder; a commit
is checked out with ``git archive`` into a fresh folder of its own, so no reader
ever sees a half-written tree.

Credentials never appear on a command line or in a message: an HTTPS token goes
to git through ``GIT_CONFIG_*`` variables as an ``Authorization`` header, an SSH
key through ``GIT_SSH_COMMAND``; and every text taken from git is scrubbed of
the URL's user information and of the token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import re
import shlex
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sitewatch.errors import SitewatchError

FETCH_TIMEOUT = 120.0
LOCAL_TIMEOUT = 30.0
MAX_NEW_COMMITS = 50  # applied one by one; beyond this, straight to the newest
DEPTH = MAX_NEW_COMMITS + 1  # the history kept: the applied commit and those after it
_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitRemoteError(SitewatchError):
    """A git command against the remote or the clone failed (the message says why,
    with no credential in it)."""


class PushRejectedError(GitRemoteError):
    """The remote refused a push because the branch moved on (not a fast-forward)."""


@dataclass(frozen=True, slots=True)
class RemoteSpec:
    url: str
    branch: str = "main"
    path: str = "."  # the config folder inside the repository
    username: str = "git"
    token: str | None = None  # HTTPS
    ssh_key: Path | None = None
    known_hosts: Path | None = None

    @property
    def shown_url(self) -> str:
        """The URL without its user information (which may hold a password)."""
        return strip_userinfo(self.url)


def strip_userinfo(url: str) -> str:
    if "://" not in url:
        return url.rpartition("@")[2] if "@" in url.partition(":")[0] else url  # scp-like
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class GitRemote:
    def __init__(self, spec: RemoteSpec, root: Path) -> None:
        self.spec = spec
        self.root = root
        self.repo = root / "repo.git"
        self.work = root / "work"  # a work tree for writes: commits pushed to the remote
        self._secrets = [s for s in (spec.token, _password(spec.url)) if s]

    # -- running git ----------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GIT_", "SITEWATCH_")) and k not in ("SSH_ASKPASS",)
        }
        env.update(
            LC_ALL="C",  # git's messages in English: a refused push is recognised by them
            GIT_TERMINAL_PROMPT="0",  # never wait for a password on a terminal
            GIT_ASKPASS="/bin/false",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL="/dev/null",
        )
        config: list[tuple[str, str]] = [("protocol.file.allow", "always")]
        if self.spec.token:
            pair = f"{self.spec.username}:{self.spec.token}".encode()
            header = "Authorization: Basic " + base64.b64encode(pair).decode()
            config.append(("http.extraHeader", header))
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        env["GIT_CONFIG_COUNT"] = str(len(config))
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]
        if self.spec.ssh_key is not None:
            ssh += ["-i", str(self.spec.ssh_key), "-o", "IdentitiesOnly=yes"]
        if self.spec.known_hosts is not None:
            ssh += ["-o", f"UserKnownHostsFile={self.spec.known_hosts}"]
            ssh += ["-o", "StrictHostKeyChecking=yes"]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        return env

    def scrub(self, text: str) -> str:
        text = text.replace(self.spec.url, self.spec.shown_url)
        for secret in self._secrets:
            text = text.replace(secret, "…")
        return text

    async def _git(
        self,
        *args: str,
        limit: float = LOCAL_TIMEOUT,
        stdin: bytes | None = None,
        work: bool = False,
    ) -> bytes:
        where = ["-C", str(self.work)] if work else ["--git-dir", str(self.repo)]
        try:
            proc = await asyncio.create_subprocess_exec(
                "git",
                *where,
                *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env(),
            )
        except OSError as exc:
            raise GitRemoteError(f"cannot run git: {exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), limit)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise GitRemoteError(f"git {args[0]} took longer than {limit:g}s") from None
        if proc.returncode != 0:
            said = self.scrub(err.decode("utf-8", "replace").strip())
            if args[0] == "push" and ("[rejected]" in said or "fetch first" in said):
                raise PushRejectedError("git push: the branch moved on in the remote")
            raise GitRemoteError(f"git {args[0]}: {_reason(said, proc.returncode)}")
        return out

    # -- the clone ------------------------------------------------------------------

    async def _ensure_repo(self) -> None:
        if (self.repo / "HEAD").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        await self._git("init", "--bare", "--quiet")

    @property
    def _ref(self) -> str:
        return f"refs/remotes/origin/{self.spec.branch}"

    async def fetch(self) -> str:
        """Fetch the branch; the commit it points at now. Shallow: the history is cut
        ``DEPTH`` commits below the tip (the objects already here stay)."""
        await self._ensure_repo()
        refspec = f"+refs/heads/{self.spec.branch}:{self._ref}"
        await self._git(
            "fetch",
            "--prune",
            "--no-tags",
            "--quiet",
            f"--depth={DEPTH}",
            self.spec.url,
            refspec,
            limit=FETCH_TIMEOUT,
        )
        return await self.resolve(self._ref)

    async def fetch_branch(self, branch: str) -> str | None:
        """Fetch another branch of the remote (a review branch); its commit, or None
        when the remote has no such branch (never made, or merged and deleted)."""
        await self._ensure_repo()
        ref = f"refs/remotes/origin/{branch}"
        try:
            await self._git(
                "fetch",
                "--no-tags",
                "--quiet",
                f"--depth={DEPTH}",
                self.spec.url,
                f"+refs/heads/{branch}:{ref}",
                limit=FETCH_TIMEOUT,
            )
        except GitRemoteError as exc:
            if "couldn't find remote ref" not in str(exc):
                raise
            with contextlib.suppress(GitRemoteError):
                await self._git("update-ref", "-d", ref)
            return None
        return await self.resolve(ref)

    async def has(self, sha: str) -> bool:
        """Whether the clone holds the commit ``sha`` (fetched, or made here)."""
        if not _SHA.match(sha):
            return False
        try:
            await self._git("cat-file", "-e", f"{sha}^{{commit}}")
        except GitRemoteError:
            return False
        return True

    async def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether ``older`` is in ``newer``'s history (as far as the clone knows it)."""
        try:
            await self._git("merge-base", "--is-ancestor", older, newer)
        except GitRemoteError:
            return False
        return True

    async def resolve(self, ref: str) -> str:
        sha = (await self._git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")).decode().strip()
        if not _SHA.match(sha):
            raise GitRemoteError(f"{ref} is not a commit")
        return sha

    async def new_commits(self, applied: str | None, fetched: str) -> list[str]:
        """The commits to apply, oldest first: those after ``applied`` on the
        branch's first-parent line, at most ``MAX_NEW_COMMITS`` (the newest). Just
        ``fetched`` when ``applied`` is unknown or no longer on the branch (a
        force-push rewrote history)."""
        if applied is None or applied == fetched:
            return [] if applied == fetched else [fetched]
        if not await self.is_ancestor(applied, fetched):
            return [fetched]
        out = await self._git("rev-list", "--first-parent", "--reverse", f"{applied}..{fetched}")
        commits = out.decode().split()
        return commits[-MAX_NEW_COMMITS:]

    async def describe(self, sha: str) -> tuple[str, str]:
        """(author, subject) of a commit."""
        out = await self._git("log", "-1", "--format=%an <%ae>%x00%s", sha)
        author, _, subject = out.decode("utf-8", "replace").strip().partition("\x00")
        return author, subject

    async def checkout(self, sha: str, dest: Path) -> Path:
        """The commit's files (below ``spec.path``) in ``dest``, a new folder; the
        config folder inside it. Entries that would leave ``dest`` (absolute paths,
        ``..``, links out) are refused by the extraction filter."""
        archive = await self._git("archive", "--format=tar", sha)
        try:
            folder = await asyncio.to_thread(_extract, archive, dest, self.spec.path)
        except (tarfile.TarError, OSError) as exc:
            raise GitRemoteError(
                f"the commit cannot be checked out safely: {self.scrub(str(exc))}"
            ) from None
        if folder is None:
            raise GitRemoteError(
                f"the commit has no folder {self.spec.path!r} (SITEWATCH_GIT_PATH)"
            )
        return folder

    # -- writes -------------------------------------------------------------------------

    async def work_at(self, sha: str) -> Path:
        """The work tree, checked out at ``sha`` with nothing else in it; the config
        folder inside it. A worktree of the clone: its objects, its shallow history
        and the commits made in it are the clone's (no network)."""
        if (self.work / ".git").is_dir():  # an older sitewatch's separate clone
            await asyncio.to_thread(shutil.rmtree, self.work)
        if not (self.work / ".git").exists():
            await self._git("worktree", "prune")
            await self._git("worktree", "add", "--quiet", "--detach", str(self.work), sha)
        await self._git("checkout", "--quiet", "--force", "--detach", sha, work=True)
        await self._git("clean", "--quiet", "-d", "--force", "-x", work=True)
        return self.work / self.spec.path

    async def push(self, branch: str) -> None:
        """Push the work tree's HEAD to ``branch`` of the remote (a fast-forward only:
        ``PushRejectedError`` when the branch moved on)."""
        await self._git(
            "push",
            "--quiet",
            self.spec.url,
            f"HEAD:refs/heads/{branch}",
            work=True,
            limit=FETCH_TIMEOUT,
        )


def _extract(archive: bytes, dest: Path, path: str) -> Path | None:
    """Unpack a commit's tar into ``dest``; its folder ``path``, if it has one.
    Only folders, files and links that stay inside ``dest`` (a hostile
    repository's link to /etc is refused); Python's own "data" filter too, where
    this Python has it (3.11.4 and later)."""
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [_inside(m, dest.resolve()) for m in tar.getmembers()]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # Python 3.11.0 to 3.11.3: the checks above
            tar.extractall(dest, members=members)
    folder = (dest / path).resolve()
    if not folder.is_relative_to(dest.resolve()) or not folder.is_dir():
        return None
    return folder


def _inside(member: tarfile.TarInfo, dest: Path) -> tarfile.TarInfo:
    """``member`` if it is a folder, a file or a link that stays inside ``dest``."""
    if not (member.isdir() or member.isfile() or member.issym()):
        raise tarfile.TarError(f"{member.name}: not a file, a folder or a symbolic link")
    where = (dest / member.name).resolve()
    if not where.is_relative_to(dest):
        raise tarfile.TarError(f"{member.name}: outside the repository")
    if member.issym():
        target = (where.parent / member.linkname).resolve()
        if os.path.isabs(member.linkname) or not target.is_relative_to(dest):
            raise tarfile.TarError(
                f"{member.name}: a symbolic link out of the repository ({member.linkname})"
            )
    return member


# git's advice after a failed connection: it says nothing about this failure.
_ADVICE = ("Please make sure you have the correct access rights", "and the repository exists")


def _reason(said: str, status: int | None) -> str:
    """What went wrong, from git's messages: ssh's and git's own lines (at most
    three), without the generic advice that ends them."""
    lines = [
        line.strip()
        for line in said.splitlines()
        if line.strip() and not line.strip().startswith(_ADVICE)
    ]
    return "; ".join(lines[-3:]) if lines else f"exit status {status}"


def _password(url: str) -> str | None:
    if "://" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None
