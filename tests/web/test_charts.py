"""Server-side SVG charts: downsampling keeps the spikes; sparklines are
well-formed, accessible SVG."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from sitewatch.store.series import Point
from sitewatch.web.charts import downsample, response_chart, sparkline, status_bar

SVG = "{http://www.w3.org/2000/svg}"


def test_downsample_keeps_ends_count_and_the_outage_spike() -> None:
    points = [(float(i), 40.0 + 5 * math.sin(i / 50)) for i in range(10_000)]
    points[6_123] = (6_123.0, 9_000.0)  # one very slow check
    out = downsample(points, 300)
    assert len(out) == 300
    assert out[0] == points[0] and out[-1] == points[-1]
    assert (6_123.0, 9_000.0) in out
    assert [p[0] for p in out] == sorted(p[0] for p in out)


def test_downsample_leaves_short_series_alone_and_rejects_tiny_limits() -> None:
    points = [(float(i), float(i)) for i in range(10)]
    assert downsample(points, 20) == points
    with pytest.raises(ValueError, match="at least 3"):
        downsample(points, 2)


def test_sparkline_is_valid_accessible_svg() -> None:
    markup = sparkline([(float(i), float(i % 7)) for i in range(1_000)], label="Shop <24h>")
    root = ET.fromstring(markup)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-label") == "Shop <24h>"
    assert root.find(f"{SVG}title").text == "Shop <24h>"  # type: ignore[union-attr]
    line = root.find(f"{SVG}polyline")
    assert line is not None
    coords = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
    assert len(coords) == 120
    assert all(0 <= x <= 120 and 0 <= y <= 28 for x, y in coords)


def test_sparkline_of_nothing_or_one_point() -> None:
    empty = ET.fromstring(sparkline([], label="no data"))
    assert empty.find(f"{SVG}line") is not None
    one = ET.fromstring(sparkline([(1.0, 5.0)], label="one"))
    assert len(one.find(f"{SVG}polyline").get("points", "").split()) == 2  # type: ignore[union-attr]


T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)


def _points(n: int) -> list[Point]:
    return [
        Point(
            T0 + timedelta(minutes=i),
            2,
            1 if i == 7 else 0,
            50.0 + i,
            80.0 + i,
            1.0,
            5.0,
            10.0 if i % 2 else None,
            30.0,
        )
        for i in range(n)
    ]


def test_response_chart_stacks_phases_and_marks_failures() -> None:
    points = _points(120)
    points[60] = Point(points[60].start, 1, 0, 900.0, 9_000.0)  # a spike, no phases
    svg = response_chart(
        points,
        start=T0.timestamp(),
        end=(T0 + timedelta(hours=2)).timestamp(),
        bucket=60.0,
        label="Response time of <Shop>",
    )
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    label = root.get("aria-label") or ""
    assert "Response time of <Shop>" in label and "240 checks" not in label
    assert "1 failed" in label and "slowest 9000 ms" in label
    classes = {e.get("class") for e in root.iter(f"{SVG}path")}
    assert {
        "chart-dns",
        "chart-connect",
        "chart-tls",
        "chart-first-byte",
        "chart-mean",
        "chart-max",
        "chart-fail",
    } <= classes
    fail = next(e for e in root.iter(f"{SVG}path") if e.get("class") == "chart-fail")
    assert (fail.get("d") or "").count("M") == 1  # one bucket had failures
    # The y axis fits the spike: its top label is a round number at or above 9 s.
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "10 s" in labels and "0 ms" in labels
    assert len(svg) < 40_000  # 120 buckets stay small in the page


def test_response_chart_without_points_says_so() -> None:
    svg = response_chart([], start=0.0, end=3600.0, bucket=30.0, label="x")
    root = ET.fromstring(svg)
    assert "No checks in this range yet" in [t.text for t in root.iter(f"{SVG}text")]


def test_response_chart_breaks_the_line_over_gaps() -> None:
    points = _points(10) + [
        Point(T0 + timedelta(minutes=m), 1, 0, 50.0, 60.0) for m in range(100, 110)
    ]
    svg = response_chart(
        points,
        start=T0.timestamp(),
        end=(T0 + timedelta(hours=2)).timestamp(),
        bucket=60.0,
        label="x",
    )
    mean = next(e for e in ET.fromstring(svg).iter(f"{SVG}path") if e.get("class") == "chart-mean")
    assert (mean.get("d") or "").count("M") == 2


def _path_points(d: str) -> list[tuple[float, float]]:
    """Every point a path's pen visits (absolute M L H V, relative h v l; z closes)."""
    tokens = re.findall(r"[MLHVhvlz]|-?[0-9.]+", d)
    out: list[tuple[float, float]] = []
    x = y = 0.0
    i = 0
    while i < len(tokens):
        op = tokens[i]
        i += 1
        if op == "z":
            continue
        if op in "ML":
            x, y = float(tokens[i]), float(tokens[i + 1])
            i += 2
        elif op == "l":
            x, y = x + float(tokens[i]), y + float(tokens[i + 1])
            i += 2
        elif op == "H":
            x = float(tokens[i])
            i += 1
        elif op == "V":
            y = float(tokens[i])
            i += 1
        elif op == "h":
            x += float(tokens[i])
            i += 1
        elif op == "v":
            y += float(tokens[i])
            i += 1
        out.append((x, y))
    return out


# The dashboard's ranges: (span, bucket width) as pages.py draws them.
RANGES = {
    "1h": (3600.0, 30.0),
    "24h": (86_400.0, 720.0),
    "7d": (7 * 86_400.0, 5_040.0),
    "30d": (30 * 86_400.0, 3_600.0),
}


@pytest.mark.parametrize("count", [0, 1, 2, 50, 120])
@pytest.mark.parametrize("chosen", list(RANGES))
def test_response_chart_geometry_stays_inside_the_plot(chosen: str, count: int) -> None:
    """Bars are one bucket wide whatever the number of buckets (a lone bucket in
    a 24 h range is a thin bar, not the whole plot), and nothing is drawn
    outside the plot: bars, lines, failure marks."""
    span, bucket = RANGES[chosen]
    end = T0.timestamp()
    start = end - span
    # the newest buckets, each with a failure, phases, a mean and a slowest check
    first = max(int(span // bucket) - count, 0)
    points = [
        Point(
            datetime.fromtimestamp(start + (first + i) * bucket, UTC),
            3,
            1,
            100.0 + i,
            400.0 + i,
            5.0,
            10.0,
            20.0,
            60.0,
        )
        for i in range(count)
    ]
    svg = response_chart(points, start=start, end=end, bucket=bucket, label="x")
    root = ET.fromstring(svg)
    left, right, top, bottom = 48.0, 960.0 - 8.0, 8.0, 260.0 - 22.0
    paths = {e.get("class"): e.get("d") or "" for e in root.iter(f"{SVG}path")}
    for name, d in paths.items():
        for px, py in _path_points(d):
            assert left - 0.05 <= px <= right + 0.05, (name, px)
            assert top - 0.05 <= py <= bottom + 0.05, (name, py)
    if count == 0:
        assert set(paths) == set()
        return
    expected_w = (right - left) * bucket / span
    bars = re.findall(r"M([0-9.]+) [0-9.]+V[0-9.]+h([0-9.]+)", paths["chart-dns"])
    assert len(bars) == count
    for _x, w in bars:
        assert abs(float(w) - max(expected_w - 0.5, 0.5)) < 0.2 or float(w) <= expected_w
        assert float(w) < (right - left) / 2  # never the whole plot
    # the last bar ends at the plot's right edge (the newest bucket is "now")
    last_x, last_w = map(float, bars[-1])
    assert last_x + last_w <= right + 0.05
    assert paths["chart-fail"].count("M") == count
    # a lone bucket still draws its mean and slowest as visible segments
    for name in ("chart-mean", "chart-max"):
        pts = _path_points(paths[name])
        assert len(pts) == 2 * count and pts[1][0] > pts[0][0]


def test_status_bar_shows_failures_by_shape_and_text() -> None:
    checks = [
        {
            "checked_at": T0 + timedelta(seconds=30 * i),
            "ok": i != 3,
            "status_code": 200 if i != 3 else 503,
            "error_kind": None if i != 3 else "status",
        }
        for i in range(5)
    ]
    svg = status_bar(checks, slots=10)
    root = ET.fromstring(svg)
    assert root.get("aria-label") == "Last 5 checks: 4 passed, 1 failed"
    oks = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar-ok"]
    fails = [e for e in root.iter(f"{SVG}path") if e.get("class") == "bar-fail"]
    assert len(oks) == 4 and len(fails) == 1
    assert int(oks[0].get("height") or 0) < 24  # passing: short; failing: full height
    tip = fails[0].find(f"{SVG}title")
    assert tip is not None and "failed (status), 503" in (tip.text or "")
    assert len([e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar-none"]) == 5
