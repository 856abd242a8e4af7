"""What people do in a chat, in no platform's words: the chat desk's inputs.

A transport builds these from its SDK's events; ids are the platform's own (a Slack user
id, a Matrix id), channels and messages as the platform names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReactionKind(StrEnum):
    REPORT = "report"  # the report emoji: file a report about the message
    NUDGE = "nudge"  # the nudge emoji: ask for a private word with the author first
    CONFIRM = "confirm"  # a confirmation (✅) on the desk's own direct message


@dataclass(frozen=True)
class Reaction:
    """Someone reacted to a message in a channel the desk looks after."""

    user: str
    channel: str
    message_id: str
    kind: ReactionKind
    author: str | None = None  # when the platform says whose message it is
    # the platform's delivery id, claimed with the report it files (a report reaction
    # delivered again files nothing more, and one cut short by a crash is filed when resent)
    mark: tuple[str, str] | None = None


@dataclass(frozen=True)
class DirectMessage:
    """Someone wrote to the desk privately."""

    user: str
    text: str


@dataclass(frozen=True)
class MessageEdited:
    """The author changed a message."""

    user: str
    channel: str
    message_id: str


@dataclass(frozen=True)
class MessageDeleted:
    """A message was taken away (``user``: who did, when the platform says)."""

    channel: str
    message_id: str
    user: str | None = None


@dataclass(frozen=True)
class ChannelMessage:
    """A new message in a channel the desk looks after."""

    user: str
    channel: str
    message_id: str
    text: str


@dataclass(frozen=True)
class ReportSubmitted:
    """A report from the platform's own form (Slack's modal, Synapse's report button)."""

    reporter: str
    subject: str
    channel: str | None = None
    message_id: str | None = None
    note: str | None = None
    harmed: tuple[str, ...] = ()
    anonymous: bool = False
    flagrant: bool = False
    nudge: bool = False  # a private word with the author first, if not flagrant
    message_text: str | None = None
    message_link: str | None = None
    mark: tuple[str, str] | None = None  # the platform's read position, kept with the report


@dataclass(frozen=True)
class CommandTyped:
    """An admin command (``/coc …``, ``!coc …``): ``text`` after the prefix.

    ``room`` is where it was typed when others read it there (None: only the asker reads
    the answer, like Slack's ephemeral answers); ``trigger`` lets the platform open a form.
    """

    user: str
    text: str
    room: str | None = None
    message_id: str | None = None
    trigger: str | None = None


@dataclass(frozen=True)
class CardPressed:
    """A button on a case card: take the case, open a step, or mark a manual step done."""

    user: str
    action: str  # "take", "step", "done"
    case_id: int
    arg: str = ""
    trigger: str | None = None


ChatInput = (Reaction | DirectMessage | MessageEdited | MessageDeleted | ChannelMessage
             | ReportSubmitted | CommandTyped | CardPressed)
