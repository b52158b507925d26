"""Metric plots drawn on the server as inline SVG: no script, no plotting library.

One plot per metric key: a polyline of value over step inside a frame, the lowest and
highest step and value written at the axes' ends. Points that are NaN or infinite are
left out of the line (the table beside the plot keeps them); a long history is thinned
for drawing only, keeping each bucket's first, lowest, highest and last point, so spikes
survive. Every piece of text goes through `markupsafe.escape`, so a metric key can
never become markup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import Markup, escape

from registry_core import Metric

__all__ = ["MAX_DRAWN", "METRIC_ROWS", "format_value", "line_plot", "metric_views", "thin"]

#: Most points a polyline gets; a longer series is thinned (`thin`) for drawing.
MAX_DRAWN = 1200
#: Most table rows shown per metric key (the newest steps); the plot draws them all.
METRIC_ROWS = 500
_WIDTH, _HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 16, 16, 40  # room for the axis labels


def format_value(value: float, digits: int = 6) -> str:
    """A metric value as people read it: ``0.0123``, ``1.5e+09``, ``NaN``, ``-inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def thin(points: Sequence[tuple[int, float]], most: int = MAX_DRAWN) -> list[tuple[int, float]]:
    """At most about ``most`` of ``points`` (in order): per bucket its first, lowest,
    highest and last point, so the drawn line keeps the series' shape and extremes."""
    if len(points) <= most:
        return list(points)
    buckets = max(1, most // 4)
    size = math.ceil(len(points) / buckets)
    kept: list[tuple[int, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low = min(range(len(bucket)), key=lambda i: bucket[i][1])
        high = max(range(len(bucket)), key=lambda i: bucket[i][1])
        for index in sorted({0, low, high, len(bucket) - 1}):
            kept.append(bucket[index])
    return kept


def _span(low: float, high: float) -> tuple[float, float]:
    """A drawable range: a constant series gets room around its value."""
    if high > low:
        return low, high
    pad = abs(low) * 0.1 or 1.0
    return low - pad, high + pad


def line_plot(key: str, points: Sequence[tuple[int, float]]) -> Markup:
    """An SVG plot of ``points`` (step, value), ordered by step, named for ``key``."""
    finite = [(step, value) for step, value in points if math.isfinite(value)]
    label = escape(f"Plot of {key} over steps")
    head = Markup(
        '<svg class="plot" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
    ).format(label, _WIDTH, _HEIGHT)
    right, bottom = _WIDTH - _RIGHT, _HEIGHT - _BOTTOM
    frame = Markup('<rect class="frame" x="{}" y="{}" width="{}" height="{}" fill="none"/>').format(
        _LEFT, _TOP, right - _LEFT, bottom - _TOP
    )
    if not finite:
        note = Markup(
            '<text x="{}" y="{}" text-anchor="middle">No finite values to draw</text>'
        ).format(_WIDTH // 2, _HEIGHT // 2)
        return head + frame + note + Markup("</svg>")
    steps = [s for s, _ in finite]
    values = [v for _, v in finite]
    x_low, x_high = min(steps), max(steps)
    y_low, y_high = min(values), max(values)
    draw_x = _span(float(x_low), float(x_high))
    draw_y = _span(y_low, y_high)

    def x_of(step: float) -> float:
        return _LEFT + (step - draw_x[0]) / (draw_x[1] - draw_x[0]) * (right - _LEFT)

    def y_of(value: float) -> float:
        return bottom - (value - draw_y[0]) / (draw_y[1] - draw_y[0]) * (bottom - _TOP)

    drawn = thin(finite)
    coords = " ".join(f"{x_of(s):.1f},{y_of(v):.1f}" for s, v in drawn)
    if len(drawn) == 1:
        step, value = drawn[0]
        line = Markup('<circle class="point" cx="{:.1f}" cy="{:.1f}" r="4"/>').format(
            x_of(step), y_of(value)
        )
    else:
        line = Markup('<polyline class="line" fill="none" points="{}"/>').format(coords)
    labels = Markup("").join(
        Markup('<text class="{}" x="{}" y="{}" text-anchor="{}">{}</text>').format(
            kind, x, y, anchor, text
        )
        for kind, x, y, anchor, text in (
            ("y-max", _LEFT - 6, _TOP + 10, "end", format_value(y_high, 4)),
            ("y-min", _LEFT - 6, bottom, "end", format_value(y_low, 4)),
            ("x-min", _LEFT, bottom + 18, "start", f"step {x_low}"),
            ("x-max", right, bottom + 18, "end", f"step {x_high}"),
        )
    )
    left_out = len(points) - len(finite)
    about = f"{len(finite)} points from step {x_low} to {x_high}, values {format_value(y_low)}"
    about += f" to {format_value(y_high)}"
    if left_out:
        about += f"; {left_out} NaN or infinite left out"
    desc = Markup("<desc>{}</desc>").format(about)
    return head + desc + frame + line + labels + Markup("</svg>")


def metric_views(points: Iterable[Metric]) -> list[dict[str, Any]]:
    """What a metrics section shows of each key, in key order: its plot, and a table of
    its last `METRIC_ROWS` points by step (a version's and a run's alike)."""
    by_key: dict[str, list[Metric]] = {}
    for point in points:
        by_key.setdefault(point.key, []).append(point)
    views = []
    for key in sorted(by_key):
        ordered = sorted(by_key[key], key=lambda p: (p.step, p.timestamp))
        rows = [(p.step, format_value(p.value), p.timestamp) for p in ordered[-METRIC_ROWS:]]
        views.append(
            {
                "key": key,
                "plot": line_plot(key, [(p.step, p.value) for p in ordered]),
                "rows": rows,
                "count": len(ordered),
            }
        )
    return views
