"""Commands: what a person asks the desk to do, named as imperatives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from conduct_desk.domain.model import SaidFrom, Source
from conduct_desk.domain.people import PersonRef


class Command:
    """Base class for every command."""


@dataclass(frozen=True)
class FileReport(Command):
    subject: PersonRef
    reporter: PersonRef | None
    source: Source
    anonymous: bool = False
    channel: str | None = None
    message_id: str | None = None
    # the words that were said. Quoted to the subject only with ``said_from``; from a chat
    # platform they are the message itself (fetched); from elsewhere, without ``said_from``,
    # their origin is unclear and they are kept as the reporter's account instead
    message_text: str | None = None
    message_link: str | None = None
    harmed: tuple[PersonRef, ...] = ()
    note: str | None = None
    flagrant: bool = False
    said_from: SaidFrom | None = None
    account: str | None = None  # the reporter's own account: admins only
    hoped_for: str | None = None  # what the reporter hopes for: admins only, never required
    # a platform's delivery id (name, value), claimed in the same transaction as the report:
    # a crash can neither lose the report nor file it twice, nor can two replicas
    # (a repeat raises AlreadyFiled)
    mark: tuple[str, str] | None = None
    # who filed it on the reporter's behalf (an API token's account), for the audit log
    filed_by: str | None = None


@dataclass(frozen=True)
class TakeCase(Command):
    case_id: int
    admin: str


@dataclass(frozen=True)
class HandOver(Command):
    """Give a case to another admin. ``may_reassign``: the acting admin may take a case from
    its holder (the admin role); otherwise only the holder hands it over."""

    case_id: int
    admin: str
    to: str
    may_reassign: bool = False
    to_aliases: tuple[str, ...] = ()  # the new holder's platform accounts, for recusal


@dataclass(frozen=True)
class TakeStep(Command):
    case_id: int
    rung: str
    admin: str
    duration: str | None = None
    text: str | None = None
    reason: str | None = None
    suggestion: str | None = None


@dataclass(frozen=True)
class Consult(Command):
    case_id: int
    admin: str
    summary: str
    person: PersonRef | None = None  # None: no consultation was possible; summary says why


@dataclass(frozen=True)
class ResolveCase(Command):
    """Close a case: its holder may, or an admin with ``may_reassign`` (the admin role)."""

    case_id: int
    admin: str
    outcome: str
    reason: str | None = None
    may_reassign: bool = False


@dataclass(frozen=True)
class ReopenCase(Command):
    """Open a resolved case again: its former holder, or an admin with ``may_reassign``."""

    case_id: int
    admin: str
    may_reassign: bool = False


@dataclass(frozen=True)
class Recuse(Command):
    """An admin steps aside from a case (e.g. someone named them as hurt)."""

    case_id: int
    admin: str


@dataclass(frozen=True)
class ConfirmHurt(Command):
    """An admin confirms that a person named as hurt was hurt; an admin so confirmed steps
    aside from the case."""

    case_id: int
    admin: str
    person: str  # as named on the case (``bo``, ``slack:U123``)


@dataclass(frozen=True)
class MarkManualDone(Command):
    case_id: int
    step_id: int
    admin: str


@dataclass(frozen=True)
class LiftSuspension(Command):
    """End a suspension early; the same path as its timer, so it happens once."""

    case_id: int
    step_id: int
    admin: str


@dataclass(frozen=True)
class RetryStep(Command):
    """Carry out a pending or failed step now (used by timers and by admins)."""

    case_id: int
    step_id: int


@dataclass(frozen=True)
class ConfirmReread(Command):
    """The subject confirms they re-read the Code of Conduct after a warning."""

    case_id: int
    person: PersonRef


@dataclass(frozen=True)
class Appeal(Command):
    """The subject asks the admins to look again. Never reveals who reported."""

    case_id: int
    person: PersonRef
    text: str


@dataclass(frozen=True)
class DecideAppeal(Command):
    """An admin who did not take the appealed step decides the appeal: ``upheld``,
    ``overturned`` or ``changed`` (to the lower rung ``to``, with ``duration`` for a
    suspension). ``text`` replaces the policy's message to the subject."""

    case_id: int
    admin: str
    decision: str
    to: str | None = None
    duration: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class RunDueTimers(Command):
    worker: str
    limit: int = 100
    # a timer claimed longer ago than this is claimed again (its worker died); it must be longer
    # than any one timer takes
    lease: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Nudge(Command):
    """A reporter asks the desk to raise a message privately with its author, first."""

    subject: PersonRef
    reporter: PersonRef
    source: Source
    channel: str
    message_id: str
    message_text: str | None = None
    message_link: str | None = None
    # kept for the case that opens if no apology or edit comes; never shown to the author
    note: str | None = None
    harmed: tuple[PersonRef, ...] = ()
    anonymous: bool = False


@dataclass(frozen=True)
class NudgeAnswered(Command):
    """The author edited or removed the message (how: edit or redaction)."""

    subject: PersonRef
    channel: str
    message_id: str
    how: str


@dataclass(frozen=True)
class AuthorWrote(Command):
    """The author of a nudged message wrote something afterwards, in the channel or to the
    desk; if it looks like an apology, the reporters see it (it closes nothing by itself)."""

    subject: PersonRef
    channel: str
    message_id: str
    text: str


@dataclass(frozen=True)
class NudgeEnough(Command):
    """A reporter says the author's apology is enough: their waiting nudges close."""

    reporter: PersonRef


@dataclass(frozen=True)
class SubjectReplied(Command):
    """The person a case is about wrote back to the desk after a step (\"Understood.\"):
    recorded on their open case and shown to the admins."""

    person: PersonRef
    text: str


@dataclass(frozen=True)
class AskReporter(Command):
    """An admin asks the reporter of one report a question; answering is always optional.
    An anonymous reporter stays anonymous: the desk relays (their status page, their DM)."""

    case_id: int
    admin: str
    report_id: int
    text: str


@dataclass(frozen=True)
class WriteToSubject(Command):
    """An admin writes to the person the case is about (checked for the names of the
    reporters and the hurt, as a step's text is)."""

    case_id: int
    admin: str
    text: str


@dataclass(frozen=True)
class AnswerQuestion(Command):
    """A reporter answers the admins' question ``question_id`` (from their status page)."""

    case_id: int
    report_id: int
    question_id: int
    text: str
    via: str = "the status page"


@dataclass(frozen=True)
class AnswerByDm(Command):
    """A person wrote to the desk privately: when a question to them as a reporter waits for
    an answer, this is the answer (to the newest). The handler returns the case id, or None
    when no question waits (the message is then what it was before: a report, a reply)."""

    person: PersonRef
    text: str


@dataclass(frozen=True)
class SubjectWrites(Command):
    """The person a case is about writes to the admins from their page."""

    case_id: int
    person: PersonRef
    text: str


@dataclass(frozen=True)
class SubjectWritesByDm(Command):
    """The person a case is about wrote to the desk privately: when the admins wrote to them
    on an open case, this is their answer (on the newest such case). The handler returns the
    case id, or None (the message is then read as before)."""

    person: PersonRef
    text: str


@dataclass(frozen=True)
class LinkAccounts(Command):
    """An admin links accounts (``slack:U1``, ``matrix:@a:x``, ``web:ana``) into one person."""

    accounts: tuple[str, ...]
    admin: str


@dataclass(frozen=True)
class UnlinkAccount(Command):
    """An admin takes one account out of the person it was linked to."""

    account: str
    admin: str


@dataclass(frozen=True)
class RequestLinkCode(Command):
    """A member asks for a one-time code, sent to them privately on this account."""

    account: PersonRef


@dataclass(frozen=True)
class LinkByCode(Command):
    """A member gives, from another account, the code the desk sent them."""

    account: PersonRef
    code: str


@dataclass(frozen=True)
class ApplyRetention(Command):
    """Remove the texts of resolved cases whose retention (the policy's [retention]) has
    passed; the worker sends it now and then. With ``cases``, only the next (at most) that
    many such cases after the id ``after``: one short transaction, the timers between."""

    after: int = 0
    cases: int = 0  # 0: every case, a window at a time (each window committed)
