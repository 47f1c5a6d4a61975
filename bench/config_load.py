"""What loading a large config costs a process: time and memory, no database.

Generates bench/checker.py's config (N websites in one monitors.yaml) and prints,
for one ``ConfigLoader`` kept as the reconciler keeps it:

  cold       the first load (compose, validate), and the process's RSS after it
  unchanged  the same files again (every website found by its text)
  edit       one website's name changed (the file composed again)
  stored     every website's stored form, as a first apply writes them
  kept       bytes a website the loader keeps (tracemalloc, over --trace websites)

Usage (pin it to one core as docs/benchmarks.md does):
  taskset -c 1 .venv/bin/python bench/config_load.py [--websites 120000] [--trace 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from checker import generate, rss_now

from sitewatch.config.loader import ConfigLoader


def timed(websites: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp)
        generate(config_dir, websites, 30, 0)
        loader = ConfigLoader(config_dir, os.environ)
        began = time.perf_counter()
        snapshot = loader.load()
        cold = time.perf_counter() - began
        rss = rss_now()
        began = time.perf_counter()
        loader.load()
        unchanged = time.perf_counter() - began
        path = config_dir / "monitors.yaml"
        path.write_text(path.read_text().replace("name: Site 7\n", "name: Site 7b\n"))
        began = time.perf_counter()
        loader.load()
        edit = time.perf_counter() - began
        began = time.perf_counter()
        for entry in snapshot.websites.values():
            entry.stored  # noqa: B018 - made when asked
        stored = time.perf_counter() - began
    print(f"websites       {websites:,}")
    print(f"cold           {cold:.2f} s, RSS after it {rss:.0f} MB")
    print(f"unchanged      {unchanged:.2f} s")
    print(f"one edit       {edit:.2f} s")
    print(f"stored forms   {stored:.2f} s for all ({stored / websites * 1e6:.1f} µs each)")


def traced(websites: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp)
        generate(config_dir, websites, 30, 0)
        loader = ConfigLoader(config_dir, os.environ)
        tracemalloc.start()
        snapshot = loader.load()
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(snapshot.websites) == websites
    print(f"kept           {kept / websites:,.0f} B a website (peak {peak / websites:,.0f} B)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--websites", type=int, default=120_000)
    parser.add_argument("--trace", type=int, default=20_000, help="websites for tracemalloc")
    parser.add_argument("--traced-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.traced_only:
        traced(args.trace)
        return
    timed(args.websites)
    # A process of its own: tracemalloc slows everything and the RSS must be clean.
    command = [sys.executable, __file__, "--traced-only", "--trace", str(args.trace)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
