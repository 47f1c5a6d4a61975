"""Real git remotes on loopback for the follower's tests: a bare repository with a
work clone that commits and pushes to it (``file://``), ``git daemon`` over it
(``git://``), and git's smart HTTP (``git http-backend`` run as CGI by a small
aiohttp server that wants a token)."""

from __future__ import annotations

import asyncio
import base64
import getpass
import os
import subprocess
from pathlib import Path

from aiohttp import web

from tests.targets import closed_port
from tests.waiting import listening

IDENTITY = ["-c", "user.name=Ada", "-c", "user.email=ada@example.com"]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=_env()
    )
    return done.stdout.strip()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


class Upstream:
    """``<root>/shop.git`` (bare, branch main) and a clone that pushes to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bare = root / "shop.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=root)
        git("clone", "-q", str(self.bare), str(self.work), cwd=root)
        git("checkout", "-q", "-b", "main", cwd=self.work)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def commit(self, files: dict[str, str], message: str, *, branch: str = "main") -> str:
        """Write ``files`` (paths in the repository), commit, push; the commit id."""
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.work)
        git(*IDENTITY, "commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def pull(self) -> None:
        """Bring the work clone up to the remote (commits sitewatch pushed)."""
        git("pull", "-q", "--ff-only", "origin", "main", cwd=self.work)

    def log(self) -> list[tuple[str, str]]:
        """(author name, subject) of the branch's commits, newest first."""
        out = git("log", "--format=%an%x09%s", "main", cwd=self.bare)
        return [tuple(line.split("\t", 1)) for line in out.splitlines()]  # type: ignore[misc]

    def show(self, path: str) -> str:
        """A file as the branch has it (as is: with its last newline)."""
        done = subprocess.run(
            ["git", "show", f"main:{path}"],
            cwd=self.bare,
            check=True,
            capture_output=True,
            text=True,
            env=_env(),
        )
        return done.stdout

    def rewrite(self, files: dict[str, str], message: str) -> str:
        """Drop the last commit and push another in its place (a force-push)."""
        git("reset", "-q", "--hard", "HEAD~1", cwd=self.work)
        for name, text in files.items():
            (self.work / name).write_text(text)
        git("add", "-A", cwd=self.work)
        git(*IDENTITY, "commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "--force", "origin", "HEAD:refs/heads/main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


class GitDaemon:
    """``git daemon`` serving ``base`` on a loopback port (``git://``)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = closed_port()
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> GitDaemon:
        self.process = subprocess.Popen(  # noqa: ASYNC220 (starts at once; waited for below)
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                f"--base-path={self.base}",
                "--export-all",
                str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await listening(self.port, self.process)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"


class SmartHttp:
    """git's smart HTTP protocol (``git http-backend`` as CGI) for the repositories
    below ``base``, answering only requests with ``Authorization: Basic`` of
    ``username:token`` (401 otherwise, as a forge does)."""

    def __init__(self, base: Path, username: str, token: str) -> None:
        self.base = base
        self.expected = "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()
        self.port = 0
        self.refused = 0
        self.requests = 0
        # Cleared: requests wait (a remote that hangs) until it is set again.
        self.open = asyncio.Event()
        self.open.set()
        self._runner: web.AppRunner | None = None

    async def _cgi(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await self.open.wait()
        if request.headers.get("Authorization") != self.expected:
            self.refused += 1
            return web.Response(
                status=401, text="auth needed", headers={"WWW-Authenticate": 'Basic realm="git"'}
            )
        body = await request.read()
        env = {
            **_env(),
            "GIT_PROJECT_ROOT": str(self.base),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "git",
            "REMOTE_ADDR": "127.0.0.1",
        }
        if "Content-Encoding" in request.headers:
            env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        out, _ = await proc.communicate(body)
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name.strip()] = value.strip()
        return web.Response(status=status, body=payload, headers=headers)

    async def __aenter__(self) -> SmartHttp:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{tail:.*}", self._cgi)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


class SshServer:
    """OpenSSH's ``sshd`` on a loopback port, for this user only, with key pairs
    made for the test: ``ssh://`` remotes with a key and known_hosts."""

    def __init__(self, root: Path, sshd: Path) -> None:
        self.root = root
        self.port = closed_port()
        self.user = getpass.getuser()
        self.client_key = root / "id_ed25519"
        self.known_hosts = root / "known_hosts"
        root.mkdir(parents=True)
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-f", str(root / "host")], check=True)
        subprocess.run([*keygen, "-f", str(self.client_key)], check=True)
        (root / "authorized_keys").write_text((root / "id_ed25519.pub").read_text())
        host = (root / "host.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host[0]} {host[1]}\n")
        config = root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {root / 'host'}",
                    f"PidFile {root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {root / 'authorized_keys'}",
                    f"AllowUsers {self.user}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    "",
                ]
            )
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
        self.command = [str(sshd), "-D", "-e", "-f", str(config)]
        self.log = (root / "sshd.log").open("wb")
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> SshServer:
        self.process = subprocess.Popen(  # noqa: ASYNC220 (starts at once; waited for below)
            self.command, stdout=subprocess.DEVNULL, stderr=self.log
        )
        await listening(self.port, self.process, (self.root / "sshd.log").read_text)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
        self.log.close()

    def url(self, repository: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository}"
