"""The peer step by proxy: nudge the author privately, then hand over to the admins.

The author is never told who asked. If they edit or remove the message within the
policy's time, the reporter hears so and no case opens. Words alone ("sorry not sorry") do
not close it: what the author writes that looks like an apology is shown to the reporter,
who may say it is enough (never asked to); otherwise the report goes to the admins as an
ordinary case, with a note that a private word came first and the apology attached.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import ConfidentialityError, InvalidInput
from conduct_desk.domain.model import (
    MAX_SHORT,
    MAX_TEXT,
    Case,
    Note,
    NoteKind,
    Report,
    SaidFrom,
    check_text,
)
from conduct_desk.domain.notices import Purpose
from conduct_desk.domain.nudges import ANSWER_WORDS, Answer, Nudge, NudgeState
from conduct_desk.domain.timers import Timer, TimerKind
from conduct_desk.service import commands
from conduct_desk.service import notices as outbox
from conduct_desk.service.handlers import (
    DESK,
    TIMER_HANDLERS,
    Desk,
    audit,
    file_report,
    handed_over,
)
from conduct_desk.service.ports import Capability, Effect, EffectStatus, UnitOfWork
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


_ENOUGH = re.compile(r"^\s*!?\s*(?:that'?s |it'?s |that is |it is )?enough\s*[.!]*\s*$",
                     re.IGNORECASE)


def says_enough(text: str) -> bool:
    """The reporter's reply to an apology shown to them: ``enough`` (or "that's enough")."""
    return bool(_ENOUGH.match(text or ""))


def looks_like_apology(text: str) -> bool:
    """A generous guess at the author's later messages: a match is only shown to the reporter,
    it never closes the nudge by itself."""
    return bool(_APOLOGY.search(text or ""))


def nudge(cmd: commands.Nudge, uow: UnitOfWork, desk: Desk) -> int:
    """Message the author privately on the reporter's behalf; start the waiting time."""
    if cmd.reporter == cmd.subject:
        raise InvalidInput("the author and the person asking for the nudge are the same")
    check_text(cmd.channel, "the channel", MAX_SHORT)
    check_text(cmd.message_id, "the message id", MAX_SHORT)
    check_text(cmd.note, "the note", MAX_TEXT)
    quoted = handed_over(cmd.source, cmd.message_text)
    now = desk.clock.now()
    with uow:
        waiting = uow.nudges.waiting_for(cmd.subject, cmd.channel, cmd.message_id)
        # someone already asked: one private word is enough, but this request is kept too,
        # so this reporter hears the outcome and their report reaches the admins if need be
        due = waiting[0].due_at if waiting else now + desk.policy.peer_wait
        # anonymous: the id is kept only sealed; with no key, not at all
        reporter = cmd.reporter if uow.can_seal or not cmd.anonymous else None
        item = Nudge(subject=cmd.subject, reporter=reporter, source=cmd.source,
                     channel=cmd.channel, message_id=cmd.message_id, asked_at=now, due_at=due,
                     message_text=quoted, message_link=cmd.message_link,
                     note=cmd.note or None,
                     harmed=tuple(p for p in dict.fromkeys(cmd.harmed) if p != cmd.subject
                                  and not (cmd.anonymous and p == cmd.reporter)),
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
                                     message_text=quoted, said_from=SaidFrom.FETCHED)])
        text = render_for_subject(desk.policy.texts["nudge"], _nudge_context(probe, item, desk, now))
        try:
            check_confidential(text, probe, desk.name_guard(probe), field="texts.nudge")
        except ConfidentialityError as exc:  # nothing is sent; the wait runs, then the admins
            with uow:
                audit(uow, now, DESK, "nudge.not-sent", f"the private word was not sent: {exc}",
                      nudge_id=nudge_id)
                uow.commit()
            return nudge_id
        effect = outbox.send_dm(uow, desk, cmd.subject, text, purpose=Purpose.NUDGE)
        if effect is not None:
            with uow:
                audit(uow, now, DESK, "nudge.sent",
                      f"private word to {cmd.subject}: {fate(effect, platform.name, 'sent')}",
                      nudge_id=nudge_id, detail=effect.detail)
                uow.commit()
    return nudge_id


def fate(effect: Effect, platform: str, done: str) -> str:
    """What became of a notice, in a few words: 'sent', 'will be sent when Slack lets us
    (in 30 seconds)', 'could not be sent'."""
    if effect.status is EffectStatus.DONE:
        return done
    if outbox.is_pending(effect):
        wait = f" (in {humanize_span(effect.retry_after)})" if effect.retry_after else ""
        return f"will be {done} when {outbox.platform_label(platform)} lets us{wait}"
    return f"could not be {done}"


def _nudge_context(probe: Case, item: Nudge, desk: Desk, now: datetime) -> SubjectContext:
    ctx = subject_context(probe, desk.policy, "the conduct desk", duration=item.due_at - now,
                          channel=desk.channel_label(probe), name=desk.name_of(probe.subject))
    return replace(ctx, quote=(item.message_text or "").strip(), link=item.message_link or "")


def nudge_answered(cmd: commands.NudgeAnswered, uow: UnitOfWork, desk: Desk) -> int:
    """The author edited or removed the message: close the waiting nudges, tell each reporter."""
    try:
        how = Answer(cmd.how)
    except ValueError:
        how = None
    if how is None or how is Answer.APOLOGY:  # words close nothing: see author_wrote
        raise InvalidInput(f"unknown answer {cmd.how!r}: use edit or redaction")
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
    _tell_askers(uow, desk, waiting, text)
    return len(waiting)


def author_wrote(cmd: commands.AuthorWrote, uow: UnitOfWork, desk: Desk) -> int:
    """The author wrote again after a nudge. If it looks like an apology, keep it and show it
    to each reporter waiting on that message (once), who may say it is enough. It closes
    nothing: an apology in words alone goes to the admins with the case if one opens."""
    text = (cmd.text or "").strip()
    if not looks_like_apology(text):
        return 0
    now = desk.clock.now()
    first: list[Nudge] = []
    with uow:
        waiting = uow.nudges.waiting_for(cmd.subject, cmd.channel, cmd.message_id)
        for item in waiting:
            if item.apology is None:
                first.append(item)
            kept = f"{item.apology}\n\n{text}" if item.apology else text
            item.apology, item.apology_at = kept[:MAX_TEXT], now
            uow.nudges.save(item)
            audit(uow, now, cmd.subject.key, "nudge.apology",
                  "the author wrote something that looks like an apology; shown to the reporter",
                  nudge_id=item.id)
        uow.commit()
    said = " ".join(text.split())[:600]  # one line for the quote
    message = render(desk.policy.texts["nudge_apology_seen"], {"apology": said},
                     "texts.nudge_apology_seen")
    _tell_askers(uow, desk, first, message)
    return len(waiting)


def _tell_askers(uow: UnitOfWork, desk: Desk, nudges: list[Nudge], text: str) -> None:
    """A private message to each member who asked, through the outbox; one whose id was not
    kept (anonymous, with no sealing key) follows their status link instead."""
    for item in nudges:
        if item.reporter is None:
            continue
        outbox.send_dm(uow, desk, item.reporter, text, purpose=Purpose.NUDGE,
                       case_id=item.case_id, anonymous=item.anonymous)


def nudge_enough(cmd: commands.NudgeEnough, uow: UnitOfWork, desk: Desk) -> int:
    """The reporter says the author's apology is enough: close their nudges that have one.
    Returns how many closed (0: nothing of theirs was waiting on an apology)."""
    now = desk.clock.now()
    with uow:
        closed = [n for n in uow.nudges.waiting_from(cmd.reporter) if n.apology is not None]
        for item in closed:
            item.state, item.answer = NudgeState.ANSWERED, Answer.APOLOGY
            uow.nudges.save(item)
            audit(uow, now, DESK, "nudge.enough",
                  "the person who asked found the author's apology enough", nudge_id=item.id)
        uow.commit()
    if closed:
        outbox.send_dm(uow, desk, cmd.reporter,
                       render(desk.policy.texts["nudge_enough"], {}, "texts.nudge_enough"),
                       purpose=Purpose.NUDGE, anonymous=any(n.anonymous for n in closed))
    return len(closed)


def _on_peer_wait(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    """Nothing closed it in time: the report goes to the admins, with any apology attached."""
    assert timer.step_id is not None
    with uow:
        item = uow.nudges.get(timer.step_id)
        if item is None or item.state is not NudgeState.WAITING:
            return
        item.state = NudgeState.ESCALATED
        uow.nudges.save(item)
        uow.commit()
    waited = humanize_span(item.due_at - item.asked_at)
    if item.apology:
        remark = (f"A private word went to the author first. Within {waited} they wrote "
                  "something that looks like an apology (attached to the case); the message "
                  "stayed as it was and the person who asked did not say it was enough.")
    else:
        remark = (f"A private word went to the author first; no apology or edit came within "
                  f"{waited}.")
    filed = file_report(commands.FileReport(
        subject=item.subject, reporter=item.reporter, source=item.source, channel=item.channel,
        message_id=item.message_id, message_text=item.message_text,
        message_link=item.message_link, harmed=item.harmed, anonymous=item.anonymous,
        note=f"{item.note}\n\n({remark})" if item.note else remark,
    ), uow, desk)
    with uow:
        item.case_id = filed.case_id
        uow.nudges.save(item)
        if item.apology:
            case = uow.cases.get(filed.case_id)
            if not any(n.kind is NoteKind.APOLOGY and n.text == item.apology for n in case.notes):
                case.add_note(Note(NoteKind.APOLOGY, item.apology_at or item.due_at, item.subject.key,
                                   item.apology))
                uow.cases.save(case)
        uow.commit()


# registered here so that handlers.py needs no import of this module
TIMER_HANDLERS[TimerKind.PEER_WAIT] = _on_peer_wait
