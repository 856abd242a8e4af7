"""Server-rendered SVG charts for the stats page: no JavaScript, readable by screen readers
(each chart has a title and a description listing its figures)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 220, 36
BINS: list[tuple[str, timedelta]] = [
    ("under 15 min", timedelta(minutes=15)),
    ("15–60 min", timedelta(hours=1)),
    ("1–2 h", timedelta(hours=2)),
    ("2–6 h", timedelta(hours=6)),
    ("6–24 h", timedelta(days=1)),
    ("over a day", timedelta.max),
]
_ids = itertools.count(1)


def distribution(spans: Sequence[timedelta]) -> list[tuple[str, int]]:
    counts = dict.fromkeys((label for label, _ in BINS), 0)
    for s in spans:
        label = next(label for label, upper in BINS if s < upper)
        counts[label] += 1
    return list(counts.items())


def bar_chart(title: str, data: Sequence[tuple[str, int]], unit: str = "cases") -> Markup:
    uid = next(_ids)
    top = max((v for _, v in data), default=0) or 1
    n = max(len(data), 1)
    slot = (WIDTH - 2 * PAD) / n
    parts = []
    for i, (label, value) in enumerate(data):
        h = (HEIGHT - 2 * PAD) * value / top
        x = PAD + i * slot + slot * 0.15
        y = HEIGHT - PAD - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{escape(label)}: {value}</title></rect>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" class="value">{value}</text>'
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - PAD + 16}" class="label">'
            f'{escape(label)}</text>')
    return _svg(uid, title, data, unit, "".join(parts))


def line_chart(title: str, data: Sequence[tuple[str, int]], unit: str = "open cases") -> Markup:
    uid = next(_ids)
    top = max((v for _, v in data), default=0) or 1
    n = max(len(data) - 1, 1)
    points = [(PAD + i * (WIDTH - 2 * PAD) / n, HEIGHT - PAD - (HEIGHT - 2 * PAD) * v / top)
              for i, (_, v) in enumerate(data)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    labels = ""
    if data:
        for i in sorted({0, len(data) // 2, len(data) - 1}):
            labels += (f'<text x="{points[i][0]:.1f}" y="{HEIGHT - PAD + 16}" class="label">'
                       f'{escape(data[i][0])}</text>')
    body = (f'<polyline points="{path}" class="line" fill="none"/>'
            f'<text x="{PAD - 6}" y="{PAD}" class="axis">{top}</text>'
            f'<text x="{PAD - 6}" y="{HEIGHT - PAD}" class="axis">0</text>{labels}')
    return _svg(uid, title, data, unit, body)


def _svg(uid: int, title: str, data: Sequence[tuple[str, int]], unit: str, body: str) -> Markup:
    desc = "; ".join(f"{label}: {value}" for label, value in data) or "no data yet"
    axis = (f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
            'class="axisline"/>')
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart{uid}t chart{uid}d" '
        f'class="chart"><title id="chart{uid}t">{escape(title)}</title>'
        f'<desc id="chart{uid}d">{escape(unit)} — {escape(desc)}</desc>{axis}{body}</svg>')
