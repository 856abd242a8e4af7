"""The peer step, by proxy: the desk tells the author privately, on the reporter's behalf.

The guide's first step is a member saying "hey, that's not ok". When that is not safe, the
reporter can ask the desk to say it for them, without naming them. An edit or removal of
the message answers it. A message that looks like an apology does not close it by itself:
the reporter sees it and may say it is enough; if they don't, the admins get the report as a
case in the policy's time, with the apology attached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef


class NudgeState(StrEnum):
    WAITING = "waiting"
    ANSWERED = "answered"  # the author edited or removed the message, or the reporter said
    # the author's apology was enough
    ESCALATED = "escalated"  # nothing came in time; a case was opened


class Answer(StrEnum):
    APOLOGY = "apology"  # the reporter said the author's apology was enough
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
    # what the author wrote afterwards that looked like an apology (for the reporter, and for
    # the admins if a case opens); it does not close the nudge by itself
    apology: str | None = None
    apology_at: datetime | None = None
    id: int | None = None
