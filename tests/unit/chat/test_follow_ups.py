"""Follow-ups in chat: the admins' question reaches the reporter by private message, and the
reporter's next private message is the answer; without a question, DMs work as before."""

from __future__ import annotations

from tests.support.chat import Chat

from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands, views
from conduct_desk.service.chat.inputs import ReportSubmitted
from conduct_desk.service.ports import CaseFilter

SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")


def _case_ids(chat: Chat) -> list[int]:
    with chat.app.uow() as uow:
        return sorted(s.id for s in uow.cases.summaries(CaseFilter()))


def _ask(chat: Chat, case_id: int, text: str) -> None:
    detail = views.case_detail(chat.app.uow(), chat.app.desk, case_id)
    report_id = detail.case.reports[0].id
    assert report_id is not None
    chat.app.bus.handle(commands.AskReporter(case_id, "ana", report_id, text))


def test_a_question_by_dm_is_answered_by_the_next_dm(chat: Chat) -> None:
    chat.dm("riley", "@sam keeps mocking newcomers")
    [case_id] = _case_ids(chat)
    _ask(chat, case_id, "Did anyone else see it?")
    [question] = [c.text for c in chat.sandbox.to(RILEY) if c.text and "question" in c.text]
    assert "Did anyone else see it?" in question
    assert "You don't have to answer" in question and "reply here" in question
    # the answer names someone: still the answer, not a new report (the question said so)
    said = chat.dm("riley", "Yes, @bo saw it too")
    assert "your answer is with the admins" in said[-1]
    assert _case_ids(chat) == [case_id]
    detail = views.case_detail(chat.app.uow(), chat.app.desk, case_id)
    assert [f.sentence for f in detail.follow_ups] == ["ana asked sandbox:riley",
                                                       "sandbox:riley answered"]
    assert detail.follow_ups[1].message.text == "Yes, @bo saw it too"
    assert any(e.kind == "message.answered" and "by private message" in e.summary
               for e in detail.timeline)
    # answered: the next DM is read as before (a new report)
    said = chat.dm("riley", "@sam did it again today")
    assert len(_case_ids(chat)) == 2, said


def test_without_a_question_a_dm_is_what_it_was(chat: Chat) -> None:
    said = chat.dm("riley", "hello?")
    assert _case_ids(chat) == [] and "link" in said[-1]


def test_an_anonymous_reporter_answers_by_dm_and_stays_anonymous(chat: Chat) -> None:
    chat.desk.handle(ReportSubmitted(reporter="riley", subject="sam", anonymous=True,
                                     note="it keeps happening"))
    [case_id] = _case_ids(chat)
    _ask(chat, case_id, "When did it start?")
    assert any("When did it start?" in (c.text or "") for c in chat.sandbox.to(RILEY))
    chat.dm("riley", "Last spring, in the riley-only channel")
    detail = views.case_detail(chat.app.uow(), chat.app.desk, case_id, "ana")
    assert [f.sentence for f in detail.follow_ups] == ["ana asked the reporter (anonymous)",
                                                       "the reporter (anonymous) answered"]
    # nobody's id on the admins' view: only the words the reporter chose to write
    shown = str(views.case_json(detail)).replace("Last spring, in the riley-only channel", "")
    assert "riley" not in shown


def test_the_subject_answers_the_admins_message_by_dm(chat: Chat) -> None:
    chat.dm("riley", "@sam keeps mocking newcomers")
    [case_id] = _case_ids(chat)
    said = chat.dm("sam", "what is this about?")  # the admins wrote nothing yet: help
    assert "link" in said[-1]
    chat.app.bus.handle(commands.WriteToSubject(case_id, "ana", "Could we talk about Tuesday?"))
    [message] = [c.text or "" for c in chat.sandbox.to(SAM) if "Tuesday" in (c.text or "")]
    assert "You can answer by replying here" in message and "riley" not in message
    said = chat.dm("sam", "Sure, I was tired and it came out wrong.")
    assert "The admins can read what you wrote" in said[-1]
    detail = views.case_detail(chat.app.uow(), chat.app.desk, case_id)
    assert [f.sentence for f in detail.follow_ups] == [
        "ana wrote to the person it is about", "the person it is about wrote"]
    assert detail.follow_ups[1].message.text == "Sure, I was tired and it came out wrong."
