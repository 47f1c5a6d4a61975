"""A scrape's body, a slice of the loop's time at a time, and the per-website
histograms written from one template: the same text as line by line."""

from __future__ import annotations

import asyncio
import gzip
from array import array
from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from sitewatch import scrape
from sitewatch.metrics import DURATION_BUCKETS, Metrics
from sitewatch.website_series import DURATION, Histogram, WebsiteSeries


class Ticks:
    """A clock that moves 1 ms each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


PIECES = [f"line {i}\n" * 50 for i in range(10)]


def test_a_slice_ends_once_its_budget_is_spent_and_nothing_is_lost() -> None:
    stats = scrape.ScrapeStats()
    out = list(scrape.slices(PIECES, gzipped=False, stats=stats, budget=0.003, clock=Ticks()))
    # the clock reads 1 ms a piece (and once a slice to start it): three pieces a slice
    assert [len(b) for b in out[:3]] == [len("".join(PIECES[:3]).encode())] * 3
    assert b"".join(out) == "".join(PIECES).encode()
    assert stats.slices == len(out) == 4
    assert stats.text_bytes == stats.body_bytes == len(b"".join(out))


def test_gzipped_slices_are_one_gzip_stream_of_the_whole_text() -> None:
    stats = scrape.ScrapeStats()
    out = list(scrape.slices(PIECES, gzipped=True, stats=stats, budget=0.002, clock=Ticks()))
    assert len(out) > 1
    assert gzip.decompress(b"".join(out)) == "".join(PIECES).encode()
    assert stats.body_bytes == len(b"".join(out)) < stats.text_bytes


def test_no_pieces_is_an_empty_body() -> None:
    assert b"".join(scrape.slices([], gzipped=False)) == b""
    assert gzip.decompress(b"".join(scrape.slices([], gzipped=True))) == b""


async def test_the_loop_runs_between_two_slices() -> None:
    """A callback made ready while a slice is built runs before the next slice."""
    ran: list[int] = []

    def pieces(seen: list[int]) -> Iterator[str]:
        for i in range(5):
            seen.append(len(ran))
            asyncio.get_running_loop().call_soon(ran.append, i)
            yield "x"

    sliced: list[int] = []
    out = [d async for d in scrape.body(pieces(sliced), gzipped=False, budget=0.0)]
    assert b"".join(out) == b"xxxxx" and sliced == [0, 1, 2, 3, 4]
    ran.clear()
    whole: list[int] = []
    out = [d async for d in scrape.body(pieces(whole), gzipped=False, budget=3600.0)]
    assert out == [b"xxxxx"] and whole == [0, 0, 0, 0, 0]


labels = st.text(alphabet=st.sampled_from('ab{}"\\\n,= é'), max_size=12)
counts = st.lists(st.integers(0, 2**40), min_size=10, max_size=10)


@given(st.lists(st.tuples(labels, counts, st.floats(0, 1e9)), max_size=8), st.booleans())
def test_one_template_writes_what_the_lines_write(
    sites: list[tuple[str, list[int], float]], phases: bool
) -> None:
    series = WebsiteSeries(DURATION_BUCKETS, phases=phases)
    for n, (key, values, total) in enumerate(sites):
        site = series.site(f"{key}{n}", "http")
        for phase in ("total", "dns") if phases else ("total",):
            hist = site.hist[phase] = Histogram(len(DURATION_BUCKETS))
            hist.counts = array("q", values)
            hist.total = total
    everyone = list(series.sites.values())
    lines: list[str] = []
    for site in everyone:
        for phase, hist in site.hist.items():
            label = f'{site.label},phase="{phase}"'
            series._histogram(lines, DURATION.name, label, hist, DURATION.samples())
    assert series._chunk(DURATION, everyone, DURATION.samples()) == "".join(lines)


def test_a_scrape_of_many_websites_parses_whole() -> None:
    m = Metrics()
    for i in range(250):  # more than one piece of websites
        site = m.websites.site(f"site-{i}", "http")
        m.websites.timing(site, "total", i / 100)
        site.up = 1.0
    text = b"".join(scrape.slices(m.exposition(openmetrics=False), gzipped=True))
    body = gzip.decompress(text).decode()
    families = {f.name: f for f in text_string_to_metric_families(body)}
    durations = families["sitewatch_check_duration_seconds"].samples
    assert sum(s.name.endswith("_count") for s in durations) == 250
    assert (
        'sitewatch_check_duration_seconds_bucket{website="site-249",phase="total",le="+Inf"} 1.0'
        in body
    )
