"""Repositories: the case aggregate, timers and the audit log, over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from conduct_desk.domain.audit import Checkpoint, entry_leaf
from conduct_desk.domain.errors import Conflict, Hint, NotFound
from conduct_desk.domain.ladder import PastStep
from conduct_desk.domain.merkle import Frontier
from conduct_desk.domain.messages import Direction, Message, Party
from conduct_desk.domain.model import (
    COUNTING,
    MAX_ID,
    Case,
    CaseState,
    Consultation,
    Note,
    NoteKind,
    Outcome,
    Report,
    SaidFrom,
    Source,
    Step,
    StepStatus,
)
from conduct_desk.domain.notices import Notice, NoticeKind, NoticeStatus
from conduct_desk.domain.nudges import Answer, Nudge, NudgeState
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.domain.privacy import pseudonym
from conduct_desk.domain.standing import LASTING, LastingStep
from conduct_desk.domain.timers import Timer, TimerKind, TimerStatus
from conduct_desk.service.ports import (
    SEARCH_MOST,
    AuditEntry,
    CaseFilter,
    CaseSummary,
    CaseTimes,
    LoggedEntry,
    StoredCheckpoint,
)
from conduct_desk.storage import tables as t
from conduct_desk.storage.people import SqlPeople, about_any
from conduct_desk.storage.sealing import Sealer, open_sealed

# Statements on the hot paths (filing, loading a case, timers, the audit log) are built once:
# executing a prebuilt statement with parameters skips building it and its cache key each time.
# what a line of the queue shows, and no more: a page reads 50 rows of these
_SUMMARY_COLUMNS = [t.cases.c[n] for n in (
    "id", "subject_platform", "subject_id", "state", "opened_at", "taken_by", "first_step_at",
    "flagrant", "hurt", "report_count", "last_step", "outcome", "take_due_at", "step_due_at",
    "appeal_due_at")]
_LASTING = frozenset(str(a) for a in LASTING)
_OPEN_STATES = frozenset(str(s) for s in CaseState if s is not CaseState.RESOLVED)
_INSERT_CASE = t.cases.insert().returning(t.cases.c.id)
# a case row is every column but the key (_case_row writes each)
_CASE_COLUMNS = tuple(c.name for c in t.cases.c if not c.primary_key)
# a new case about a message, unless one about it is open: the look-up and the insert in one
# statement (the same condition as _OPEN_CASE_FOR_MESSAGE, which then finds the open one)
_INSERT_CASE_UNLESS_OPEN = t.cases.insert().from_select(
    list(_CASE_COLUMNS),
    sa.select(*(sa.bindparam(f"v_{n}", type_=t.cases.c[n].type) for n in _CASE_COLUMNS)).where(
        ~sa.exists().where(
            t.cases.c.is_open == sa.true(),
            t.cases.c.subject_platform == sa.bindparam("v_subject_platform"),
            t.cases.c.subject_id == sa.bindparam("v_subject_id"),
            t.cases.c.channel == sa.bindparam("v_channel"),
            t.cases.c.message_id == sa.bindparam("v_message_id"))),
).returning(t.cases.c.id)
_UPDATE_CASE = t.cases.update().where(t.cases.c.id == sa.bindparam("case_id"))
_INSERT_REPORT = t.reports.insert().returning(t.reports.c.id)
_INSERT_STEP = t.steps.insert().returning(t.steps.c.id)
_UPDATE_STEP = t.steps.update().where(t.steps.c.id == sa.bindparam("step_id"))
# most cases have no consultations and no notes: the case's row says so, and those two
# tables are then not asked (two index probes instead of two round trips)
_SELECT_CASE = sa.select(t.cases, *(
    sa.exists().where(table.c.case_id == t.cases.c.id).label(f"has_{table.name}")
    for table in (t.consultations, t.notes))).where(t.cases.c.id == sa.bindparam("case_id"))
_SELECT_CASE_LOCKED = _SELECT_CASE.with_for_update(of=t.cases)
_SELECT_CHILDREN = {
    name: sa.select(table).where(table.c.case_id == sa.bindparam("case_id")).order_by(table.c.id)
    for name, table in (("reports", t.reports), ("steps", t.steps),
                        ("consultations", t.consultations), ("notes", t.notes))
}
# ``= true``, not ``IS true``: only then do SQLite and PostgreSQL use the partial unique index
# on open cases' messages (with ``IS`` SQLite scans every open case instead)
_OPEN_CASE_FOR_MESSAGE = sa.select(t.cases.c.id).where(
    t.cases.c.is_open == sa.true(), t.cases.c.subject_platform == sa.bindparam("platform"),
    t.cases.c.subject_id == sa.bindparam("user_id"), t.cases.c.channel == sa.bindparam("channel"),
    t.cases.c.message_id == sa.bindparam("message_id"),
).with_for_update()
_INSERT_TIMER = t.timers.insert().returning(t.timers.c.id)
_INSERT_TIMERS = t.timers.insert()
_INSERT_AUDIT = t.audit.insert()
_PENDING_OF_KINDS = t.timers.update().where(
    t.timers.c.kind.in_(sa.bindparam("b_kinds", expanding=True)),
    t.timers.c.status == str(TimerStatus.PENDING),
).values(status=str(TimerStatus.CANCELLED))
# by (a case is named, a step is named): ``case_id IS NULL`` when none is, as ``== None`` says
_CANCEL_TIMERS = {
    (by_case, by_step): _PENDING_OF_KINDS.where(
        t.timers.c.case_id == sa.bindparam("b_case_id") if by_case else t.timers.c.case_id.is_(None),
        *([t.timers.c.step_id == sa.bindparam("b_step_id")] if by_step else []))
    for by_case in (True, False) for by_step in (True, False)
}
_CANCEL_FOR_STEPS = _PENDING_OF_KINDS.where(
    t.timers.c.step_id.in_(sa.bindparam("b_step_ids", expanding=True)))
# the same, found through their cases' index: step ids are not indexed, and without a case
# the search walks every pending timer (a busy desk has thousands)
_CANCEL_FOR_CASE_STEPS = _CANCEL_FOR_STEPS.where(
    t.timers.c.case_id.in_(sa.bindparam("b_case_ids", expanding=True)))
_INSERT_NOTICES = t.notices.insert().returning(t.notices.c.id, sort_by_parameter_order=True)
_SELECT_NOTICE = sa.select(t.notices).where(t.notices.c.id == sa.bindparam("notice_id"))
_SELECT_NOTICE_LOCKED = _SELECT_NOTICE.with_for_update()
_SELECT_NOTICES = sa.select(t.notices).where(
    t.notices.c.id.in_(sa.bindparam("notice_ids", expanding=True))).order_by(t.notices.c.id)
_SELECT_NOTICES_LOCKED = _SELECT_NOTICES.with_for_update()
_UPDATE_NOTICE = t.notices.update().where(t.notices.c.id == sa.bindparam("notice_id"))
_MARK_SENT = t.notices.update().where(
    t.notices.c.id.in_(sa.bindparam("notice_ids", expanding=True)),
    t.notices.c.status == str(NoticeStatus.PENDING),
).values(
    status=str(NoticeStatus.SENT), attempts=t.notices.c.attempts + 1,
    sent_at=sa.bindparam("b_sent_at", type_=t.notices.c.sent_at.type), due_at=None,
    last_error=None,
).returning(t.notices.c.id, t.notices.c.case_id, t.notices.c.attempts)


def _subject_is(platform: sa.Column[Any], user_id: sa.Column[Any], conn: Connection,
                person: PersonRef) -> sa.ColumnElement[bool]:
    """The rows about ``person``: under their id, or under their pseudonym once they were
    erased (so the ladder still counts a ban when they come back; see domain/privacy.py)."""
    ids = [person.user_id]
    salt = conn.execute(_SELECT_SALT).scalar()
    if salt is not None:
        ids.append(pseudonym(bytes.fromhex(str(salt)), person).user_id)
    return sa.and_(platform == person.platform, user_id.in_(ids))


_SELECT_SALT = sa.select(t.web_secrets.c.value).where(t.web_secrets.c.name == "erasure-salt")


def _person(platform: str | None, user_id: str | None) -> PersonRef | None:
    return PersonRef(platform, user_id) if platform and user_id else None


def _reporter_columns(reporter: PersonRef | None, anonymous: bool,
                      sealer: Sealer | None) -> dict[str, str | None]:
    """How a reporter is stored: in plain, or, when anonymous, only sealed (and with no key,
    not at all: the service has then dropped the id already, see ``UnitOfWork.can_seal``)."""
    if reporter is None:
        return {"reporter_platform": None, "reporter_id": None, "reporter_sealed": None}
    if not anonymous:
        return {"reporter_platform": reporter.platform, "reporter_id": reporter.user_id,
                "reporter_sealed": None}
    return {"reporter_platform": None, "reporter_id": None,
            "reporter_sealed": sealer.seal(reporter) if sealer is not None else None}


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _involving(names: set[str]) -> Any:
    """The cases ``names`` are visibly involved in (Case.visibly_involves, in SQL): a named
    reporter, a hurt person an admin confirmed, an admin who stepped aside. Exact names, so
    each is an index lookup per case found; the service checks the cases found again with
    Case.involves, whatever the spelling."""
    r, n, listed = t.reports.c, t.notes.c, sorted(names)
    pairs = sorted({(p, i) for p, _, i in (x.partition(":") for x in names)
                    if p and i and not p.startswith("@")})
    reported = sa.exists().where(r.case_id == t.cases.c.id, r.anonymous == sa.false(),
                                 r.source != str(Source.WEB),  # Report.reporter_checked
                                 sa.tuple_(r.reporter_platform, r.reporter_id).in_(pairs))
    noted = sa.exists().where(n.case_id == t.cases.c.id, sa.or_(
        sa.and_(n.kind == str(NoteKind.HURT_CONFIRMED), n.text.in_(listed)),
        sa.and_(n.kind == str(NoteKind.RECUSED), n.by.in_(listed))))
    return sa.or_(reported, noted) if pairs else noted


def _past(rows: Sequence[Any]) -> list[PastStep]:
    """History rows (:meth:`SqlCaseRepository._counting`) as the ladder reads them."""
    return [PastStep(r.case_id, r.rung, Action(r.action), r.recorded_at) for r in rows]


_STEP_FIELDS = tuple(f.name for f in fields(Step))


def _snapshot(step: Step) -> tuple[Any, ...]:
    """A step's values, to tell on save whether it changed (each is immutable: no copies,
    unlike ``dataclasses.astuple``, which deep-copies every value)."""
    return tuple(getattr(step, name) for name in _STEP_FIELDS)


def _open_only(flt: CaseFilter) -> bool:
    """The filter finds open cases only (the queue's own)."""
    return bool(flt.states) and {str(s) for s in flt.states} <= _OPEN_STATES


class SqlCaseRepository:
    def __init__(self, conn: Connection, sealer: Sealer | None, people: SqlPeople) -> None:
        self.conn = conn
        self.sealer = sealer
        self.people = people  # the unit of work's: one read of each link per transaction
        self.seen: dict[int, Case] = {}
        self._steps: dict[int, tuple[Any, ...]] = {}  # step id -> values as loaded
        # a person's accounts with their pseudonyms, for the links as they were read
        self._accounts_of: dict[PersonRef, tuple[tuple[PersonRef, ...],
                                                 dict[PersonRef, PersonRef]]] = {}
        self._many_of: dict[str, bool] = {}  # a search's words: in more than SEARCH_MOST reports
        self._open_count: int | None = None

    # -- writing ---------------------------------------------------------------------------
    def add(self, case: Case) -> None:
        try:
            case.id = self.conn.execute(_INSERT_CASE, self._case_row(case)).scalar_one()
        except IntegrityError as exc:
            raise Conflict("another report of the same message opened a case just now; "
                           "try again") from exc
        self._save_children(case)
        self.seen[case.id] = case

    def add_unless_open(self, case: Case) -> bool:
        """Add a new ``case`` about a message unless a case about the same message is open:
        then nothing is written, and False (:meth:`open_case_for_message` finds that one)."""
        assert case.channel and case.message_id
        row = self._case_row(case)
        try:
            case_id = self.conn.execute(_INSERT_CASE_UNLESS_OPEN, {
                f"v_{n}": row[n] for n in _CASE_COLUMNS}).scalar()
        except IntegrityError as exc:
            raise Conflict("another report of the same message opened a case just now; "
                           "try again") from exc
        if case_id is None:
            return False
        case.id = case_id
        self._save_children(case)
        self.seen[case.id] = case
        return True

    def save(self, case: Case) -> None:
        assert case.id is not None
        self.conn.execute(_UPDATE_CASE, {"case_id": case.id, **self._case_row(case)})
        self._save_children(case)
        self.seen[case.id] = case

    def _case_row(self, case: Case) -> dict[str, Any]:
        last = next((s.rung for s in reversed(case.steps)
                     if s.action is not Action.RESTORE and s.overturned_at is None), None)
        return {
            "subject_platform": case.subject.platform, "subject_id": case.subject.user_id,
            "channel": case.channel, "message_id": case.message_id, "state": str(case.state),
            "opened_at": case.opened_at, "taken_by": case.taken_by, "taken_at": case.taken_at,
            "first_step_at": case.first_step_at, "resolved_at": case.resolved_at,
            "outcome": str(case.outcome) if case.outcome else None,
            "outcome_reason": case.outcome_reason, "subject_token": case.subject_token,
            "take_due_at": case.take_due_at, "step_due_at": case.step_due_at,
            "flagrant": case.flagrant, "hurt": len(case.harmed),
            "report_count": len(case.reports), "last_step": last, "is_open": case.is_open,
            "appeal_due_at": case.appeal_due_at,
        }

    def _save_children(self, case: Case) -> None:
        assert case.id is not None
        for i, report in enumerate(case.reports):
            if report.id is None:
                rid = self.conn.execute(_INSERT_REPORT, {
                    "case_id": case.id, "subject_platform": report.subject.platform,
                    "subject_id": report.subject.user_id,
                    **_reporter_columns(report.reporter, report.anonymous, self.sealer),
                    "anonymous": report.anonymous, "filed_at": report.filed_at,
                    "source": str(report.source), "channel": report.channel,
                    "message_id": report.message_id, "message_text": report.message_text,
                    "message_link": report.message_link, "harmed": [p.key for p in report.harmed],
                    "note": report.note, "flagrant": report.flagrant,
                    "status_token": report.status_token,
                    "said_from": str(report.said_from) if report.said_from else None,
                    "account": report.account, "hoped_for": report.hoped_for,
                }).scalar_one()
                case.reports[i] = replace(report, id=rid)
        for step in case.steps:
            values = self._step_values(step)
            if step.id is None:
                step.id = self.conn.execute(_INSERT_STEP, {"case_id": case.id, **values}).scalar_one()
            elif self._steps.get(step.id) != _snapshot(step):
                self.conn.execute(_UPDATE_STEP, {"step_id": step.id, **values})
            self._steps[step.id] = _snapshot(step)
        for i, c in enumerate(case.consultations):
            if c.id is None:
                cid = self.conn.execute(t.consultations.insert().values(
                    case_id=case.id, admin=c.admin, at=c.at, summary=c.summary,
                    person_platform=c.person.platform if c.person else None,
                    person_id=c.person.user_id if c.person else None,
                ).returning(t.consultations.c.id)).scalar_one()
                case.consultations[i] = replace(c, id=cid)
        for i, n in enumerate(case.notes):
            if n.id is None:
                nid = self.conn.execute(t.notes.insert().values(
                    case_id=case.id, kind=n.kind, at=n.at, by=n.by, text=n.text
                ).returning(t.notes.c.id)).scalar_one()
                case.notes[i] = replace(n, id=nid)

    @staticmethod
    def _step_values(s: Step) -> dict[str, Any]:
        return {
            "rung": s.rung, "action": str(s.action), "actor": s.actor, "recorded_at": s.recorded_at,
            "text": s.text, "status": str(s.status), "until": s.until, "recommended": s.recommended,
            "reason": s.reason, "detail": s.detail, "attempts": s.attempts, "notified": s.notified,
            "completed_at": s.completed_at, "restored_at": s.restored_at,
            "overturned_at": s.overturned_at,
            "giving_back_at": s.giving_back_at,
        }

    # -- reading ---------------------------------------------------------------------------
    def get(self, case_id: int, *, lock: bool = False) -> Case:
        query = _SELECT_CASE_LOCKED if lock else _SELECT_CASE
        row = self.conn.execute(query, {"case_id": case_id}).mappings().first() \
            if 0 < case_id <= MAX_ID else None
        if row is None:
            raise NotFound(f"there is no case {case_id}; see `conduct case list` for open cases",
                           problem=f"there is no case {case_id}; the open cases",
                           hint=Hint("list"))
        case = self._load(row)
        self.seen[case_id] = case
        return case

    def _load(self, row: RowMapping) -> Case:
        cid = row["id"]
        case = Case(
            subject=PersonRef(row["subject_platform"], row["subject_id"]),
            opened_at=row["opened_at"], channel=row["channel"], message_id=row["message_id"],
            state=CaseState(row["state"]), taken_by=row["taken_by"], taken_at=row["taken_at"],
            first_step_at=row["first_step_at"], resolved_at=row["resolved_at"],
            outcome=Outcome(row["outcome"]) if row["outcome"] else None,
            outcome_reason=row["outcome_reason"], subject_token=row["subject_token"],
            take_due_at=row["take_due_at"], step_due_at=row["step_due_at"], id=cid,
            appeal_due_at=row["appeal_due_at"],
        )
        children = {"case_id": cid}
        for r in self.conn.execute(_SELECT_CHILDREN["reports"], children).mappings():
            case.reports.append(self._report(r))
        for s in self.conn.execute(_SELECT_CHILDREN["steps"], children).mappings():
            step = Step(
                rung=s["rung"], action=Action(s["action"]), actor=s["actor"],
                recorded_at=s["recorded_at"], text=s["text"], status=StepStatus(s["status"]),
                until=s["until"], recommended=s["recommended"], reason=s["reason"],
                detail=s["detail"], attempts=s["attempts"], notified=s["notified"],
                completed_at=s["completed_at"], restored_at=s["restored_at"], id=s["id"],
                overturned_at=s["overturned_at"],
                giving_back_at=s["giving_back_at"],
            )
            case.steps.append(step)
            self._steps[s["id"]] = _snapshot(step)
        if row.get("has_consultations", True):
            for c in self.conn.execute(_SELECT_CHILDREN["consultations"], children).mappings():
                case.consultations.append(Consultation(
                    admin=c["admin"], at=c["at"], summary=c["summary"],
                    person=_person(c["person_platform"], c["person_id"]), id=c["id"]))
        if row.get("has_notes", True):
            for n in self.conn.execute(_SELECT_CHILDREN["notes"], children).mappings():
                case.notes.append(Note(kind=NoteKind(n["kind"]), at=n["at"], by=n["by"],
                                       text=n["text"], id=n["id"]))
        return case

    def _report(self, r: RowMapping) -> Report:
        sealed = r["reporter_sealed"]
        reporter = (open_sealed(self.sealer, sealed) if sealed
                    else _person(r["reporter_platform"], r["reporter_id"]))
        return Report(
            subject=PersonRef(r["subject_platform"], r["subject_id"]),
            reporter=reporter, filed_at=r["filed_at"],
            source=Source(r["source"]), anonymous=r["anonymous"], channel=r["channel"],
            message_id=r["message_id"], message_text=r["message_text"],
            message_link=r["message_link"],
            harmed=tuple(PersonRef.from_key(k) for k in r["harmed"]), note=r["note"],
            flagrant=r["flagrant"], status_token=r["status_token"], id=r["id"],
            said_from=SaidFrom(r["said_from"]) if r["said_from"] else None, account=r["account"],
            hoped_for=r["hoped_for"],
        )

    def open_case_for_message(self, subject: PersonRef, channel: str,
                              message_id: str) -> Case | None:
        cid = self.conn.execute(_OPEN_CASE_FOR_MESSAGE, {
            "platform": subject.platform, "user_id": subject.user_id, "channel": channel,
            "message_id": message_id,
        }).scalar()
        return self.get(cid, lock=True) if cid is not None else None

    def by_status_token(self, token: str) -> Case | None:
        cid = self.conn.execute(sa.select(t.reports.c.case_id)
                                .where(t.reports.c.status_token == token)).scalar()
        if cid is None:
            cid = self.conn.execute(sa.select(t.cases.c.id)
                                    .where(t.cases.c.subject_token == token)).scalar()
        return self.get(cid) if cid is not None else None

    def by_report_token(self, token: str) -> tuple[Case, int] | None:
        """The case a reporter's status link points to, and their report's id."""
        row = self.conn.execute(sa.select(t.reports.c.case_id, t.reports.c.id)
                                .where(t.reports.c.status_token == token)).first()
        return (self.get(row.case_id), row.id) if row is not None else None

    def by_subject_token(self, token: str) -> Case | None:
        """The case a subject's private link points to (never a reporter's link)."""
        cid = self.conn.execute(sa.select(t.cases.c.id)
                                .where(t.cases.c.subject_token == token)).scalar()
        return self.get(cid) if cid is not None else None

    def timings(self, since: datetime) -> list[CaseTimes]:
        c = t.cases.c
        rows = self.conn.execute(sa.select(c.opened_at, c.taken_at, c.first_step_at, c.resolved_at)
                                 .where(c.opened_at >= since).order_by(c.opened_at))
        return [CaseTimes(*r) for r in rows]

    def open_between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime | None]]:
        """(opened, resolved) of every case open at some moment between ``start`` and ``end``."""
        c = t.cases.c
        rows = self.conn.execute(sa.select(c.opened_at, c.resolved_at).where(
            c.opened_at <= end, sa.or_(c.resolved_at.is_(None), c.resolved_at >= start)))
        return [(r.opened_at, r.resolved_at) for r in rows]

    def step_counts(self, since: datetime) -> dict[str, int]:
        s = t.steps.c
        rows = self.conn.execute(
            sa.select(s.rung, sa.func.count()).where(
                s.recorded_at >= since, s.status.in_([str(x) for x in COUNTING]))
            .group_by(s.rung))
        return {r[0]: int(r[1]) for r in rows}

    def _accounts(self, person: PersonRef) -> dict[PersonRef, PersonRef]:
        """Every account linked to the person, and the pseudonym of each once erased (the
        ladder still counts a ban when they come back): each to the account it stands for."""
        linked = self.linked(person)
        known = self._accounts_of.get(person)
        if known is not None and known[0] is linked:  # no link changed since
            return known[1]
        accounts = {a: a for a in linked}
        salt = self.conn.execute(_SELECT_SALT).scalar()
        if salt is not None:
            accounts |= {pseudonym(bytes.fromhex(str(salt)), a): a for a in list(accounts)}
        self._accounts_of[person] = (linked, accounts)
        return accounts

    def linked(self, person: PersonRef) -> tuple[PersonRef, ...]:
        """The account, then every account linked to the same person
        (:meth:`SqlPeople.linked`)."""
        return self.people.linked(person)

    def _about(self, person: PersonRef,
               accounts: dict[PersonRef, PersonRef] | None = None) -> sa.ColumnElement[bool]:
        """SQL: a case about the person, by any of :meth:`_accounts`."""
        return about_any(t.cases.c.subject_platform, t.cases.c.subject_id,
                         tuple(accounts or self._accounts(person)))

    def history(self, person: PersonRef) -> list[PastStep]:
        """The person's counting steps, across every account linked to them."""
        return _past(self._counting(person, lasting=False))

    def effects(self, person: PersonRef) -> list[LastingStep]:
        """The person's counting steps that leave a state (warn, remove, suspend, ban), with
        the case's channel, and for warnings the first re-reading confirmed after them;
        across every account linked to them (each with the account its case is about)."""
        return self._lasting(person, self._counting(person, lasting=True))

    def history_and_effects(self, person: PersonRef) -> tuple[list[PastStep], list[LastingStep]]:
        """:meth:`history` and :meth:`effects` from one read of the person's steps (a case
        page shows both)."""
        rows = self._counting(person, lasting=False)
        return _past(rows), self._lasting(person, [r for r in rows if r.action in _LASTING])

    def _counting(self, person: PersonRef, *, lasting: bool) -> Sequence[Any]:
        """The person's counting steps in the order taken (``lasting``: only those that leave
        a state), with what :meth:`_lasting` needs."""
        steps = t.steps.c
        query = (sa.select(steps.case_id, steps.rung, steps.action, steps.recorded_at,
                           steps.until, steps.restored_at, t.cases.c.channel,
                           t.cases.c.subject_platform, t.cases.c.subject_id)
                 .join(t.cases, t.cases.c.id == steps.case_id)
                 .where(self._about(person), steps.status.in_([str(s) for s in COUNTING]),
                        steps.overturned_at.is_(None))  # set aside on appeal: not counted
                 .order_by(steps.recorded_at, steps.id))
        if lasting:
            query = query.where(steps.action.in_(sorted(_LASTING)))
        return self.conn.execute(query).all()

    def _lasting(self, person: PersonRef, rows: Sequence[Any]) -> list[LastingStep]:
        accounts = self._accounts(person)
        rereads: dict[int, list[datetime]] = {}
        if any(r.action == Action.WARN for r in rows):
            for case_id, at in self.conn.execute(
                    sa.select(t.notes.c.case_id, t.notes.c.at)
                    .join(t.cases, t.cases.c.id == t.notes.c.case_id)
                    .where(self._about(person, accounts), t.notes.c.kind == str(NoteKind.REREAD))
                    .order_by(t.notes.c.at)):
                rereads.setdefault(case_id, []).append(at)
        subjects: dict[tuple[str, str], PersonRef] = {}  # a few accounts, many steps
        for r in rows:
            if (r.subject_platform, r.subject_id) not in subjects:
                ref = PersonRef(r.subject_platform, r.subject_id)
                subjects[r.subject_platform, r.subject_id] = accounts.get(ref, ref)
        warn = str(Action.WARN)
        return [LastingStep(r.case_id, r.rung, Action(r.action), r.recorded_at, channel=r.channel,
                            until=r.until, restored_at=r.restored_at,
                            reread_at=next((at for at in rereads.get(r.case_id, [])
                                            if at >= r.recorded_at), None)
                            if r.action == warn else None,
                            subject=subjects[r.subject_platform, r.subject_id])
                for r in rows]

    def case_ids_for(self, person: PersonRef) -> list[int]:
        return list(self.conn.execute(sa.select(t.cases.c.id).where(
            _subject_is(t.cases.c.subject_platform, t.cases.c.subject_id, self.conn, person)
        ).order_by(t.cases.c.id)).scalars())

    def _filtered(self, query: Any, flt: CaseFilter) -> Any:
        if flt.appeals:  # an appeal waits for a decision, whatever the case's state
            query = query.where(t.cases.c.appeal_due_at.is_not(None))
        if flt.states:
            states = {str(s) for s in flt.states}
            if states <= _OPEN_STATES:
                # ``= true``, not ``IS true``: PostgreSQL then uses the partial indexes on
                # open cases, and knows is_open is constant when it orders the rows
                query = query.where(t.cases.c.is_open == sa.true())
            if states != _OPEN_STATES:  # is_open alone says "open"
                query = query.where(t.cases.c.state.in_(sorted(states)))
        if flt.subject is not None:  # by any account linked to the subject
            query = query.where(self._about(flt.subject))
        names = {n.strip().lower() for n in flt.not_about if n.strip()}
        if names:  # the SQL form of PersonRef.matches
            c = t.cases.c
            bare = sorted(names | {"@" + n for n in names})
            about: sa.ColumnElement[bool] = sa.func.lower(c.subject_id).in_(bare)
            full = sorted(n for n in names if ":" in n)  # platform:id (never a bare name)
            if full:
                about = sa.or_(about, sa.func.lower(c.subject_platform + ":" + c.subject_id)
                               .in_(full))
            query = query.where(sa.not_(about))
        return self._narrowed(query, flt)

    def _narrowed(self, query: Any, flt: CaseFilter) -> Any:
        """The queue's filters and search (issue 11): each a plain condition, so the queue's
        order and its index stay as they are."""
        c = t.cases.c
        if flt.taken_by is not None:
            query = query.where(c.taken_by == flt.taken_by)
        if flt.unassigned:
            query = query.where(c.taken_by.is_(None))
        if flt.flagrant:
            query = query.where(c.flagrant == sa.true())
        if flt.overdue_at is not None:  # Case.deadline_state: overdue from the deadline on
            query = query.where(c.is_open == sa.true(), t.case_due <= flt.overdue_at)
        if flt.platform:
            query = query.where(c.subject_platform == flt.platform)
        if flt.case_id is not None:
            query = query.where(c.id == flt.case_id)
        if flt.search and flt.search.strip():
            query = query.where(self._searched(flt.search.strip(), _open_only(flt)))
        involved = {n.strip() for n in flt.not_involving if n.strip()}
        if involved:
            query = query.where(sa.not_(_involving(involved)))
        return query

    def _searched(self, text: str, open_only: bool) -> sa.ColumnElement[bool]:
        """SQL: a case about the person ``text`` names (``sam``, ``@sam``, ``sandbox:sam``,
        any case; ``ana`` also finds ``@ana:example.org``), or one of whose reports holds its
        words. The matching case ids come first, of the first :data:`SEARCH_MOST` reports
        found: every one when there are no more (:meth:`search_cap` tells when there are).
        When there are more, the open cases are each asked as well: the open queue is always
        searched in full. A search among open cases only asks each of them when they are few
        (or the words are in too many reports to read them first)."""
        who, words = self._search_terms(text)
        c = t.cases.c
        in_open = sa.exists().where(t.reports.c.case_id == c.id, words)
        if open_only and (self._few_open() or self._many_hold(text, words)):
            return sa.or_(who, in_open)
        many = self._many_hold(text, words)
        first = sa.select(t.reports.c.case_id).where(words).limit(SEARCH_MOST).subquery()
        ids = [sa.select(c.id).where(who), sa.select(first.c.case_id)]
        if many:  # the first reports found may leave an open case out: ask each as well
            ids.append(sa.select(c.id).where(c.is_open == sa.true(), in_open))
        found = sa.union(*ids)
        if self.conn.dialect.name == "postgresql":
            # the ids first, then the cases by key: with ``IN`` the planner may guess
            # thousands of matches for a rare word and read every case instead
            return c.id == sa.any_(sa.func.array(found.scalar_subquery()))
        return c.id.in_(found)

    def _few_open(self) -> bool:
        """At most :data:`SEARCH_MOST` cases are open (read once per transaction): asking each
        is bounded."""
        if self._open_count is None:
            self._open_count = int(self.conn.execute(
                sa.select(sa.func.count()).select_from(t.cases)
                .where(t.cases.c.is_open == sa.true())).scalar_one())
        return self._open_count <= SEARCH_MOST

    def _many_hold(self, text: str, words: sa.ColumnElement[bool]) -> bool:
        """More than :data:`SEARCH_MOST` reports hold the words (read once per transaction)."""
        if text not in self._many_of:
            found = (sa.select(sa.literal_column("1")).where(words).limit(SEARCH_MOST + 1)
                     .subquery())
            self._many_of[text] = int(self.conn.execute(
                sa.select(sa.func.count()).select_from(found)).scalar_one()) > SEARCH_MOST
        return self._many_of[text]

    def _search_terms(self, text: str) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
        """SQL for :meth:`_searched`: a case about the person ``text`` names, and a report
        holding its words. On PostgreSQL both are index lookups (migration 0018); SQLite
        reads every report."""
        lowered = text.lower()
        who: sa.ColumnElement[bool]
        if ":" in lowered and not lowered.startswith("@"):
            platform, _, user = lowered.partition(":")
            who = sa.and_(t.cases.c.subject_platform == platform,
                          t.subject_lower.in_([user, "@" + user.lstrip("@")]))
        else:
            bare = lowered.lstrip("@")
            who = sa.or_(t.subject_lower.in_([bare, "@" + bare]),
                         t.subject_lower.like("@" + _like_escaped(bare) + ":%", escape="\\"))
        words: sa.ColumnElement[bool]
        if self.conn.dialect.name == "postgresql":
            words = t.report_words.op("@@")(
                sa.func.plainto_tsquery(sa.literal_column("'simple'"), text))
        else:  # every word, anywhere in the text (no index: a scan of the reports)
            words = sa.and_(*(sa.func.lower(t.report_text).like(
                "%" + _like_escaped(w) + "%", escape="\\") for w in lowered.split()[:10]))
        return who, words

    def search_cap(self, flt: CaseFilter) -> int | None:
        """How many of the reports holding ``flt``'s words its search reads, when that is not
        all of them (:data:`SEARCH_MOST`, across resolved cases); else None."""
        if not (flt.search and flt.search.strip()) or _open_only(flt):
            return None
        text = flt.search.strip()
        return SEARCH_MOST if self._many_hold(text, self._search_terms(text)[1]) else None

    def summaries(self, flt: CaseFilter) -> list[CaseSummary]:
        c = t.cases.c
        urgency = [c.flagrant.desc(), t.case_hurt.desc(), t.case_due.asc().nulls_last(),
                   c.opened_at.asc(), c.id.asc()]
        if not _open_only(flt):
            urgency.insert(0, c.is_open.desc())  # open cases first; ix_cases_queue is for open
        query = (self._filtered(sa.select(*_SUMMARY_COLUMNS), flt).order_by(*urgency)
                 .limit(flt.limit).offset(flt.offset))
        return [self._summary(r) for r in self.conn.execute(query).all()]

    @staticmethod
    def _summary(r: Sequence[Any]) -> CaseSummary:
        """A row of :data:`_SUMMARY_COLUMNS`, in their order."""
        (id_, platform, user_id, state, opened_at, taken_by, first_step_at, flagrant, hurt,
         reports, last_step, outcome, take_due_at, step_due_at, appeal_due_at) = r
        return CaseSummary(
            id=id_, subject=PersonRef(platform, user_id), state=CaseState(state),
            opened_at=opened_at, taken_by=taken_by, first_step_at=first_step_at,
            flagrant=flagrant, hurt=hurt, reports=reports, last_step=last_step, outcome=outcome,
            take_due_at=take_due_at, step_due_at=step_due_at, appeal_due_at=appeal_due_at,
        )

    def count(self, flt: CaseFilter) -> int:
        return int(self.conn.execute(
            self._filtered(sa.select(sa.func.count()).select_from(t.cases), flt)).scalar_one())

    def count_untaken(self, flt: CaseFilter) -> tuple[int, int]:
        """How many cases ``flt`` finds, and how many of them nobody has taken yet: the queue's
        total and the header's count in one read (on open cases, of ix_cases_open_people
        alone)."""
        untaken = sa.func.count().filter(t.cases.c.state == CaseState.NEW.value)
        found, new = self.conn.execute(self._filtered(
            sa.select(sa.func.count(), untaken).select_from(t.cases), flt)).one()
        return int(found), int(new)


class SqlTimerRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def schedule(self, timer: Timer) -> int:
        return int(self.conn.execute(_INSERT_TIMER, {
            "kind": str(timer.kind), "case_id": timer.case_id, "step_id": timer.step_id,
            "due_at": timer.due_at, "status": str(TimerStatus.PENDING), "attempts": timer.attempts,
        }).scalar_one())

    def schedule_all(self, timers: list[Timer]) -> None:
        if not timers:
            return
        self.conn.execute(_INSERT_TIMERS, [{
            "kind": str(timer.kind), "case_id": timer.case_id, "step_id": timer.step_id,
            "due_at": timer.due_at, "status": str(TimerStatus.PENDING), "attempts": timer.attempts,
        } for timer in timers])

    def cancel(self, case_id: int | None, kinds: tuple[TimerKind, ...],
               step_id: int | None = None) -> int:
        query = _CANCEL_TIMERS[case_id is not None, step_id is not None]
        params: dict[str, Any] = {"b_kinds": [str(k) for k in kinds]}
        if case_id is not None:
            params["b_case_id"] = case_id
        if step_id is not None:
            params["b_step_id"] = step_id
        return int(self.conn.execute(query, params).rowcount)

    def cancel_steps(self, kind: TimerKind, step_ids: list[int],
                     case_ids: list[int | None] | None = None) -> int:
        """Cancel the pending timers of ``kind`` for any of ``step_ids``, in one statement.
        ``case_ids``: the cases those timers were scheduled for, when known (then they are
        found by case, not among every pending timer)."""
        if not step_ids:
            return 0
        params: dict[str, Any] = {"b_kinds": [str(kind)], "b_step_ids": step_ids}
        if case_ids and None not in case_ids:
            params["b_case_ids"] = sorted(set(case_ids))
            return int(self.conn.execute(_CANCEL_FOR_CASE_STEPS, params).rowcount)
        return int(self.conn.execute(_CANCEL_FOR_STEPS, params).rowcount)

    def claim_due(self, now: datetime, limit: int, worker: str, lease: timedelta) -> list[Timer]:
        """Claim up to ``limit`` due timers for ``worker``; others skip them (SKIP LOCKED).

        A timer left running longer than ``lease`` (its worker died) can be claimed again.
        The earliest due come first, whether pending or reclaimed.
        """
        c = t.timers.c
        # Pending and stale running timers are looked for separately: each search walks the
        # (status, due_at) index in order and stops after ``limit`` rows, where one search for
        # both statuses would sort every due timer on each claim.
        pending = sa.select(c.id, c.due_at).where(
            c.status == str(TimerStatus.PENDING), c.due_at <= now)
        stale = sa.select(c.id, c.due_at).where(
            c.status == str(TimerStatus.RUNNING), c.due_at <= now, c.claimed_at < now - lease)
        branches = []
        for query in (pending, stale):
            query = query.order_by(c.due_at, c.id).limit(limit)
            if self.conn.dialect.name != "sqlite":  # BEGIN IMMEDIATE already serializes writers
                query = query.with_for_update(skip_locked=True)
            sub = query.subquery()
            branches.append(sa.select(sub.c.id, sub.c.due_at))
        either = sa.union_all(*branches).subquery()
        due = sa.select(either.c.id).order_by(either.c.due_at, either.c.id).limit(limit)
        rows = list(self.conn.execute(
            t.timers.update().where(c.id.in_(due.scalar_subquery()))
            .values(status=str(TimerStatus.RUNNING), claimed_by=worker, claimed_at=now)
            .returning(c.id, c.kind, c.case_id, c.step_id, c.due_at, c.attempts)
        ).all())
        rows.sort(key=lambda r: (r.due_at, r.id))
        return [Timer(TimerKind(r.kind), r.due_at, r.case_id, r.step_id, r.attempts,
                      TimerStatus.RUNNING, r.id) for r in rows]

    def finish(self, timer_ids: list[int], status: TimerStatus, error: str | None = None) -> None:
        if not timer_ids:
            return
        self.conn.execute(t.timers.update().where(t.timers.c.id.in_(timer_ids))
                          .values(status=str(status), error=error,
                                  done_at=sa.func.current_timestamp()))

    def pending(self, case_id: int | None = None) -> list[Timer]:
        query = sa.select(t.timers).where(t.timers.c.status == str(TimerStatus.PENDING))
        if case_id is not None:
            query = query.where(t.timers.c.case_id == case_id)
        return [Timer(TimerKind(r["kind"]), r["due_at"], r["case_id"], r["step_id"],
                      r["attempts"], TimerStatus(r["status"]), r["id"])
                for r in self.conn.execute(query.order_by(t.timers.c.due_at)).mappings()]


class SqlAuditLog:
    """The audit log: appended to, never changed (the database's guards refuse it), except for
    erasure's redaction, which keeps each entry's leaf hash."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def append_all(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        self.conn.execute(_INSERT_AUDIT, [{
            "at": e.at, "actor": e.actor, "kind": e.kind, "case_id": e.case_id,
            "summary": e.summary, "detail": e.detail,
            "leaf_hash": entry_leaf(e.at, e.actor, e.kind, e.case_id, e.summary, e.detail),
        } for e in entries])

    def entries(self, *, case_id: int | None = None, actor: str | None = None,
                since: datetime | None = None, until: datetime | None = None,
                limit: int = 500) -> list[AuditEntry]:
        c = t.audit.c
        query = sa.select(*_ENTRY_COLUMNS).order_by(c.id).limit(limit)
        if case_id is not None:
            query = query.where(c.case_id == case_id)
        if actor:
            query = query.where(c.actor == actor)
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at <= until)
        return [_audit_entry(r) for r in self.conn.execute(query).mappings()]

    def settled_last_id(self) -> int:
        if self.conn.dialect.name == "postgresql":
            # ids come from a sequence: a writer still in flight may hold a smaller id than one
            # already committed. SHARE waits for every such writer (and holds new ones until
            # this transaction ends), so no entry can later appear below the id read here.
            self.conn.exec_driver_sql("LOCK TABLE audit IN SHARE MODE")
        return int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.audit.c.id), 0)))
                   .scalar_one())

    def logged(self, upto_id: int) -> Iterator[LoggedEntry]:
        c = t.audit.c
        query = (sa.select(*_ENTRY_COLUMNS, c.leaf_hash, c.redacted).where(c.id <= upto_id)
                 .order_by(c.id))
        rows = self.conn.execute(query.execution_options(yield_per=_STREAM)).mappings()
        for r in rows:
            yield LoggedEntry(_audit_entry(r), r["leaf_hash"], bool(r["redacted"]))

    def leaf_hashes(self, after_id: int, upto_id: int) -> list[tuple[int, bytes | None]]:
        c = t.audit.c
        rows = self.conn.execute(
            sa.select(c.id, c.leaf_hash).where(c.id > after_id, c.id <= upto_id).order_by(c.id)
            .execution_options(yield_per=_STREAM))
        return [(r[0], r[1]) for r in rows]

    def report_entry(self, case_id: int, report_id: int) -> int | None:
        c = t.audit.c
        for entry_id, detail in self.conn.execute(
                sa.select(c.id, c.detail).where(c.case_id == case_id, c.kind == "report.filed")
                .order_by(c.id)):
            if isinstance(detail, dict) and detail.get("report_id") == report_id:
                return int(entry_id)
        return None

    def checkpoints(self) -> list[StoredCheckpoint]:
        cp = t.audit_checkpoints
        return [StoredCheckpoint(
            Checkpoint(r["size"], r["root"], r["signed_at"], r["public_key"], r["signature"]),
            r["last_id"], tuple(r["gaps"]),
            Frontier(r["size"], [bytes.fromhex(h) for h in r["frontier"]]))
            for r in self.conn.execute(sa.select(cp).order_by(cp.c.size, cp.c.id)).mappings()]

    def add_checkpoint(self, stored: StoredCheckpoint) -> None:
        c = stored.checkpoint
        assert c.signed_at is not None
        self.conn.execute(t.audit_checkpoints.insert().values(
            size=c.size, root=c.root, last_id=stored.last_id, gaps=list(stored.gaps),
            frontier=[h.hex() for h in stored.frontier.hashes], signed_at=c.signed_at,
            public_key=c.public_key, signature=c.signature))

    def leaves_from(self, first_id: int, upto_id: int, count: int) -> list[tuple[int, bytes | None]]:
        c = t.audit.c
        return [(r[0], r[1]) for r in self.conn.execute(
            sa.select(c.id, c.leaf_hash).where(c.id >= first_id, c.id <= upto_id)
            .order_by(c.id).limit(count))]

    def node(self, level: int, idx: int) -> bytes | None:
        n = t.audit_nodes.c
        found = self.conn.execute(sa.select(n.hash).where(n.level == level, n.idx == idx)).scalar()
        return None if found is None else bytes(found)

    def last_block(self, level: int) -> tuple[int, int] | None:
        n = t.audit_nodes.c
        row = self.conn.execute(sa.select(n.idx, n.last_id).where(n.level == level)
                                .order_by(n.idx.desc()).limit(1)).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def block_of(self, level: int, entry_id: int) -> tuple[int, int] | None:
        n = t.audit_nodes.c
        row = self.conn.execute(sa.select(n.idx, n.first_id, n.last_id)
                                .where(n.level == level, n.first_id <= entry_id)
                                .order_by(n.first_id.desc()).limit(1)).first()
        return None if row is None or row[2] < entry_id else (int(row[0]), int(row[1]))

    def add_nodes(self, nodes: list[tuple[int, int, bytes, int | None, int | None]]) -> bool:
        if not nodes:
            return True
        try:
            with self.conn.begin_nested():  # another process kept the same ones first
                self.conn.execute(t.audit_nodes.insert(), [
                    {"level": level, "idx": idx, "hash": h, "first_id": first, "last_id": last}
                    for level, idx, h, first, last in nodes])
        except IntegrityError:
            return False
        return True

    def redact(self, entry_ids: list[int]) -> int:
        c = t.audit.c
        result = self.conn.execute(
            t.audit.update().where(c.id.in_(entry_ids), c.redacted == sa.false())
            .values(actor=REDACTED_ACTOR, summary="(erased)", detail={}, redacted=True))
        return int(result.rowcount)


_STREAM = 10_000
REDACTED_ACTOR = "(erased)"
_ENTRY_COLUMNS = tuple(t.audit.c[name] for name in
                       ("id", "at", "actor", "kind", "case_id", "summary", "detail"))


def _audit_entry(r: RowMapping) -> AuditEntry:
    return AuditEntry(at=r["at"], actor=r["actor"], kind=r["kind"], summary=r["summary"],
                      case_id=r["case_id"], detail=r["detail"], id=r["id"])


class SqlCursors:
    """Small named values adapters keep across restarts (e.g. a read position)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, name: str) -> str | None:
        value = self.conn.execute(sa.select(t.cursors.c.value)
                                  .where(t.cursors.c.name == name)).scalar()
        return None if value is None else str(value)

    def set(self, name: str, value: str) -> None:
        updated = self.conn.execute(t.cursors.update().where(t.cursors.c.name == name)
                                    .values(value=value)).rowcount
        if not updated:
            self.conn.execute(t.cursors.insert().values(name=name, value=value))

    def claim(self, name: str, value: str) -> bool:
        if self.get(name) is not None:
            return False
        try:
            with self.conn.begin_nested():  # the same name claimed at once elsewhere: one wins
                self.conn.execute(t.cursors.insert().values(name=name, value=value))
        except IntegrityError:
            return False
        return True

    def forget(self, prefix: str, before: str) -> int:
        c = t.cursors.c
        return int(self.conn.execute(t.cursors.delete().where(
            c.name.startswith(prefix, autoescape=True), c.value < before)).rowcount)


class SqlRateHits:
    """Counted attempts for rate limits, shared by every process on the database."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def count(self, scope: str, key_hash: str, since: datetime) -> int:
        h = t.rate_hits.c
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(t.rate_hits).where(
            h.scope == scope, h.key_hash == key_hash, h.at > since)).scalar_one())

    def add(self, scope: str, key_hash: str, at: datetime) -> None:
        self.conn.execute(t.rate_hits.insert().values(scope=scope, key_hash=key_hash, at=at))

    def clear(self, scope: str, key_hash: str) -> None:
        h = t.rate_hits.c
        self.conn.execute(t.rate_hits.delete().where(h.scope == scope, h.key_hash == key_hash))

    def prune(self, scope: str, before: datetime) -> None:
        h = t.rate_hits.c
        self.conn.execute(t.rate_hits.delete().where(h.scope == scope, h.at <= before))


class SqlNudgeRepository:
    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self.conn = conn
        self.sealer = sealer

    def _row(self, n: Nudge) -> dict[str, Any]:
        who = _reporter_columns(n.reporter, n.anonymous, self.sealer)
        return {
            "subject_platform": n.subject.platform, "subject_id": n.subject.user_id,
            # the platform says where to reach them, never who: kept in plain
            **who, "reporter_platform": n.reporter.platform if n.reporter else n.source.value,
            "source": str(n.source), "channel": n.channel, "message_id": n.message_id,
            "message_text": n.message_text, "message_link": n.message_link,
            "asked_at": n.asked_at, "due_at": n.due_at, "state": str(n.state),
            "answer": str(n.answer) if n.answer else None, "case_id": n.case_id,
            "note": n.note, "harmed": [p.key for p in n.harmed], "anonymous": n.anonymous,
            "apology": n.apology, "apology_at": n.apology_at,
        }

    def _load(self, r: RowMapping) -> Nudge:
        sealed = r["reporter_sealed"]
        reporter = (open_sealed(self.sealer, sealed) if sealed
                    else _person(r["reporter_platform"], r["reporter_id"]))
        return Nudge(
            subject=PersonRef(r["subject_platform"], r["subject_id"]),
            reporter=reporter, source=Source(r["source"]),
            channel=r["channel"], message_id=r["message_id"], asked_at=r["asked_at"],
            due_at=r["due_at"], message_text=r["message_text"], message_link=r["message_link"],
            state=NudgeState(r["state"]), answer=Answer(r["answer"]) if r["answer"] else None,
            case_id=r["case_id"], note=r["note"],
            harmed=tuple(PersonRef.from_key(k) for k in r["harmed"] or ()),
            anonymous=r["anonymous"],
            apology=r["apology"], apology_at=r["apology_at"], id=r["id"],
        )

    def add(self, nudge: Nudge) -> int:
        nudge.id = int(self.conn.execute(t.nudges.insert().values(**self._row(nudge))
                                         .returning(t.nudges.c.id)).scalar_one())
        return nudge.id

    def get(self, nudge_id: int) -> Nudge | None:
        row = self.conn.execute(sa.select(t.nudges).where(t.nudges.c.id == nudge_id)
                                .with_for_update()).mappings().first()
        return self._load(row) if row else None

    def save(self, nudge: Nudge) -> None:
        self.conn.execute(t.nudges.update().where(t.nudges.c.id == nudge.id).values(**self._row(nudge)))

    def waiting_for(self, subject: PersonRef, channel: str, message_id: str) -> list[Nudge]:
        c = t.nudges.c
        rows = self.conn.execute(sa.select(t.nudges).where(
            c.subject_platform == subject.platform, c.subject_id == subject.user_id,
            c.channel == channel, c.message_id == message_id, c.state == str(NudgeState.WAITING),
        ).order_by(c.id).with_for_update()).mappings()
        return [self._load(r) for r in rows]

    def waiting_on(self, platform: str) -> list[tuple[str, str, str]]:
        """(channel, message id, author) of every nudge on ``platform`` still waiting: the
        messages whose edit, removal or follow-up the chat desk listens for."""
        c = t.nudges.c
        rows = self.conn.execute(sa.select(c.channel, c.message_id, c.subject_id).where(
            c.subject_platform == platform, c.state == str(NudgeState.WAITING)).distinct())
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def waiting_from(self, reporter: PersonRef) -> list[Nudge]:
        """The reporter's own nudges that still wait for an answer. An anonymous reporter's id
        is sealed (and sealing is not deterministic), so the waiting sealed ones are opened and
        compared: few nudges wait at any time."""
        c = t.nudges.c
        rows = self.conn.execute(sa.select(t.nudges).where(
            c.state == str(NudgeState.WAITING),
            sa.or_(sa.and_(c.reporter_platform == reporter.platform,
                           c.reporter_id == reporter.user_id),
                   c.reporter_sealed.is_not(None)),
        ).order_by(c.id).with_for_update()).mappings()
        return [n for n in map(self._load, rows) if n.reporter == reporter]


class SqlNoticeRepository:
    """Notices the desk promised. An anonymous reporter is kept only sealed (see
    :func:`_reporter_columns`); the service keeps no such notice when there is no key."""

    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self.conn = conn
        self.sealer = sealer

    def _row(self, n: Notice) -> dict[str, Any]:
        who = _reporter_columns(n.to, n.anonymous, self.sealer)
        return {
            "platform": n.platform, "kind": str(n.kind), "purpose": str(n.purpose),
            "case_id": n.case_id, "to_platform": who["reporter_platform"],
            "to_id": who["reporter_id"], "to_sealed": who["reporter_sealed"],
            "anonymous": n.anonymous, "reply_to": n.reply_to, "text": n.text,
            "status": str(n.status), "attempts": n.attempts, "created_at": n.created_at,
            "due_at": n.due_at, "sent_at": n.sent_at, "last_error": n.last_error,
        }

    def _load(self, r: RowMapping) -> Notice:
        sealed = r["to_sealed"]
        to = open_sealed(self.sealer, sealed) if sealed else _person(r["to_platform"], r["to_id"])
        return Notice(
            platform=r["platform"], kind=NoticeKind(r["kind"]), text=r["text"], to=to,
            case_id=r["case_id"], purpose=r["purpose"], reply_to=r["reply_to"],
            anonymous=r["anonymous"], status=NoticeStatus(r["status"]), attempts=r["attempts"],
            created_at=r["created_at"], due_at=r["due_at"], last_error=r["last_error"],
            sent_at=r["sent_at"], id=r["id"],
        )

    def add(self, notice: Notice) -> int:
        return self.add_all([notice])[0]

    def add_all(self, notices: list[Notice]) -> list[int]:
        """Keep several notices in one statement; their ids, in the same order."""
        if not notices:
            return []
        return [int(i) for i in self.conn.execute(
            _INSERT_NOTICES, [self._row(n) for n in notices]).scalars()]

    def get_many(self, notice_ids: list[int], *, lock: bool = False) -> dict[int, Notice]:
        """The notices with these ids (those that exist), by id; in one query."""
        if not notice_ids:
            return {}
        query = _SELECT_NOTICES_LOCKED if lock else _SELECT_NOTICES
        return {n.id: n for n in map(self._load, self.conn.execute(
            query, {"notice_ids": notice_ids}).mappings()) if n.id is not None}

    def save_all(self, notices: list[Notice]) -> None:
        """Write several notices back, in one statement."""
        if notices:
            self.conn.execute(_UPDATE_NOTICE, [{"notice_id": n.id, **self._row(n)}
                                               for n in notices])

    def mark_sent(self, notice_ids: list[int], at: datetime) -> dict[int, tuple[int | None, int]]:
        """Mark the notices with these ids that are still pending as sent at ``at`` (one more
        try each), in one statement; (case id, tries) of each one marked, by id."""
        if not notice_ids:
            return {}
        return {int(r.id): (r.case_id, int(r.attempts)) for r in self.conn.execute(
            _MARK_SENT, {"notice_ids": notice_ids, "b_sent_at": at})}

    def get(self, notice_id: int, *, lock: bool = False) -> Notice | None:
        query = _SELECT_NOTICE_LOCKED if lock else _SELECT_NOTICE
        row = self.conn.execute(query, {"notice_id": notice_id}).mappings().first()
        return self._load(row) if row else None

    def save(self, notice: Notice) -> None:
        assert notice.id is not None
        self.conn.execute(_UPDATE_NOTICE, {"notice_id": notice.id, **self._row(notice)})

    def for_case(self, case_id: int, purpose: str | None = None) -> list[Notice]:
        query = sa.select(t.notices).where(t.notices.c.case_id == case_id)
        if purpose is not None:
            query = query.where(t.notices.c.purpose == purpose)
        return [self._load(r) for r in self.conn.execute(query.order_by(t.notices.c.id)).mappings()]


class SqlMessageRepository:
    """Follow-up messages. A reporter is found through their report (sealed when
    anonymous), so this table never holds who a reporter is."""

    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self.conn = conn
        self.sealer = sealer

    @staticmethod
    def _load(r: RowMapping) -> Message:
        return Message(case_id=r["case_id"], party=Party(r["party"]),
                       direction=Direction(r["direction"]), text=r["text"], at=r["at"],
                       by=r["by"], report_id=r["report_id"], reply_to=r["reply_to"],
                       read_at=r["read_at"], id=r["id"])

    def add(self, message: Message) -> int:
        return int(self.conn.execute(t.messages.insert().values(
            case_id=message.case_id, party=str(message.party),
            direction=str(message.direction), report_id=message.report_id,
            reply_to=message.reply_to, by=message.by, text=message.text, at=message.at,
            read_at=message.read_at).returning(t.messages.c.id)).scalar_one())

    def for_case(self, case_id: int) -> list[Message]:
        rows = self.conn.execute(sa.select(t.messages).where(t.messages.c.case_id == case_id)
                                 .order_by(t.messages.c.id)).mappings()
        return [self._load(r) for r in rows]

    def mark_read(self, message_ids: list[int], at: datetime) -> None:
        if message_ids:
            self.conn.execute(t.messages.update().where(
                t.messages.c.id.in_(message_ids), t.messages.c.read_at.is_(None)
            ).values(read_at=at))

    def open_questions_to(self, person: PersonRef) -> list[Message]:
        """The questions to ``person`` as a reporter that nobody answered yet, on open cases,
        oldest first. Anonymous reporters are sealed (and sealing is not deterministic), so
        the unanswered questions on sealed reports are opened and compared: few wait."""
        m, r = t.messages.c, t.reports.c
        answer = t.messages.alias("answer")
        answers = sa.select(answer.c.id).where(answer.c.reply_to == m.id).exists()
        rows = self.conn.execute(
            sa.select(t.messages, r.reporter_sealed)
            .join(t.reports, t.reports.c.id == m.report_id)
            .join(t.cases, t.cases.c.id == m.case_id)
            .where(m.party == str(Party.REPORTER), m.direction == str(Direction.TO_PARTY),
                   t.cases.c.is_open == sa.true(), ~answers,
                   sa.or_(sa.and_(r.reporter_platform == person.platform,
                                  r.reporter_id == person.user_id),
                          r.reporter_sealed.is_not(None)))
            .order_by(m.id)).mappings().all()
        return [self._load(row) for row in rows
                if not row["reporter_sealed"]
                or open_sealed(self.sealer, row["reporter_sealed"]) == person]
