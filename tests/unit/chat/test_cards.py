"""Case cards in the admins' room follow the case, name people and rooms, and are retried
after the platform's own wait when refused."""

from __future__ import annotations

from datetime import timedelta

from tests.support.chat import Chat
from tests.unit.chat.test_commands import report

from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock


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


def run_timers(chat: Chat) -> None:
    chat.app.bus.handle(commands.RunDueTimers(worker="test"))


def test_a_refused_card_is_drawn_again_after_the_platforms_wait(chat: Chat,
                                                               clock: FakeClock) -> None:
    chat.t.fail_next("card", "rate limited", retry_after=timedelta(seconds=3))
    case_id = report(chat)
    assert not chat.t.cards  # not claimed as posted
    run_timers(chat)
    assert not chat.t.cards  # not before the platform's wait
    clock.advance(timedelta(seconds=3))
    run_timers(chat)
    assert len(chat.t.cards) == 1 and f"Case {case_id}" in card(chat)


def test_a_held_back_answer_comes_later_and_a_lost_one_shows(chat: Chat, clock: FakeClock) -> None:
    chat.t.fail_next("answer", "rate limited", retry_after=timedelta(seconds=2))
    chat.coc("ana", "list")
    assert chat.t.answers() == []
    clock.advance(timedelta(seconds=2))
    run_timers(chat)
    [answered] = chat.t.answers()
    assert answered == "No open cases."


def test_the_admin_is_told_the_truth_about_the_reporters_outcome(chat: Chat,
                                                               clock: FakeClock) -> None:
    chat.t.names["riley"] = "Riley"
    case_id = report(chat)
    chat.coc("ana", f"step {case_id} remind")
    chat.sandbox.rate_limit_next("send_dm", timedelta(seconds=3))
    answer = chat.coc("ana", f"resolve {case_id} steps-taken")
    assert "Riley will be told when Sandbox lets us" in answer, answer
    assert "sandbox:riley" not in answer
    clock.advance(timedelta(seconds=3))
    run_timers(chat)
    assert any("An update on your report" in (c.text or "")
               for c in chat.sandbox.to(PersonRef("sandbox", "riley")))


def test_the_desk_says_in_the_admins_room_that_it_listens(chat: Chat) -> None:
    chat.desk.listening()
    [told] = [c.text for c in chat.sandbox.calls if c.method == "notify_admins"]
    assert told and "!coc help" in told


def test_a_step_held_back_again_and_again_redraws_its_card_once(chat: Chat,
                                                                clock: FakeClock) -> None:
    """Each try of a held-back step says another wait ("trying again after 2.5s", then 4s):
    the card shows it failed and is not drawn again for each try — under a rate limit, every
    edit would spend a message the step itself is waiting for."""
    case_id = report(chat)
    chat.coc("ana", f"take {case_id}")
    waits = (2.5, 4, 7.25)
    for n, wait in enumerate(waits):
        chat.sandbox.fail_next("send_dm", f"the platform answered 429; trying again after "
                                          f"{wait:g}s", retry_after=timedelta(seconds=wait))
        if n == 0:
            chat.coc("ana", f"step {case_id} warn --reason aimed at one person")
            drawn = [s.text for s in chat.t.said if s.kind == "card"]
            assert "warn: failed" in drawn[-1] and "trying again after" not in drawn[-1]
        else:
            run_timers(chat)
        clock.advance(timedelta(seconds=wait))
    assert [s.text for s in chat.t.said if s.kind == "card"] == drawn  # not drawn again
    run_timers(chat)  # Sandbox lets it through: the card shows it done
    assert "warn: done" in card(chat)
    assert len([s for s in chat.t.said if s.kind == "card"]) == len(drawn) + 1
