"""The transparency report leaves out what could recognise someone: a property over
generated figures, and the periods it reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.transparency import Figures, Period, as_dict, publish

counts = st.dictionaries(st.sampled_from(["remind", "warn", "suspend", "ban", "a", "b"]),
                         st.integers(0, 40), max_size=6)
spans = st.lists(st.floats(0, 1e6, allow_nan=False), max_size=15)
figures = st.builds(Figures, reports=st.integers(0, 30), cases_opened=st.integers(0, 30),
                    outcomes=counts, steps=counts, appeals=counts, to_take=spans,
                    to_first_step=spans, missed_take=st.integers(0, 30),
                    missed_first_step=st.integers(0, 30))
Q4 = Period.parse("2026-Q4")
NOW = datetime(2026, 12, 2, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(figures, st.integers(2, 12))
def test_no_published_count_is_below_the_threshold_nor_derivable(f: Figures, k: int) -> None:
    report = publish(f, Q4, k, NOW)
    for value in report.cells():
        assert value is None or value == 0 or value >= k
    for grp in (report.outcomes, report.steps, report.appeals):
        hidden = [name for name, v in grp.cells if v is None]
        if grp.total is not None:
            # with the total shown, one cell left out alone would be the total minus the rest
            assert len(hidden) != 1, grp
        else:
            assert all(v in (None, 0) for _, v in grp.cells), grp
    for times in (report.to_take, report.to_first_step):
        if times.cases is None or times.cases < k:
            assert times.p50 is None and times.p90 is None
    # the JSON says the same: every number in it is 0, at least k, or a time
    body = as_dict(report)
    for key in ("reports", "cases_opened"):
        assert body[key] is None or body[key] == 0 or body[key] >= k


def test_figures_at_or_above_the_threshold_are_given_as_they_are() -> None:
    f = Figures(reports=12, cases_opened=9, steps={"warn": 6, "ban": 5},
                to_take=[60.0 * m for m in range(1, 11)])
    report = publish(f, Q4, 5, NOW, rungs=["remind", "warn", "ban"])
    assert (report.reports, report.cases_opened) == (12, 9)
    assert report.steps.cells == (("remind", 0), ("warn", 6), ("ban", 5))
    assert report.steps.total == 11
    assert (report.to_take.p50, report.to_take.p90) == (300.0, 540.0)


def test_one_small_cell_takes_the_smallest_other_with_it() -> None:
    report = publish(Figures(steps={"warn": 3, "remind": 9, "ban": 20}), Q4, 5, NOW)
    assert dict(report.steps.cells) == {"warn": None, "remind": None, "ban": 20}
    assert report.steps.total == 32


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2026-Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ("2026-q1", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),
    ("2026-11", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ("2026", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
])
def test_periods(text: str, start: datetime, end: datetime) -> None:
    p = Period.parse(text)
    assert (p.start, p.end) == (start, end)


@pytest.mark.parametrize("text", ["2026-Q5", "2026-13", "Q4", "last quarter", "", "0001"])
def test_a_period_that_is_not_one_says_what_to_write(text: str) -> None:
    with pytest.raises(InvalidInput, match="2026-Q4"):
        Period.parse(text)
