"""Per-thread CPU from /proc: how a process's time splits between the event
loop's thread and the others (libcurl's thread, SQLite's, executors)."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid``, by thread id (the
    main thread's is ``pid``): where a process's time goes, loop or not."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return seconds


def thread_shares(
    pid: int, before: dict[int, float], seconds: float, names: dict[int, str] | None = None
) -> str:
    """The busy threads since ``before``, as shares of a core, by name where
    ``names`` has it: ``loop 61.0 %, sitewatch-curl 30.1 %, Thread-3 8.0 %``
    (aiosqlite's connections are ``Thread-N``; asyncio's executor ``asyncio_N``)."""
    names = names if names is not None else thread_names()
    after = thread_cpu_seconds(pid)
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    loop = used.pop(pid, 0.0)
    busy = sorted(((s, tid) for tid, s in used.items() if s >= 0.005 * seconds), reverse=True)
    shown = "".join(f", {names.get(tid, tid)} {100 * s / seconds:.1f} %" for s, tid in busy)
    rest = sum(used.values()) - sum(s for s, _ in busy)
    return f"loop {100 * loop / seconds:.1f} %{shown}, others {100 * rest / seconds:.1f} %"


def thread_names() -> dict[int, str]:
    """This process's Python threads by native id."""
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
