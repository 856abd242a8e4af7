"""The desk's outbox: every notice it promises is delivered, or visibly failed.

A notice (a thank-you, an outcome, a line to the admins, a private word) is recorded, then
tried at once. When the platform asks the desk to wait (a rate limit), it stays pending with
the time it is due and a durable ``DELIVER_NOTICE`` timer (``step_id`` = the notice's id)
delivers it then, from whichever worker claims the timer, after a restart too. The wait is
the platform's when it names one, else the policy's retry backoff. A refusal for good, or
:data:`MAX_ATTEMPTS` tries, leaves it failed: audited on the case (``notice.failed``) and shown
on the case page.

A DM to an anonymous reporter keeps the person only sealed, and no platform error (it may
name them); with no sealing key it is not kept at all, only tried once, as the report keeps
no id either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from conduct_desk.domain.notices import MAX_ATTEMPTS, Notice, NoticeKind, NoticeStatus, Purpose
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import MAX_WAITS
from conduct_desk.domain.timers import Timer, TimerKind
from conduct_desk.service.ports import AuditEntry, Capability, Effect, EffectStatus, UnitOfWork

if TYPE_CHECKING:  # handlers imports this module: no import back at run time
    from conduct_desk.service.handlers import Desk

__all__ = [
    "LEASE",
    "MAX_ATTEMPTS",
    "Sender",
    "deliver_due",
    "is_pending",
    "deliver_all",
    "keep",
    "outcome_line",
    "platform_label",
    "record_all",
    "send",
    "send_all",
    "send_admins",
    "send_dm",
    "who",
]

logger = logging.getLogger(__name__)

DESK = "desk"  # the actor of the audit entries (as handlers.DESK)
# how long one try may take before a worker may try the notice again (its process died);
# the desk's own ``lease`` (CONDUCT_TIMER_LEASE_SECONDS) is used, this is its default
LEASE = timedelta(minutes=5)
# what a chat adapter registers in ``Desk.notice_senders`` for (platform name, kind)
Sender = Callable[[Notice], Effect]
_PLATFORM_NAMES = {"slack": "Slack", "matrix": "Matrix", "discord": "Discord"}


def platform_label(name: str) -> str:
    """A platform's name as people write it: ``matrix`` → ``Matrix``."""
    return _PLATFORM_NAMES.get(name, name[:1].upper() + name[1:])


def is_pending(effect: Effect) -> bool:
    """True when :func:`send` kept the notice to deliver later (``effect.retry_after`` from now)."""
    return effect.status is EffectStatus.FAILED and effect.retryable


def send(uow: UnitOfWork, desk: Desk, notice: Notice) -> Effect:
    """Deliver ``notice`` now and keep it until it is delivered or has failed for good.

    Call it outside a transaction (it opens its own). The answer says what became of it:
    DONE, sent; FAILED and ``retryable``, kept pending and delivered in ``retry_after`` by a
    durable timer; FAILED otherwise, given up (audited ``notice.failed`` on the case). The
    detail never holds an anonymous reporter's platform error."""
    return send_all(uow, desk, [notice])[0]


def send_all(uow: UnitOfWork, desk: Desk, notices: list[Notice]) -> list[Effect]:
    """:func:`send` for several notices: kept in one transaction, tried, recorded in one."""
    with uow:
        kept = record_all(uow, desk, notices)
        uow.commit()
    return deliver_all(uow, desk, kept)


def record_all(uow: UnitOfWork, desk: Desk, notices: list[Notice], *,
               timers: Sequence[Timer] = ()) -> list[Notice]:
    """Inside the caller's transaction: keep ``notices`` pending, each with a durable timer
    as a safety net (should this process stop before the platform answers, a worker sends it
    then); returned with their ids. Committed with what they are about, they are promised
    exactly when it is recorded. Then :func:`deliver_all` tries them, after the commit.
    ``timers``: the caller's own, scheduled before the safety nets, in the same statement.

    A DM to an anonymous reporter with no key to seal their id is not kept (no id): nothing
    may keep this person's id, so it gets one try, as the report keeps no id either."""
    now = desk.clock.now()
    fresh = [replace(n, status=NoticeStatus.PENDING, attempts=0, created_at=now,
                     due_at=now + desk.lease, last_error=None, sent_at=None, id=None)
             for n in notices]
    keep_ = [n for n in fresh if not (n.anonymous and n.to is not None and not uow.can_seal)]
    ids = iter(uow.notices.add_all(keep_))
    kept = {id(n): replace(n, id=next(ids)) for n in keep_}
    uow.timers.schedule_all([*timers, *(
        Timer(TimerKind.DELIVER_NOTICE, now + desk.lease, n.case_id, n.id) for n in kept.values())])
    return [kept.get(id(n), n) for n in fresh]


def deliver_all(uow: UnitOfWork, desk: Desk, notices: list[Notice], *,
                again: bool = False) -> list[Effect]:
    """Try each notice :func:`record_all` kept (and its caller committed) once, and record
    what became of them all in one transaction; the answers as :func:`send` gives them.
    ``again``: an earlier try may have reached the platform (see :class:`Platform`).

    That record need not wait for the disk: lost in a power cut, a notice sent stays pending
    and its timer sends it again (once more, as when a process dies before recording it)."""
    effects = [_deliver(desk, n, again) for n in notices]
    if all(n.id is None and e.status is EffectStatus.DONE for n, e in zip(notices, effects,
                                                                          strict=True)):
        return effects  # nothing kept, nothing failed: nothing to record
    now = desk.clock.now()
    went = [n.id is not None and e.status is EffectStatus.DONE
            for n, e in zip(notices, effects, strict=True)]
    with uow.relaxed():
        answers, late = _record_sent(uow, now, notices, effects, went)
        rest = [i for i, w in enumerate(went) if not w]
        current = uow.notices.get_many([i for i in (notices[j].id for j in rest) if i],
                                       lock=True)
        # their safety nets go first: a try that must be repeated schedules its own timer
        pending = [n for n in current.values() if n.status is NoticeStatus.PENDING]
        uow.timers.cancel_steps(TimerKind.DELIVER_NOTICE, [n.id for n in pending if n.id],
                                [n.case_id for n in pending])
        results: list[Notice] = []
        for j, n in enumerate(notices):  # audited in the order given
            if j in late:  # it was late: the case's timeline says it went in the end
                _audit(uow, now, "notice.sent", late[j][0], late[j][1])
            elif not went[j]:
                answers[j] = _record(uow, desk, now, n, effects[j],
                                     current.get(n.id) if n.id else None, results)
        uow.notices.save_all(results)
        uow.commit()
    for notice, answer in zip(notices, answers, strict=True):
        if answer.status is EffectStatus.FAILED and not answer.retryable:
            logger.warning("a notice (%s) could not be delivered on %s", notice.purpose,
                           notice.platform)
    return answers


def _record_sent(uow: UnitOfWork, now: datetime, notices: list[Notice],
                 effects: list[Effect], went: list[bool]
                 ) -> tuple[list[Effect], dict[int, tuple[str, Notice]]]:
    """Inside :func:`deliver_all`'s transaction: the kept notices whose try went (``went``),
    without reading each first: those still pending are marked sent in one statement, their
    safety nets cancelled. A notice another worker finished meanwhile is left as it is. Returns
    every answer, these recorded; and, by their place in ``notices``, the ones that went late
    with what their case's timeline is to say (the caller audits it, in the order given)."""
    ids = [n.id for n, w in zip(notices, went, strict=True) if w and n.id is not None]
    if not ids:
        return list(effects), {}
    sent = uow.notices.mark_sent(ids, now)
    uow.timers.cancel_steps(TimerKind.DELIVER_NOTICE, list(sent),
                            [case_id for case_id, _ in sent.values()])
    tries = {i: n for i, (_, n) in sent.items() if n > 1}
    others = [i for i in ids if i not in sent]
    known = uow.notices.get_many([*tries, *others]) if tries or others else {}
    late = {j: (f"{_what(known[n.id])} was delivered after {tries[n.id]} tries", known[n.id])
            for j, (n, w) in enumerate(zip(notices, went, strict=True))
            if w and n.id in tries}
    # a notice another worker finished meanwhile: done when it was sent, else as it went
    return [Effect.done() if n.id not in sent and n.id in known and known[n.id].is_sent
            else e for n, e in zip(notices, effects, strict=True)], late


def keep(uow: UnitOfWork, desk: Desk, notice: Notice, refused: Effect) -> Effect:
    """Keep a notice whose first try, made by the caller, the platform refused: pending, due
    after the platform's wait (or the policy's backoff), when the refusal may lift; else
    failed and audited. For notices tried on a hot path (chat answers, case cards) where an
    outbox row for each success would cost more than it keeps."""
    now = desk.clock.now()
    if notice.anonymous and notice.to is not None and not uow.can_seal:
        return Effect.failed(_error(notice, refused), retryable=False)
    error = _error(notice, refused)
    with uow:
        if notice.kind is NoticeKind.CARD and notice.case_id is not None and any(
                not k.is_sent and k.status is NoticeStatus.PENDING
                for k in uow.notices.for_case(notice.case_id, notice.purpose)):
            # one card kept per case is enough: it is drawn as the case is when it goes
            return Effect.failed(error, retryable=True, retry_after=refused.retry_after)
        if refused.status is EffectStatus.FAILED and refused.retryable and MAX_ATTEMPTS > 1:
            wait = desk.policy.retry.wait(1, refused.retry_after)
            kept = replace(notice, status=NoticeStatus.PENDING, attempts=1, created_at=now,
                           due_at=now + wait, last_error=error, sent_at=None, id=None)
            notice_id = uow.notices.add(kept)
            uow.timers.schedule(Timer(TimerKind.DELIVER_NOTICE, now + wait, notice.case_id,
                                      notice_id))
            uow.commit()
            return Effect.failed(error, retryable=True, retry_after=wait)
        failed = replace(notice, status=NoticeStatus.FAILED, attempts=1, created_at=now,
                         due_at=None, last_error=error, sent_at=None, id=None)
        failed = replace(failed, id=uow.notices.add(failed))
        _audit_failed(uow, now, failed)
        uow.commit()
    return Effect.failed(error, retryable=False)


def send_dm(uow: UnitOfWork, desk: Desk, to: PersonRef, text: str, *, purpose: str,
            case_id: int | None = None, anonymous: bool = False) -> Effect | None:
    """A private message to ``to`` through :func:`send`; None when the person's platform is
    not connected or cannot send private messages (then nothing is kept: nothing was promised)."""
    platform = desk.platforms.get(to.platform)
    if platform is None or Capability.DM not in platform.capabilities:
        return None
    return send(uow, desk, Notice(platform.name, NoticeKind.DM, text, to=to, case_id=case_id,
                                  purpose=purpose, anonymous=anonymous))


def send_admins(uow: UnitOfWork, desk: Desk, platform: str, text: str, *,
                case_id: int | None = None, purpose: str = Purpose.ADMINS,
                reply_to: str | None = None) -> Effect:
    """A line for the admins on ``platform`` through :func:`send`."""
    kind = NoticeKind.ANSWER if purpose == Purpose.ANSWER else NoticeKind.ADMINS
    return send(uow, desk, Notice(platform, kind, text, case_id=case_id, purpose=purpose,
                                  reply_to=reply_to))


def deliver_due(timer: Timer, uow: UnitOfWork, desk: Desk) -> None:
    """The ``DELIVER_NOTICE`` timer: try a pending notice again. The timer is claimed by one
    worker; the notice row is re-read and claimed too, so a sent notice is never sent again."""
    assert timer.step_id is not None
    now = desk.clock.now()
    with uow:
        notice = uow.notices.get(timer.step_id, lock=True)
        if notice is None or notice.status is not NoticeStatus.PENDING \
                or (notice.due_at is not None and notice.due_at > now):
            return  # sent, failed, or being tried right now
        notice = replace(notice, due_at=now + desk.lease)
        uow.notices.save(notice)
        # should this try end without a word (the process dies), a worker tries again
        uow.timers.schedule(Timer(TimerKind.DELIVER_NOTICE, now + desk.lease, notice.case_id,
                                  notice.id))
        uow.commit()
    _attempt(uow, desk, notice)


def _attempt(uow: UnitOfWork, desk: Desk, notice: Notice) -> Effect:
    """One more try of a notice this process has claimed (its ``due_at`` is a lease); records
    it. The try before may have reached the platform: its worker may have died first."""
    assert notice.id is not None
    return deliver_all(uow, desk, [notice], again=True)[0]


def _record(uow: UnitOfWork, desk: Desk, now: datetime, notice: Notice, effect: Effect,
            current: Notice | None, results: list[Notice]) -> Effect:
    """Inside a transaction: what became of one try of ``notice`` that did not go (a kept
    one that went is :func:`_record_sent`'s), ``current`` its row as it is now, locked, its
    safety net cancelled; what to write back goes to ``results``. The caller's answer."""
    if notice.id is None:  # not kept (an anonymous reporter, no key): only a failure is noted
        if effect.status is EffectStatus.DONE:
            return effect
        failed = replace(notice, status=NoticeStatus.FAILED, attempts=1,
                         last_error=_error(notice, effect))
        _audit_failed(uow, now, failed)
        return Effect.failed(failed.last_error or "", retryable=False)
    if current is None or current.status is not NoticeStatus.PENDING:
        # another worker finished it meanwhile (its lease ran out while this one waited)
        return Effect.done() if current is not None and current.is_sent else effect
    tries = current.attempts + 1
    if effect.status is EffectStatus.FAILED and effect.retryable and (
            tries < MAX_ATTEMPTS or (effect.retry_after is not None and tries < MAX_WAITS)):
        wait = desk.policy.retry.wait(tries, effect.retry_after)
        result = replace(current, attempts=tries, due_at=now + wait,
                         last_error=_error(current, effect))
        uow.timers.schedule(Timer(TimerKind.DELIVER_NOTICE, now + wait, current.case_id,
                                  current.id))
        answer = Effect.failed(result.last_error or "", retryable=True, retry_after=wait)
    else:  # refused for good, manual only, or too many tries
        error = _error(current, effect)
        if effect.status is EffectStatus.FAILED and effect.retryable:
            error = f"{error} (gave up after {tries} tries)"
        result = replace(current, status=NoticeStatus.FAILED, attempts=tries, due_at=None,
                         last_error=error)
        _audit_failed(uow, now, result)
        answer = Effect.failed(error, retryable=False)
    results.append(result)
    return answer


def _deliver(desk: Desk, notice: Notice, again: bool = False) -> Effect:
    """The platform call: the sender an adapter registered, else the platform's own call."""
    sender = desk.notice_senders.get((notice.platform, notice.kind))
    try:
        if sender is not None:
            return sender(notice)
        if notice.kind is NoticeKind.EMAIL:
            return _email(desk, notice)
        if notice.kind is NoticeKind.CARD:  # only a chat desk draws cards: one runs elsewhere
            return Effect.failed(f"the desk's {platform_label(notice.platform)} cards are kept "
                                 "by another process", retryable=True)
        platform = desk.platforms.get(notice.platform)
        if platform is None:  # e.g. a worker started without that platform's settings
            return Effect.failed(f"the desk is not connected to {platform_label(notice.platform)} "
                                 "in this process")
        if notice.kind is NoticeKind.DM:
            if notice.to is None:
                return Effect.failed("a private message with nobody to send it to",
                                     retryable=False)
            return platform.send_dm(notice.to, notice.text, key=notice.key, again=again)
        return platform.notify_admins(notice.text, key=notice.key, again=again)
    except Exception as exc:  # a sender must never stop the worker; the notice is kept
        logger.warning("sending a %s notice on %s raised %s", notice.purpose, notice.platform,
                       type(exc).__name__)
        return Effect.failed(f"the desk could not send it ({type(exc).__name__})")


def _email(desk: Desk, notice: Notice) -> Effect:
    """An email notice through the desk's mailer: its text's first line is the subject."""
    if desk.mailer is None:  # e.g. a worker started without the CONDUCT_SMTP_* settings
        return Effect.failed("the desk has no mail server in this process (set CONDUCT_SMTP_HOST)")
    if notice.to is None:
        return Effect.failed("an email with no address to send it to", retryable=False)
    subject, _, body = notice.text.partition("\n\n")
    return desk.mailer.send(notice.to.user_id, subject, body)


def _error(notice: Notice, effect: Effect) -> str:
    """What is kept of a refusal: the platform's words, never for an anonymous reporter."""
    if notice.anonymous:
        asked = " and asked the desk to wait" if effect.retry_after is not None else ""
        return f"{platform_label(notice.platform)} refused{asked}"
    if effect.status is EffectStatus.MANUAL:
        return f"{platform_label(notice.platform)} cannot send it: {effect.detail}"
    return effect.detail or f"{platform_label(notice.platform)} refused"


def who(notice: Notice) -> str:
    """The person a notice is for, as every admin may read it (never an anonymous id)."""
    if notice.kind in (NoticeKind.ADMINS, NoticeKind.ANSWER):
        return "the admins"
    if notice.kind is NoticeKind.EMAIL and notice.to is not None:
        return notice.to.user_id  # an admin's own address, for the other admins
    if notice.anonymous:
        return "the reporter (anonymous)"
    return str(notice.to) if notice.to is not None else "nobody"


def _what(notice: Notice) -> str:
    where = platform_label(notice.platform)
    known: dict[str, str] = {
        Purpose.ACKNOWLEDGEMENT: f"the thanks to {who(notice)}",
        Purpose.OUTCOME: f"the outcome for {who(notice)}",
        Purpose.NUDGE: f"the private message to {who(notice)}",
        Purpose.ADMINS: f"the message to the admins on {where}",
        Purpose.ANSWER: f"the answer to the admins on {where}",
        Purpose.CARD: f"the case card on {where}",
        Purpose.EMAIL: f"the email to {who(notice)}",
        Purpose.QUESTION: f"the admins' question to {who(notice)}",
        Purpose.MESSAGE: f"the admins' message to {who(notice)}",
    }
    return known.get(notice.purpose, f"the {notice.purpose} message on {where}")


def _audit(uow: UnitOfWork, at: datetime, kind: str, summary: str, notice: Notice,
           **detail: object) -> None:
    uow.audit.append_all([AuditEntry(
        at=at, actor=DESK, kind=kind, summary=summary, case_id=notice.case_id,
        detail={"notice_id": notice.id, **{k: v for k, v in detail.items() if v}}
        if notice.id is not None else {k: v for k, v in detail.items() if v})])


def _audit_failed(uow: UnitOfWork, at: datetime, notice: Notice) -> None:
    if notice.kind is NoticeKind.DM:
        advice = ("; they can follow their report's status link" if notice.anonymous
                  else "; please reach them another way")
    else:
        advice = ""
    # the error is kept on the notice; an anonymous reporter's is the desk's own words
    _audit(uow, at, "notice.failed", f"{_what(notice)} could not be delivered{advice}", notice,
           detail=notice.last_error)


def outcome_line(uow: UnitOfWork, desk: Desk, case_id: int) -> str:
    """What became of the outcome notices of a case, for the admins, e.g. after ``resolve``:
    "riley is told", "riley will be told when Matrix lets us (in 3 seconds)", "riley could
    not be told: …". Reporters are named only as the case views name them for admins."""
    from conduct_desk.service import views  # views imports handlers, which imports this

    states = views.notice_states(uow, desk, case_id, Purpose.OUTCOME)
    if not states:
        return (f"Case {case_id}: no reporter can be told on chat; reporters who used the web "
                "form see the outcome behind their status link.")
    return f"Case {case_id}: " + "; ".join(s.sentence for s in states) + "."
