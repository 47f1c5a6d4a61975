"""``sitewatch`` with cProfile on the event loop's thread, between two signals.

bench/serve.py --profile FILE runs ``sitewatch serve`` through this wrapper:
SIGUSR1 starts the profile, SIGUSR2 writes it to ``SITEWATCH_BENCH_PROFILE``
(serve leaves with ``os._exit``, so nothing is written at exit). cProfile slows
small functions more than large ones: read it for where the time goes, not for
the CPU per check (the run's other lines).

Usage: python bench/profserve.py serve --config DIR ...  (the sitewatch arguments)
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from types import FrameType

from sitewatch.cli import main

profile = cProfile.Profile()


def start(_signum: int, _frame: FrameType | None) -> None:
    profile.enable()


def stop(_signum: int, _frame: FrameType | None) -> None:
    profile.disable()
    profile.dump_stats(os.environ["SITEWATCH_BENCH_PROFILE"])


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = ["sitewatch", *sys.argv[1:]]
    raise SystemExit(main())
