"""The curl examples of docs/api.md, run as written against a real
``sitewatch serve`` (every request must succeed: curl fails on HTTP errors here)."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.serveproc import Serve
from tests.targets import TargetServer

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
TOKEN = "docs-example-token-0123456789"


def _blocks() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
    return [b for b in blocks if "curl" in b]


@pytest.fixture
async def serve(config_dir: Path, tmp_path: Path) -> AsyncIterator[Serve]:
    async with TargetServer() as target:
        (config_dir / "monitors.yaml").write_text(
            f"websites:\n  - name: Shop\n    url: {target.url('/status/200')}\n    tags: [prod]\n"
        )
        (config_dir / "alerts.yaml").write_text(
            textwrap.dedent(
                """\
                alerts:
                  - name: oncall-email
                    type: email
                    host: 127.0.0.1
                    port: 9
                    from: sitewatch@example.com
                    to: oncall@example.com
                """
            )
        )
        process = Serve(
            config_dir, f"sqlite:///{tmp_path / 'sw.db'}", {"SITEWATCH_API_TOKENS": TOKEN}
        )
        try:
            await process.until("/ready", 200)
            yield process
        finally:
            process.stop()


@pytest.mark.slow
async def test_the_api_examples_run(serve: Serve) -> None:
    blocks = _blocks()
    assert len(blocks) >= 4
    for block in blocks:
        script = "\n".join(
            line for line in block.splitlines() if not line.startswith("export TOKEN=")
        ).replace("http://127.0.0.1:8080", serve.base)
        wrapper = 'curl() { command curl --fail-with-body -sS "$@"; }\nset -euo pipefail\n'
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            wrapper + script,
            env={"TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        assert process.returncode == 0, f"{block}\n---\n{out.decode()}"
