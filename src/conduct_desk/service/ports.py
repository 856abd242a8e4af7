"""Ports: what the service layer needs from storage, platforms and time (Protocols)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from conduct_desk.domain.accounts import Account, ApiToken, Invite, InviteKind, WebSession
from conduct_desk.domain.audit import Checkpoint
from conduct_desk.domain.events import Event
from conduct_desk.domain.identities import LinkCode, StepEffect
from conduct_desk.domain.ladder import PastStep
from conduct_desk.domain.merkle import Frontier
from conduct_desk.domain.messages import Message
from conduct_desk.domain.model import Case, CaseState
from conduct_desk.domain.notices import Notice
from conduct_desk.domain.nudges import Nudge
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.domain.privacy import TextKind
from conduct_desk.domain.standing import LastingStep
from conduct_desk.domain.timers import Timer, TimerKind, TimerStatus


class Clock(Protocol):
    def now(self) -> datetime: ...


# -- platforms -----------------------------------------------------------------------------


class Capability(StrEnum):
    REPLY = "reply"
    DM = "dm"
    REMOVE = "remove"
    SUSPEND = "suspend"
    RESTORE = "restore"
    BAN = "ban"
    FETCH = "fetch"
    NOTIFY_ADMINS = "notify-admins"
    READMIT = "readmit"  # let a removed person back into the channel (``readmit``)
    FIND_PEOPLE = "find-people"  # look people up by display name or handle (``find_people``)


class EffectStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    MANUAL = "manual"


@dataclass(frozen=True)
class Effect:
    """What a platform call came to: done, failed (with the platform's error), or manual."""

    status: EffectStatus
    detail: str = ""
    retryable: bool = False
    retry_after: timedelta | None = None

    @classmethod
    def done(cls, detail: str = "") -> Effect:
        return cls(EffectStatus.DONE, detail)

    @classmethod
    def failed(
        cls, error: str, *, retryable: bool = True, retry_after: timedelta | None = None
    ) -> Effect:
        return cls(EffectStatus.FAILED, error, retryable, retry_after)

    @classmethod
    def manual(cls, instructions: str) -> Effect:
        return cls(EffectStatus.MANUAL, instructions)


@dataclass(frozen=True)
class FetchedMessage:
    channel: str
    message_id: str
    text: str
    author: PersonRef | None = None
    link: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A person a look-up found: only what any member of that chat sees of them."""

    person: PersonRef
    display_name: str
    handle: str  # as members type it there: "@sam" (Slack), "@sam:example.org", "sam"
    # every other whole name members see them by there (Slack's user name and real name,
    # Discord's nickname and global name): a look-up finds a person by a whole name only
    also: tuple[str, ...] = field(default=(), compare=False)


class Platform(Protocol):
    """A chat system. Every call returns an :class:`Effect`; none raises for platform errors.
    ``key`` (a message from the outbox) is the same on every try of one message: a platform
    that can tell a repeat by it (Matrix's transaction id) posts it once. ``again``: an
    earlier try may have reached the platform with no answer kept (its worker stopped, or the
    platform's answer was a failure); a platform that cannot tell a repeat by the key (Slack)
    looks for the message under that key before posting it."""

    name: str
    capabilities: frozenset[Capability]

    def post_reply(self, channel: str, message_id: str | None, text: str) -> Effect: ...
    def send_dm(self, person: PersonRef, text: str, key: str | None = None,
                again: bool = False) -> Effect: ...
    def remove_from_channel(self, person: PersonRef, channel: str) -> Effect: ...
    def suspend(self, person: PersonRef, until: datetime) -> Effect: ...
    def restore(self, person: PersonRef) -> Effect: ...
    def ban(self, person: PersonRef) -> Effect: ...
    def fetch_message(self, channel: str, message_id: str) -> FetchedMessage | None: ...
    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The names the platform knows a person by (display name, real name, user name),
        to keep a reporter's names out of the subject's texts; () when the look-up fails."""
        ...
    def find_people(self, query: str, limit: int) -> list[Candidate] | Effect:
        """People whose display name, real name or handle holds ``query`` (at most
        ``limit``, as a member of the chat could find them); an Effect when the look-up was
        refused. Only with :attr:`Capability.FIND_PEOPLE`."""
        ...
    def notify_admins(self, text: str, key: str | None = None,
                      again: bool = False) -> Effect: ...
    def manual_instructions(
        self, action: Action, person: PersonRef, channel: str | None, until: datetime | None
    ) -> str: ...


class NoticeDeliverer(Protocol):
    """Tries notices already kept and committed after the caller has its answer
    (``conduct serve``; see :mod:`conduct_desk.service.deliverer`)."""

    def submit(self, notices: Sequence[Notice]) -> None: ...


class Mailer(Protocol):
    """Sends one plain-text email (SMTP in production). Returns an :class:`Effect` and never
    raises for the mail server's errors: a temporary refusal (4xx, a lost connection) is
    FAILED and retryable, a permanent one (5xx) FAILED and not retryable."""

    def send(self, to: str, subject: str, body: str) -> Effect: ...


class Adapter(Protocol):
    """A configured platform: its :class:`Platform` (used by every command, even the CLI's),
    and listeners (events, bots) that only ``conduct serve`` starts."""

    platform: Platform

    def start(self) -> None: ...
    def pause(self) -> None:
        """Stop the listeners but keep the platform usable for steps (another replica
        listens now); ``start()`` listens again."""
        ...
    def stop(self) -> None: ...


# -- storage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    kind: str
    summary: str
    case_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class CaseFilter:
    states: tuple[CaseState, ...] = ()
    subject: PersonRef | None = None
    limit: int = 200
    offset: int = 0
    # names (``ana``, ``slack:U123``, ``@ana:example.org``) whose own cases are left out: an
    # admin's queue does not show cases about that admin
    not_about: tuple[str, ...] = ()
    appeals: bool = False  # only cases with an appeal waiting for a decision
    # the queue's filters (issue 11): each narrows the list; none changes its order
    taken_by: str | None = None  # only the cases this admin holds
    unassigned: bool = False  # only the cases nobody holds
    flagrant: bool = False  # only the flagrant cases
    overdue_at: datetime | None = None  # only open cases whose next deadline had passed by then
    platform: str | None = None  # only cases about someone on this platform
    case_id: int | None = None  # only this case
    # a person (``sam``, ``@sam``, ``sandbox:sam``, any case) or words in the case's
    # reports (the words said, the reporter's note and account)
    search: str | None = None
    # leave out the cases these names are visibly involved in (a named reporter, a confirmed
    # hurt person, an admin who stepped aside): a search must not tell them what a case holds
    not_involving: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseSummary:
    id: int
    subject: PersonRef
    state: CaseState
    opened_at: datetime
    taken_by: str | None
    first_step_at: datetime | None
    flagrant: bool
    hurt: int
    reports: int
    last_step: str | None
    outcome: str | None
    take_due_at: datetime | None = None
    step_due_at: datetime | None = None
    appeal_due_at: datetime | None = None  # an appeal waits for a decision until then


@dataclass(frozen=True)
class CaseTimes:
    """When a case opened, was taken, got its first step and was resolved (for stats)."""

    opened_at: datetime
    taken_at: datetime | None
    first_step_at: datetime | None
    resolved_at: datetime | None


# a search across resolved cases reads at most this many of the reports holding its words
# (the open cases are few: a search among them reads all of theirs)
SEARCH_MOST = 10_000


class CaseRepository(Protocol):
    def add(self, case: Case) -> None: ...
    def add_unless_open(self, case: Case) -> bool: ...
    def get(self, case_id: int, *, lock: bool = False) -> Case: ...
    def save(self, case: Case) -> None: ...
    def open_case_for_message(
        self, subject: PersonRef, channel: str, message_id: str
    ) -> Case | None: ...
    def history(self, person: PersonRef) -> list[PastStep]: ...
    def effects(self, person: PersonRef) -> list[LastingStep]: ...
    def linked(self, person: PersonRef) -> tuple[PersonRef, ...]: ...
    def history_and_effects(self, person: PersonRef
                            ) -> tuple[list[PastStep], list[LastingStep]]: ...
    def summaries(self, flt: CaseFilter) -> list[CaseSummary]: ...
    def case_ids_for(self, person: PersonRef) -> list[int]: ...
    def by_status_token(self, token: str) -> Case | None: ...
    def count(self, flt: CaseFilter) -> int: ...
    def count_untaken(self, flt: CaseFilter) -> tuple[int, int]: ...
    def search_cap(self, flt: CaseFilter) -> int | None: ...
    def by_report_token(self, token: str) -> tuple[Case, int] | None: ...
    def by_subject_token(self, token: str) -> Case | None: ...
    def timings(self, since: datetime) -> list[CaseTimes]: ...
    def open_between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime | None]]: ...
    def step_counts(self, since: datetime) -> dict[str, int]: ...


class TimerRepository(Protocol):
    def schedule(self, timer: Timer) -> int: ...
    def schedule_all(self, timers: list[Timer]) -> None: ...
    def cancel(
        self, case_id: int | None, kinds: tuple[TimerKind, ...], step_id: int | None = None
    ) -> int: ...
    def cancel_steps(self, kind: TimerKind, step_ids: list[int],
                     case_ids: list[int | None] | None = None) -> int: ...
    def claim_due(self, now: datetime, limit: int, worker: str, lease: timedelta) -> list[Timer]: ...
    def finish(self, timer_ids: list[int], status: TimerStatus, error: str | None = None) -> None: ...
    def pending(self, case_id: int | None = None) -> list[Timer]: ...


@dataclass(frozen=True)
class LoggedEntry:
    """An audit entry as stored: its leaf hash as written, and whether erasure redacted it."""

    entry: AuditEntry
    leaf_hash: bytes | None
    redacted: bool = False


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint the desk made, with what only the desk needs: the id of the last entry it
    covers, ids below that missing when it was made (inserts rolled back), its frontier."""

    checkpoint: Checkpoint
    last_id: int
    gaps: tuple[int, ...]
    frontier: Frontier


class AuditLog(Protocol):
    def append_all(self, entries: list[AuditEntry]) -> None:
        """Append entries, each with its leaf hash; the only way entries are written."""
        ...

    def settled_last_id(self) -> int:
        """The id of the last entry no writer still in flight can come before (0: none)."""
        ...

    def logged(self, upto_id: int) -> Iterator[LoggedEntry]:
        """Every entry up to ``upto_id`` in log order, streamed."""
        ...

    def leaf_hashes(self, after_id: int, upto_id: int) -> list[tuple[int, bytes | None]]:
        """(id, stored leaf hash) of the entries in (after_id, upto_id], in log order."""
        ...

    def report_entry(self, case_id: int, report_id: int) -> int | None:
        """The id of the entry that recorded filing this report."""
        ...

    def checkpoints(self) -> list[StoredCheckpoint]: ...
    def add_checkpoint(self, stored: StoredCheckpoint) -> None: ...

    def leaves_from(self, first_id: int, upto_id: int, count: int) -> list[tuple[int, bytes | None]]:
        """(id, leaf hash) of the first ``count`` entries with ids in [first_id, upto_id]."""
        ...

    def node(self, level: int, idx: int) -> bytes | None:
        """A kept perfect subtree's hash (``audit_nodes``), or None."""
        ...

    def last_block(self, level: int) -> tuple[int, int] | None:
        """(index, id of its last entry) of the last block kept at ``level``, or None."""
        ...

    def block_of(self, level: int, entry_id: int) -> tuple[int, int] | None:
        """(index, id of its first entry) of the kept block at ``level`` holding the entry."""
        ...

    def add_nodes(self, nodes: list[tuple[int, int, bytes, int | None, int | None]]) -> bool:
        """Keep these (level, index, hash, first id, last id); False when another process
        kept them first (nothing is written then)."""
        ...

    def redact(self, entry_ids: list[int]) -> int:
        """Erase the words of these entries (actor, summary, detail), keeping their time,
        kind, case and leaf hash; they are marked redacted. Returns how many changed."""
        ...

    def entries(
        self,
        *,
        case_id: int | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> list[AuditEntry]: ...


class AccountRepository(Protocol):
    """Admin accounts, API tokens and shared secrets of the web desk."""

    def add_admin(self, account: Account) -> int: ...
    def admin_by_name(self, name: str) -> Account | None: ...
    def admin_by_id(self, admin_id: int) -> Account | None: ...
    def admins(self, *, lock: bool = False) -> list[Account]: ...
    def save_admin(self, account: Account) -> None: ...
    def add_token(self, token: ApiToken) -> int: ...
    def token_by_hash(self, token_hash: str) -> ApiToken | None: ...
    def token_by_name(self, name: str) -> ApiToken | None: ...
    def tokens(self) -> list[ApiToken]: ...
    def save_token(self, token: ApiToken) -> None: ...
    def secret(self, name: str, make: str) -> str: ...
    def add_session(self, session: WebSession) -> None: ...
    def session_by_hash(self, id_hash: str) -> WebSession | None: ...
    def session_and_account(self, id_hash: str) -> tuple[WebSession, Account | None] | None: ...
    def save_session(self, session: WebSession) -> None: ...
    def delete_sessions(self, *, id_hash: str | None = None, admin_id: int | None = None,
                        expired_before: datetime | None = None) -> int: ...
    def add_invite(self, invite: Invite) -> int: ...
    def invite_by_hash(self, token_hash: str, *, lock: bool = False) -> Invite | None: ...
    def invite_by_id(self, invite_id: int) -> Invite | None: ...
    def invites(self, kind: InviteKind) -> list[Invite]: ...
    def save_invite(self, invite: Invite) -> None: ...


class NudgeRepository(Protocol):
    def add(self, nudge: Nudge) -> int: ...
    def get(self, nudge_id: int) -> Nudge | None: ...
    def save(self, nudge: Nudge) -> None: ...
    def waiting_for(self, subject: PersonRef, channel: str, message_id: str) -> list[Nudge]: ...
    def waiting_from(self, reporter: PersonRef) -> list[Nudge]: ...
    def waiting_on(self, platform: str) -> list[tuple[str, str, str]]: ...


class NoticeRepository(Protocol):
    """Notices the desk promised; a DM to an anonymous reporter keeps the person sealed."""

    def add(self, notice: Notice) -> int: ...
    def add_all(self, notices: list[Notice]) -> list[int]: ...
    def get(self, notice_id: int, *, lock: bool = False) -> Notice | None: ...
    def get_many(self, notice_ids: list[int], *, lock: bool = False) -> dict[int, Notice]: ...
    def save(self, notice: Notice) -> None: ...
    def save_all(self, notices: list[Notice]) -> None: ...
    def mark_sent(self, notice_ids: list[int], at: datetime) -> dict[int, tuple[int | None, int]]: ...
    def for_case(self, case_id: int, purpose: str | None = None) -> list[Notice]: ...


class MessageRepository(Protocol):
    """Follow-up messages between the admins and a reporter or the subject."""

    def add(self, message: Message) -> int: ...
    def for_case(self, case_id: int) -> list[Message]: ...
    def mark_read(self, message_ids: list[int], at: datetime) -> None: ...
    def open_questions_to(self, person: PersonRef) -> list[Message]:
        """Unanswered questions to this person as a reporter, on open cases, oldest first."""
        ...


class CursorRepository(Protocol):
    """Small named values platforms keep across restarts: read positions, delivery ids."""

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...
    def claim(self, name: str, value: str) -> bool:
        """Store ``value`` under ``name`` unless a value is there already: True for the one
        caller that stored it, whichever process it runs in."""
        ...
    def forget(self, prefix: str, before: str) -> int:
        """Delete the values named ``prefix…`` that sort before ``before`` (ISO times)."""
        ...


class RateHits(Protocol):
    """Counted attempts (failed sign-ins, reports from the form) per hashed key."""

    def count(self, scope: str, key_hash: str, since: datetime) -> int: ...
    def add(self, scope: str, key_hash: str, at: datetime) -> None: ...
    def clear(self, scope: str, key_hash: str) -> None: ...
    def prune(self, scope: str, before: datetime) -> None: ...


class PeopleRepository(Protocol):
    """Accounts linked into one person, the one-time codes members link their own with, and
    what a step with scope "everywhere" did on each linked account."""

    def linked(self, account: PersonRef) -> tuple[PersonRef, ...]:
        """The account first, then every account linked to the same person."""
        ...
    def linked_many(self, accounts: Iterable[PersonRef]) -> dict[PersonRef, tuple[PersonRef, ...]]: ...
    def person_id(self, account: PersonRef) -> int | None: ...
    def link(self, accounts: tuple[PersonRef, ...], at: datetime, by: str) -> bool:
        """Make the accounts one person; False when they were one already."""
        ...
    def unlink(self, account: PersonRef) -> tuple[PersonRef, ...]:
        """Take the account out of its person; the accounts it was linked to (none: it was
        not linked)."""
        ...
    def add_code(self, code: LinkCode) -> int: ...
    def code_by_hash(self, code_hash: str) -> LinkCode | None: ...
    def use_code(self, code_id: int, at: datetime) -> bool: ...
    def forget_codes(self, before: datetime) -> int: ...
    def step_effects(self, case_id: int, step_id: int | None = None) -> list[StepEffect]: ...
    def add_effect(self, effect: StepEffect) -> StepEffect | None:
        """Record an effect once per (step, account, target); None when it is there."""
        ...
    def save_effect(self, effect: StepEffect) -> None: ...
class Holdings(Protocol):
    """Where a person is in the database (see storage/privacy.py): the cases about them, the
    rows naming them per place (``reports_they_made``, ``messages_to_them``, …), the reports
    naming them as hurt, the audit entries and admin accounts naming them."""

    about: list[int]
    rows: dict[str, list[int]]
    hurt_in: list[int]
    audit: list[int]
    accounts: list[int]
    unchecked: int

    @property
    def anything(self) -> bool: ...


class PersonalData(Protocol):
    """A person's data across every table: found, read out, erased; texts past retention."""

    def salt(self) -> bytes:
        """The salt of erased people's pseudonyms (made the first time it is needed)."""
        ...

    def find(self, person: PersonRef, aliases: Iterable[PersonRef] = (), *,
             sealed: bool = True) -> Holdings: ...
    def rows(self, table: str, ids: list[int], columns: Iterable[str]) -> list[dict[str, Any]]: ...
    def exported(self, found: Holdings) -> dict[str, list[dict[str, Any]]]:
        """The rows of each place that names them, as their export shows them."""
        ...
    def erase(self, person: PersonRef, stand_in: PersonRef, found: Holdings,
              marker: str) -> Counter[str]:
        """Replace their ids by ``stand_in`` where a fact must stay, their texts by
        ``marker``, and redact the audit entries naming them; counts of what changed."""
        ...

    def expiring_window(self, after: int, cutoff: datetime, cases: int) -> int | None:
        """The id closing a window of ``cases`` cases after ``after`` resolved before
        ``cutoff``; None when there is none."""
        ...

    def expire(self, cutoffs: dict[TextKind, datetime], markers: dict[TextKind, str],
               window: tuple[int, int] | None = None) -> dict[int | None, Counter[TextKind]]:
        """Replace the texts of cases resolved before each kind's cutoff (with ``window``:
        of the cases whose id is in it); counts per case."""
        ...


class UnitOfWork(Protocol):
    """A transaction. Re-enterable: each ``with`` opens a fresh one."""

    @property
    def cases(self) -> CaseRepository: ...
    @property
    def timers(self) -> TimerRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def nudges(self) -> NudgeRepository: ...
    @property
    def cursors(self) -> CursorRepository: ...
    @property
    def notices(self) -> NoticeRepository: ...
    @property
    def rate_hits(self) -> RateHits: ...
    @property
    def messages(self) -> MessageRepository: ...
    @property
    def people(self) -> PeopleRepository: ...
    @property
    def personal(self) -> PersonalData: ...
    @property
    def can_seal(self) -> bool:
        """True when storage can keep an anonymous reporter's id sealed (a key is set)."""
        ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def relaxed(self) -> Self:
        """The next ``with`` block's commit may return before it reaches the disk. Only for
        records that, lost in a power cut or a crash of the database server, are redone (a
        notice's delivery, tried again by its timer); never for what a person told the desk."""
        ...

    def reading(self) -> Self:
        """The next ``with`` block only reads: no transaction is opened (each statement sees
        what is committed when it runs, as in PostgreSQL's READ COMMITTED; SQLite takes no
        write lock), and it may not commit. For pages and views that write nothing."""
        ...

    def rollback(self) -> None: ...
    def collect_new_events(self) -> Iterator[Event]: ...
