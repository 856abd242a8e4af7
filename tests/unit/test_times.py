"""Times as people read them: a page's time in the reader's zone with UTC on hover, and a
text's time in UTC with how far off it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conduct_desk.service.texts import format_when
from conduct_desk.web.filters import local_time, time_element

AT = datetime(2026, 12, 3, 9, 5, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "shown"), [
    ("UTC", "2026-12-03 09:05 UTC"),
    ("Europe/Paris", "2026-12-03 10:05 CET"),
    ("America/Sao_Paulo", "2026-12-03 06:05 UTC-03"),
    ("Asia/Kathmandu", "2026-12-03 14:50 UTC+05:45"),
    ("Pacific/Kiritimati", "2026-12-03 23:05 UTC+14"),
    ("America/Los_Angeles", "2026-12-03 01:05 PST"),
])
def test_a_page_shows_the_readers_zone_and_utc_on_hover(zone: str, shown: str) -> None:
    assert local_time(AT, zone) == shown
    assert str(time_element(AT, zone)) == (
        f'<time datetime="2026-12-03T09:05:00+00:00" title="2026-12-03 09:05 UTC">{shown}</time>')


@pytest.mark.parametrize(("ahead", "phrase"), [
    (timedelta(hours=24), " (in 24 hours)"),
    (timedelta(hours=23, minutes=59, seconds=50), " (in 24 hours)"),
    (timedelta(hours=12), " (in 12 hours)"),
    (timedelta(days=3), " (in 3 days)"),
    (timedelta(seconds=20), ""),  # less than a minute: no "in 0 minutes"
    (timedelta(hours=-1), ""),  # already past: no promise about it
])
def test_a_text_gives_utc_and_how_far_off(ahead: timedelta, phrase: str) -> None:
    assert format_when(AT, AT - ahead) == "Thursday 3 December 2026, 09:05 UTC" + phrase
    assert format_when(AT) == "Thursday 3 December 2026, 09:05 UTC"


def test_the_hour_keeps_its_zero() -> None:
    """The day loses its leading zero, the hour never does (it did on the 10th to the 31st)."""
    assert format_when(datetime(2026, 11, 25, 9, tzinfo=UTC)) == "Wednesday 25 November 2026, 09:00 UTC"
    assert format_when(datetime(2026, 11, 5, 9, tzinfo=UTC)) == "Thursday 5 November 2026, 09:00 UTC"
