"""Case cards in the admins' room follow the case, name people and rooms, and are retried
after the platform's own wait when refused."""

from __future__ import annotations

from datetime import timedelta

from tests.support.chat import Chat
from tests.support.polling import wait_for
from tests.unit.chat.test_commands import report


def card(chat: Chat) -> str:
    assert chat.t.cards
    return list(chat.t.cards.values())[-1].text


def test_the_card_follows_every_change_of_the_case(chat: Chat) -> None:
    case_id = report(chat)
    assert len(chat.t.cards) == 1 and "Not taken yet" in card(chat)
    chat.coc("ana", f"take {case_id}")
    assert "Taken by ana" in card(chat)
    chat.sandbox.fail_next("send_dm", "refused", retryable=False)
    chat.coc("ana", f"step {case_id} warn --reason again")
    assert "warn: failed" in card(chat)
    chat.coc("ana", f"retry {case_id} 1")  # a step update (StepUpdated) shows too
    assert "warn: done" in card(chat)
    chat.coc("ana", f"resolve {case_id} steps-taken")
    assert "resolved" in card(chat)
    assert len(chat.t.cards) == 1  # edited in place, never posted twice


def test_the_card_names_the_person_and_the_room(chat: Chat) -> None:
    chat.t.names["sam"] = "Sam Doe"
    chat.t.channels["general"] = "#general"
    report(chat)
    text = card(chat)
    assert "About Sam Doe in #general" in text
    assert "riley" not in text  # a card never names a reporter


def test_a_refused_card_is_tried_again_after_the_platforms_wait(chat: Chat) -> None:
    chat.desk.start()
    try:
        chat.t.fail_next("card", "rate limited", retry_after=timedelta(milliseconds=50))
        report(chat)
        assert not chat.t.cards  # not claimed as posted
        wait_for(lambda: chat.t.cards, "the card after the platform's wait", timeout=10)
    finally:
        chat.desk.stop()


def test_the_desk_says_in_the_admins_room_that_it_listens(chat: Chat) -> None:
    chat.desk.listening()
    [told] = [c.text for c in chat.sandbox.calls if c.method == "notify_admins"]
    assert told and "!coc help" in told
