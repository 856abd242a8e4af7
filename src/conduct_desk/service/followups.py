"""Confidential follow-ups: the admins ask a reporter a question (answering is optional) and
write with the person a case is about.

- A question reaches its reporter on their status page, and by private message when they
  reported from a chat platform (through the outbox; an anonymous reporter's id stays sealed).
  They answer on the page, or by replying to the desk privately.
- What a reporter writes stays with the admins; admins see an anonymous reporter only as
  "the reporter (anonymous)".
- A message to the subject is checked for the reporters' and the hurt people's names, as a
  step's text is; a refusal is audited (never the name or the text) and nothing is kept.
- Every message is on the case's timeline, without its text: the audit log says who wrote to
  whom; the text is read on the case page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conduct_desk.domain.errors import ConfidentialityError, InvalidInput
from conduct_desk.domain.messages import Direction, Message, Party
from conduct_desk.domain.model import Case, CaseState, Report, check_text
from conduct_desk.domain.notices import Purpose
from conduct_desk.service import commands
from conduct_desk.service import notices as outbox
from conduct_desk.service.handlers import (
    Desk,
    _acting,
    _tell_admins,
    audit,
    record_refusal,
)
from conduct_desk.service.ports import CaseFilter, UnitOfWork
from conduct_desk.service.texts import check_confidential

ANONYMOUS = "the reporter (anonymous)"
OPTIONAL = "You don't have to answer"


def reporter_name(report: Report) -> str:
    """A report's reporter as every admin may read it: never an anonymous reporter's id."""
    if report.anonymous or report.reporter is None:
        return ANONYMOUS
    return str(report.reporter)


def _text(text: str, what: str) -> str:
    body = text.replace("\r\n", "\n").strip()
    if not body:
        raise InvalidInput(f"the {what} is empty; write it, then send it again",
                           problem=f"the {what} is empty; write it first", field="text")
    check_text(body, f"the {what}")
    return body


def _report(case: Case, report_id: int) -> Report:
    found = next((r for r in case.reports if r.id == report_id), None)
    if found is None:
        raise InvalidInput(f"case {case.id} has no report {report_id}; `conduct case show "
                           f"{case.id}` lists its reports",
                           problem=f"case {case.id} has no report {report_id}; choose one of "
                                   "its reports", field="report")
    return found


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines())


def ask_reporter(cmd: commands.AskReporter, uow: UnitOfWork, desk: Desk) -> int:
    """Record the question (on the timeline, without its text), then send it to the reporter
    privately when they reported from a chat; their status page shows it in any case."""
    body = _text(cmd.text, "question")
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = _acting(uow, desk, case, cmd.admin).name
        report = _report(case, cmd.report_id)
        assert case.id is not None and report.id is not None
        message_id = uow.messages.add(Message(case.id, Party.REPORTER, Direction.TO_PARTY,
                                              body, now, admin, report_id=report.id))
        audit(uow, now, admin, "message.asked", f"{admin} asked {reporter_name(report)} a "
              "question (answering is optional)", case.id, message_id=message_id,
              report_id=report.id)
        uow.commit()
    if report.told_privately:
        assert report.reporter is not None
        page = (f", or on your report's page: {desk.base_url}/r/{report.status_token}"
                if desk.base_url and report.status_token else "")
        text = (f"The admins looking at your report (case {case.id}) have a question. "
                f"{OPTIONAL}: your report stands as it is, whatever you decide.\n\n"
                f"{_quoted(body)}\n\n"
                "If you would like to answer, reply here: your next message to me goes to the "
                f"admins as your answer{page}.")
        outbox.send_dm(uow, desk, report.reporter, text, purpose=Purpose.QUESTION,
                       case_id=case.id, anonymous=report.anonymous)
    return message_id


def write_to_subject(cmd: commands.WriteToSubject, uow: UnitOfWork, desk: Desk) -> int:
    """Write to the person the case is about: refused, and the refusal audited, when the
    text names a reporter or a hurt person; else kept for their page and sent privately."""
    body = _text(cmd.text, "message")
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        admin = _acting(uow, desk, case, cmd.admin).name
    try:
        check_confidential(body, case, desk.name_guard(case, admin), field="text")
    except ConfidentialityError as exc:
        record_refusal(uow, desk, cmd.case_id, admin, exc.field)
        raise
    with uow:
        assert case.id is not None
        message_id = uow.messages.add(Message(case.id, Party.SUBJECT, Direction.TO_PARTY,
                                              body, now, admin))
        audit(uow, now, admin, "message.to-subject", f"{admin} wrote to the person it is "
              "about", case.id, message_id=message_id)
        uow.commit()
    page = (f", or on your page: {desk.base_url}/s/{case.subject_token}"
            if desk.base_url and case.subject_token else "")
    outbox.send_dm(uow, desk, case.subject, f"A message from the admins of "
                   f"{desk.policy.community} about case {case.id}:\n\n{body}\n\n"
                   f"You can answer by replying here{page}.",
                   purpose=Purpose.MESSAGE, case_id=case.id)
    return message_id


def answer_question(cmd: commands.AnswerQuestion, uow: UnitOfWork, desk: Desk) -> int:
    """Record a reporter's answer to a question asked about their own report."""
    body = _text(cmd.text, "answer")
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        report = _report(case, cmd.report_id)
        asked = next((m for m in uow.messages.for_case(cmd.case_id)
                      if m.id == cmd.question_id and m.is_question
                      and m.report_id == cmd.report_id), None)
        if asked is None:
            raise InvalidInput("that question is not one the admins asked about your report",
                               field="question")
        assert case.id is not None
        message_id = uow.messages.add(Message(case.id, Party.REPORTER, Direction.FROM_PARTY,
                                              body, now, Party.REPORTER.value,
                                              report_id=report.id, reply_to=asked.id))
        who = reporter_name(report)
        actor = "anonymous" if who == ANONYMOUS else who
        audit(uow, now, actor, "message.answered", f"{who} answered {asked.by}'s question "
              f"({cmd.via})", case.id, message_id=message_id, report_id=report.id)
        uow.commit()
    _tell_admins(uow, desk, case, f"Case {case.id}: a reporter answered the admins' question; "
                                  "read it on the case page.")
    return message_id


def answer_by_dm(cmd: commands.AnswerByDm, uow: UnitOfWork, desk: Desk) -> int | None:
    """A private message from someone a question waits on is their answer (to the newest
    question); None when nothing waits, so the message goes on as it did before."""
    with uow:
        waiting = uow.messages.open_questions_to(cmd.person)
    if not waiting:
        return None
    asked = waiting[-1]
    assert asked.id is not None and asked.report_id is not None
    answer_question(commands.AnswerQuestion(asked.case_id, asked.report_id, asked.id,
                                            cmd.text, via="by private message"), uow, desk)
    return asked.case_id


def subject_writes(cmd: commands.SubjectWrites, uow: UnitOfWork, desk: Desk) -> int:
    """The person a case is about writes to the admins from their page."""
    body = _text(cmd.text, "message")
    now = desk.clock.now()
    with uow:
        case = uow.cases.get(cmd.case_id, lock=True)
        if cmd.person != case.subject:
            raise InvalidInput("only the person the case is about can write here")
        assert case.id is not None
        message_id = uow.messages.add(Message(case.id, Party.SUBJECT, Direction.FROM_PARTY,
                                              body, now, Party.SUBJECT.value))
        audit(uow, now, cmd.person.key, "message.from-subject", "the person it is about wrote "
              "to the admins", case.id, message_id=message_id)
        uow.commit()
    _tell_admins(uow, desk, case, f"Case {case.id}: the person it is about wrote to the admins; "
                                  "read it on the case page.")
    return message_id


def subject_writes_by_dm(cmd: commands.SubjectWritesByDm, uow: UnitOfWork,
                         desk: Desk) -> int | None:
    """A private message from someone the admins wrote to, about an open case of theirs, is
    their answer (on the case the admins wrote on last); None when the admins wrote nothing."""
    with uow:
        found = uow.cases.summaries(CaseFilter(
            states=(CaseState.NEW, CaseState.TAKEN, CaseState.ACTING), subject=cmd.person))
        written = [m for s in found for m in uow.messages.for_case(s.id)
                   if m.party is Party.SUBJECT and m.from_admins]
    if not written:
        return None
    case_id = max(written, key=lambda m: m.id or 0).case_id
    subject_writes(commands.SubjectWrites(case_id, cmd.person, cmd.text), uow, desk)
    return case_id


COMMAND_HANDLERS: dict[type[commands.Command], Callable[..., Any]] = {
    commands.AskReporter: ask_reporter,
    commands.WriteToSubject: write_to_subject,
    commands.AnswerQuestion: answer_question,
    commands.AnswerByDm: answer_by_dm,
    commands.SubjectWrites: subject_writes,
    commands.SubjectWritesByDm: subject_writes_by_dm,
}
