"""Charts drawn on the server as SVG: no script, nothing from the internet, readable in print.

The chart is an image with a title and description for screen readers; the page shows the same
numbers as a table beside it, so nothing is only in the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44
MAX_X_LABELS = 8
MAX_BAR_WIDTH = 40.0


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


def fill_days(
    counts: list[tuple[date, int]], *, start: date | None = None, end: date | None = None
) -> list[tuple[date, int]]:
    """Every day from `start` (or the first counted) to `end` (or the last counted), days
    without applications as zero; nothing when nothing was counted."""
    if not counts:
        return []
    by_day = dict(counts)
    first = min(min(by_day), start) if start else min(by_day)
    last = max(max(by_day), end) if end else max(by_day)
    return [
        (first + timedelta(days=n), by_day.get(first + timedelta(days=n), 0))
        for n in range((last - first).days + 1)
    ]


def nice_ceiling(value: int) -> tuple[int, int]:
    """(top of the axis, step between grid lines): a step of 1, 2 or 5 × 10ⁿ, at most 5 steps."""
    if value <= 0:
        return 1, 1
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if value <= step * 5:
                top = -(-value // step) * step
                return top, step
        magnitude *= 10


def layout(days: list[tuple[date, int]]) -> tuple[list[Bar], int, int]:
    top, step = nice_ceiling(max((n for _, n in days), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bars = []
    for i, (day, count) in enumerate(days):
        height = plot_h * count / top
        width = min(max(slot * 0.8, 1.0), MAX_BAR_WIDTH)
        bars.append(
            Bar(
                day=day,
                count=count,
                x=LEFT + i * slot + (slot - width) / 2,
                y=TOP + plot_h - height,
                width=width,
                height=height,
            )
        )
    return bars, top, step


def daily_bars(days: list[tuple[date, int]], *, title: str, description: str, unit: str) -> Markup:
    """A bar per day; `unit` labels a count in tooltips ("件", "applications")."""
    bars, top, step = layout(days)
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(description)}</desc>',
    ]
    for value in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * value / top
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" class="axis">{value:,}</text>'
        )
    every = max(1, -(-len(bars) // MAX_X_LABELS))
    for i, bar in enumerate(bars):
        label = f"{bar.day:%m/%d}: {bar.count:,} {unit}"
        parts.append(
            f'<rect x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.width:.1f}" '
            f'height="{bar.height:.1f}" class="bar"><title>{escape(label)}</title></rect>'
        )
        if i % every == 0 or i == len(bars) - 1:
            parts.append(
                f'<text x="{bar.x + bar.width / 2:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="middle" class="axis">{bar.day:%m/%d}</text>'
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
        'class="baseline"/></svg>'
    )
    return Markup("".join(parts))
