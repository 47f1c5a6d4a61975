"""``sitewatch`` between two signals: names its threads, profiles the loop's.

bench/serve.py runs ``sitewatch serve`` through this wrapper. SIGUSR1 writes
the names of the threads (``{native id: name}``, JSON) to
``SITEWATCH_BENCH_THREADS`` (so the bench can say which thread took what CPU)
and, with ``--profile FILE``, starts cProfile on the event loop's thread;
SIGUSR2 writes the profile to ``SITEWATCH_BENCH_PROFILE`` (serve leaves with
``os._exit``, so nothing is written at exit). cProfile slows
small functions more than large ones: read it for where the time goes, not for
the CPU per check (the run's other lines).

Usage: python bench/profserve.py serve --config DIR ...  (the sitewatch arguments)
"""

from __future__ import annotations

import cProfile
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from sitewatch.cli import main

profile = cProfile.Profile()


def start(_signum: int, _frame: FrameType | None) -> None:
    names = {t.native_id: t.name for t in threading.enumerate()}
    if "SITEWATCH_BENCH_THREADS" in os.environ:
        Path(os.environ["SITEWATCH_BENCH_THREADS"]).write_text(json.dumps(names))
    if "SITEWATCH_BENCH_PROFILE" in os.environ:
        profile.enable()


def stop(_signum: int, _frame: FrameType | None) -> None:
    if "SITEWATCH_BENCH_PROFILE" in os.environ:
        profile.disable()
        profile.dump_stats(os.environ["SITEWATCH_BENCH_PROFILE"])


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = ["sitewatch", *sys.argv[1:]]
    raise SystemExit(main())
