"""Curves as SVG polyline point strings (the page draws them; no plotting library needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence

WIDTH, HEIGHT, PAD = 300.0, 120.0, 6.0


def polyline(xs: Sequence[float], ys: Sequence[float], x_range=None, y_range=None) -> str:
    """``"x,y x,y ..."`` of the finite points scaled into a WIDTH x HEIGHT box (y up)."""
    points = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return ""
    x0, x1 = x_range or (min(p[0] for p in points), max(p[0] for p in points))
    y0, y1 = y_range or (min(p[1] for p in points), max(p[1] for p in points))
    sx = (WIDTH - 2 * PAD) / (x1 - x0) if x1 > x0 else 0.0
    sy = (HEIGHT - 2 * PAD) / (y1 - y0) if y1 > y0 else 0.0
    return " ".join(f"{PAD + (x - x0) * sx:.1f},{HEIGHT - PAD - (y - y0) * sy:.1f}" for x, y in points)


def shared_range(*series: Sequence[float]) -> tuple[float, float]:
    values = [float(v) for s in series for v in s if math.isfinite(float(v))]
    if not values:
        return (0.0, 1.0)
    return (min(0.0, min(values)), max(values))


LEFT, BOTTOM = 34.0, 28.0  # room for the y tick labels, and the x tick labels + caption


def ticks(lo: float, hi: float, n: int = 4, integer: bool = False) -> list[float]:
    """Round tick values within [lo, hi] (matplotlib's MaxNLocator); whole numbers only when ``integer``."""
    from matplotlib.ticker import MaxNLocator

    if not hi > lo:
        return [lo]
    values = MaxNLocator(nbins=n, integer=integer).tick_values(lo, hi)
    return [float(t) for t in values if lo - 1e-9 <= t <= hi + 1e-9]


def _x_pos(x: float, x_range: tuple[float, float]) -> float:
    x0, x1 = x_range
    return PAD + (x - x0) * (WIDTH - 2 * PAD) / (x1 - x0) if x1 > x0 else PAD


def _y_pos(y: float, y_range: tuple[float, float]) -> float:
    y0, y1 = y_range
    return HEIGHT - PAD - (y - y0) * (HEIGHT - 2 * PAD) / (y1 - y0) if y1 > y0 else HEIGHT - PAD


def _axes(x_range, y_range, x_integer: bool) -> str:
    """Tick marks and labels of both axes (the plot box spans 0..WIDTH x 0..HEIGHT)."""
    parts = []
    for x in ticks(*x_range, integer=x_integer):
        px = _x_pos(x, x_range)
        parts.append(f'<line x1="{px:.1f}" y1="{HEIGHT:.0f}" x2="{px:.1f}" y2="{HEIGHT + 3:.0f}" stroke="#888"/>')
        parts.append(
            f'<text class="x-tick" x="{px:.1f}" y="{HEIGHT + 12:.0f}" font-size="9" fill="#bbb" '
            f'text-anchor="middle">{x:g}</text>'
        )
    for y in ticks(*y_range):
        py = _y_pos(y, y_range)
        parts.append(f'<line x1="-3" y1="{py:.1f}" x2="0" y2="{py:.1f}" stroke="#888"/>')
        parts.append(
            f'<text class="y-tick" x="-5" y="{py + 3:.1f}" font-size="9" fill="#bbb" text-anchor="end">{y:g}</text>'
        )
    return "".join(parts)


def _marks(marks: Sequence[tuple[str, float]], x_range) -> str:
    """Dashed vertical lines with their names on top (e.g. ED and ES)."""
    parts = []
    for name, x in marks:
        if not math.isfinite(float(x)):
            continue
        px = _x_pos(float(x), x_range)
        parts.append(
            f'<line class="mark" x1="{px:.1f}" y1="0" x2="{px:.1f}" y2="{HEIGHT:.0f}" stroke="#ddd" '
            f'stroke-dasharray="3,3"/><text x="{px + 2:.1f}" y="10" font-size="9" fill="#ddd">{name}</text>'
        )
    return "".join(parts)


def _points(points: Sequence[tuple[str, Sequence[float], Sequence[float], str]], x_range, y_range) -> str:
    """Filled circles (markers only), e.g. the frames a quality check flagged."""
    parts = []
    for name, xs, ys, color in points:
        for x, y in zip(xs, ys, strict=True):
            if math.isfinite(float(x)) and math.isfinite(float(y)):
                parts.append(
                    f'<circle class="point" cx="{_x_pos(float(x), x_range):.1f}" cy="{_y_pos(float(y), y_range):.1f}" '
                    f'r="3.5" fill="{color}"><title>{name}</title></circle>'
                )
    return "".join(parts)


def svg_plot(
    series: list[tuple[str, Sequence[float], Sequence[float], str]],
    x_label: str,
    y_label: str,
    from_zero: bool = True,
    marks: Sequence[tuple[str, float]] = (),
    points: Sequence[tuple[str, Sequence[float], Sequence[float], str]] = (),
) -> str:
    """A small line chart with ticked axes: ``series`` = [(name, xs, ys, css colour)] sharing their axes
    (y from 0 by default); ``marks`` = [(name, x)] drawn as labelled vertical lines; ``points`` =
    [(name, xs, ys, css colour)] drawn as markers on the same axes (named in the legend when any)."""
    series = [s for s in series if len(s[1])]
    if not series:
        return ""
    xs_all = [float(x) for s in series for x in s[1]]
    x_range = (min(xs_all), max(xs_all))
    y_range = shared_range(*[s[2] for s in series])
    if not from_zero:
        finite = [float(y) for s in series for y in s[2] if math.isfinite(float(y))]
        y_range = (min(finite), max(finite)) if finite else y_range
    lines = [
        f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{polyline(xs, ys, x_range, y_range)}"/>'
        for _, xs, ys, color in series
    ]
    points = [p for p in points if len(p[1])]
    legend = " ".join(f'<tspan fill="{color}">{name}</tspan>' for name, _, _, color in [*series, *points])
    return (
        f'<svg viewBox="{-LEFT:.0f} 0 {WIDTH + LEFT + 4:.0f} {HEIGHT + BOTTOM:.0f}" width="100%" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="0" y="0" width="{WIDTH:.0f}" height="{HEIGHT:.0f}" fill="none" stroke="#666"/>'
        + _axes(x_range, y_range, all(x == round(x) for x in xs_all))  # frame numbers: whole ticks
        + _marks(marks, x_range)
        + "".join(lines)
        + _points(points, x_range, y_range)
        + f'<text x="0" y="{HEIGHT + BOTTOM - 3:.0f}" font-size="10" fill="#bbb">{x_label}; {y_label} {legend}</text>'
        "</svg>"
    )
