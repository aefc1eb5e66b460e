"""Plots as inline SVG, drawn here: bars with confidence intervals, signed bars, a
scatter and line series. No plotting library, no script, no external reference: the
report that embeds them opens offline.

Every function returns one `<svg>` element (text) with a `<title>` and axis labels;
numbers are written with a fixed precision so that the same data give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

WIDTH = 540
HEIGHT = 300
MARGIN_LEFT = 60
MARGIN_RIGHT = 20
MARGIN_TOP = 30
MARGIN_BOTTOM = 80
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5")


def _n(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(low / step) * step
    out = []
    x = first
    while x <= high + step * 1e-9:
        out.append(round(x, 10))
        x += step
    return out


def _frame(title: str, body: list[str], *, width: int = WIDTH, height: int = HEIGHT) -> str:
    head = (
        f'<svg class="plot" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<text x="{width / 2}" y="18" text-anchor="middle" class="plot-title">'
        f"{escape(title)}</text>"
    )
    return head + "".join(body) + "</svg>"


def _y_axis(low: float, high: float, label: str, scale: Callable[[float], float]) -> list[str]:
    out = []
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    for tick in _ticks(low, high):
        y = scale(tick)
        out.append(
            f'<line x1="{left}" x2="{right}" y1="{_n(y)}" y2="{_n(y)}" class="grid"/>'
            f'<text x="{left - 6}" y="{_n(y + 4)}" text-anchor="end" class="tick">'
            f"{_n(tick)}</text>"
        )
    mid = (MARGIN_TOP + HEIGHT - MARGIN_BOTTOM) / 2
    out.append(
        f'<text x="14" y="{_n(mid)}" transform="rotate(-90 14 {_n(mid)})" '
        f'text-anchor="middle" class="axis-label">{escape(label)}</text>'
    )
    return out


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    lows: Sequence[float] | None = None,
    highs: Sequence[float] | None = None,
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
) -> str:
    """Vertical bars, one per label, with error bars from `lows` to `highs` when given.
    Negative values hang below the zero line. `y_range` fixes the axis (default: from
    the data, always including 0)."""
    if not labels:
        return _frame(title, ['<text x="50%" y="50%" text-anchor="middle">no data</text>'])
    points = list(values) + list(lows or []) + list(highs or [])
    low, high = y_range if y_range else (min(0.0, *points), max(0.0, *points))
    if high == low:
        high = low + 1
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def scale(v: float) -> float:
        return bottom - (v - low) / (high - low) * (bottom - top)

    body = _y_axis(low, high, y_label, scale)
    slot = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(labels)
    zero = scale(max(low, min(0.0, high)))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = MARGIN_LEFT + i * slot + slot * 0.15
        w = slot * 0.7
        y = scale(value)
        colour = PALETTE[0] if value >= 0 else PALETTE[2]
        body.append(
            f'<rect x="{_n(x)}" y="{_n(min(y, zero))}" width="{_n(w)}" '
            f'height="{_n(abs(zero - y))}" fill="{colour}"><title>{escape(label)}: '
            f"{value:.4f}</title></rect>"
        )
        if lows is not None and highs is not None:
            cx = x + w / 2
            y1, y2 = scale(lows[i]), scale(highs[i])
            body.append(
                f'<line x1="{_n(cx)}" x2="{_n(cx)}" y1="{_n(y1)}" y2="{_n(y2)}" class="err"/>'
                f'<line x1="{_n(cx - 6)}" x2="{_n(cx + 6)}" y1="{_n(y1)}" y2="{_n(y1)}" '
                f'class="err"/><line x1="{_n(cx - 6)}" x2="{_n(cx + 6)}" y1="{_n(y2)}" '
                f'y2="{_n(y2)}" class="err"/>'
            )
        lx = x + w / 2
        ly = bottom + 12
        body.append(
            f'<text x="{_n(lx)}" y="{_n(ly)}" transform="rotate(30 {_n(lx)} {_n(ly)})" '
            f'class="tick">{escape(label[:32])}</text>'
        )
    body.append(
        f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{_n(zero)}" '
        f'y2="{_n(zero)}" class="axis"/>'
    )
    return _frame(title, body)


def _xy_bounds(xs: Sequence[float]) -> tuple[float, float]:
    low, high = min(xs), max(xs)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _xy_plot(
    title: str,
    xs: Sequence[float],
    ys: Sequence[float],
    x_label: str,
    y_label: str,
    y_range: tuple[float, float] | None,
) -> tuple[list[str], Callable[[float], float], Callable[[float], float]]:
    x_low, x_high = _xy_bounds(xs)
    y_low, y_high = y_range if y_range else _xy_bounds(ys)
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT

    def sx(v: float) -> float:
        return left + (v - x_low) / (x_high - x_low) * (right - left)

    def sy(v: float) -> float:
        return bottom - (v - y_low) / (y_high - y_low) * (bottom - top)

    body = _y_axis(y_low, y_high, y_label, sy)
    for tick in _ticks(x_low, x_high):
        body.append(
            f'<text x="{_n(sx(tick))}" y="{bottom + 16}" text-anchor="middle" class="tick">'
            f"{_n(tick)}</text>"
        )
    body.append(
        f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" class="axis"/>'
        f'<text x="{(left + right) / 2}" y="{bottom + 36}" text-anchor="middle" '
        f'class="axis-label">{escape(x_label)}</text>'
    )
    return body, sx, sy


def scatter(
    title: str,
    points: Sequence[tuple[str, float, float]],
    *,
    x_label: str = "",
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
) -> str:
    """Labelled points (label, x, y)."""
    if not points:
        return _frame(title, ['<text x="50%" y="50%" text-anchor="middle">no data</text>'])
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    body, sx, sy = _xy_plot(title, xs, ys, x_label, y_label, y_range)
    for i, (label, x, y) in enumerate(points):
        px, py = sx(x), sy(y)
        body.append(
            f'<circle cx="{_n(px)}" cy="{_n(py)}" r="5" fill="{PALETTE[i % len(PALETTE)]}">'
            f"<title>{escape(label)}: ({x:.4g}, {y:.4f})</title></circle>"
            f'<text x="{_n(px + 7)}" y="{_n(py - 7)}" class="tick">{escape(label[:28])}</text>'
        )
    return _frame(title, body)


def line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    x_label: str = "",
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
) -> str:
    """One polyline per named series of (x, y) points, with a legend."""
    points = [p for values in series.values() for p in values]
    if not points:
        return _frame(title, ['<text x="50%" y="50%" text-anchor="middle">no data</text>'])
    body, sx, sy = _xy_plot(
        title, [p[0] for p in points], [p[1] for p in points], x_label, y_label, y_range
    )
    for i, (name, values) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{_n(sx(x))},{_n(sy(y))}" for x, y in sorted(values))
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(name)}</title></polyline>"
        )
        for x, y in values:
            body.append(
                f'<circle cx="{_n(sx(x))}" cy="{_n(sy(y))}" r="3" fill="{colour}">'
                f"<title>{escape(name)}: ({x:g}, {y:.4f})</title></circle>"
            )
        ly = HEIGHT - 22 + (i // 4) * 14
        lx = MARGIN_LEFT + (i % 4) * 150
        body.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{ly}" class="tick">{escape(name[:20])}</text>'
        )
    return _frame(title, body, height=HEIGHT + 14 * ((len(series) - 1) // 4))
