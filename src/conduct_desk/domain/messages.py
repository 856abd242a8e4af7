"""Follow-up messages: the admins and the people of a case writing to each other.

Two conversations run beside a case. With a reporter (one report: ``report_id``), the admins
ask and the reporter may answer; answering is never required. With the subject, the admins
and the person the case is about write to each other. Each message is one row, never edited.

Confidentiality: what a reporter writes stays with the admins; a message to the subject is
checked for the names of the reporters and the hurt before it is kept (see service/texts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Party(StrEnum):
    """Who the admins write with."""

    REPORTER = "reporter"  # one report's reporter (``report_id``), anonymous or not
    SUBJECT = "subject"  # the person the case is about


class Direction(StrEnum):
    TO_PARTY = "to"  # from the admins to the party
    FROM_PARTY = "from"  # from the party to the admins


@dataclass(frozen=True)
class Message:
    """One follow-up message. ``by``: the admin who wrote it, or, from the party, only
    ``reporter`` or ``subject`` (an anonymous reporter is known only through the report).
    ``reply_to``: the question a reporter's answer answers. ``read_at``: when the one it was
    written to first saw it (the party on their page, or an admin on the case page)."""

    case_id: int
    party: Party
    direction: Direction
    text: str
    at: datetime
    by: str
    report_id: int | None = None
    reply_to: int | None = None
    read_at: datetime | None = None
    id: int | None = None

    @property
    def from_admins(self) -> bool:
        return self.direction is Direction.TO_PARTY

    @property
    def is_question(self) -> bool:
        """A question to a reporter (what the reporter may answer)."""
        return self.party is Party.REPORTER and self.direction is Direction.TO_PARTY
