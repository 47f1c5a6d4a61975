"""The cost of /metrics alone: N websites' results observed, then a full scrape built.

Prints, for the ``Metrics`` object of the sitewatch on ``PYTHONPATH`` (run it
against an older checkout to compare): series, text size, CPU to build the text,
CPU to gzip it (level 1, as ``GET /metrics`` does), CPU of one ``observe()``, and
the peak RSS of the process.

Usage:
  .venv/bin/python bench/metrics.py --websites 30000 [--phases]
"""

from __future__ import annotations

import argparse
import gzip
import resource
import time
from datetime import UTC, datetime

from prometheus_client import generate_latest

from sitewatch.checker.result import CheckResult, Timings
from sitewatch.metrics import Metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--websites", type=int, default=30_000)
    parser.add_argument("--phases", action="store_true", help="SITEWATCH_METRICS_PHASES=true")
    args = parser.parse_args()
    metrics = Metrics(phases=args.phases)
    at = datetime(2026, 12, 4, tzinfo=UTC)
    timings = Timings(dns_ms=1.0, connect_ms=2.0, tls_ms=3.0, first_byte_ms=4.0, total_ms=9.0)
    result = CheckResult(website_id=0, checked_at=at, ok=True, timings=timings, cert_expires_at=at)
    for _ in range(3):
        for i in range(args.websites):
            metrics.observe(f"site-{i}", result)
    started = time.process_time()
    for i in range(args.websites):
        metrics.observe(f"site-{i}", result)
    observe = (time.process_time() - started) / args.websites
    started = time.process_time()
    if hasattr(metrics, "exposition"):
        text = "".join(metrics.exposition(openmetrics=False)).encode()
    else:  # before the compact series
        text = generate_latest(metrics.registry)
    build = time.process_time() - started
    started = time.process_time()
    packed = gzip.compress(text, compresslevel=1)
    pack = time.process_time() - started
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.websites} websites, phases {'on' if args.phases else 'off'}: {series:,} series, "
        f"{len(text) / 1e6:.1f} MB; build {build:.3f} s CPU; gzip {pack:.3f} s -> "
        f"{len(packed) / 1e6:.1f} MB; observe {1e6 * observe:.1f} us; peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
