"""Intake in any chat: reports by direct message, reactions and forms (memory transport)."""

from __future__ import annotations

import dataclasses

from tests.support.chat import Chat, chat_desk

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import views
from conduct_desk.service.chat.inputs import Reaction, ReactionKind, ReportSubmitted
from conduct_desk.service.chat.memory import MemoryTransport
from conduct_desk.service.ports import CaseFilter, FetchedMessage

SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
HURTFUL = "people like you can't code"


def cases(app: App) -> list[views.CaseDetail]:
    with app.uow() as uow:
        ids = [s.id for s in uow.cases.summaries(CaseFilter())]
    return [views.case_detail(app.uow(), app.desk, i) for i in sorted(ids)]


def test_a_link_in_a_direct_message_files_a_report_about_its_author(chat: Chat) -> None:
    chat.sandbox.add_message("general", "m1", HURTFUL, SAM)
    chat.dm("riley", "this hurt sandbox://general/m1")
    [d] = cases(chat.app)
    assert d.case.subject == SAM and d.case.reports[0].reporter == RILEY
    assert d.case.reports[0].message_text == HURTFUL
    # thanked, asked nothing
    thanks = [c.text for c in chat.sandbox.to(RILEY)]
    assert thanks and "nothing more you need to do" in thanks[0]


def test_a_mention_files_a_report_with_the_words_as_the_reporters_account(chat: Chat) -> None:
    chat.dm("riley", "@sam keeps mocking newcomers")
    [d] = cases(chat.app)
    assert d.case.subject == SAM and d.case.reports[0].note == "@sam keeps mocking newcomers"
    assert d.case.reports[0].message_text is None  # the reporter's words are not quoted


def test_words_that_ask_nothing_get_help_and_file_nothing(chat: Chat) -> None:
    said = chat.dm("riley", "hello?")
    assert cases(chat.app) == []
    assert said and "link" in said[-1]


def test_a_link_to_a_place_the_desk_does_not_look_after_is_not_opened(
        app: App, sandbox: SandboxPlatform) -> None:
    chat = chat_desk(app, sandbox, transport=MemoryTransport(looked_after={"general"}))
    sandbox.add_message("secret", "m9", HURTFUL, SAM)
    said = chat.dm("riley", "sandbox://secret/m9")
    assert cases(app) == []
    assert "does not look after" in said[-1]
    assert not any(c.method == "fetch_message" and c.channel == "secret" for c in sandbox.calls)


def test_reporting_ones_own_message_files_nothing(chat: Chat) -> None:
    chat.sandbox.add_message("general", "m1", "my own words", RILEY)
    chat.dm("riley", "sandbox://general/m1")
    assert cases(chat.app) == []


def test_reactions_report_only_when_the_policy_allows_them(chat: Chat) -> None:
    chat.sandbox.add_message("general", "m1", HURTFUL, SAM)
    chat.desk.handle(Reaction("riley", "general", "m1", ReactionKind.REPORT))
    assert cases(chat.app) == []  # a reaction shows the room who reacted: off by default
    chat.app.desk.policy = dataclasses.replace(chat.app.desk.policy, reactions=True)
    chat.desk.handle(Reaction("riley", "general", "m1", ReactionKind.REPORT))
    [d] = cases(chat.app)
    assert d.case.subject == SAM


def test_a_form_report_keeps_anonymity_harm_and_flagrance(chat: Chat) -> None:
    chat.desk.handle(ReportSubmitted("riley", "sam", "general", "m1", note="it keeps happening",
                                     harmed=("jo", "riley", "sam"), anonymous=True, flagrant=True,
                                     message_text=HURTFUL))
    [d] = cases(chat.app)
    assert d.case.flagrant and d.case.reports[0].anonymous
    assert PersonRef("sandbox", "jo") in d.case.harmed and SAM not in d.case.harmed


def test_a_form_asking_for_a_private_word_sends_one_without_the_reporters_name(
        chat: Chat) -> None:
    chat.sandbox.messages[("general", "m1")] = FetchedMessage(
        "general", "m1", HURTFUL, SAM, "https://chat.example/general/m1")
    chat.t.channels["general"] = "#general"
    chat.desk.handle(ReportSubmitted("riley", "sam", "general", "m1", nudge=True,
                                     message_text=HURTFUL,
                                     message_link="https://chat.example/general/m1"))
    assert cases(chat.app) == []  # no case yet: the author has time to set it right
    [word] = [c.text or "" for c in chat.sandbox.to(SAM)]
    assert "riley" not in word.lower()
    # the author can find the message: the channel by its name, and the link
    assert "#general" in word and "https://chat.example/general/m1" in word
    assert "nothing more you need to do" in chat.t.to("riley")[-1]


def test_a_flagrant_form_report_skips_the_private_word(chat: Chat) -> None:
    chat.desk.handle(ReportSubmitted("riley", "sam", "general", "m1", nudge=True, flagrant=True))
    [d] = cases(chat.app)
    assert d.case.flagrant
    assert chat.sandbox.to(SAM) == []
