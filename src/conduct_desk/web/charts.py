"""Server-rendered SVG charts for the stats page: no JavaScript.

Readable at every width: the drawing is narrow (its text is at least 12 px wide on a 390 px
phone, where the chart fills the column) and bars run sideways, so a label never collides with
the next one. Each chart comes with a table of its figures, for screen readers (the drawing is
hidden from them: one reading, not two)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from markupsafe import Markup, escape

WIDTH = 340  # viewBox units; the smallest column the chart fills is about this many px
FONT = 14  # viewBox units: ≥ 12 px wherever the chart is drawn 292 px wide or more
ROW = 26
LABEL = 118  # room for the longest label ("under 15 min", "suspend") at FONT
LINE_HEIGHT, PAD = 170, 30
BINS: list[tuple[str, timedelta]] = [
    ("under 15 min", timedelta(minutes=15)),
    ("15–60 min", timedelta(hours=1)),
    ("1–2 h", timedelta(hours=2)),
    ("2–6 h", timedelta(hours=6)),
    ("6–24 h", timedelta(days=1)),
    ("over a day", timedelta.max),
]


def distribution(spans: Sequence[timedelta]) -> list[tuple[str, int]]:
    counts = dict.fromkeys((label for label, _ in BINS), 0)
    for s in spans:
        label = next(label for label, upper in BINS if s < upper)
        counts[label] += 1
    return list(counts.items())


def bar_chart(title: str, data: Sequence[tuple[str, int]], unit: str = "cases") -> Markup:
    """One row per label: the label, a bar as long as its share of the largest, the value."""
    top = max((v for _, v in data), default=0) or 1
    room = WIDTH - LABEL - 40  # the longest bar leaves room for its value
    parts = []
    for i, (label, value) in enumerate(data):
        y = 6 + i * ROW
        w = room * value / top
        parts.append(
            f'<text x="{LABEL - 6}" y="{y + FONT + 1}" class="label">{escape(label)}</text>'
            f'<rect x="{LABEL}" y="{y + 2}" width="{w:.1f}" height="{ROW - 8}" class="bar"/>'
            f'<text x="{LABEL + w + 4:.1f}" y="{y + FONT + 1}" class="value">{value}</text>')
    height = 12 + max(len(data), 1) * ROW
    return _chart(title, data, unit, height, "".join(parts), ("", unit))


def line_chart(title: str, data: Sequence[tuple[str, int]], unit: str = "open cases") -> Markup:
    """A line over the days; the first, middle and last day named under it."""
    top = max((v for _, v in data), default=0) or 1
    n = max(len(data) - 1, 1)
    left, bottom = PAD + 6, LINE_HEIGHT - PAD
    points = [(left + i * (WIDTH - left - 12) / n, bottom - (bottom - 12) * v / top)
              for i, (_, v) in enumerate(data)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    labels = ""
    if data:
        for i, anchor in zip(sorted({0, len(data) // 2, len(data) - 1}), ("start", "middle", "end"),
                             strict=False):
            labels += (f'<text x="{points[i][0]:.1f}" y="{bottom + FONT + 6}" class="day" '
                       f'text-anchor="{anchor}">{escape(data[i][0])}</text>')
    body = (f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - 6}" y2="{bottom}" class="axisline"/>'
            f'<polyline points="{path}" class="line" fill="none"/>'
            f'<text x="{left - 6}" y="{12 + FONT / 2}" class="axis">{top}</text>'
            f'<text x="{left - 6}" y="{bottom}" class="axis">0</text>{labels}')
    return _chart(title, data, unit, LINE_HEIGHT, body, ("day", unit))


def _chart(title: str, data: Sequence[tuple[str, int]], unit: str, height: int, body: str,
           heads: tuple[str, str]) -> Markup:
    rows = "".join(f"<tr><th scope=\"row\">{escape(label)}</th><td>{value}</td></tr>"
                   for label, value in data) or '<tr><td colspan="2">no data yet</td></tr>'
    return Markup(
        f'<figure class="chart"><svg viewBox="0 0 {WIDTH} {height}" aria-hidden="true" '
        f'focusable="false" font-size="{FONT}">{body}</svg>'
        f'<table class="visually-hidden"><caption>{escape(title)}</caption>'
        f'<thead><tr><th scope="col">{escape(heads[0])}</th><th scope="col">{escape(heads[1])}'
        f'</th></tr></thead><tbody>{rows}</tbody></table></figure>')
