"""Read models for the CLI, the web desk and the API: what an admin sees of a case.

Reporters who asked to stay anonymous appear as "anonymous" here, everywhere.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import ConfidentialityError, InvalidInput, Recused
from conduct_desk.domain.ladder import PastStep, Recommendation, recommend
from conduct_desk.domain.model import (
    OUTCOME_WORDS,
    Case,
    CaseState,
    DeadlineState,
    NoteKind,
    deadline_state,
    next_deadline,
)
from conduct_desk.domain.notices import Notice, NoticeKind, NoticeStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.service import notices as outbox
from conduct_desk.service import roster
from conduct_desk.service.handlers import (
    Composed,
    Desk,
    compose_step,
    everyone_recused,
    record_refusal,
)
from conduct_desk.service.ports import AuditEntry, CaseFilter, CaseSummary, UnitOfWork
from conduct_desk.service.texts import check_confidential

OPEN_STATES = (CaseState.NEW, CaseState.TAKEN, CaseState.ACTING)


@dataclass(frozen=True)
class QueueItem:
    summary: CaseSummary
    due_at: datetime | None
    deadline: DeadlineState


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue: ``size`` open cases from the ``page``-th (from 1), of ``total``."""

    items: list[QueueItem]
    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        """The position in the queue of the page's first case (from 1)."""
        return (self.page - 1) * self.size + 1

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page * self.size < self.total


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    recommendation: Recommendation | None
    history: list[PastStep]  # the subject's steps in other cases
    timeline: list[AuditEntry]
    deadline: DeadlineState
    # admins someone named as hurt: not recused by that alone; another admin may confirm it
    hurt_admins: tuple[HurtAdmin, ...] = ()
    stepped_aside: tuple[str, ...] = ()  # admins who stepped aside (no reason is recorded)
    backup: tuple[str, ...] | None = None  # every admin is involved: the backup admins
    notices: tuple[NoticeState, ...] = ()  # what the desk owed people, and what came of it

    @property
    def undelivered(self) -> tuple[NoticeState, ...]:
        """Notices still waiting for the platform, or that failed: for the case page."""
        return tuple(n for n in self.notices if n.status is not NoticeStatus.SENT)


@dataclass(frozen=True)
class NoticeState:
    """One notice as every admin may see it: who it is for (never an anonymous reporter's
    id, nor the text, which may hold a reporter's private link) and what came of it."""

    id: int
    purpose: str
    kind: NoticeKind
    platform: str
    to: str  # "sandbox:riley", "the reporter (anonymous)", "the admins"
    status: NoticeStatus
    attempts: int
    created_at: datetime | None
    due_at: datetime | None  # pending: when it is tried again
    sent_at: datetime | None
    error: str | None
    sentence: str  # "riley is told", "… will be told when Matrix lets us (in 3 seconds)"


@dataclass(frozen=True)
class HurtAdmin:
    admin: str  # the admin's name on the desk
    person: PersonRef  # as named on the case


@dataclass(frozen=True)
class PersonHistory:
    person: PersonRef
    cases: list[CaseSummary]
    steps: list[PastStep]
    hidden: bool = False  # the viewer is this person: their cases are for other admins


def parse_states(state: str) -> tuple[CaseState, ...]:
    """``open`` (every open state), ``all`` (no filter) or one state, for case lists."""
    if state == "open":
        return OPEN_STATES
    if state == "all":
        return ()
    try:
        return (CaseState(state),)
    except ValueError:
        raise InvalidInput(f"unknown state {state!r}: use open, all, new, taken, acting or "
                           "resolved") from None


def deadline_of(s: CaseSummary, now: datetime) -> tuple[datetime | None, DeadlineState]:
    """A summary's next deadline and where it stands, as :class:`Case` would say."""
    due = next_deadline(s.state, s.taken_by, s.first_step_at, s.take_due_at, s.step_due_at)
    return due, deadline_state(due, s.opened_at, now)


def queue(uow: UnitOfWork, now: datetime, flt: CaseFilter | None = None,
          viewer: tuple[str, ...] = ()) -> list[QueueItem]:
    """Open cases by urgency: flagrant first, then with people hurt, then nearest deadline.
    Cases about the viewer (any of their names) are left out, as on the queue page."""
    flt = flt or CaseFilter(states=OPEN_STATES)
    if viewer:
        flt = dataclasses.replace(flt, not_about=(*flt.not_about, *viewer))
    with uow.reading():
        rows = uow.cases.summaries(flt)
    return [QueueItem(s, *deadline_of(s, now)) for s in rows]


def queue_page(uow: UnitOfWork, now: datetime, page: int, size: int,
               viewer: tuple[str, ...] = ()) -> QueuePage:
    """The ``page``-th ``size`` open cases of the queue, and how many are open in all.
    Cases about the viewer (any of their names) are not theirs to see, so not counted."""
    if page < 1 or size < 1:
        raise InvalidInput("pages and page sizes count from 1")
    flt = CaseFilter(states=OPEN_STATES, limit=size, offset=(page - 1) * size, not_about=viewer)
    with uow.reading():
        rows = uow.cases.summaries(flt)
        # a page that is not full is the last one: the total follows without counting
        full = len(rows) == size or (not rows and page > 1)
        total = uow.cases.count(flt) if full else flt.offset + len(rows)
    return QueuePage([QueueItem(s, *deadline_of(s, now)) for s in rows], page, size, total)


def check_viewer(case: Case, viewer: str | None, aliases: tuple[str, ...] = ()) -> None:
    """Refuse (:class:`Recused`) an admin involved in the case, by name or platform identity."""
    for name in (viewer, *aliases):
        if name:
            case.check_not_recused(name)


def check_access(uow: UnitOfWork, case_id: int, viewer: str, aliases: tuple[str, ...] = ()) -> None:
    """Refuse an unknown case (:class:`NotFound`) or a recused admin, before anything else."""
    with uow:
        case = uow.cases.get(case_id)
    check_viewer(case, viewer, aliases)


def case_detail(uow: UnitOfWork, desk: Desk, case_id: int, viewer: str | None = None,
                aliases: tuple[str, ...] = ()) -> CaseDetail:
    """One case for an admin. A recused admin is refused (:class:`Recused`)."""
    now = desk.clock.now()
    with uow.reading():
        case = uow.cases.get(case_id)
        check_viewer(case, viewer, aliases)
        history = uow.cases.history(case.subject)
        timeline = uow.audit.entries(case_id=case_id, limit=10_000)
        known = roster.everyone(uow, desk.platform_admins)
        kept = uow.notices.for_case(case_id)
    rec = recommend(case, history, desk.policy, now) if case.is_open else None
    others = [p for p in history if p.case_id != case_id]
    backup = desk.policy.backup if case.is_open and everyone_recused(case, known) else None
    return CaseDetail(case, rec, others, timeline, case.deadline_state(now),
                      hurt_admins=hurt_admins(case, known),
                      stepped_aside=tuple(n.by for n in case.notes if n.kind is NoteKind.RECUSED),
                      backup=backup, notices=tuple(_notice_states(case, kept, now)))


def notice_states(uow: UnitOfWork, desk: Desk, case_id: int,
                  purpose: str | None = None) -> list[NoticeState]:
    """The notices of a case (of one ``purpose``: ``outcome``, ``acknowledgement``...), each
    with a sentence an admin can be told, e.g. after resolving a case from chat."""
    with uow:
        case = uow.cases.get(case_id)
        kept = uow.notices.for_case(case_id, purpose)
    return _notice_states(case, kept, desk.clock.now())


def _notice_states(case: Case, kept: list[Notice], now: datetime) -> list[NoticeState]:
    return [_notice_state(case, n, now) for n in kept if n.id is not None]


def _notice_state(case: Case, n: Notice, now: datetime) -> NoticeState:
    to = outbox.who(n)
    if n.kind is NoticeKind.DM and n.to is not None:
        index = next((i for i, r in enumerate(case.reports) if r.reporter == n.to), None)
        label = reporter_label(case, index) if index is not None else to
        to = "the reporter (anonymous)" if n.anonymous or label == "anonymous" else label
    told = "told" if n.kind in (NoticeKind.DM, NoticeKind.ADMINS, NoticeKind.ANSWER) else "sent"
    be = "are" if to == "the admins" else "is"
    where = outbox.platform_label(n.platform)
    if n.status is NoticeStatus.SENT:
        sentence = f"{to} {be} {told}"
    elif n.status is NoticeStatus.PENDING:
        wait = n.due_at - now if n.due_at is not None else None
        when = (f" (in {humanize_span(wait)})" if wait is not None and wait.total_seconds() >= 1
                else "")
        sentence = f"{to} will be {told} when {where} lets us{when}"
    else:
        sentence = f"{to} could not be {told}: {n.last_error or 'the platform refused'}"
    assert n.id is not None
    return NoticeState(n.id, n.purpose, n.kind, n.platform, to, n.status, n.attempts,
                       n.created_at, n.due_at, n.sent_at, n.last_error, sentence)


def known_admin(uow: UnitOfWork, desk: Desk, name: str, flag: str = "--admin") -> roster.KnownAdmin:
    """The admin called ``name`` (account, platform admin or token), or
    :class:`~conduct_desk.service.roster.UnknownAdmin` listing who is known. The command
    line has no sign-in: it acts with the named admin's role."""
    with uow:
        return roster.identify(uow, desk.platform_admins, name, flag)


def hurt_admins(case: Case, known: list[roster.KnownAdmin]) -> tuple[HurtAdmin, ...]:
    """Admins named as hurt (by a name every admin sees) who have not stepped aside and are
    not confirmed: shown to the other admins, who may confirm it. An anonymous reporter is
    listed like anyone else, so the list gives nobody away."""
    found: list[HurtAdmin] = []
    visible = [p for p in case.harmed if not _only_anonymous(case, p)]
    for k in known:
        person = next((p for p in visible if any(p.matches(n) for n in k.names)), None)
        if person is not None and not any(case.visibly_involves(n) for n in k.names):
            found.append(HurtAdmin(k.name, person))
    return tuple(found)


def preview_step(uow: UnitOfWork, desk: Desk, case_id: int, rung: str, admin: str, *,
                 duration: str | None = None, suggestion: str | None = None) -> Composed:
    """The exact text a step would send now, for the admin to read and edit first."""
    with uow:
        case = uow.cases.get(case_id)
        known = roster.identify(uow, desk.platform_admins, admin)
    for name in known.names:
        case.check_not_recused(name)
    try:
        return compose_step(case, rung, admin, desk, duration=duration, suggestion=suggestion)
    except ConfidentialityError as exc:  # a preview can probe names as well as a step
        record_refusal(uow, desk, case_id, known.name, exc.field)
        raise


def check_step_text(uow: UnitOfWork, desk: Desk, case_id: int, admin: str, text: str) -> None:
    """An admin's own text for the subject, checked (and a refusal audited) before a step."""
    with uow:
        case = uow.cases.get(case_id)
    try:
        check_confidential(text, case, desk.name_guard(case, admin), field="text")
    except ConfidentialityError as exc:
        record_refusal(uow, desk, case_id, admin, exc.field)
        raise


def person_history(uow: UnitOfWork, person: PersonRef,
                   viewer: tuple[str, ...] = ()) -> PersonHistory:
    """A person's cases and steps; empty, with ``hidden`` set, when the viewer is that person."""
    if any(person.matches(name) for name in viewer if name):
        return PersonHistory(person, [], [], hidden=True)
    with uow:
        cases = uow.cases.summaries(CaseFilter(subject=person, limit=1000))
        steps = uow.cases.history(person)
    return PersonHistory(person, cases, steps)


def reporter_label(case: Case, index: int) -> str:
    report = case.reports[index]
    return "anonymous" if report.anonymous or report.reporter is None else str(report.reporter)


def case_json(detail: CaseDetail) -> dict[str, Any]:
    """The admin's JSON view of a case; anonymous reporters stay anonymous."""
    case = detail.case
    return {
        "id": case.id,
        "subject": str(case.subject),
        "state": case.state,
        "outcome": case.outcome,
        "outcome_reason": case.outcome_reason,
        "opened_at": case.opened_at,
        "taken_by": case.taken_by,
        "channel": case.channel,
        "message_id": case.message_id,
        "flagrant": case.flagrant,
        "deadline": detail.deadline,
        "due_at": case.due_at,
        "hurt": [str(p) for p in named_hurt(case)],
        "reports": [
            {"id": r.id, "reporter": reporter_label(case, i), "filed_at": r.filed_at,
             "source": r.source, "message_text": r.words_said, "said_from": r.said_origin or None,
             "account": r.account, "message_link": r.message_link,
             "note": r.note, "flagrant": r.flagrant,
             "hurt": [str(p) for p in r.harmed if not (r.anonymous and p == r.reporter)]}
            for i, r in enumerate(case.reports)
        ],
        "steps": [
            {"id": s.id, "rung": s.rung, "action": s.action, "actor": s.actor,
             "recorded_at": s.recorded_at, "status": s.status, "text": s.text, "until": s.until,
             "recommended": s.recommended, "reason": s.reason, "detail": s.detail,
             "attempts": s.attempts, "restored_at": s.restored_at}
            for s in case.steps
        ],
        "consultations": [
            {"admin": c.admin, "at": c.at, "person": str(c.person) if c.person else None,
             "summary": c.summary} for c in case.consultations
        ],
        "notes": [{"kind": n.kind, "at": n.at, "by": n.by, "text": n.text}
                  for n in case.notes if n.kind in (NoteKind.REREAD, NoteKind.APPEAL)],
        "hurt_admins": [{"admin": h.admin, "person": str(h.person)} for h in detail.hurt_admins],
        "confirmed_hurt": [str(p) for p in case.confirmed_hurt],
        "stepped_aside": list(detail.stepped_aside),
        "backup_admins": list(detail.backup) if detail.backup is not None else None,
        "recommendation": (
            {"step": detail.recommendation.rung.name, "reason": detail.recommendation.reason}
            if detail.recommendation else None
        ),
        "history": [dataclasses.asdict(p) for p in detail.history],
        "notices": [
            {"id": n.id, "purpose": n.purpose, "kind": n.kind, "platform": n.platform,
             "to": n.to, "status": n.status, "attempts": n.attempts, "created_at": n.created_at,
             "due_at": n.due_at, "sent_at": n.sent_at, "error": n.error, "said": n.sentence}
            for n in detail.notices
        ],
        "timeline": [timeline_json(e) for e in detail.timeline],
    }


def _only_anonymous(case: Case, person: PersonRef) -> bool:
    """True when the person is known only as an anonymous reporter (hide from admins too)."""
    named = any(person in r.harmed for r in case.reports
                if not (r.anonymous and r.reporter == person)) or any(
        r.reporter == person and not r.anonymous for r in case.reports)
    return not named


def named_hurt(case: Case) -> list[PersonRef]:
    """The people hurt whom admins may see: never someone known only as an anonymous
    reporter (nor as one naming themself hurt, as reports filed before 0008 may)."""
    return [p for p in case.harmed if not _only_anonymous(case, p)]


def timeline_json(e: AuditEntry) -> dict[str, Any]:
    return {"at": e.at, "actor": e.actor, "kind": e.kind, "summary": e.summary,
            "case_id": e.case_id}


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes and people, turned into plain JSON values."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PersonRef):
        return value.key
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "events"}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


# -- what members and subjects may see -------------------------------------------------------


@dataclass(frozen=True)
class ReporterStatus:
    """Where a reported case stands, as the reporter may see it: no subject's details."""

    case_id: int
    filed_at: datetime
    state: CaseState
    taken: bool
    steps: list[str]  # the policy's labels of the steps taken, e.g. "warned"
    outcome: str | None
    outcome_reason: str | None


def reporter_status(uow: UnitOfWork, desk: Desk, token: str) -> ReporterStatus | None:
    """The status behind a reporter's link, or None for an unknown link."""
    if not token or len(token) > 100:
        return None
    with uow:
        found = uow.cases.by_report_token(token)
    if found is None:
        return None
    case, report_id = found
    report = next(r for r in case.reports if r.id == report_id)
    assert case.id is not None
    return ReporterStatus(
        case_id=case.id, filed_at=report.filed_at, state=case.state,
        taken=case.taken_by is not None, steps=step_labels(case, desk),
        outcome=OUTCOME_WORDS[case.outcome] if case.outcome else None,
        outcome_reason=case.outcome_reason if case.outcome else None,
    )


def step_labels(case: Case, desk: Desk) -> list[str]:
    policy = desk.policy
    return list(dict.fromkeys(policy.ladder[i].label for s in case.steps if s.counts
                              and (i := policy.index_of(s.rung, s.action)) is not None))


@dataclass(frozen=True)
class SentMessage:
    at: datetime
    rung: str
    text: str


@dataclass(frozen=True)
class SubjectPage:
    """What the person a case is about sees: the messages sent to them, never who reported."""

    case_id: int
    coc_url: str
    community: str
    messages: list[SentMessage]
    confirmed_at: datetime | None
    appeals: list[datetime]
    is_open: bool


def subject_page(uow: UnitOfWork, desk: Desk, token: str) -> SubjectPage | None:
    if not token or len(token) > 100:
        return None
    with uow:
        case = uow.cases.by_subject_token(token)
    if case is None:
        return None
    assert case.id is not None
    confirmed = [n.at for n in case.notes if n.kind is NoteKind.REREAD]
    return SubjectPage(
        case_id=case.id, coc_url=desk.policy.code_of_conduct_url,
        community=desk.policy.community,
        messages=[SentMessage(s.recorded_at, s.rung, s.text) for s in case.steps
                  if s.counts and s.action is not Action.RESTORE],
        confirmed_at=confirmed[-1] if confirmed else None,
        appeals=[n.at for n in case.notes if n.kind is NoteKind.APPEAL], is_open=case.is_open,
    )


def subject_of(uow: UnitOfWork, token: str) -> tuple[int, PersonRef] | None:
    """The case id and subject behind a subject's link (for confirming and appealing)."""
    if not token or len(token) > 100:
        return None
    with uow:
        case = uow.cases.by_subject_token(token)
    return (case.id, case.subject) if case is not None and case.id is not None else None


# -- audit and stats --------------------------------------------------------------------------


def audit_log(uow: UnitOfWork, *, actor: str | None = None, case_id: int | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 500,
              viewer: str | None = None, aliases: tuple[str, ...] = ()) -> list[AuditEntry]:
    """The audit log, filtered; entries of cases the viewer is involved in are left out,
    so an admin who is the subject never learns from it who reported."""
    with uow:
        entries = uow.audit.entries(case_id=case_id, actor=actor or None, since=since,
                                    until=until, limit=limit)
        hidden: set[int] = set()
        if viewer is not None:
            for cid in {e.case_id for e in entries if e.case_id is not None}:
                try:
                    check_viewer(uow.cases.get(cid), viewer, aliases)
                except Recused:
                    hidden.add(cid)
    return [e for e in entries if e.case_id not in hidden]


@dataclass(frozen=True)
class Stats:
    since: datetime
    until: datetime
    to_take: list[timedelta]  # per case taken in the period
    to_first_step: list[timedelta]
    open_per_day: list[tuple[datetime, int]]  # at the end of each day
    steps_by_rung: list[tuple[str, int]]  # in ladder order


def stats(uow: UnitOfWork, desk: Desk, days: int = 30) -> Stats:
    """Figures for the stats page over the last ``days`` days."""
    now = desk.clock.now()
    start = now - timedelta(days=days)
    with uow:
        times = uow.cases.timings(start)
        spans = uow.cases.open_between(start, now)
        counts = uow.cases.step_counts(start)
    to_take = [c.taken_at - c.opened_at for c in times if c.taken_at]
    to_step = [c.first_step_at - c.opened_at for c in times if c.first_step_at]
    open_per_day = []
    for i in range(days, -1, -1):
        at = now - timedelta(days=i)
        open_per_day.append((at, sum(1 for o, r in spans if o <= at and (r is None or r > at))))
    order = [r.name for r in desk.policy.ladder]
    rungs = [(name, counts.get(name, 0)) for name in order]
    rungs += [(name, n) for name, n in sorted(counts.items()) if name not in order]
    return Stats(start, now, to_take, to_step, open_per_day, rungs)
