"""Discord intake: the message menu's modal, the report emoji, a DM, ``/coc text:report``; the
reporter's confirmation is private and asks nothing more."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.discord_harness import (
    ADMINS,
    OTHER,
    REPORTER,
    SAID,
    SUBJECT,
    TALK,
    Harness,
    harness,
)

from conduct_desk.bootstrap import App
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def test_the_report_command_opens_a_modal_where_everything_is_optional(h: Harness) -> None:
    opened = h.open_report()
    modal = opened.modal
    assert modal is not None and modal["title"] == "Report to admins"
    # the modal is the first answer, as Discord requires (no deferral before it)
    assert [r["type"] for r in opened.responses] == [9]
    for field in ("note", "harmed", "options"):
        assert h.modal_field(opened, field).get("required") is False


def test_a_report_opens_a_case_with_a_card_and_thanks_the_reporter_privately(h: Harness) -> None:
    thanks = h.report(note="this keeps happening", harmed=(OTHER,))
    case = h.case(h.latest_case_id())
    (report,) = case.reports
    assert report.channel == TALK and report.message_id == h.target.id
    assert report.message_text == SAID
    assert report.note == "this keeps happening" and not report.anonymous
    assert [p.user_id for p in report.harmed] == [OTHER]
    assert "?" not in thanks
    card = h.card_text(case.id)
    assert f"Case {case.id}" in card and SAID in card
