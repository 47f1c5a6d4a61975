"""Real servers on loopback for the HTTP engine's tests: Debian's nginx (HTTP/2 over
TLS and cleartext, answering with the protocol it spoke) and tinyproxy (a forward
proxy with Basic credentials, CONNECT to any port)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.targets import closed_port
from tests.waiting import listening


def _log(path: Path) -> Callable[[], str]:
    return lambda: path.read_text() if path.exists() else "no log"


class Nginx:
    """nginx with three servers: HTTP/2 and HTTP/1.1 over TLS (``tls_port``, with the
    given certificate), HTTP/2 cleartext with prior knowledge (``h2c_port``) and
    HTTP/1.1 only (``plain_port``). Every answer's body is the protocol spoken
    (``HTTP/2.0``, ``HTTP/1.1``)."""

    def __init__(self, root: Path, nginx: Path, cert: Path, key: Path) -> None:
        self.root = root
        self.tls_port, self.h2c_port, self.plain_port = closed_port(), closed_port(), closed_port()
        root.mkdir(parents=True, exist_ok=True)
        temp = " ".join(
            f"{kind}_temp_path {root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        answer = 'default_type text/plain; location / { return 200 "$server_protocol"; }'
        (root / "nginx.conf").write_text(
            f"""
daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  {temp}
  server {{
    listen 127.0.0.1:{self.tls_port} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    {answer}
  }}
  server {{ listen 127.0.0.1:{self.h2c_port} http2; {answer} }}
  server {{ listen 127.0.0.1:{self.plain_port}; {answer} }}
}}
"""
        )
        self.command = [str(nginx), "-p", str(root), "-c", str(root / "nginx.conf")]
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Nginx:
        self.process = subprocess.Popen(  # noqa: ASYNC220 (starts at once; waited for below)
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for port in (self.tls_port, self.h2c_port, self.plain_port):
            await listening(port, self.process, _log(self.root / "error.log"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()


class TinyProxy:
    """tinyproxy on a loopback port, asking for ``user:password`` (Basic), allowing
    CONNECT to any port (for https through it)."""

    def __init__(self, root: Path, tinyproxy: Path, user: str, password: str) -> None:
        self.root = root
        self.port = closed_port()
        root.mkdir(parents=True, exist_ok=True)
        lines = ["User nobody", "Group nogroup"] if os.geteuid() == 0 else []
        lines += [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            "LogLevel Info",  # to stdout (no LogFile): the file below
            "MaxClients 20",
            "Allow 127.0.0.1",
            f"BasicAuth {user} {password}",
            "",
        ]
        (root / "tinyproxy.conf").write_text("\n".join(lines))
        self.command = [str(tinyproxy), "-d", "-c", str(root / "tinyproxy.conf")]
        self.log = (root / "tinyproxy.log").open("wb")
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> TinyProxy:
        self.process = subprocess.Popen(  # noqa: ASYNC220 (starts at once; waited for below)
            self.command, stdout=self.log, stderr=subprocess.STDOUT
        )
        await listening(self.port, self.process, _log(self.root / "tinyproxy.log"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
        self.log.close()

    def requests(self) -> str:
        """tinyproxy's log: each request it served."""
        self.log.flush()
        return (self.root / "tinyproxy.log").read_text()
