"""Charts as inline SVG, drawn on the server (the dashboard needs no chart library).

Pure functions: values in, markup out. Long series are downsampled with
largest-triangle-three-buckets, which keeps the spikes a response-time chart is
read for, so 10,000 points draw as a few hundred without hiding an outage.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

Point = tuple[float, float]  # (x, y), e.g. (unix seconds, milliseconds)


def downsample(points: Sequence[Point], limit: int) -> list[Point]:
    """At most ``limit`` points (≥ 3) of ``points`` (sorted by x), first and last kept.

    Largest-triangle-three-buckets (Steinarsson, 2013): from each bucket, the
    point that spans the largest triangle with the point chosen before it and
    the average of the next bucket -- the visually significant one.
    """
    if limit < 3:
        raise ValueError("limit must be at least 3")
    n = len(points)
    if n <= limit:
        return list(points)
    out = [points[0]]
    every = (n - 2) / (limit - 2)
    chosen = 0
    for i in range(limit - 2):
        start = int(i * every) + 1
        end = int((i + 1) * every) + 1
        nxt_start, nxt_end = end, min(int((i + 2) * every) + 1, n)
        span = points[nxt_start:nxt_end] or [points[-1]]
        avg_x = sum(p[0] for p in span) / len(span)
        avg_y = sum(p[1] for p in span) / len(span)
        ax, ay = points[chosen]
        best, best_area = start, -1.0
        for j in range(start, min(end, n - 1)):
            x, y = points[j]
            area = abs((ax - avg_x) * (y - ay) - (ax - x) * (avg_y - ay))
            if area > best_area:
                best, best_area = j, area
        out.append(points[best])
        chosen = best
    out.append(points[-1])
    return out


def _scale(points: Sequence[Point], width: float, height: float, pad: float) -> list[Point]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y1 = max(ys) or 1.0
    dx = (x1 - x0) or 1.0
    return [
        (
            pad + (x - x0) / dx * (width - 2 * pad),
            height - pad - (y / y1) * (height - 2 * pad),
        )
        for x, y in points
    ]


def sparkline(
    points: Sequence[Point],
    *,
    label: str,
    width: int = 120,
    height: int = 28,
    limit: int = 120,
) -> str:
    """A small line chart with an accessible name (``label``); an empty series
    draws a flat, labelled placeholder rather than nothing."""
    title = html.escape(label)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{title}" class="sparkline">'
        f"<title>{title}</title>"
    )
    if not points:
        mid = height / 2
        return (
            head + f'<line x1="0" y1="{mid}" x2="{width}" y2="{mid}" stroke="currentColor" '
            'stroke-opacity="0.3" stroke-dasharray="2 3"/></svg>'
        )
    drawn = _scale(downsample(points, limit), width, height, 2.0)
    if len(drawn) == 1:
        drawn = [(2.0, drawn[0][1]), (width - 2.0, drawn[0][1])]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in drawn)
    return (
        head + f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'stroke-linejoin="round" points="{path}"/></svg>'
    )
