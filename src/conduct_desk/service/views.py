"""Read models for the CLI, the web desk and the API: what an admin sees of a case.

Reporters who asked to stay anonymous appear as "anonymous" here, everywhere.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import ConfidentialityError, InvalidInput, Recused
from conduct_desk.domain.identities import StepEffect, evasion_hints, own_effects
from conduct_desk.domain.ladder import PastStep, Recommendation, recommend
from conduct_desk.domain.messages import Message, Party
from conduct_desk.domain.model import (
    DECISION_NOTES,
    OUTCOME_WORDS,
    AppealDecision,
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
from conduct_desk.domain.standing import Standing, standing, standing_lines
from conduct_desk.service import notices as outbox
from conduct_desk.service import roster
from conduct_desk.service.followups import reporter_name
from conduct_desk.service.handlers import (
    AppealDraft,
    Composed,
    Desk,
    check_may_decide,
    compose_appeal_decision,
    compose_step,
    everyone_recused,
    parse_decision,
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
    waiting: int | None = None  # of the open cases, how many nobody has taken (plain queue)
    searched_most: int | None = None  # a search read only this many of the reports it matched

    @property
    def searched_note(self) -> str | None:
        """What the page says when its search read only the first reports found."""
        return capped_search(self.searched_most) if self.searched_most else None

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


HISTORY_SHOWN = 10  # a person's earlier steps a case page lists, the latest


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
    standing: Standing = Standing()  # where the subject stands now, from every case
    now: datetime | None = None  # when the detail was read (to word the standing)
    open_others: tuple[CaseSummary, ...] = ()  # the other open cases about the same person
    linked: tuple[PersonRef, ...] = ()  # the subject's other accounts, linked to theirs
    # the subject is linked to accounts banned or suspended now ("linked to x, banned in case 4")
    evasion: tuple[str, ...] = ()
    effects: tuple[StepEffect, ...] = ()  # steps carried out on the linked accounts
    waiting: int | None = None  # open cases nobody has taken, as the viewer may see them

    @property
    def recent_history(self) -> list[PastStep]:
        """The latest of :attr:`history` a case page lists (the person's page lists all)."""
        return self.history[-HISTORY_SHOWN:]

    @property
    def history_summary(self) -> str:
        """When :attr:`recent_history` leaves steps out: how many there are, by rung
        ("23 earlier steps in 12 cases: 10 remind, 8 warn, 5 suspend")."""
        if len(self.history) <= HISTORY_SHOWN:
            return ""
        rungs = Counter(p.rung for p in self.history)
        cases = len({p.case_id for p in self.history})
        return (f"{len(self.history)} earlier steps in {cases} cases: "
                + ", ".join(f"{n} {rung}" for rung, n in rungs.most_common()))

    def effects_of(self, step_id: int | None) -> list[StepEffect]:
        """What the step did on each linked account (scope "everywhere"), oldest first."""
        return [e for e in self.effects if e.step_id == step_id]

    @property
    def linked_lines(self) -> list[str]:
        """For the chat cards: "Linked to x, banned in case 4" and the other linked accounts."""
        lines = [line[0].upper() + line[1:] for line in self.evasion]
        if self.linked:
            lines.append("Linked accounts: " + ", ".join(map(str, self.linked)))
        return lines

    @property
    def now_lines(self) -> list[str]:
        """Where the subject stands now, in plain words (empty: no step in force)."""
        return standing_lines(self.standing, self.now) if self.now is not None else []

    @property
    def no_step_because(self) -> str | None:
        """Why nothing is recommended on an open case: the subject is banned already."""
        ban = self.standing.banned
        if ban is None or not self.case.is_open:
            return None
        where = "in this case" if ban.case_id == self.case.id else f"in case {ban.case_id}"
        return f"Already banned ({where}): no further step is recommended for {self.case.subject}"
    follow_ups: tuple[FollowUp, ...] = ()  # questions to reporters, messages with the subject

    @property
    def undelivered(self) -> tuple[NoticeState, ...]:
        """Notices still waiting for the platform, or that failed: for the case page."""
        return tuple(n for n in self.notices if n.status is not NoticeStatus.SENT)


@dataclass(frozen=True)
class FollowUp:
    """One follow-up message as every admin may see it: ``party`` names the reporter as the
    case does (never an anonymous one), or "the person it is about"."""

    message: Message
    party: str

    @property
    def sentence(self) -> str:
        """Who wrote to whom: "ana asked riley", "the reporter (anonymous) answered"."""
        m = self.message
        if m.party is Party.REPORTER:
            return f"{m.by} asked {self.party}" if m.from_admins else f"{self.party} answered"
        return f"{m.by} wrote to {self.party}" if m.from_admins else f"{self.party} wrote"


def follow_ups(case: Case, messages: list[Message]) -> tuple[FollowUp, ...]:
    """The case's follow-up messages with their party named as admins may read it."""
    reports = {r.id: r for r in case.reports}
    found = []
    for m in messages:
        report = reports.get(m.report_id) if m.report_id is not None else None
        party = (reporter_name(report) if report is not None else "the reporter"
                 ) if m.party is Party.REPORTER else "the person it is about"
        found.append(FollowUp(m, party))
    return tuple(found)


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
    standing: Standing = Standing()
    now: datetime | None = None
    accounts: tuple[PersonRef, ...] = ()  # this account first, then those linked to it

    @property
    def now_lines(self) -> list[str]:
        return standing_lines(self.standing, self.now) if self.now is not None else []

    @property
    def linked(self) -> tuple[PersonRef, ...]:
        return self.accounts[1:]

    @property
    def open_cases(self) -> list[CaseSummary]:
        return [c for c in self.cases if c.state in OPEN_STATES]


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
    Cases about the viewer (any of their names or linked accounts) are left out, as on the
    queue page."""
    flt = flt or CaseFilter(states=OPEN_STATES)
    with uow.reading():
        if viewer:
            flt = dataclasses.replace(flt, not_about=(*flt.not_about, *linked(uow, viewer)))
        rows = uow.cases.summaries(flt)
    return [QueueItem(s, *deadline_of(s, now)) for s in rows]


def queue_page(uow: UnitOfWork, now: datetime, page: int, size: int,
               viewer: tuple[str, ...] = (), *, appeals: bool = False) -> QueuePage:
    """The ``page``-th ``size`` open cases of the queue, and how many are open in all.
    Cases about the viewer (any of their names or linked accounts) are not theirs to see.
    ``appeals``: instead, the cases (open or resolved) with an appeal waiting."""
    if page < 1 or size < 1:
        raise InvalidInput("pages and page sizes count from 1")
    waiting = None
    with uow.reading():
        flt = CaseFilter(states=() if appeals else OPEN_STATES, limit=size,
                         offset=(page - 1) * size, not_about=linked(uow, viewer), appeals=appeals)
        rows = uow.cases.summaries(flt)
        if not appeals:  # the total, and the header's count of untaken cases, in one read
            total, waiting = uow.cases.count_untaken(flt)
        elif len(rows) == size or (not rows and page > 1):
            total = uow.cases.count(flt)
        else:  # a page that is not full is the last one: the total follows without counting
            total = flt.offset + len(rows)
    return QueuePage([QueueItem(s, *deadline_of(s, now)) for s in rows], page, size, total,
                     waiting)


STATE_CHOICES = ("open", "new", "taken", "acting", "resolved", "all")
ORDER_SENTENCE = ("Most urgent first: flagrant cases, then those where someone was hurt, "
                  "then the nearest deadline.")


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters and search, as its address carries them; all off is the queue.
    ``q`` is a case number (``12`` or ``#12``), a person (``sam``, ``sandbox:sam``) or
    words in the case's reports."""

    state: str = "open"
    mine: bool = False
    unassigned: bool = False
    flagrant: bool = False
    overdue: bool = False
    appeals: bool = False
    platform: str = ""
    q: str = ""

    @property
    def case_number(self) -> int | None:
        text = self.q.strip().removeprefix("#").strip()
        return int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 9 else None

    @property
    def narrowed(self) -> bool:
        """Anything besides the appeals view: the plain queue (or appeals) is read as before."""
        return (self.state != "open" or self.mine or self.unassigned or self.flagrant
                or self.overdue or bool(self.platform) or bool(self.q.strip()))

    def active(self) -> list[tuple[str, str]]:
        """The filters in force, as (the address's name for it, words for the page)."""
        on = [("state", f"state: {self.state}") if self.state != "open" else None,
              ("mine", "taken by me") if self.mine else None,
              ("unassigned", "nobody has taken") if self.unassigned else None,
              ("flagrant", "flagrant") if self.flagrant else None,
              ("overdue", "overdue") if self.overdue else None,
              ("appeals", "appeal waiting") if self.appeals else None,
              ("platform", f"on {self.platform}") if self.platform else None,
              ("q", f"search: “{self.q.strip()}”") if self.q.strip() else None]
        return [a for a in on if a is not None]

    def case_filter(self, now: datetime, me: str, viewer: tuple[str, ...], *,
                    limit: int, offset: int) -> CaseFilter:
        """The filter for storage; a search leaves out what the viewer may not see."""
        states = parse_states("all" if self.appeals and self.state == "open" else self.state)
        number, q = self.case_number, self.q.strip()
        return CaseFilter(
            states=states, limit=limit, offset=offset, not_about=viewer, appeals=self.appeals,
            taken_by=me if self.mine else None, unassigned=self.unassigned,
            flagrant=self.flagrant, overdue_at=now if self.overdue else None,
            platform=self.platform or None, case_id=number,
            search=q if q and number is None else None,
            not_involving=viewer if q else ())


def filtered_queue_page(uow: UnitOfWork, now: datetime, page: int, size: int,
                        viewer: tuple[str, ...], filters: QueueFilters) -> QueuePage:
    """A page of the queue through its filters and search; ``viewer[0]`` is "me". Unfiltered,
    exactly :func:`queue_page`. A search never shows the viewer a case they are involved in
    (even as an anonymous reporter, which only the case itself can tell)."""
    if not filters.narrowed:
        return queue_page(uow, now, page, size, viewer, appeals=filters.appeals)
    if page < 1 or size < 1:
        raise InvalidInput("pages and page sizes count from 1")
    items, total, cap = filtered_queue(uow, now, filters, viewer, limit=size,
                                       offset=(page - 1) * size, counted=True)
    return QueuePage(items, page, size, total, searched_most=cap)


def filtered_queue(uow: UnitOfWork, now: datetime, filters: QueueFilters,
                   viewer: tuple[str, ...], *, limit: int, offset: int = 0,
                   counted: bool = False) -> tuple[list[QueueItem], int, int | None]:
    """The queue through ``filters`` (``viewer[0]`` is "me"); when ``counted`` how many
    match in all (else 0); and how many of the reports holding the search's words were read
    when that was not all of them (:meth:`CaseRepository.search_cap`), else None. A search
    leaves out the cases the viewer is involved in."""
    with uow:
        viewer = linked(uow, viewer)
        flt = filters.case_filter(now, viewer[0] if viewer else "", viewer,
                                  limit=limit, offset=offset)
        rows = uow.cases.summaries(flt)
        total = uow.cases.count(flt) if counted else 0
        cap = uow.cases.search_cap(flt)
        if flt.not_involving:  # anonymous reporters are sealed: ask each case found
            rows = [s for s in rows
                    if not any(uow.cases.get(s.id).involves(n) for n in viewer if n)]
    return [QueueItem(s, *deadline_of(s, now)) for s in rows], total, cap


def capped_search(cap: int) -> str:
    """A search read only the first ``cap`` reports holding its words: said the same way on
    every surface."""
    return (f"These words are in more than {cap:,} reports: the cases of the first {cap:,} "
            "found are listed. Add a word, a name or a filter to narrow the search; open "
            "cases are always searched in full.")


def by_person(items: list[QueueItem]) -> list[tuple[PersonRef, list[QueueItem]]]:
    """The items under each person, people in the order their first case comes, and each
    person's cases in the queue's order."""
    groups: dict[PersonRef, list[QueueItem]] = {}
    for i in items:
        groups.setdefault(i.summary.subject, []).append(i)
    return list(groups.items())


def waiting_count(uow: UnitOfWork, viewer: tuple[str, ...] = ()) -> int:
    """How many open cases nobody has taken yet (the web header's count). Cases about the
    viewer (any of their names or linked accounts) are not theirs to see, so not counted."""
    with uow:
        return uow.cases.count(CaseFilter(states=(CaseState.NEW,),
                                          not_about=linked(uow, viewer)))


def linked(uow: UnitOfWork, viewer: tuple[str, ...]) -> tuple[str, ...]:
    """The viewer's names and every account linked to one of them: a case about any is not
    theirs to see (call inside a unit of work)."""
    return roster.linked_names(uow, viewer[0], viewer[1:]) if viewer else viewer


def check_viewer(case: Case, viewer: str | None, aliases: tuple[str, ...] = ()) -> None:
    """Refuse (:class:`Recused`) an admin involved in the case, by name or platform identity."""
    for name in (viewer, *aliases):
        if name:
            case.check_not_recused(name)


def load_case(uow: UnitOfWork, case_id: int) -> Case:
    """A case as stored (call :func:`check_access` first: this checks nothing)."""
    with uow:
        return uow.cases.get(case_id)


def check_access(uow: UnitOfWork, case_id: int, viewer: str, aliases: tuple[str, ...] = ()) -> None:
    """Refuse an unknown case (:class:`NotFound`) or a recused admin, before anything else."""
    with uow:
        case = uow.cases.get(case_id)
        aliases = roster.linked_names(uow, viewer, aliases)[1:]
    check_viewer(case, viewer, aliases)


def case_detail(uow: UnitOfWork, desk: Desk, case_id: int, viewer: str | None = None,
                aliases: tuple[str, ...] = (), *, count_waiting: bool = False) -> CaseDetail:
    """One case for an admin. A recused admin is refused (:class:`Recused`).
    ``count_waiting``: with the viewer's :func:`waiting_count` (a page's header), in the
    same read."""
    now = desk.clock.now()
    with uow.reading():
        case = uow.cases.get(case_id)
        known = roster.everyone(uow, desk.platform_admins)
        if viewer:
            aliases = roster.linked_names(uow, viewer, aliases, known)[1:]
        check_viewer(case, viewer, aliases)
        history, lasting = uow.cases.history_and_effects(case.subject)
        timeline = uow.audit.entries(case_id=case_id, limit=10_000)
        kept = uow.notices.for_case(case_id)
        now_stands = standing(own_effects(lasting, case.subject), now)  # linked: evasion
        linked = uow.cases.linked(case.subject)[1:]
        effects = tuple(uow.people.step_effects(case_id))
        open_others = tuple(c for c in uow.cases.summaries(
            CaseFilter(states=OPEN_STATES, subject=case.subject, limit=50)) if c.id != case_id)
        messages = uow.messages.for_case(case_id)
        waiting = uow.cases.count(CaseFilter(states=(CaseState.NEW,), not_about=(
            viewer, *aliases))) if count_waiting and viewer else None
    if viewer is not None and any(not m.from_admins and m.read_at is None for m in messages):
        with uow:  # an admin reads what the reporters and the subject wrote
            _seen(uow, messages, now, from_admins=False)
            uow.commit()
    rec = (recommend(case, history, desk.policy, now)
           if case.is_open and now_stands.banned is None else None)
    others = [p for p in history if p.case_id != case_id]
    backup = desk.policy.backup if case.is_open and everyone_recused(case, known) else None
    return CaseDetail(case, rec, others, timeline, case.deadline_state(now),
                      hurt_admins=hurt_admins(case, known),
                      stepped_aside=tuple(n.by for n in case.notes if n.kind is NoteKind.RECUSED),
                      backup=backup, notices=tuple(_notice_states(case, kept, now)),
                      standing=now_stands, open_others=open_others, now=now,
                      follow_ups=follow_ups(case, messages),
                      linked=linked, evasion=tuple(evasion_hints(case.subject, lasting, now)),
                      effects=effects, waiting=waiting)


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
    if n.kind is NoticeKind.EMAIL:
        to, where = f"the email to {to}", "the mail server"
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
    """The exact text a step would send now, for the admin to read and edit first (a
    resolved case takes none: said before any window opens)."""
    with uow:
        case = uow.cases.get(case_id)
        known = roster.identify(uow, desk.platform_admins, admin)
    for name in known.names:
        case.check_not_recused(name)
    case.check_open()
    try:
        return compose_step(case, rung, admin, desk, duration=duration, suggestion=suggestion)
    except ConfidentialityError as exc:  # a preview can probe names as well as a step
        record_refusal(uow, desk, case_id, known.name, exc.field)
        raise


def preview_appeal_decision(uow: UnitOfWork, desk: Desk, case_id: int, admin: str,
                            decision: str, *, to: str | None = None,
                            duration: str | None = None) -> AppealDraft:
    """The exact message a decision on the appeal would send now, and what it would do; the
    admins who may not decide it (involved, or who took the step) are refused here too."""
    with uow:
        case = uow.cases.get(case_id)
        known = roster.identify(uow, desk.platform_admins, admin)
    check_may_decide(known, case.check_may_decide_appeal(known.names))
    try:
        return compose_appeal_decision(case, parse_decision(decision), known.name, desk, to=to,
                                       duration=duration)
    except ConfidentialityError as exc:
        record_refusal(uow, desk, case_id, known.name, exc.field)
        raise


def appeal_json(case: Case) -> dict[str, Any]:
    """Where the case's appeal stands, for admins: waiting (until when, against which step)
    and every decision taken."""
    step = case.appealed_step if case.appeal_pending else None
    kinds = {v: k for k, v in DECISION_NOTES.items()}
    return {
        "waiting": case.appeal_pending, "due_at": case.appeal_due_at,
        "filed_at": case.appeal_filed_at if case.appeal_pending else None,
        "step_id": step.id if step else None, "step": step.rung if step else None,
        "step_by": step.actor if step else None,
        "decisions": [{"decision": kinds[n.kind], "at": n.at, "by": n.by, "message": n.text}
                      for n in case.decisions],
    }


def check_step_text(uow: UnitOfWork, desk: Desk, case_id: int, admin: str, text: str) -> None:
    """An admin's own text for the subject, checked (and a refusal audited) before a step."""
    with uow:
        case = uow.cases.get(case_id)
    try:
        check_confidential(text, case, desk.name_guard(case, admin), field="text")
    except ConfidentialityError as exc:
        record_refusal(uow, desk, case_id, admin, exc.field)
        raise


def person_history(uow: UnitOfWork, person: PersonRef, viewer: tuple[str, ...] = (), *,
                   now: datetime) -> PersonHistory:
    """A person's cases, steps and where they stand at ``now``; empty, with ``hidden`` set,
    when the viewer is that person."""
    if viewer and viewer[0]:
        with uow:
            viewer = roster.linked_names(uow, viewer[0], viewer[1:])
    if any(person.matches(name) for name in viewer if name):
        return PersonHistory(person, [], [], hidden=True)
    with uow:
        cases = uow.cases.summaries(CaseFilter(subject=person, limit=1000))
        steps, effects = uow.cases.history_and_effects(person)
        accounts = uow.people.linked(person)
    return PersonHistory(person, cases, steps,
                         standing=standing(effects, now), now=now, accounts=accounts)


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
             "account": r.account, "hoped_for": r.hoped_for, "message_link": r.message_link,
             "note": r.note, "flagrant": r.flagrant,
             "hurt": [str(p) for p in r.harmed if not (r.anonymous and p == r.reporter)]}
            for i, r in enumerate(case.reports)
        ],
        "steps": [
            {"id": s.id, "rung": s.rung, "action": s.action, "actor": s.actor,
             "recorded_at": s.recorded_at, "status": s.status, "text": s.text, "until": s.until,
             "recommended": s.recommended, "reason": s.reason, "detail": s.detail,
             "attempts": s.attempts, "restored_at": s.restored_at,
             "overturned_at": s.overturned_at}
            for s in case.steps
        ],
        "consultations": [
            {"admin": c.admin, "at": c.at, "person": str(c.person) if c.person else None,
             "summary": c.summary} for c in case.consultations
        ],
        "notes": [{"kind": n.kind, "at": n.at, "by": n.by, "text": n.text}
                  for n in case.notes if n.kind in (NoteKind.REREAD, NoteKind.APPEAL)],
        "appeal": appeal_json(case),
        "hurt_admins": [{"admin": h.admin, "person": str(h.person)} for h in detail.hurt_admins],
        "confirmed_hurt": [str(p) for p in case.confirmed_hurt],
        "stepped_aside": list(detail.stepped_aside),
        "backup_admins": list(detail.backup) if detail.backup is not None else None,
        "recommendation": (
            {"step": detail.recommendation.rung.name, "reason": detail.recommendation.reason}
            if detail.recommendation else None
        ),
        "history": [dataclasses.asdict(p) for p in detail.history],
        "standing": detail.now_lines,
        "other_open_cases": [c.id for c in detail.open_others],
        "linked_accounts": [str(p) for p in detail.linked],
        "linked_to_banned_or_suspended": list(detail.evasion),
        "effects_elsewhere": [
            {"step_id": e.step_id, "account": str(e.account), "action": e.action,
             "target": e.target, "status": e.status, "at": e.at, "detail": e.detail or None}
            for e in detail.effects],
        "notices": [
            {"id": n.id, "purpose": n.purpose, "kind": n.kind, "platform": n.platform,
             "to": n.to, "status": n.status, "attempts": n.attempts, "created_at": n.created_at,
             "due_at": n.due_at, "sent_at": n.sent_at, "error": n.error, "said": n.sentence}
            for n in detail.notices
        ],
        "messages": [
            {"id": f.message.id, "party": f.message.party, "direction": f.message.direction,
             "with": f.party, "report_id": f.message.report_id, "by": f.message.by,
             "reply_to": f.message.reply_to, "at": f.message.at, "text": f.message.text,
             "read_at": f.message.read_at, "said": f.sentence}
            for f in detail.follow_ups
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
    # the admins' questions about this report and the reporter's answers, oldest first
    conversation: tuple[Message, ...] = ()
    report_id: int = 0  # the reporter's own report

    @property
    def questions(self) -> list[tuple[Message, list[Message]]]:
        """Each question with its answers."""
        return [(q, [a for a in self.conversation if a.reply_to == q.id])
                for q in self.conversation if q.is_question]

    @property
    def question_ids(self) -> list[int | None]:
        return [m.id for m in self.conversation if m.is_question]


def _seen(uow: UnitOfWork, messages: list[Message], now: datetime, *,
          from_admins: bool = True) -> list[Message]:
    """Mark as read what was written to the reader: by the admins, when a reporter or the
    subject opens their page; to the admins, when an admin opens the case."""
    fresh = [m.id for m in messages
             if m.from_admins is from_admins and m.read_at is None and m.id is not None]
    uow.messages.mark_read(fresh, now)
    return messages


def report_by_token(uow: UnitOfWork, token: str) -> tuple[Case, int] | None:
    """The case and report behind a reporter's status link, or None for an unknown link."""
    if not token or len(token) > 100:
        return None
    with uow:
        return uow.cases.by_report_token(token)


def reporter_status(uow: UnitOfWork, desk: Desk, token: str) -> ReporterStatus | None:
    """The status behind a reporter's link, or None for an unknown link."""
    found = report_by_token(uow, token)
    if found is None:
        return None
    case, report_id = found
    with uow:
        conversation = _seen(uow, [m for m in uow.messages.for_case(case.id or 0)
                                   if m.party is Party.REPORTER and m.report_id == report_id],
                             desk.clock.now())
        uow.commit()
    report = next(r for r in case.reports if r.id == report_id)
    assert case.id is not None
    return ReporterStatus(
        case_id=case.id, filed_at=report.filed_at, state=case.state,
        taken=case.taken_by is not None, steps=step_labels(case, desk),
        outcome=OUTCOME_WORDS[case.outcome] if case.outcome else None,
        outcome_reason=case.outcome_reason if case.outcome else None,
        conversation=tuple(conversation), report_id=report_id,
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
class AppealAnswer:
    """A decision on the subject's appeal, as they see it: what was decided and said."""

    at: datetime
    decision: AppealDecision
    message: str


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
    answers: list[AppealAnswer] = dataclasses.field(default_factory=list)
    appeal_waiting: bool = False
    banned_at: datetime | None = None  # their account is closed (a ban in force)
    suspended_until: datetime | None = None  # suspended now, given back by itself then
    now: datetime | None = None
    # what the admins and the person wrote to each other (never a reporter's messages)
    conversation: tuple[Message, ...] = ()


def subject_page(uow: UnitOfWork, desk: Desk, token: str) -> SubjectPage | None:
    if not token or len(token) > 100:
        return None
    now = desk.clock.now()
    with uow:
        case = uow.cases.by_subject_token(token)
        if case is None:
            return None
        in_force = standing(uow.cases.effects(case.subject), now)
        conversation = _seen(uow, [m for m in uow.messages.for_case(case.id or 0)
                                   if m.party is Party.SUBJECT], desk.clock.now())
        uow.commit()
    assert case.id is not None
    confirmed = [n.at for n in case.notes if n.kind is NoteKind.REREAD]
    decisions = {v: k for k, v in DECISION_NOTES.items()}
    return SubjectPage(
        case_id=case.id, coc_url=desk.policy.code_of_conduct_url,
        community=desk.policy.community,
        # a step an appeal put in place has the decision as its message: shown once, below
        messages=[SentMessage(s.recorded_at, s.rung, s.text) for s in case.steps
                  if s.counts and s.action is not Action.RESTORE
                  and s.text not in {n.text for n in case.decisions}],
        confirmed_at=confirmed[-1] if confirmed else None,
        appeals=[n.at for n in case.notes if n.kind is NoteKind.APPEAL], is_open=case.is_open,
        answers=[AppealAnswer(n.at, decisions[n.kind], n.text) for n in case.decisions],
        appeal_waiting=case.appeal_pending,
        banned_at=in_force.banned.at if in_force.banned else None,
        suspended_until=in_force.suspended.until if in_force.suspended else None, now=now,
        conversation=tuple(conversation),
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
