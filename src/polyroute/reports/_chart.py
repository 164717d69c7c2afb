"""A chart of daily spend stacked by provider, as SVG (no dependencies) or PNG (with Pillow).

The figure is laid out once as rectangles, lines and text, then drawn by either renderer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["Figure", "daily_spend_figure", "render_png", "render_svg", "write_chart"]

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
_LEFT, _RIGHT, _TOP, _BOTTOM, _PLOT_H = 80, 190, 50, 50, 300


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    color: str = "#cccccc"


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float
    text: str
    #: ``start``, ``middle`` or ``end``
    anchor: str = "start"
    size: int = 12
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Figure:
    """Shapes on a ``width`` x ``height`` canvas (y grows downwards)."""

    width: int
    height: int
    shapes: tuple[Rect | Line | Text, ...]


def _nice_max(value: float) -> tuple[float, float]:
    """A round axis maximum >= ``value`` and its tick step (5 ticks)."""
    if value <= 0:
        return 1.0, 0.2
    raw = value / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * magnitude
        if step * 5 >= value:
            return step * 5, step
    return value, value / 5  # pragma: no cover - the loop always returns


def _money(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4g}"


def daily_spend_figure(
    daily: Mapping[str, Mapping[str, Decimal]], *, title: str = "Daily spend by provider (USD)"
) -> Figure:
    """Stacked bars: one per day, a segment per provider (largest spender at the bottom)."""
    days = list(daily)
    totals: dict[str, Decimal] = {}
    for spend in daily.values():
        for name, v in spend.items():
            totals[name] = totals.get(name, Decimal(0)) + v
    series = sorted(totals, key=lambda n: (-totals[n], n))
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    slot = 28.0 if len(days) <= 40 else max(600.0 / max(len(days), 1), 4.0)
    plot_w = max(420.0, slot * len(days))
    width = int(_LEFT + plot_w + _RIGHT)
    height = _TOP + _PLOT_H + _BOTTOM
    base = _TOP + _PLOT_H
    peak = max((float(sum(s.values(), Decimal(0))) for s in daily.values()), default=0.0)
    top, step = _nice_max(peak)
    shapes: list[Rect | Line | Text] = [Text(width / 2, 28, title, anchor="middle", size=16, bold=True)]
    for i in range(6):
        tick = step * i
        ty = base - _PLOT_H * tick / top
        shapes.append(Line(_LEFT, ty, _LEFT + plot_w, ty))
        shapes.append(Text(_LEFT - 8, ty + 4, _money(tick), anchor="end", size=11))
    if not days:
        shapes.append(Text(_LEFT + plot_w / 2, base - _PLOT_H / 2, "no spend in this period", anchor="middle"))
    every = max(1, math.ceil(len(days) * 80 / plot_w))
    for i, day in enumerate(days):
        x = _LEFT + i * (plot_w / len(days))
        w = (plot_w / len(days)) * 0.7
        y = float(base)
        for name in series:
            spent = daily[day].get(name)
            if not spent:
                continue
            h = _PLOT_H * float(spent) / top
            y -= h
            shapes.append(Rect(x + w * 0.2, y, w, h, colors[name], f"{day} {name}: ${spent}"))
        if i % every == 0:
            shapes.append(Text(x + w * 0.7, base + 18, day, anchor="middle", size=10))
    shapes.append(Line(_LEFT, base, _LEFT + plot_w, base, "#333333"))
    lx = _LEFT + plot_w + 20
    for i, name in enumerate(series):
        ly = _TOP + 10 + i * 22
        shapes.append(Rect(lx, ly, 12, 12, colors[name], name))
        shapes.append(Text(lx + 18, ly + 11, f"{name} ({_money(float(totals[name]))})", size=11))
    return Figure(width, height, tuple(shapes))


def render_svg(fig: Figure) -> str:
    """The figure as a standalone SVG document."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{fig.width}" height="{fig.height}"'
        f' viewBox="0 0 {fig.width} {fig.height}" font-family="sans-serif">',
        f'<rect width="{fig.width}" height="{fig.height}" fill="#ffffff"/>',
    ]
    for s in fig.shapes:
        if isinstance(s, Rect):
            out.append(
                f'<rect x="{s.x:.1f}" y="{s.y:.1f}" width="{s.w:.1f}" height="{s.h:.1f}" fill="{s.color}">'
                f"<title>{escape(s.title)}</title></rect>"
            )
        elif isinstance(s, Line):
            out.append(f'<line x1="{s.x1:.1f}" y1="{s.y1:.1f}" x2="{s.x2:.1f}" y2="{s.y2:.1f}" stroke="{s.color}"/>')
        else:
            weight = ' font-weight="bold"' if s.bold else ""
            out.append(
                f'<text x="{s.x:.1f}" y="{s.y:.1f}" font-size="{s.size}" text-anchor="{s.anchor}"{weight}>'
                f"{escape(s.text)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_png(fig: Figure, path: Path) -> None:
    """Draw the figure into a PNG file with Pillow (``pip install pillow``)."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:
        raise ImportError("PNG charts need Pillow: pip install 'polyroute[charts]' (or write an .svg)") from exc
    img = Image.new("RGB", (fig.width, fig.height), "white")
    draw = ImageDraw.Draw(img)
    fonts: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
    for s in fig.shapes:
        if isinstance(s, Rect):
            draw.rectangle((s.x, s.y, s.x + s.w, s.y + s.h), fill=s.color)
        elif isinstance(s, Line):
            draw.line((s.x1, s.y1, s.x2, s.y2), fill=s.color)
        else:
            font = fonts.get(s.size)
            if font is None:
                font = fonts[s.size] = ImageFont.load_default(size=s.size)
            anchor = {"start": "ls", "middle": "ms", "end": "rs"}[s.anchor]
            draw.text((s.x, s.y), s.text, fill="black", font=font, anchor=anchor)
    img.save(path, format="PNG")


def write_chart(daily: Mapping[str, Mapping[str, Decimal]], path: str | Path) -> Path:
    """Write the daily-spend chart to ``path``: ``.svg`` or ``.png`` by its suffix."""
    path = Path(path)
    fig = daily_spend_figure(daily)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(render_svg(fig), encoding="utf-8")
    elif suffix == ".png":
        render_png(fig, path)
    else:
        raise ValueError(f"a chart is written as .svg or .png, not {suffix or 'a file without a suffix'!r}")
    return path
