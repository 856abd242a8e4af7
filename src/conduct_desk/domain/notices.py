"""Notices: the messages the desk promises to people (a thank-you, an outcome, a line to the
admins), kept until they are delivered or have visibly failed.

A notice is tried at once; when the platform asks the desk to wait (a rate limit), it is kept
pending with the time it is due and a durable timer delivers it, after a restart too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from conduct_desk.domain.people import PersonRef

# tries before a notice the platform keeps refusing is given up (and shown as failed)
MAX_ATTEMPTS = 8


class NoticeKind(StrEnum):
    DM = "dm"  # a private message to one person (``to``)
    ADMINS = "admins"  # a line in the admins' room or channel (``reply_to``: in a thread)
    CARD = "card"  # refresh a case card; delivered by the sender its platform registers
    ANSWER = "answer"  # an answer to an admin's chat command, in the admins' room
    EMAIL = "email"  # an email to one admin (``to``: PersonRef("email", address)); the text's
    # first line is the subject


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Purpose(StrEnum):
    """Why a notice is sent (a notice's ``purpose`` may also be any other short word)."""

    ACKNOWLEDGEMENT = "acknowledgement"  # the reporter is thanked
    OUTCOME = "outcome"  # the reporter learns how the case ended
    ADMINS = "admins"  # the admins are told or reminded
    NUDGE = "nudge"  # the private word, and what the members who asked for it hear
    ANSWER = "answer"  # an answer to an admin's command
    CARD = "card"  # a case card
    EMAIL = "email"  # an admin is emailed (domain/emails.py)
    APPEAL = "appeal"  # the person appealing learns the decision
    QUESTION = "question"  # the admins ask a reporter something (answering is optional)
    MESSAGE = "message"  # the admins write to the person a case is about


@dataclass(frozen=True)
class Notice:
    """One message to deliver on ``platform``. ``to`` is the person of a DM; when
    ``anonymous`` (an anonymous reporter) it is kept only sealed and never shown."""

    platform: str
    kind: NoticeKind
    text: str
    to: PersonRef | None = None
    case_id: int | None = None
    purpose: str = Purpose.ADMINS
    reply_to: str | None = None
    anonymous: bool = False
    status: NoticeStatus = NoticeStatus.PENDING
    attempts: int = 0
    created_at: datetime | None = None
    due_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    id: int | None = None

    @property
    def is_sent(self) -> bool:
        return self.status is NoticeStatus.SENT

    @property
    def key(self) -> str | None:
        """The same on every try of this notice, and no other's (a new database numbers its
        notices from 1 again, at another time): a platform that can tell a repeat by it posts
        the message once, even when a worker died after the platform took it."""
        if self.id is None or self.created_at is None:
            return None
        return f"conduct-notice-{self.id}-{round(self.created_at.timestamp() * 1_000_000)}"
