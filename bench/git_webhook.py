"""Push webhook to applied commit (issue #21): how long after ``POST /hooks/git``
the pushed commit is applied, through the real app on SQLite with a ``file://``
remote (the fetch is local, so this is sitewatch's own share of the 2 s budget).

Each round commits and pushes one more website to a bare repository, posts a
GitHub-signed push webhook, and polls ``/api/config`` every 5 ms until
``git.applied_commit`` is the pushed commit. The poll is off (an hour), so
only the webhook can make it fetch. Includes the webhook's 0.2 s debounce.

Usage:
  .venv/bin/python bench/git_webhook.py [--pushes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.appclient import start_client
from tests.gitservers import Upstream

SECRET = b"bench-secret"


def monitors(names: list[str]) -> str:
    return "websites:\n" + "".join(
        f"  - name: {n}\n    url: https://{n}.example.com/\n" for n in names
    )


async def main(pushes: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="sitewatch-bench-git-"))
    up = Upstream(root / "remote")
    names = ["shop"]
    up.commit({"monitors.yaml": monitors(names)}, "shop")
    client = await start_client(
        root / "unused",
        f"sqlite+aiosqlite:///{root}/bench.db",
        git_url=up.url,
        git_dir=root / "sw",
        git_poll=3600,
        git_webhook_secret=SECRET.decode(),
    )
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest(),
    }
    seconds = []
    try:
        for i in range(pushes):
            names.append(f"site{i}")
            sha = up.commit({"monitors.yaml": monitors(names)}, f"site{i}")
            started = time.perf_counter()
            await client.post("/hooks/git", data=body, headers=headers)
            # Polled as a client would see it (the API), not through an internal event.
            while (await (await client.get("/api/config")).json())["git"]["applied_commit"] != sha:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            seconds.append(time.perf_counter() - started)
    finally:
        await client.close()
    seconds.sort()
    p95 = seconds[max(0, round(0.95 * len(seconds)) - 1)]
    print(f"pushes: {pushes}")
    print(
        f"webhook -> applied: median {statistics.median(seconds):.3f}s  "
        f"p95 {p95:.3f}s  max {seconds[-1]:.3f}s  (0.2 s of it is the debounce)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20)
    asyncio.run(main(parser.parse_args().pushes))
