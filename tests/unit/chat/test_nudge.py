"""The private word (the peer step, by proxy) in any chat: what the author does next."""

from __future__ import annotations

from tests.support.chat import Chat

from conduct_desk.domain.people import PersonRef
from conduct_desk.service import views
from conduct_desk.service.chat.inputs import ChannelMessage, MessageDeleted, MessageEdited
from conduct_desk.service.ports import FetchedMessage

SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
LINK = "https://chat.example/general/m1"


def nudge(chat: Chat) -> None:
    chat.sandbox.messages[("general", "m1")] = FetchedMessage(
        "general", "m1", "people like you can't code", SAM, LINK)
    chat.dm("riley", "nudge sandbox://general/m1")


def test_nudge_by_direct_message_sends_a_private_word(chat: Chat) -> None:
    nudge(chat)
    [word] = [c.text or "" for c in chat.sandbox.to(SAM)]
    assert "riley" not in word and LINK in word
    assert "nothing more you need to do" in chat.t.to("riley")[-1]
    assert chat.desk.watches("general", "m1", "sam")


def test_an_edit_answers_the_nudge_and_thanks_the_author(chat: Chat) -> None:
    nudge(chat)
    chat.desk.handle(MessageEdited("sam", "general", "m1"))
    assert any("edited" in (c.text or "") for c in chat.sandbox.to(RILEY))
    assert "that's all that was needed" in chat.t.to("sam")[-1]
    assert not chat.desk.watches("general", "m1")


def test_a_removal_answers_the_nudge(chat: Chat) -> None:
    nudge(chat)
    chat.desk.handle(MessageDeleted("general", "m1"))
    assert any("removed" in (c.text or "") for c in chat.sandbox.to(RILEY))


def test_an_apology_in_the_channel_is_shown_and_the_reporter_may_say_enough(chat: Chat) -> None:
    nudge(chat)
    chat.desk.handle(ChannelMessage("sam", "general", "m2", "Sorry, that was unkind of me."))
    assert any("Sorry, that was unkind" in (c.text or "") for c in chat.sandbox.to(RILEY))
    chat.dm("riley", "enough")
    assert not chat.desk.watches("general", "m1")


def test_the_author_writing_to_the_desk_is_passed_on_not_filed(chat: Chat) -> None:
    nudge(chat)
    said = chat.dm("sam", "I am sorry, I did not mean it")
    assert "pass your words on" in said[-1]
    with chat.app.uow() as uow:
        assert uow.cases.summaries(views.CaseFilter()) == []


def test_someone_elses_message_in_the_channel_changes_nothing(chat: Chat) -> None:
    nudge(chat)
    chat.desk.handle(ChannelMessage("jo", "general", "m3", "Sorry, everyone"))
    assert not any("Sorry, everyone" in (c.text or "") for c in chat.sandbox.to(RILEY))


def test_a_subjects_reply_after_a_step_is_recorded_and_shown_to_the_admins(chat: Chat) -> None:
    from tests.unit.chat.test_commands import case, report

    case_id = report(chat)
    chat.coc("ana", f"step {case_id} warn --reason again")
    said = chat.dm("sam", "Understood.")
    assert "admins can read what you wrote" in said[-1]
    notes = [n.text for n in case(chat, case_id).case.notes]
    assert "Understood." in notes
    assert any("Understood." in (c.text or "") for c in chat.sandbox.calls
               if c.method == "notify_admins")
    assert "Understood." in list(chat.t.cards.values())[-1].text
