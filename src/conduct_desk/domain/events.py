"""Events: facts in the past tense, emitted by the case aggregate and handled by the bus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conduct_desk.domain.notices import Notice
from conduct_desk.domain.people import PersonRef


class Event:
    """Base class for everything that happened."""


@dataclass(frozen=True)
class ReportFiled(Event):
    """Carries what the acknowledgement needs, so handling it reads nothing back."""

    case_id: int
    report_id: int
    opened_case: bool
    subject: PersonRef
    reporter: PersonRef | None
    flagrant: bool
    hurt: int
    anonymous: bool = False
    # False: the reporter typed their id into the public form (anyone can type anyone's),
    # so no message goes to it; they follow the status link
    message_reporter: bool = True
    # False: anonymous, and no key to keep their id sealed: the thanks is the last message
    reporter_kept: bool = True
    status_token: str | None = None
    take_due_at: datetime | None = None  # when an admin is due to take the case
    # the thanks and the admins' line, kept in the filing's own transaction: to deliver
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class CaseTaken(Event):
    case_id: int
    admin: str


@dataclass(frozen=True)
class StepRecorded(Event):
    """A step was decided and stored as pending; the platform has not been asked yet."""

    case_id: int
    step_id: int


@dataclass(frozen=True)
class StepUpdated(Event):
    """A step's outcome was recorded: done, failed, manual, marked done, or a restore added."""

    case_id: int
    step_id: int


@dataclass(frozen=True)
class SuspensionStarted(Event):
    case_id: int
    step_id: int


@dataclass(frozen=True)
class CaseResolved(Event):
    case_id: int


@dataclass(frozen=True)
class CaseReopened(Event):
    case_id: int


@dataclass(frozen=True)
class InvolvementChanged(Event):
    """An admin stepped aside, or another admin confirmed that someone named as hurt was hurt."""

    case_id: int


@dataclass(frozen=True)
class NoteAdded(Event):
    """Something was noted on the case: a re-read, an appeal, the subject's reply."""

    case_id: int
    kind: str


@dataclass(frozen=True)
class AppealFiled(Event):
    """The person a case is about asked the admins to look again (a new appeal, not more
    words on one already waiting). Carries nothing about who reported."""

    case_id: int
    subject: PersonRef
    due_at: datetime  # when the policy wants it decided (deadlines.appeal_within)
    step_id: int | None  # the step appealed, if one was taken
    rung: str | None


@dataclass(frozen=True)
class AppealDecided(Event):
    """An admin who did not take the appealed step decided the appeal."""

    case_id: int
    decision: str  # upheld, overturned or changed
    step_id: int | None  # the appealed step
    replaced_by: str | None  # changed: the rung that counts instead
