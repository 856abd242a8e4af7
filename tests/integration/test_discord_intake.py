"""Discord intake: the message menu's modal, the report emoji, a DM, ``/coc text:report``; the
reporter's confirmation is private and asks nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.discord_harness import (
    OTHER,
    REPORT_COMMAND,
    REPORTER,
    SAID,
    SUBJECT,
    TALK,
    Harness,
    harness,
    reactions_policy,
)

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.clock import FakeClock

REMOVE_REACTION = "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}"


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


def test_an_anonymous_report_keeps_the_reporter_off_the_card(h: Harness) -> None:
    h.report(anonymous=True)
    case = h.case(h.latest_case_id())
    assert case.reports[0].anonymous
    assert all(REPORTER not in text and "rae" not in text.lower() for text in h.admin_posts())
    assert "anonymous" in h.card_text(case.id)


def test_reporting_your_own_message_is_refused_kindly_without_a_modal(h: Harness) -> None:
    own = h.fake.send_message(TALK, REPORTER, "hello")
    opened = h.fake.message_command(REPORTER, REPORT_COMMAND, own.id)
    answer = h.answer(opened)
    assert "your own" in answer and opened.modal is None
    assert h.ephemeral(opened)


def test_the_report_emoji_files_a_report_and_is_taken_away_at_once(h: Harness) -> None:
    h.app.desk.policy = reactions_policy()  # [intake] reactions = true
    h.fake.react(h.target.id, REPORTER, "🚩")
    # the room must not see who flagged it: the bot takes the reaction away
    (removal,) = h.fake.wait_for_calls(REMOVE_REACTION)
    assert (removal.param("emoji"), removal.param("user_id")) == ("🚩", REPORTER)
    h.fake.wait_for(lambda: h.fake.message(h.target.id).reactions["🚩"] == [])
    case = h.fake.wait_for(_case_for(h), 15, "a case")
    assert case.reports[0].reporter is not None and case.reports[0].reporter.user_id == REPORTER
    assert case.reports[0].message_link and h.target.id in case.reports[0].message_link


def test_without_the_reactions_policy_the_emoji_files_nothing_and_writes_to_nobody(h: Harness) -> None:
    assert not h.app.desk.policy.reactions
    h.fake.react(h.target.id, REPORTER, "🚩")
    h.fake.react(h.target.id, REPORTER, "🎉")
    # a DM that does report, sent after: once it is answered, the reactions were handled
    h.dm_desk(OTHER, "hello?")
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(PersonRef("discord", SUBJECT)) == []
    assert h.dm_texts(REPORTER) == [] and h.dm_texts(SUBJECT) == []
    assert not [c for c in h.fake.calls if c.route == "GET /channels/{channel_id}/messages/{message_id}"]


def test_a_dm_naming_someone_files_a_report_and_a_vague_one_explains_how(h: Harness) -> None:
    assert "mention" in h.dm_desk(REPORTER, "I don't know who to tell")
    h.dm_desk(REPORTER, f"<@{SUBJECT}> keeps making jokes about my accent")
    case = h.case(h.latest_case_id())
    assert case.reports[0].note and "accent" in case.reports[0].note


def test_a_dm_with_a_message_link_reports_its_author(h: Harness) -> None:
    link = f"https://discord.com/channels/{h.fake.guild_id}/{TALK}/{h.target.id}"
    h.dm_desk(REPORTER, f"this one: {link}")
    case = h.case(h.latest_case_id())
    assert case.channel == TALK and case.message_id == h.target.id


def test_coc_report_answers_privately_and_asks_nothing_more(h: Harness) -> None:
    asked = h.slash(f"report <@{SUBJECT}> said something cruel in #talk", REPORTER, TALK)
    answer = h.answer(asked)
    assert "nothing more you need to do" in answer and "?" not in answer
    assert h.ephemeral(asked)
    case = h.case(h.latest_case_id())
    assert case.reports[0].note == "said something cruel in #talk"


def _case_for(h: Harness) -> Any:
    def probe() -> Any:
        with h.app.uow() as uow:
            ids = uow.cases.case_ids_for(PersonRef("discord", SUBJECT))
        return h.case(max(ids)) if ids else None

    return probe
