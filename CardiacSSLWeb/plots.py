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


def svg_plot(
    series: list[tuple[str, Sequence[float], Sequence[float], str]], x_label: str, y_label: str, from_zero: bool = True
) -> str:
    """A small line chart: ``series`` = [(name, xs, ys, css colour)] sharing their axes (y from 0 by default)."""
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
    legend = " ".join(f'<tspan fill="{color}">{name}</tspan>' for name, _, _, color in series)
    return (
        f'<svg viewBox="0 0 {WIDTH:.0f} {HEIGHT + 16:.0f}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="0" y="0" width="{WIDTH:.0f}" height="{HEIGHT:.0f}" fill="none" stroke="#666"/>'
        + "".join(lines)
        + f'<text x="4" y="{HEIGHT + 12:.0f}" font-size="10" fill="#bbb">{x_label} / {y_label} '
        f"{y_range[0]:.3g}-{y_range[1]:.3g} {legend}</text></svg>"
    )
