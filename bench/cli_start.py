"""How long the ``sitewatch`` command takes to start, beside its floors.

Runs each command N times (fresh processes) and prints the median and the
fastest wall time, next to the references measured in the same run: an empty
Python, and Python importing aiohttp (the HTTP engine ``check`` cannot do
without). ``check`` probes a plain-HTTP server on loopback started here.

    .venv/bin/python bench/cli_start.py --runs 15 [--compare DIR]

``--compare DIR`` runs the same commands from another checkout (``git worktree
add DIR <commit>``) in the same run, as ``python -m sitewatch`` with DIR first
on ``PYTHONPATH``, so a before/after is measured side by side.
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


Row = tuple[str, list[str], dict[str, str] | None, Path | None]


def timed(
    argv: list[str], runs: int, env: dict[str, str] | None, cwd: Path | None
) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", type=Path, help="another checkout, run side by side")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    rows: list[Row] = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], None, None),
        (
            "python -c 'import aiohttp' (check's floor)",
            [sys.executable, "-c", "import aiohttp"],
            None,
            None,
        ),
    ]
    # ``python -m`` puts its working folder first on sys.path: each tree runs in its own.
    trees: list[tuple[str, Path]] = [("this tree", ROOT)]
    if args.compare is not None:
        trees.append((args.compare.name, args.compare.resolve()))
    config = str(ROOT / "config")
    for tree, folder in trees:
        env = {**os.environ, "PYTHONPATH": str(folder)}
        sw = [sys.executable, "-m", "sitewatch"]
        rows += [
            (f"[{tree}] sitewatch --version", [*sw, "--version"], env, folder),
            (f"[{tree}] sitewatch check URL", [*sw, "check", url], env, folder),
            (f"[{tree}] sitewatch validate", [*sw, "validate", "--config", config], env, folder),
        ]
    print(f"{'command':<46} {'median':>8} {'fastest':>8}   ({args.runs} runs)")
    for label, argv, env, cwd in rows:
        median, fastest = timed(argv, args.runs, env, cwd)
        print(f"{label:<46} {median:7.3f}s {fastest:7.3f}s")
    server.shutdown()


if __name__ == "__main__":
    main()
