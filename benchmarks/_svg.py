"""A small SVG chart writer (no dependency): horizontal bars with min-max whiskers, grouped bars,
and log-log lines. Enough for the benchmark page; not a plotting library."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

__all__ = ["Bar", "Series", "bar_chart", "grouped_bar_chart", "line_chart"]

#: a system's colour, by a word in its label (first match wins)
PALETTE = {
    "polyroute": "#2563eb",
    "litellm": "#ea580c",
    "openai": "#16a34a",
    "aiohttp": "#6b7280",
    "single provider": "#6b7280",
}
_EXTRA = ("#7c3aed", "#0891b2", "#db2777", "#ca8a04", "#4b5563")
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'


def color(name: str, index: int = 0) -> str:
    """A stable colour for a system name."""
    lowered = name.lower()
    for key, value in PALETTE.items():
        if key in lowered:
            return value
    return _EXTRA[index % len(_EXTRA)]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its median and the min-max whisker."""

    label: str
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Series:
    """A named list of values (grouped bars) or ``(x, y)`` points (lines)."""

    name: str
    values: tuple[float, ...] = ()
    points: tuple[tuple[float, float], ...] = ()


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _text(x: float, y: float, s: str, *, size: int = 12, anchor: str = "start", weight: str = "normal") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" {_FONT} fill="#111827">{escape(s)}</text>'
    )


def _svg(width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">\n<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


def _scale(lo: float, hi: float, log: bool) -> tuple[float, float]:
    if log:
        return math.log10(max(lo, 1e-12)), math.log10(max(hi, 1e-12))
    return lo, hi


def bar_chart(
    path: Path, title: str, unit: str, bars: Sequence[Bar], *, log: bool = False, target: float | None = None
) -> None:
    """Horizontal bars, median value printed, min-max whiskers, an optional dashed target line."""
    width, left, right, row = 760, 170, 110, 34
    height = 60 + row * len(bars) + 30
    top = 50
    hi = max([b.high for b in bars] + ([target] if target else []) + [1e-9])
    lo = min(b.low for b in bars if b.low > 0) / 2 if log else 0.0
    s_lo, s_hi = _scale(lo, hi * (1.15 if not log else 1.5), log)
    plot_w = width - left - right

    def x(v: float) -> float:
        sv = _scale(max(v, lo), 1, log)[0] if log else v
        return left + (sv - s_lo) / (s_hi - s_lo) * plot_w

    body = [_text(16, 28, title, size=15, weight="bold"), _text(width - 16, 28, unit, size=12, anchor="end")]
    for i, b in enumerate(bars):
        y = top + i * row
        c = color(b.label, i)
        body.append(_text(left - 8, y + 17, b.label, anchor="end"))
        body.append(f'<rect x="{left}" y="{y + 4}" width="{max(x(b.value) - left, 1):.1f}" height="20" fill="{c}"/>')
        body.append(
            f'<line x1="{x(b.low):.1f}" y1="{y + 14}" x2="{x(b.high):.1f}" y2="{y + 14}" stroke="#111827" '
            'stroke-width="1.5"/>'
        )
        for v in (b.low, b.high):
            body.append(
                f'<line x1="{x(v):.1f}" y1="{y + 8}" x2="{x(v):.1f}" y2="{y + 20}" '
                'stroke="#111827" stroke-width="1.5"/>'
            )
        body.append(_text(max(x(b.high), x(b.value)) + 6, y + 18, _fmt(b.value)))
    if target is not None:
        tx = x(target)
        body.append(
            f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{top + row * len(bars)}" stroke="#dc2626" '
            'stroke-dasharray="5,4" stroke-width="1.5"/>'
        )
        body.append(_text(tx, top + row * len(bars) + 16, f"target {_fmt(target)}", size=11, anchor="middle"))
    scale_note = "log scale; " if log else ""
    body.append(_text(left, height - 8, f"{scale_note}bar: median over rounds; whisker: min-max", size=10))
    path.write_text(_svg(width, height, body), encoding="utf-8")


def grouped_bar_chart(
    path: Path, title: str, unit: str, groups: Sequence[str], series: Sequence[Series], *, log: bool = False
) -> None:
    """Vertical bars: one group per label, one bar per series in each group."""
    width, height, left, bottom, top = 820, 360, 70, 70, 60
    plot_w, plot_h = width - left - 20, height - top - bottom
    values = [v for s in series for v in s.values if not math.isnan(v) and v > 0]
    hi = max([*values, 1e-9])
    lo = min(values) / 2 if (log and values) else 0.0
    s_lo, s_hi = _scale(lo, hi * (1.5 if log else 1.15), log)

    def y(v: float) -> float:
        sv = _scale(max(v, lo) if log else v, 1, log)[0] if log else v
        return top + plot_h - (sv - s_lo) / (s_hi - s_lo) * plot_h

    body = [_text(16, 28, title, size=15, weight="bold"), _text(width - 16, 28, unit, size=12, anchor="end")]
    gw = plot_w / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9ca3af"/>')
    for gi, g in enumerate(groups):
        gx = left + gi * gw
        body.append(_text(gx + gw / 2, top + plot_h + 18, g, size=11, anchor="middle"))
        for si, s in enumerate(series):
            v = s.values[gi] if gi < len(s.values) else float("nan")
            if math.isnan(v):
                continue
            bx = gx + gw * 0.1 + si * bw
            by = y(v)
            body.append(
                f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw - 2:.1f}" height="{top + plot_h - by:.1f}" '
                f'fill="{color(s.name, si)}"><title>{escape(s.name)}: {_fmt(v)}</title></rect>'
            )
            body.append(_text(bx + (bw - 2) / 2, by - 3, _fmt(v), size=9, anchor="middle"))
    lx = left
    for si, s in enumerate(series):
        body.append(f'<rect x="{lx}" y="{height - 30}" width="12" height="12" fill="{color(s.name, si)}"/>')
        body.append(_text(lx + 16, height - 20, s.name, size=11))
        lx += 30 + 7 * len(s.name)
    if log:
        body.append(_text(width - 16, height - 8, "log scale", size=10, anchor="end"))
    path.write_text(_svg(width, height, body), encoding="utf-8")


def line_chart(path: Path, title: str, x_label: str, y_label: str, series: Sequence[Series]) -> None:
    """Log-log lines with points, decade grid lines."""
    width, height, left, bottom, top, right = 760, 380, 80, 60, 50, 170
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [p[0] for s in series for p in s.points if p[0] > 0]
    ys = [p[1] for s in series for p in s.points if p[1] > 0]
    x_lo, x_hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y_lo, y_hi = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x_hi, y_hi = max(x_hi, x_lo + 1), max(y_hi, y_lo + 1)

    def px(v: float) -> float:
        return left + (math.log10(v) - x_lo) / (x_hi - x_lo) * plot_w

    def py(v: float) -> float:
        return top + plot_h - (math.log10(v) - y_lo) / (y_hi - y_lo) * plot_h

    body = [_text(16, 28, title, size=15, weight="bold")]
    for e in range(x_lo, x_hi + 1):
        gx = px(10.0**e)
        body.append(f'<line x1="{gx:.1f}" y1="{top}" x2="{gx:.1f}" y2="{top + plot_h}" stroke="#e5e7eb"/>')
        body.append(_text(gx, top + plot_h + 16, f"{10**e:,}", size=11, anchor="middle"))
    for e in range(y_lo, y_hi + 1):
        gy = py(10.0**e)
        body.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{left + plot_w}" y2="{gy:.1f}" stroke="#e5e7eb"/>')
        body.append(_text(left - 6, gy + 4, _fmt(10.0**e), size=11, anchor="end"))
    body.append(_text(left + plot_w / 2, height - 16, x_label, size=12, anchor="middle"))
    body.append(
        f'<text x="18" y="{top + plot_h / 2:.1f}" font-size="12" text-anchor="middle" {_FONT} '
        f'transform="rotate(-90 18 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for si, s in enumerate(series):
        c = color(s.name, si)
        dash = ' stroke-dasharray="5,4"' if "reference" in s.name else ""
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in s.points if a > 0 and b > 0)
        body.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
        if not dash:
            for a, b in s.points:
                body.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3.5" fill="{c}"/>')
        ly = top + 10 + si * 20
        body.append(
            f'<line x1="{width - right + 12}" y1="{ly}" x2="{width - right + 32}" y2="{ly}" stroke="{c}" '
            f'stroke-width="2"{dash}/>'
        )
        body.append(_text(width - right + 38, ly + 4, s.name, size=11))
    path.write_text(_svg(width, height, body), encoding="utf-8")
