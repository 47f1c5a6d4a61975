"""Freed memory goes back to the system (glibc's malloc_trim), as after a reconcile."""

from __future__ import annotations

import os
from pathlib import Path

from sitewatch.memory import give_back


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_freed_memory_below_a_live_object_is_given_back() -> None:
    # 80 MB in malloc'd blocks (above pymalloc's 512 bytes), then one block after
    # them that stays alive: glibc cannot shrink the heap past it on its own.
    blocks = [bytes(4096) for _ in range(20_000)]
    pin = bytes(4096)
    before = _rss()
    del blocks
    assert _rss() > before - 40 * 2**20  # still held by the allocator
    assert give_back()
    assert _rss() < before - 60 * 2**20
    assert pin  # alive until here
