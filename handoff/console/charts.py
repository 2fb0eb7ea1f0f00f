"""Server-rendered SVG bar charts for the Analytics page: plain markup with presentation attributes only (no script,
no style), every text escaped, and each bar titled with its figure for a tooltip. The page shows the same figures
in tables beside them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 40, 40
MAX_X_LABELS = 14
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Optional[float]]  # one per label; None: nothing to show
    colour: str


def _nice_step(top: float, ticks: int = 5) -> float:
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= raw)


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], stacked: bool, unit: str = "",
              whole_numbers: bool = False) -> str:
    """Bars per label: the series stacked on one another (parts of a whole) or side by side."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    if stacked:
        heights = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    else:
        heights = [v or 0 for s in series for v in s.values]
    top = max(heights, default=0)
    step = _nice_step(top) if top > 0 else 1
    if whole_numbers:
        step = max(1.0, math.ceil(step))
    scale_top = step * max(1, math.ceil(top / step))
    y = lambda value: TOP + plot_h - plot_h * value / scale_top  # noqa: E731
    parts: List[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label={quoteattr(title)} {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    tick = 0.0
    while tick <= scale_top + 1e-9:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e3e7ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#5b6675">'
                     f"{escape(_number(tick))}{escape(unit)}</text>")
        tick += step
    slot = plot_w / max(1, len(labels))
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    for index, label in enumerate(labels):
        left = LEFT + index * slot
        if stacked:
            base = 0.0
            for s in series:
                value = s.values[index] or 0
                if value:
                    parts.append(_bar(left + slot * 0.15, slot * 0.7, y(base + value), y(base), s.colour,
                                      f"{label} {s.name}: {_number(value)}{unit}"))
                base += value
        else:
            width = slot * 0.8 / max(1, len(series))
            for number, s in enumerate(series):
                value = s.values[index]
                if value is not None:
                    parts.append(_bar(left + slot * 0.1 + number * width, width, y(value), y(0), s.colour,
                                      f"{label} {s.name}: {_number(value)}{unit}"))
        if index % every == 0:
            parts.append(f'<text x="{left + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                         f'fill="#5b6675">{escape(label)}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#8a94a6"/>')
    legend_x = LEFT
    for s in series:
        parts.append(f'<rect x="{legend_x}" y="12" width="12" height="12" fill={quoteattr(s.colour)}/>')
        parts.append(f'<text x="{legend_x + 17}" y="22" fill="#1b2330">{escape(s.name)}</text>')
        legend_x += 30 + 7 * len(s.name)
    if not labels or top == 0:
        parts.append(f'<text x="{WIDTH / 2:.0f}" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" fill="#5b6675">'
                     "nothing in this period</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(x: float, width: float, top: float, bottom: float, colour: str, tooltip: str) -> str:
    return (f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{max(0.0, bottom - top):.1f}" '
            f'fill={quoteattr(colour)}><title>{escape(tooltip)}</title></rect>')
