"""Charts as inline SVG, drawn on the server (the dashboard needs no chart library).

Pure functions: values in, markup out. Long series are downsampled with
largest-triangle-three-buckets, which keeps the spikes a response-time chart is
read for, so 10,000 points draw as a few hundred without hiding an outage.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

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


# -- the response-time chart of one website -------------------------------------------

PHASE_NAMES = (
    ("dns_ms", "DNS"),
    ("connect_ms", "Connect"),
    ("tls_ms", "TLS"),
    ("first_byte_ms", "Time to first byte"),
)


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _clock(moment: float, span: float) -> str:
    t = datetime.fromtimestamp(moment, UTC)
    return t.strftime("%H:%M") if span <= 2 * 86400 else t.strftime("%b %d")


def response_chart(
    points: Sequence[Any],
    *,
    start: float,
    end: float,
    bucket: float,
    label: str,
    width: int = 960,
    height: int = 260,
) -> str:
    """Stacked timing phases (bars), the mean total (line) and the slowest check
    (dashed) per bucket, and a mark under every bucket with failed checks.

    ``points`` have ``start`` (datetime), ``checks``, ``failures``, ``mean_ms``,
    ``max_ms`` and the phase means (``dns_ms``...); ``start``/``end`` bound the
    x axis in unix seconds and ``bucket`` is the width of one bucket in seconds.
    The bar width comes from ``bucket`` (never from how many points there are:
    one bucket in a 24 h range is a thin bar at its time, not the whole plot),
    and everything is clipped to the plot. Drawn in a fixed viewBox, scaled by CSS.
    """
    left, right, top, bottom = 48.0, 8.0, 8.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    plot_right = left + plot_w
    span = max(end - start, 1.0)
    peak = max((p.max_ms or p.mean_ms or 0.0 for p in points), default=0.0)
    y_max = _nice(peak * 1.05)
    bar_w = min(max(plot_w * max(bucket, 0.0) / span, 1.0), plot_w)

    def x(moment: float) -> float:
        return min(max(left + (moment - start) / span * plot_w, left), plot_right)

    def y(value: float) -> float:
        return top + plot_h - min(max(value, 0.0), y_max) / y_max * plot_h

    phase_paths: dict[str, list[str]] = {name: [] for name, _ in PHASE_NAMES}
    mean_path: list[str] = []
    max_path: list[str] = []
    fails: list[str] = []
    previous: float | None = None
    failed_checks = checks_total = 0
    for p in points:
        t = p.start.timestamp()
        x0 = x(t)
        w = max(min(bar_w, plot_right - x0) - 0.5, 0.5)
        base = 0.0
        for name, _label in PHASE_NAMES:
            value = getattr(p, name)
            if value:
                y_top, y_bottom = y(base + value), y(base)
                phase_paths[name].append(
                    f"M{x0:.1f} {y_bottom:.1f}V{y_top:.1f}h{w:.1f}V{y_bottom:.1f}z"
                )
                base += value
        mid = x0 + w / 2
        gap = previous is None or t - previous > 1.5 * max(bucket, 1.0)
        # A step across each bucket: a lone bucket still draws a visible line.
        if p.mean_ms is not None:
            move = "M" if gap or not mean_path else "L"
            mean_path.append(f"{move}{x0:.1f} {y(p.mean_ms):.1f}H{x0 + w:.1f}")
        if p.max_ms is not None:
            move = "M" if gap or not max_path else "L"
            max_path.append(f"{move}{x0:.1f} {y(p.max_ms):.1f}H{x0 + w:.1f}")
        previous = t
        checks_total += p.checks
        if p.failures:
            failed_checks += p.failures
            base_y = top + plot_h
            # a triangle 8 wide under the bucket, kept inside the plot
            tip = min(max(mid, left + 4), plot_right - 4)
            fails.append(f"M{tip:.1f} {base_y - 7:.1f}l4 7h-8z")
    title = html.escape(
        f"{label}: {len(points)} buckets, {checks_total} checks, {failed_checks} failed; "
        f"slowest {peak:.0f} ms"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{title}" class="chart">'
        f"<title>{title}</title>"
    ]
    for fraction in (0.0, 0.5, 1.0):
        value = y_max * fraction
        gy = y(value)
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{gy:.1f}" '
            f'y2="{gy:.1f}"/><text class="chart-label" x="{left - 6}" y="{gy + 4:.1f}" '
            f'text-anchor="end">{_axis_ms(value)}</text>'
        )
    for fraction, anchor in ((0.0, "start"), (0.5, "middle"), (1.0, "end")):
        moment = start + span * fraction
        parts.append(
            f'<text class="chart-label" x="{x(moment):.1f}" y="{height - 6}" '
            f'text-anchor="{anchor}">{_clock(moment, span)}</text>'
        )
    for name, _label in PHASE_NAMES:
        if phase_paths[name]:
            css = "chart-" + name.removesuffix("_ms").replace("_", "-")
            parts.append(f'<path class="{css}" d="{"".join(phase_paths[name])}"/>')
    if max_path:
        parts.append(f'<path class="chart-max" d="{"".join(max_path)}"/>')
    if mean_path:
        parts.append(f'<path class="chart-mean" d="{"".join(mean_path)}"/>')
    if fails:
        parts.append(f'<path class="chart-fail" d="{"".join(fails)}"/>')
    if not points:
        parts.append(
            f'<text class="chart-label" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            'text-anchor="middle">No checks in this range yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _axis_ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g} ms"


def status_bar(checks: Sequence[Mapping[str, Any]], *, slots: int = 60) -> str:
    """The last checks, oldest left: passing checks as short bars, failing ones as
    full-height bars with a notch (shape and colour, never colour alone)."""
    w, gap, h = 6, 2, 24
    width = slots * (w + gap)
    failed = sum(1 for c in checks if not c["ok"])
    label = html.escape(
        f"Last {len(checks)} checks: {len(checks) - failed} passed, {failed} failed"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {h}" role="img" '
        f'aria-label="{label}" class="status-bar"><title>{label}</title>'
    ]
    offset = slots - len(checks)
    for i, c in enumerate(checks):
        bx = (offset + i) * (w + gap)
        what = "passed" if c["ok"] else f"failed ({c.get('error_kind') or 'error'})"
        moment = c["checked_at"].strftime("%Y-%m-%d %H:%M:%S UTC")
        tip = html.escape(f"{moment}: {what}, {c.get('status_code') or '—'}")
        if c["ok"]:
            parts.append(
                f'<rect class="bar-ok" x="{bx}" y="{h - 14}" width="{w}" height="14" rx="1">'
                f"<title>{tip}</title></rect>"
            )
        else:
            parts.append(
                f'<path class="bar-fail" d="M{bx} 0h{w}v{h}h-{w}z M{bx + 1} 3h{w - 2}v3h-{w - 2}z" '
                f'fill-rule="evenodd"><title>{tip}</title></path>'
            )
    for i in range(offset):
        parts.append(
            f'<rect class="bar-none" x="{i * (w + gap)}" y="{h - 4}" width="{w}" height="4"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
