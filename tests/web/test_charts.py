"""Server-side SVG charts: downsampling keeps the spikes; sparklines are
well-formed, accessible SVG."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from sitewatch.web.charts import downsample, sparkline

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
