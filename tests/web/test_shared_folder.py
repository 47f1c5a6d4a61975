"""Two ``sitewatch serve`` processes sharing one config folder (the shared-folder
deployment of docs/scaling.md): no acknowledged write is lost, and one If-Match
is honoured once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.factories import write
from tests.serveproc import Serve

pytestmark = pytest.mark.slow


async def test_concurrent_writes_through_two_processes_are_all_on_disk(
    config_dir: Path, tmp_path: Path
) -> None:
    write(
        config_dir,
        "monitors.yaml",
        "websites:\n  - name: Seed\n    url: https://seed.example.com/\n",
    )
    env = {"SITEWATCH_CHECK": "false"}
    a = Serve(config_dir, f"sqlite:///{tmp_path / 'a.db'}", env, name="a")
    b = Serve(config_dir, f"sqlite:///{tmp_path / 'b.db'}", env, name="b")
    try:
        await a.until("/ready", 200, limit=60)
        await b.until("/ready", 200, limit=60)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def create(n: int) -> tuple[int, str]:
                base = (a, b)[n % 2].base
                body = {"name": f"Site {n}", "url": f"https://s{n}.example.com/"}
                async with session.post(base + "/api/websites", json=body) as r:
                    return r.status, await r.text()

            answers = await asyncio.gather(*(create(n) for n in range(100)))
            acknowledged = {f"site-{n}" for n, (status, _) in enumerate(answers) if status == 201}
            # Every answer is a 201, or a 409 saying the lock was busy too long (a
            # refusal, nothing written: only on a very busy machine).
            refused = [text for status, text in answers if status != 201]
            assert all("write lock" in text for text in refused), refused
            assert acknowledged, answers

            on_disk = {
                w.get("key") or w["name"].lower().replace(" ", "-")
                for w in yaml.safe_load((config_dir / "monitors.yaml").read_text())["websites"]
            }
            assert acknowledged <= on_disk, acknowledged - on_disk

            # One If-Match, sent to both at once: exactly one 200.
            async with session.get(a.base + "/api/websites/seed") as r:
                etag = r.headers["ETag"]

            async def patch(server: Serve, interval: str) -> int:
                async with session.patch(
                    server.base + "/api/websites/seed",
                    json={"interval": interval},
                    headers={"If-Match": etag},
                ) as r:
                    return r.status

            statuses = sorted(await asyncio.gather(patch(a, "2m"), patch(b, "3m")))
            assert statuses == [200, 412], statuses
    finally:
        a.stop()
        b.stop()
