"""The peer step on Discord: the private word to the author, without the reporter's name; an
edit, a deletion or an apology answers it; otherwise a case for the admins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.support.discord_harness import REPORTER, SAID, SUBJECT, TALK, Harness, harness
from tests.support.fake_discord import INTENT_MESSAGE_CONTENT

from conduct_desk.bootstrap import App
from conduct_desk.domain.nudges import NudgeState
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def _nudge(h: Harness, **kwargs: Any) -> str:
    answer = h.report(nudge=True, **kwargs)
    h.fake.wait_for(lambda: h.dm_texts(SUBJECT) or None, 15, "the private word")
    return answer


def test_the_private_word_reaches_the_author_without_the_reporters_name(h: Harness) -> None:
    answer = _nudge(h, note="rae here, it stung")
    assert "privately" in answer
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(PersonRef("discord", SUBJECT)) == []
        (nudge,) = uow.nudges.waiting_for(PersonRef("discord", SUBJECT), TALK, h.target.id)
    assert nudge.state is NudgeState.WAITING
    (word,) = h.dm_texts(SUBJECT)
    assert SAID in word
    assert REPORTER not in word and "rae" not in word.lower() and "stung" not in word


def test_an_edit_answers_the_private_word(h: Harness) -> None:
    _nudge(h)
    h.fake.edit_message(h.target.id, "sorry, rephrased")
    h.fake.wait_for(lambda: len(h.dm_texts(SUBJECT)) >= 2 or None, 15, "the thanks")
    assert "that's all that was needed" in h.dm_texts(SUBJECT)[-1]
    h.fake.wait_for(lambda: h.dm_texts(REPORTER) or None, 15, "word to the reporter")
    assert "edited" in h.dm_texts(REPORTER)[-1]
    with h.app.uow() as uow:
        assert uow.nudges.waiting_for(PersonRef("discord", SUBJECT), TALK, h.target.id) == []
    h.run_timers(timedelta(days=2))
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(PersonRef("discord", SUBJECT)) == []


def test_a_deletion_answers_the_private_word(h: Harness) -> None:
    _nudge(h)
    h.fake.delete_message(h.target.id)
    h.fake.wait_for(lambda: len(h.dm_texts(SUBJECT)) >= 2 or None, 15, "the thanks")
    h.fake.wait_for(lambda: h.dm_texts(REPORTER) or None, 15, "word to the reporter")
    assert "removed" in h.dm_texts(REPORTER)[-1]
    with h.app.uow() as uow:
        assert uow.nudges.waiting_for(PersonRef("discord", SUBJECT), TALK, h.target.id) == []


def test_no_answer_in_time_opens_a_case_for_the_admins(h: Harness) -> None:
    _nudge(h)
    h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))
    case = h.case(h.latest_case_id())
    assert case.reports[0].note and "private word" in case.reports[0].note
    assert f"Case {case.id}" in h.card_text(case.id)


def test_with_message_content_an_apology_reaches_the_reporter_who_may_say_enough(
    app: App, clock: FakeClock
) -> None:
    with harness(app, clock, message_content=True) as h:
        assert h.fake.identifies[0]["intents"] & INTENT_MESSAGE_CONTENT
        _nudge(h)
        before = len(h.fake.calls_to("POST /channels/{channel_id}/messages"))
        h.fake.send_message(TALK, SUBJECT, "I'm sorry, that was out of line")
        h.fake.wait_for_calls("POST /channels/{channel_id}/messages", before + 1)
        assert "out of line" in h.dm_texts(REPORTER)[-1]
        assert "leave it there" in h.dm_desk(REPORTER, "enough")
        h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))
        with h.app.uow() as uow:
            assert uow.cases.case_ids_for(PersonRef("discord", SUBJECT)) == []
