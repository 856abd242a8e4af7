"""The peer step by proxy: nudge the author privately, then hand over to the admins.

The author is never told who asked. If they apologize, edit or remove the message within
the policy's time, the reporter hears so and no case opens; otherwise the report goes to
the admins as an ordinary case, with a note that a private word came first.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import ConfidentialityError, InvalidInput
from conduct_desk.domain.model import MAX_SHORT, MAX_TEXT, Case, Report, SaidFrom, check_text
from conduct_desk.domain.nudges import ANSWER_WORDS, Answer, Nudge, NudgeState
from conduct_desk.domain.timers import Timer, TimerKind
from conduct_desk.service import commands
from conduct_desk.service.handlers import DESK, TIMER_HANDLERS, Desk, audit, file_report
from conduct_desk.service.ports import Capability, UnitOfWork
from conduct_desk.service.texts import (
    SubjectContext,
    check_confidential,
    render,
    render_for_subject,
    subject_context,
)

_APOLOGY = re.compile(
    r"\b(sorry|apolog\w*|my bad|i was wrong|didn'?t mean|did not mean|won'?t happen again|"
    r"shouldn'?t have|should not have|forgive me|désolée?|pardon|entschuldigung|perdón|lo siento)\b",
    re.IGNORECASE,
)


def looks_like_apology(text: str) -> bool:
    """A generous guess: adapters use it on the author's replies after a nudge."""
    return bool(_APOLOGY.search(text or ""))


def nudge(cmd: commands.Nudge, uow: UnitOfWork, desk: Desk) -> int:
    """Message the author privately on the reporter's behalf; start the waiting time."""
    if cmd.reporter == cmd.subject:
        raise InvalidInput("the author and the person asking for the nudge are the same")
    check_text(cmd.message_text, "the message text", MAX_TEXT)
    check_text(cmd.channel, "the channel", MAX_SHORT)
    check_text(cmd.message_id, "the message id", MAX_SHORT)
    check_text(cmd.note, "the note", MAX_TEXT)
    now = desk.clock.now()
    with uow:
        waiting = uow.nudges.waiting_for(cmd.subject, cmd.channel, cmd.message_id)
        # someone already asked: one private word is enough, but this request is kept too,
        # so this reporter hears the outcome and their report reaches the admins if need be
        due = waiting[0].due_at if waiting else now + desk.policy.peer_wait
        item = Nudge(subject=cmd.subject, reporter=cmd.reporter, source=cmd.source,
                     channel=cmd.channel, message_id=cmd.message_id, asked_at=now, due_at=due,
                     message_text=cmd.message_text, message_link=cmd.message_link,
                     note=cmd.note or None,
                     harmed=tuple(p for p in dict.fromkeys(cmd.harmed) if p != cmd.subject),
                     anonymous=cmd.anonymous)
        nudge_id = uow.nudges.add(item)
        # for a peer-wait timer, step_id carries the nudge id (there is no case yet)
        uow.timers.schedule(Timer(TimerKind.PEER_WAIT, due, None, nudge_id))
        audit(uow, now, DESK, "nudge.asked", f"private word to {cmd.subject} asked for",
              nudge_id=nudge_id)
        uow.commit()
    if waiting:
        return nudge_id
    platform = desk.platform_for(cmd.subject)
    if platform is not None and Capability.DM in platform.capabilities:
        probe = Case(subject=cmd.subject, opened_at=now, channel=cmd.channel,
                     reports=[Report(subject=cmd.subject, reporter=cmd.reporter, filed_at=now,
                                     source=cmd.source, harmed=item.harmed,
                                     message_text=cmd.message_text, said_from=SaidFrom.FETCHED)])
        text = render_for_subject(desk.policy.texts["nudge"], _nudge_context(probe, item, desk, now))
        try:
            check_confidential(text, probe, desk.name_guard(probe), field="texts.nudge")
        except ConfidentialityError as exc:  # nothing is sent; the wait runs, then the admins
            with uow:
                audit(uow, now, DESK, "nudge.not-sent", f"the private word was not sent: {exc}",
                      nudge_id=nudge_id)
                uow.commit()
            return nudge_id
        effect = platform.send_dm(cmd.subject, text)
        with uow:
            audit(uow, now, DESK, "nudge.sent", f"private word to {cmd.subject}: {effect.status}",
                  nudge_id=nudge_id, detail=effect.detail)
            uow.commit()
    return nudge_id


def _nudge_context(probe: Case, item: Nudge, desk: Desk, now: datetime) -> SubjectContext:
    ctx = subject_context(probe, desk.policy, "the conduct desk", duration=item.due_at - now)
    return replace(ctx, quote=(item.message_text or "").strip(), link=item.message_link or "")


def nudge_answered(cmd: commands.NudgeAnswered, uow: UnitOfWork, desk: Desk) -> int:
    """The author made it right: close the waiting nudges and tell each reporter."""
    try:
        how = Answer(cmd.how)
    except ValueError:
        raise InvalidInput(f"unknown answer {cmd.how!r}: use apology, edit or redaction") from None
    now = desk.clock.now()
    with uow:
        waiting = uow.nudges.waiting_for(cmd.subject, cmd.channel, cmd.message_id)
        for item in waiting:
            item.state, item.answer = NudgeState.ANSWERED, how
            uow.nudges.save(item)
            audit(uow, now, cmd.subject.key, "nudge.answered", f"the author {ANSWER_WORDS[how]}",
                  nudge_id=item.id)
        uow.commit()
    text = render(desk.policy.texts["nudge_answered"], {"how": ANSWER_WORDS[how]},
                  "texts.nudge_answered")
    for item in waiting:
        platform = desk.platform_for(item.reporter)
        if platform is not None and Capability.DM in platform.capabilities:
            platform.send_dm(item.reporter, text)
    return len(waiting)


def _on_peer_wait(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    """Nothing came in time: the report goes to the admins."""
    assert timer.step_id is not None
    with uow:
        item = uow.nudges.get(timer.step_id)
        if item is None or item.state is not NudgeState.WAITING:
            return
        item.state = NudgeState.ESCALATED
        uow.nudges.save(item)
        uow.commit()
    waited = humanize_span(item.due_at - item.asked_at)
    remark = f"A private word went to the author first; no apology or edit came within {waited}."
    filed = file_report(commands.FileReport(
        subject=item.subject, reporter=item.reporter, source=item.source, channel=item.channel,
        message_id=item.message_id, message_text=item.message_text,
        message_link=item.message_link, harmed=item.harmed, anonymous=item.anonymous,
        note=f"{item.note}\n\n({remark})" if item.note else remark,
    ), uow, desk)
    with uow:
        item.case_id = filed.case_id
        uow.nudges.save(item)
        uow.commit()


# registered here so that handlers.py needs no import of this module
TIMER_HANDLERS[TimerKind.PEER_WAIT] = _on_peer_wait
