"""The peer step, by proxy: the desk tells the author privately, on the reporter's behalf.

The guide's first step is a member saying "hey, that's not ok". When that is not safe, the
reporter can ask the desk to say it for them, without naming them. If no apology or edit
comes in the policy's time, the admins get the report as a case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef


class NudgeState(StrEnum):
    WAITING = "waiting"
    ANSWERED = "answered"  # the author apologized, edited or removed the message
    ESCALATED = "escalated"  # nothing came in time; a case was opened


class Answer(StrEnum):
    APOLOGY = "apology"
    EDIT = "edit"
    REDACTION = "redaction"


ANSWER_WORDS = {
    Answer.APOLOGY: "apologized",
    Answer.EDIT: "edited the message",
    Answer.REDACTION: "removed the message",
}


@dataclass
class Nudge:
    subject: PersonRef
    reporter: PersonRef | None  # None: anonymous, and no key to keep their id sealed
    source: Source
    channel: str
    message_id: str
    asked_at: datetime
    due_at: datetime
    message_text: str | None = None
    message_link: str | None = None
    # what the reporter gave besides, kept for the case if one opens
    note: str | None = None
    harmed: tuple[PersonRef, ...] = ()
    anonymous: bool = False
    state: NudgeState = NudgeState.WAITING
    answer: Answer | None = None
    case_id: int | None = None
    id: int | None = None
