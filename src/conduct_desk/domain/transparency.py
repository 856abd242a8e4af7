"""The transparency report: what the desk did in a period, in figures anyone may read.

No one can be recognised from it: every count from 1 to ``threshold - 1`` is left out
("fewer than 5"), and where a group shows its total, a second cell is left out whenever one
alone would be (else the total minus the others gives it back). Times (median, 90th
percentile) are given only over at least ``threshold`` cases. Pure: figures in, report out.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import InvalidInput

DEFAULT_THRESHOLD = 5

_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_YEAR = re.compile(r"(\d{4})")


@dataclass(frozen=True)
class Period:
    label: str  # "2026-Q4", "2026-11", "2026"
    start: datetime  # included
    end: datetime  # excluded

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026-Q4``, ``2026-11`` or ``2026`` (UTC)."""
        value = text.strip().upper()
        if m := _QUARTER.fullmatch(value):
            year, q = int(m[1]), int(m[2])
            start = datetime(year, 3 * q - 2, 1, tzinfo=UTC)
            end = _month_after(year, 3 * q)
        elif (m := _MONTH.fullmatch(value)) and 1 <= int(m[2]) <= 12:
            year, month = int(m[1]), int(m[2])
            start, end = datetime(year, month, 1, tzinfo=UTC), _month_after(year, month)
        elif (m := _YEAR.fullmatch(value)) and int(m[1]) >= 1970:
            year = int(m[1])
            start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        else:
            raise InvalidInput(f"{text!r} is not a period: write a quarter (2026-Q4), a month "
                               "(2026-11) or a year (2026)", field="period")
        if not 1970 <= start.year <= 9998:
            raise InvalidInput(f"{text!r} is out of range: pick a year from 1970", field="period")
        return cls(value, start, end)


def _month_after(year: int, month: int) -> datetime:
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Figures:
    """The raw figures of a period, as storage counts them."""

    reports: int = 0
    cases_opened: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)  # cases resolved, by outcome
    steps: Mapping[str, int] = field(default_factory=dict)  # steps taken, by rung
    to_take: Sequence[float] = ()  # seconds from report to taken, cases taken in the period
    to_first_step: Sequence[float] = ()  # seconds from report to first step
    appeals: Mapping[str, int] = field(default_factory=dict)  # appeals made, by how they ended
    missed_take: int = 0  # cases opened in the period not taken by their deadline
    missed_first_step: int = 0  # ...with no first step by its deadline


Cell = int | None  # None: left out, fewer than the threshold


@dataclass(frozen=True)
class Group:
    """Counts by kind, with their total: at most one cell is never the only one left out."""

    total: Cell
    cells: tuple[tuple[str, Cell], ...]


@dataclass(frozen=True)
class Times:
    cases: Cell
    p50: float | None  # seconds; None when fewer than the threshold
    p90: float | None


@dataclass(frozen=True)
class Report:
    period: Period
    threshold: int
    made_at: datetime
    reports: Cell
    cases_opened: Cell
    outcomes: Group
    steps: Group
    appeals: Group
    to_take: Times
    to_first_step: Times
    missed_take: Cell
    missed_first_step: Cell
    checkpoint: Mapping[str, Any] | None = None  # the audit log's latest signed checkpoint

    def cells(self) -> list[Cell]:
        """Every count the report publishes (for checking it leaves out what it should)."""
        out: list[Cell] = [self.reports, self.cases_opened, self.missed_take,
                           self.missed_first_step, self.to_take.cases, self.to_first_step.cases]
        for g in (self.outcomes, self.steps, self.appeals):
            out.append(g.total)
            out.extend(v for _, v in g.cells)
        return out


def publishable(value: int, threshold: int) -> Cell:
    return value if value == 0 or value >= threshold else None


def group(counts: Mapping[str, int], threshold: int) -> Group:
    total = sum(counts.values())
    if publishable(total, threshold) is None:  # too few in all: nothing of it is shown
        return Group(None, tuple((k, None if v else 0) for k, v in counts.items()))
    cells = {k: publishable(v, threshold) for k, v in counts.items()}
    hidden = [k for k, v in cells.items() if v is None]
    if len(hidden) == 1:  # the total would give it back: leave out the smallest other too
        shown = sorted((v, k) for k, v in cells.items() if v)
        if shown:
            cells[shown[0][1]] = None
    return Group(total, tuple(cells.items()))


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (a value that happened, not an interpolation)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def times(values: Sequence[float], threshold: int) -> Times:
    n = len(values)
    if n == 0 or n < threshold:
        return Times(publishable(n, threshold), None, None)
    return Times(n, percentile(values, 0.5), percentile(values, 0.9))


def publish(figures: Figures, period: Period, threshold: int, made_at: datetime,
            checkpoint: Mapping[str, Any] | None = None, *, rungs: Sequence[str] = (),
            outcomes: Sequence[str] = ()) -> Report:
    """The report of ``figures``; every rung and outcome named gets a row, 0 when none."""
    if threshold < 2:
        raise InvalidInput("the threshold must be at least 2", field="threshold")
    return Report(
        period=period, threshold=threshold, made_at=made_at,
        reports=publishable(figures.reports, threshold),
        cases_opened=publishable(figures.cases_opened, threshold),
        outcomes=group({**dict.fromkeys(outcomes, 0), **figures.outcomes}, threshold),
        steps=group({**dict.fromkeys(rungs, 0), **figures.steps}, threshold),
        appeals=group(figures.appeals, threshold),
        to_take=times(figures.to_take, threshold),
        to_first_step=times(figures.to_first_step, threshold),
        missed_take=publishable(figures.missed_take, threshold),
        missed_first_step=publishable(figures.missed_first_step, threshold),
        checkpoint=checkpoint,
    )


# -- words -------------------------------------------------------------------------------------


def cell_text(value: Cell, threshold: int) -> str:
    return f"fewer than {threshold}" if value is None else f"{value:,}"


def time_text(seconds: float | None, threshold: int) -> str:
    if seconds is None:
        return f"not given (fewer than {threshold} cases)"
    return humanize_span(timedelta(minutes=max(1, round(seconds / 60))))


def rows(report: Report) -> list[tuple[str, list[tuple[str, str]]]]:
    """The report as sections of (label, value) rows: one wording for every format."""
    k = report.threshold

    def c(v: Cell) -> str:
        return cell_text(v, k)

    def g(title: str, grp: Group) -> tuple[str, list[tuple[str, str]]]:
        return title, [("total", c(grp.total))] + [(name, c(v)) for name, v in grp.cells]

    def t(title: str, tm: Times) -> tuple[str, list[tuple[str, str]]]:
        return title, [("cases", c(tm.cases)), ("median", time_text(tm.p50, k)),
                       ("90th percentile", time_text(tm.p90, k))]

    return [
        ("Reports and cases", [("reports received", c(report.reports)),
                               ("cases opened", c(report.cases_opened))]),
        g("Cases resolved, by outcome", report.outcomes),
        g("Steps taken, by rung", report.steps),
        t("Time from the report until an admin took the case", report.to_take),
        t("Time from the report until the first step", report.to_first_step),
        g("Appeals, by how they ended", report.appeals),
        ("Deadlines missed", [("not taken in time", c(report.missed_take)),
                              ("no first step in time", c(report.missed_first_step))]),
    ]


def as_dict(report: Report) -> dict[str, Any]:
    def grp(g: Group) -> dict[str, Any]:
        return {"total": g.total, "by": dict(g.cells)}

    def tm(x: Times) -> dict[str, Any]:
        return {"cases": x.cases, "p50_seconds": x.p50, "p90_seconds": x.p90}

    return {
        "period": report.period.label, "from": report.period.start.isoformat(),
        "until": report.period.end.isoformat(), "made_at": report.made_at.isoformat(),
        "suppressed_below": report.threshold,
        "note": (f"null means fewer than {report.threshold} (left out so that nobody can be "
                 "recognised); a second figure is left out where a total would give one back"),
        "reports": report.reports, "cases_opened": report.cases_opened,
        "outcomes": grp(report.outcomes), "steps": grp(report.steps),
        "appeals": grp(report.appeals),
        "time_to_take": tm(report.to_take), "time_to_first_step": tm(report.to_first_step),
        "deadlines_missed": {"take": report.missed_take, "first_step": report.missed_first_step},
        "checkpoint": dict(report.checkpoint) if report.checkpoint else None,
    }


def as_json(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False)


def intro(report: Report) -> str:
    p = report.period
    return (f"From {p.start:%d %B %Y} to {(p.end - timedelta(days=1)):%d %B %Y} (UTC). "
            f"Figures under {report.threshold} are left out, so that nobody can be "
            "recognised; so is a second figure where a total would give one back.")


def checkpoint_text(report: Report) -> str:
    cp = report.checkpoint
    if not cp:
        return "No checkpoint of the audit log is published yet."
    signed = "signed" if cp.get("signature") else "not signed (no key set)"
    return f"Latest checkpoint: {cp.get('size')} entries, root {cp.get('root')}, {signed}."


def as_html(report: Report, community: str) -> str:
    """A standalone page (the web desk's own page is its template)."""
    e = html.escape
    title = f"Transparency report: {community}, {report.period.label}"
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(title)}</title></head><body>", f"<h1>{e(title)}</h1>",
           f"<p>{e(intro(report))}</p>"]
    for section, section_rows in rows(report):
        out.append(f"<table><caption>{e(section)}</caption><tbody>")
        out += [f'<tr><th scope="row">{e(label)}</th><td>{e(value)}</td></tr>'
                for label, value in section_rows]
        out.append("</tbody></table>")
    out += [f"<h2>The audit log</h2><p>{e(checkpoint_text(report))}</p>",
            f"<p>Made {report.made_at:%d %B %Y, %H:%M} UTC.</p></body></html>"]
    return "\n".join(out) + "\n"


def as_markdown(report: Report, community: str) -> str:
    p = report.period
    lines = [f"# Transparency report: {community}, {p.label}", "", intro(report), ""]
    for title, section in rows(report):
        lines += [f"## {title}", "", "| | |", "|---|---|"]
        lines += [f"| {label} | {value} |" for label, value in section]
        lines.append("")
    lines += ["## The audit log", "", checkpoint_text(report), "",
              f"Made {report.made_at:%d %B %Y, %H:%M} UTC."]
    return "\n".join(lines) + "\n"
