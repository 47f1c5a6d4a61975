"""``sitewatch serve`` as a child process, for tests of the real command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.targets import closed_port


class Serve:
    """A ``sitewatch serve`` child process and its address."""

    def __init__(
        self, config_dir: Path, database_url: str, env: dict[str, str], name: str = "serve"
    ) -> None:
        self.port = closed_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = config_dir.parent / f"{name}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sitewatch",
                "serve",
                "--config",
                str(config_dir),
                "--port",
                str(self.port),
                "--database-url",
                database_url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            env={**os.environ, **env},
            cwd=config_dir.parent,
        )

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.get(self.base + path, **kw) as r:
            body = await (r.json() if r.content_type == "application/json" else r.text())
            return r.status, body

    async def until(self, path: str, status: int, limit: float = 30) -> Any:
        deadline = time.monotonic() + limit
        last: Any = None
        while time.monotonic() < deadline:
            try:
                code, body = await self.get(path)
                if code == status:
                    return body
                last = (code, body)
            except aiohttp.ClientError as exc:
                last = exc
            await asyncio.sleep(0.2)
        raise AssertionError(f"{path} did not answer {status} within {limit}s (last: {last})")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log_file.close()
