"""The case aggregate and its parts: reports, steps, consultations.

A case is one incident. Reports about the same message join one open case. The case owns
its state machine (new → taken → acting → resolved, and reopen), recusal, and the rule
that a ban may need a consultation with the people who were hurt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from conduct_desk.domain import events
from conduct_desk.domain.errors import (
    ConsultationNeeded,
    Hint,
    IllegalTransition,
    InvalidInput,
    Recused,
)
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action

MAX_TEXT = 20_000
MAX_SHORT = 2_000
MAX_ID = 2**63 - 1  # the largest id a database stores: a larger number names nothing


class CaseState(StrEnum):
    NEW = "new"
    TAKEN = "taken"
    ACTING = "acting"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    APOLOGIZED = "apologized"  # apologized and corrected the behaviour
    STEPS_TAKEN = "steps-taken"
    NO_ACTION = "no-action"  # needs a reason
    DUPLICATE = "duplicate"


OUTCOME_WORDS = {
    Outcome.APOLOGIZED: "apologized and corrected",
    Outcome.STEPS_TAKEN: "steps taken",
    Outcome.NO_ACTION: "no action needed",
    Outcome.DUPLICATE: "duplicate",
}


class DeadlineState(StrEnum):
    ON_TIME = "on time"
    DUE_SOON = "due soon"
    OVERDUE = "overdue"
    MET = "met"  # taken and acted on: no deadline pending


class Source(StrEnum):
    CLI = "cli"
    WEB = "web"
    SLACK = "slack"
    MATRIX = "matrix"
    DISCORD = "discord"
    API = "api"


class SaidFrom(StrEnum):
    """Where the words that were said come from. Only such words may be quoted to the subject;
    anything else a reporter writes is their account, for the admins only."""

    FETCHED = "fetched"  # read from the platform itself
    PASTED = "pasted"  # pasted by the reporter into a field that says it may be shown


PLATFORM_NAMES = {"slack": "Slack", "matrix": "Matrix", "discord": "Discord",
                  "sandbox": "the sandbox"}


class StepStatus(StrEnum):
    PENDING = "pending"  # recorded, platform not asked yet (or waiting to retry)
    DONE = "done"
    FAILED = "failed"  # the platform refused; retried as the policy says
    MANUAL = "manual"  # the platform cannot; an admin has instructions
    MANUAL_DONE = "manual-done"  # the admin marked the manual task done


COUNTING = frozenset({StepStatus.PENDING, StepStatus.DONE, StepStatus.MANUAL, StepStatus.MANUAL_DONE})


def check_text(value: str | None, what: str, limit: int = MAX_TEXT) -> str | None:
    """Refuse over-long input with a message that says the limit, and the NUL character,
    which no database stores in text (PostgreSQL refuses it)."""
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters; shorten it to {limit} or fewer")
    if value is not None and "\x00" in value:
        raise InvalidInput(f"{what} holds a NUL character; remove it")
    return value


def as_handed_over(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """A message as a chat platform handed it over. Nobody reporting it can change it, so it
    is kept rather than refused: NUL characters go (no database stores them), and an
    over-long one is cut to ``limit`` characters with a line that says so."""
    if value is None:
        return None
    value = value.replace("\x00", "")
    if len(value) <= limit:
        return value
    tail = f"\n\n[shortened by the desk: the message has {len(value):,} characters]"
    return value[:limit - len(tail)].rstrip() + tail


@dataclass(frozen=True)
class Report:
    subject: PersonRef
    reporter: PersonRef | None
    filed_at: datetime
    source: Source
    anonymous: bool = False
    channel: str | None = None
    message_id: str | None = None
    message_text: str | None = None  # the words said: quotable only with ``said_from``
    message_link: str | None = None
    harmed: tuple[PersonRef, ...] = ()
    note: str | None = None
    flagrant: bool = False
    status_token: str | None = None
    id: int | None = None
    said_from: SaidFrom | None = None
    account: str | None = None  # the reporter's own account: admins only, never quoted
    hoped_for: str | None = None  # what would help the reporter: admins only, never quoted

    @property
    def words_said(self) -> str | None:
        """The words that were said, when their origin is known; None otherwise."""
        if self.said_from is None or not (self.message_text or "").strip():
            return None
        return self.message_text

    @property
    def reporter_checked(self) -> bool:
        """True when the reporter is who the report says: a chat platform, or an admin at the
        API or command line, said so. A name typed into the public form is not: anyone can
        type anyone's id there."""
        return self.reporter is not None and self.source is not Source.WEB

    @property
    def told_privately(self) -> bool:
        """True when the desk writes to the reporter privately (thanks, outcome, questions):
        they reported from a chat, or the API as themselves. Someone who typed an id into the
        public form follows the status link instead."""
        return self.reporter_checked

    @property
    def said_origin(self) -> str:
        """Where the quote came from, for the admin: "fetched from Slack", "pasted by the reporter"."""
        if self.said_from is SaidFrom.FETCHED:
            where = PLATFORM_NAMES.get(self.subject.platform, self.subject.platform)
            return f"fetched from {where}"
        if self.said_from is SaidFrom.PASTED:
            return "pasted by the reporter"
        return ""


@dataclass
class Step:
    rung: str
    action: Action
    actor: str
    recorded_at: datetime
    text: str
    status: StepStatus = StepStatus.PENDING
    until: datetime | None = None
    recommended: str | None = None
    reason: str | None = None
    detail: str | None = None
    attempts: int = 0
    notified: bool = False
    completed_at: datetime | None = None
    restored_at: datetime | None = None  # suspensions: when the account was given back
    # suspensions: when the desk began asking the platform to give the account back. A later
    # run that finds it set (that process died after asking) asks the platform first, so the
    # account is given back and the person welcomed once
    giving_back_at: datetime | None = None
    id: int | None = None
    # set when an appeal overturned the step or changed it into another: it no longer counts
    overturned_at: datetime | None = None

    @property
    def counts(self) -> bool:
        return self.status in COUNTING and self.overturned_at is None


@dataclass(frozen=True)
class Consultation:
    admin: str
    at: datetime
    summary: str
    person: PersonRef | None  # None: no consultation was possible, summary says why
    id: int | None = None


class NoteKind(StrEnum):
    REREAD = "reread"  # the subject confirmed re-reading the Code of Conduct
    APPEAL = "appeal"  # the subject asked the admins to look again
    RECUSED = "recused"  # an admin stepped aside (``by``; ``text``: every name of theirs)
    HURT_CONFIRMED = "hurt-confirmed"  # an admin confirmed a named person was hurt (``text``: key)
    APOLOGY = "apology"  # the author wrote words like an apology after a private word (not closing it)
    REPLY = "reply"  # the subject answered the desk's message after a step ("Understood.")
    # an admin decided the appeal (``text``: the message sent to the subject)
    APPEAL_UPHELD = "appeal-upheld"
    APPEAL_OVERTURNED = "appeal-overturned"
    APPEAL_CHANGED = "appeal-changed"


class AppealDecision(StrEnum):
    """What an admin who did not take the appealed step decides about it."""

    UPHELD = "upheld"  # the step stands
    OVERTURNED = "overturned"  # set aside: undone where it can be, and no longer counted
    CHANGED = "changed"  # replaced by a lower rung, which counts instead


DECISION_NOTES = {AppealDecision.UPHELD: NoteKind.APPEAL_UPHELD,
                  AppealDecision.OVERTURNED: NoteKind.APPEAL_OVERTURNED,
                  AppealDecision.CHANGED: NoteKind.APPEAL_CHANGED}
DECISION_WORDS = {AppealDecision.UPHELD: "upheld: the step stands",
                  AppealDecision.OVERTURNED: "overturned: the step is set aside",
                  AppealDecision.CHANGED: "changed to a lower step"}


@dataclass(frozen=True)
class Note:
    """Something recorded on the case that is not a step: a confirmation, an appeal, a
    recusal, a confirmed hurt person."""

    kind: NoteKind
    at: datetime
    by: str
    text: str
    id: int | None = None


def next_deadline(state: CaseState, taken_by: str | None, first_step_at: datetime | None,
                  take_due_at: datetime | None, step_due_at: datetime | None) -> datetime | None:
    """A case's next deadline: to be taken, then to get a first step; None when it has none.

    Apart from :class:`Case` so that lists of case summaries need not build cases."""
    if state is CaseState.RESOLVED:
        return None
    if taken_by is None:
        return take_due_at
    if first_step_at is None:
        return step_due_at
    return None


def deadline_state(due: datetime | None, opened_at: datetime, now: datetime) -> DeadlineState:
    """Met (no deadline), overdue, due soon (the last quarter of its span) or on time."""
    if due is None:
        return DeadlineState.MET
    if now >= due:
        return DeadlineState.OVERDUE
    if due - now <= (due - opened_at) / 4:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TIME


@dataclass
class Case:
    subject: PersonRef
    opened_at: datetime
    channel: str | None = None
    message_id: str | None = None
    state: CaseState = CaseState.NEW
    taken_by: str | None = None
    taken_at: datetime | None = None
    first_step_at: datetime | None = None
    resolved_at: datetime | None = None
    outcome: Outcome | None = None
    outcome_reason: str | None = None
    subject_token: str | None = None  # the subject's private link (confirm, appeal)
    take_due_at: datetime | None = None  # set when the case opens, from the policy
    step_due_at: datetime | None = None
    appeal_due_at: datetime | None = None  # set while an appeal waits for a decision
    reports: list[Report] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    consultations: list[Consultation] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    id: int | None = None
    events: list[events.Event] = field(default_factory=list, repr=False, compare=False)

    # -- reading -------------------------------------------------------------------------
    @property
    def flagrant(self) -> bool:
        return any(r.flagrant for r in self.reports)

    @property
    def reporters(self) -> tuple[PersonRef, ...]:
        return tuple(dict.fromkeys(r.reporter for r in self.reports if r.reporter is not None))

    @property
    def harmed(self) -> tuple[PersonRef, ...]:
        """Everyone hurt: reporters who named themselves and the others they named."""
        people: list[PersonRef] = []
        for r in self.reports:
            if r.reporter is not None:
                people.append(r.reporter)
            people.extend(r.harmed)
        return tuple(p for p in dict.fromkeys(people) if p != self.subject)

    @property
    def is_open(self) -> bool:
        return self.state is not CaseState.RESOLVED

    @property
    def due_at(self) -> datetime | None:
        """The next deadline: to be taken, then to get a first step."""
        return next_deadline(self.state, self.taken_by, self.first_step_at, self.take_due_at,
                             self.step_due_at)

    def deadline_state(self, now: datetime) -> DeadlineState:
        return deadline_state(self.due_at, self.opened_at, now)

    @property
    def quoted_report(self) -> Report | None:
        """The report whose words said may be quoted to the subject (fetched ones first)."""
        quotable = [r for r in self.reports if r.words_said]
        fetched = [r for r in quotable if r.said_from is SaidFrom.FETCHED]
        chosen = fetched or quotable
        return chosen[0] if chosen else None

    @property
    def appeal_pending(self) -> bool:
        return self.appeal_due_at is not None

    @property
    def appeals(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.kind is NoteKind.APPEAL)

    @property
    def decisions(self) -> tuple[Note, ...]:
        """The decisions on appeals, oldest first (their text: what the subject was told)."""
        kinds = set(DECISION_NOTES.values())
        return tuple(n for n in self.notes if n.kind in kinds)

    @property
    def appeal_filed_at(self) -> datetime | None:
        """When the appeal now considered was filed: the first one after the last decision
        (or the newest, once decided); None when the subject never appealed."""
        if not self.appeals:
            return None
        decided = self.decisions[-1].at if self.decisions else None
        waiting = [n.at for n in self.appeals if decided is None or n.at >= decided]
        return waiting[0] if waiting else self.appeals[-1].at

    @property
    def appealed_step(self) -> Step | None:
        """The step an appeal is about: the newest counting ladder step taken before the
        appeal was filed; None when no step was taken (or no appeal filed)."""
        at = self.appeal_filed_at
        if at is None:
            return None
        return next((s for s in reversed(self.steps) if s.counts
                     and s.action is not Action.RESTORE and s.recorded_at <= at), None)

    def step(self, step_id: int) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise InvalidInput(f"case {self.id} has no step {step_id}; see `conduct case show {self.id}`",
                           problem=f"case {self.id} has no step {step_id}",
                           hint=Hint("show", self._id))

    def involves(self, admin: str) -> bool:
        """True when the admin must stay out of the case: they are its subject, one of its
        reporters (named or anonymous), a hurt person an admin confirmed, or they stepped
        aside. Being named as hurt does not by itself count (anyone who can report could
        otherwise lock every admin out)."""
        return self._involved(admin, anonymous_too=True)

    def visibly_involves(self, admin: str) -> bool:
        """Like :meth:`involves`, but only for what every admin can see on the case: an
        anonymous reporter does not count, so refusing on it reveals nothing."""
        return self._involved(admin, anonymous_too=False)

    def _involved(self, admin: str, *, anonymous_too: bool) -> bool:
        if self.subject.matches(admin):
            return True
        for r in self.reports:  # a name typed into the public form counts no more than
            # one named as hurt: anyone could otherwise lock every admin out
            if r.reporter is not None and r.reporter_checked and r.reporter.matches(admin) \
                    and (anonymous_too or not r.anonymous):
                return True
        return any(p.matches(admin) for p in self.confirmed_hurt) or self.stepped_aside(admin)

    @property
    def confirmed_hurt(self) -> tuple[PersonRef, ...]:
        """The hurt people an admin confirmed (they recuse, if they are admins)."""
        return tuple(PersonRef.from_key(n.text) for n in self.notes
                     if n.kind is NoteKind.HURT_CONFIRMED)

    def stepped_aside(self, admin: str) -> bool:
        """True when the admin (by any of the names recorded with the recusal) stepped aside."""
        key = admin.strip().casefold()
        return any(key in (name.casefold() for name in (n.by, *n.text.split()))
                   for n in self.notes if n.kind is NoteKind.RECUSED)

    def named_as_hurt(self, admin: str) -> bool:
        """True when someone named the admin as hurt and that alone does not recuse them."""
        return any(p.matches(admin) for p in self.harmed) and not self.involves(admin)

    # -- changing ------------------------------------------------------------------------
    def check_not_recused(self, admin: str) -> None:
        if self.involves(admin):
            fix = (f"; step aside with `conduct case recuse {self.id} --admin {admin}` so that "
                   "another admin can take it" if self.taken_by == admin else "; ask another admin")
            holds = self.taken_by == admin
            raise Recused(f"{admin} is involved in case {self.id} and must step aside{fix}",
                          self.id if holds else None,
                          problem=f"you are involved in case {self.id} and must step aside"
                          + ("" if holds else "; another admin handles it"),
                          hint=Hint("recuse", self._id) if holds else None)

    def add_report(self, report: Report) -> None:
        if not self.is_open:
            raise IllegalTransition(f"case {self.id} is resolved; a new report opens a new case")
        self.reports.append(report)

    def take(self, admin: str, now: datetime) -> None:
        self.check_not_recused(admin)
        if self.state is CaseState.RESOLVED:
            raise IllegalTransition(
                f"case {self.id} is resolved; reopen it first with `conduct case reopen {self.id}`",
                problem=f"case {self.id} is resolved; reopen it first", hint=Hint("reopen", self._id))
        if self.taken_by is not None and self.taken_by != admin:
            raise IllegalTransition(
                f"case {self.id} is already taken by {self.taken_by}; ask them to hand it over "
                "to you (or an admin with the admin role can)"
            )
        if self.taken_by == admin:
            raise IllegalTransition(f"case {self.id} is already yours; take a step next")
        self.taken_by, self.taken_at = admin, now
        if self.state is CaseState.NEW:
            self.state = CaseState.TAKEN
        self.events.append(events.CaseTaken(self._id, admin))

    def hand_over(self, by: str, to: str, now: datetime, *, may_reassign: bool,
                  to_aliases: tuple[str, ...] = ()) -> None:
        """Give the case to another admin: its holder may, and so may an admin allowed to
        reassign cases (when the holder is away).

        Anonymity: only what every admin sees on the case refuses a new holder (the subject,
        a named reporter, a confirmed hurt person, someone who stepped aside). An anonymous
        reporter is handed the case like anyone else: refusing would tell the admin who
        reported. The new holder then sees, privately, that they must step aside
        (:meth:`recuse`), which frees the case; any admin may step aside for their own
        reasons, so that tells the others nothing certain."""
        self.check_not_recused(by)
        if self.state is CaseState.RESOLVED:
            raise IllegalTransition(
                f"case {self.id} is resolved; reopen it first with `conduct case reopen {self.id}`",
                problem=f"case {self.id} is resolved; reopen it first", hint=Hint("reopen", self._id))
        if self.taken_by == to:
            raise IllegalTransition(f"case {self.id} is already {to}'s")
        if self.taken_by is not None and self.taken_by != by and not may_reassign:
            raise IllegalTransition(
                f"case {self.id} is {self.taken_by}'s; only they, or an admin with the admin "
                "role, can hand it over"
            )
        for name in (to, *to_aliases):
            if self.visibly_involves(name):
                raise Recused(f"{to} is involved in case {self.id} and cannot take it over; "
                              "choose another admin")
        self.taken_by, self.taken_at = to, now
        if self.state is CaseState.NEW:
            self.state = CaseState.TAKEN
        self.events.append(events.CaseTaken(self._id, to))

    def recuse(self, admin: str, now: datetime, names: tuple[str, ...] = ()) -> bool:
        """The admin steps aside (``names``: their other names, e.g. platform accounts). A
        holder who steps aside frees the case for another admin. True when it was theirs."""
        if any(self.subject.matches(name) for name in (admin, *names)):
            # the case is not theirs to see: refused as every other way into it is
            raise Recused(f"{admin} is involved in case {self.id}, so it is not theirs to act on; "
                          "ask another admin")
        if self.stepped_aside(admin):
            raise IllegalTransition(f"{admin} has already stepped aside from case {self.id}")
        self.notes.append(Note(NoteKind.RECUSED, now, admin,
                               " ".join(dict.fromkeys((admin, *names)))))
        freed = self.taken_by is not None and (
            self.taken_by == admin or self.stepped_aside(self.taken_by))
        if freed:
            self.taken_by = self.taken_at = None
            if self.state is CaseState.TAKEN:
                self.state = CaseState.NEW
        self.events.append(events.InvolvementChanged(self._id))
        return freed

    def confirm_hurt(self, by: str, person: PersonRef, now: datetime,
                     holder_names: tuple[str, ...] = ()) -> None:
        """Another admin confirms that ``person``, named as hurt, was hurt: if they are an
        admin, they step aside from now on (``holder_names``: the holder's other names, e.g.
        platform ids, so that a holder so confirmed lets go of the case)."""
        self.check_not_recused(by)
        named = next((p for p in self.harmed if p == person or p.matches(person.user_id)
                      or p.matches(person.key)), None)
        if named is None:
            raise InvalidInput(f"{person} is not named as hurt in case {self.id}; see "
                               f"`conduct case show {self.id}`",
                               problem=f"{person} is not named as hurt in case {self.id}",
                               hint=Hint("show", self._id))
        if named.matches(by):
            raise InvalidInput(f"to step aside yourself, use `conduct case recuse {self.id} "
                               f"--admin {by}`", problem="that is you; to step aside yourself",
                               hint=Hint("recuse", self._id))
        if named in self.confirmed_hurt:
            raise IllegalTransition(f"{named} is already confirmed as hurt in case {self.id}")
        self.notes.append(Note(NoteKind.HURT_CONFIRMED, now, by, named.key))
        if self.taken_by is not None and any(named.matches(n)
                                             for n in (self.taken_by, *holder_names)):
            self.taken_by = self.taken_at = None
            if self.state is CaseState.TAKEN:
                self.state = CaseState.NEW
        self.events.append(events.InvolvementChanged(self._id))

    def check_open(self) -> None:
        """A resolved case takes no step until it is reopened."""
        if self.state is CaseState.RESOLVED:
            raise IllegalTransition(
                f"case {self.id} is resolved; reopen it with `conduct case reopen {self.id}` to act",
                problem=f"case {self.id} is resolved; reopen it to act", hint=Hint("reopen", self._id))

    def record_step(self, step: Step, *, ban_needs_consultation: bool) -> None:
        """Add a decided step. Taking a step on a new case takes it first (no waiting)."""
        self.check_not_recused(step.actor)
        self.check_open()
        if self.taken_by is not None and self.taken_by != step.actor:
            raise IllegalTransition(
                f"case {self.id} is taken by {self.taken_by}; only they act on it, unless they "
                "hand it over to you (or an admin with the admin role does)"
            )
        if step.action is Action.BAN and ban_needs_consultation and not self.consultations:
            raise ConsultationNeeded(
                f"case {self.id}: the policy asks to consult the people who were hurt before a ban; "
                f"record it with `conduct case consult {self.id} --admin {step.actor} --person P "
                f"--summary ...`, or with --not-possible and the reason",
                problem=f"case {self.id}: the policy asks to consult the people who were hurt "
                        "before a ban; record it first", hint=Hint("consult", self._id))
        if self.taken_by is None:
            self.take(step.actor, step.recorded_at)
        self.state = CaseState.ACTING
        if self.first_step_at is None:
            self.first_step_at = step.recorded_at
        self.steps.append(step)

    def consult(self, consultation: Consultation) -> None:
        self.check_not_recused(consultation.admin)
        if self.state is CaseState.RESOLVED:
            raise IllegalTransition(f"case {self.id} is resolved; reopen it to add a consultation")
        if consultation.person is not None and consultation.person == self.subject:
            raise InvalidInput(
                "a consultation is with the people who were hurt, not with the subject"
            )
        self.consultations.append(consultation)

    def _check_holder(self, admin: str, may_reassign: bool, what: str) -> None:
        if self.taken_by is not None and self.taken_by != admin and not may_reassign:
            raise IllegalTransition(
                f"case {self.id} is {self.taken_by}'s; only they, or an admin with the admin "
                f"role, can {what} it"
            )

    def resolve(self, admin: str, outcome: Outcome, now: datetime, reason: str | None, *,
                may_reassign: bool = False) -> None:
        """Close the case. Only its holder, or an admin allowed to reassign cases, may; an
        untaken case becomes the resolving admin's."""
        self.check_not_recused(admin)
        if self.state is CaseState.RESOLVED:
            raise IllegalTransition(f"case {self.id} is already resolved ({self.outcome})")
        self._check_holder(admin, may_reassign, "resolve")
        counted = any(s.counts for s in self.steps)
        if not (reason and reason.strip()):
            needs = {Outcome.NO_ACTION: "why no action is needed",
                     Outcome.DUPLICATE: "which case it repeats"}
            if not counted:  # nothing on record shows an apology: the admin says what they saw
                needs[Outcome.APOLOGIZED] = "where the apology was made"
            if outcome in needs:
                raise InvalidInput(f"outcome {outcome} needs --reason saying {needs[outcome]}",
                                   problem=f"outcome {outcome} needs a reason saying "
                                           f"{needs[outcome]}",
                                   hint=Hint("resolve", self._id), field="reason")
        if outcome is Outcome.STEPS_TAKEN and not counted:
            raise IllegalTransition(
                f"case {self.id} has no steps yet; take one, or pick another outcome"
            )
        if self.taken_by is None:
            self.taken_by, self.taken_at = admin, now
        self.state, self.outcome, self.outcome_reason = CaseState.RESOLVED, outcome, reason
        self.resolved_at = now
        self.events.append(events.CaseResolved(self._id))

    def reopen(self, admin: str, now: datetime, *, may_reassign: bool = False) -> None:
        """Open a resolved case again: its former holder may, or an admin allowed to
        reassign cases; it becomes the reopening admin's."""
        self.check_not_recused(admin)
        if self.state is not CaseState.RESOLVED:
            raise IllegalTransition(f"case {self.id} is {self.state}, not resolved; nothing to reopen")
        self._check_holder(admin, may_reassign, "reopen")
        self.state = CaseState.ACTING if self.steps else CaseState.TAKEN
        self.taken_by, self.taken_at = admin, now
        self.outcome = self.outcome_reason = self.resolved_at = None
        self.events.append(events.CaseReopened(self._id))

    def file_appeal(self, person: PersonRef, text: str, now: datetime, due: datetime) -> bool:
        """The subject asks the admins to look again; the case comes back to the queue's
        appeals until an admin decides. True when this opens an appeal (False: one was
        already waiting, and this adds to it)."""
        if person != self.subject:
            raise InvalidInput("only the person the case is about can appeal")
        opened = self.appeal_due_at is None
        if opened:
            self.appeal_due_at = due
        self.add_note(Note(NoteKind.APPEAL, now, person.key, text))
        if opened:
            step = self.appealed_step
            self.events.append(events.AppealFiled(
                self._id, self.subject, due, step.id if step is not None else None,
                step.rung if step is not None else None))
        return opened

    def check_may_decide_appeal(self, names: tuple[str, ...]) -> Step | None:
        """Refuse an admin who may not decide the waiting appeal: one involved in the case
        (by any of their ``names``) or who took the step under appeal. The step, or None."""
        for name in names:
            self.check_not_recused(name)
        if self.appeal_due_at is None:
            raise IllegalTransition(f"case {self.id} has no appeal waiting for a decision")
        step = self.appealed_step
        if step is not None and any(step.actor.casefold() == n.strip().casefold()
                                    for n in names):
            raise Recused(
                f"{names[0]} took the step under appeal ({step.rung}), so another admin "
                "decides the appeal", None,
                problem=f"you took the step under appeal ({step.rung}), so another admin "
                        "decides the appeal")
        return step

    def decide_appeal(self, names: tuple[str, ...], decision: AppealDecision, message: str,
                      now: datetime, replacement: Step | None = None) -> Step | None:
        """Decide the waiting appeal (``names``: the deciding admin's, first the one
        recorded). Overturned: the step no longer counts. Changed: ``replacement``, a lower
        rung, counts instead. Returns the appealed step."""
        step = self.check_may_decide_appeal(names)
        if decision is not AppealDecision.UPHELD and step is None:
            raise InvalidInput(f"case {self.id} has no step to {decision.value[:-1]}; the "
                               "appeal can only be upheld (answered)",
                               field="decision")
        if decision is AppealDecision.CHANGED and replacement is None:
            raise InvalidInput("a changed decision needs the step that replaces the one "
                               "appealed", field="to")
        if step is not None and decision is not AppealDecision.UPHELD:
            step.overturned_at = now
        if replacement is not None and decision is AppealDecision.CHANGED:
            self.steps.append(replacement)
        self.appeal_due_at = None
        self.notes.append(Note(DECISION_NOTES[decision], now, names[0], message))
        self.events.append(events.AppealDecided(
            self._id, decision.value, step.id if step is not None else None,
            replacement.rung if replacement is not None else None))
        return step

    def add_note(self, note: Note) -> None:
        self.notes.append(note)
        if self.id is not None:
            self.events.append(events.NoteAdded(self.id, note.kind.value))

    @property
    def _id(self) -> int:
        if self.id is None:  # pragma: no cover - storage assigns ids before events are read
            raise RuntimeError("case has no id yet")
        return self.id
