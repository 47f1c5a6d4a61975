"""``sitewatch serve`` as a child process, for tests of the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.targets import closed_port
from tests.waiting import DEADLINE, eventually


def _soft_open_files(limit: int) -> None:
    import resource

    resource.setrlimit(
        resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    )


class Serve:
    """A ``sitewatch serve`` child process and its address."""

    def __init__(
        self,
        config_dir: Path,
        database_url: str,
        env: dict[str, str],
        name: str = "serve",
        *,
        open_files: int | None = None,  # the soft RLIMIT_NOFILE it starts with
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
            preexec_fn=None if open_files is None else lambda: _soft_open_files(open_files),
        )

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.get(self.base + path, **kw) as r:
            body = await (r.json() if r.content_type == "application/json" else r.text())
            return r.status, body

    async def until(self, path: str, status: int, limit: float = DEADLINE) -> Any:
        """The body, once ``path`` answers ``status`` (see ``tests.waiting``)."""
        seen: list[Any] = [None]

        async def answers() -> bool:
            try:
                seen[0] = await self.get(path)
            except aiohttp.ClientError as exc:
                seen[0] = (None, exc)
            return bool(seen[0][0] == status)

        try:
            await eventually(answers, limit, step=0.2, what=f"{path} answering {status}")
        except AssertionError as exc:
            raise AssertionError(f"{exc} (last: {seen[0]})") from None
        return seen[0][1]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log_file.close()
