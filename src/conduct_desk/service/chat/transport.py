"""The one small interface a chat platform implements under the chat desk.

Like an errbot backend or an opsdroid connector: it sends and it names; behaviour lives above
it, in :class:`conduct_desk.service.chat.desk.ChatDesk`. Calls that reach the platform
return an :class:`~conduct_desk.service.ports.Effect`, so a refusal (a rate limit with the
platform's own wait, a missing permission) is a value the desk can retry or show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from conduct_desk.service.ports import Effect

if TYPE_CHECKING:
    from conduct_desk.service.views import CaseDetail


@dataclass(frozen=True)
class MessageRef:
    """A message found in what someone typed: a link, or a platform URI."""

    channel: str  # the platform's channel or room id (or an alias the transport resolves)
    message_id: str


@dataclass(frozen=True)
class Card:
    """A case card to post or edit in the admins' room."""

    detail: CaseDetail
    text: str  # the plain-text card (render.card_text); transports may draw their own
    names_hidden: bool  # the subject may read the admins' room: no reporter is named
    existing: str | None  # the card already posted (its message id), to edit in place


@dataclass(frozen=True)
class Posted:
    """A card went out: its message id, kept to edit it next time."""

    ref: str


class ChatTransport(Protocol):
    """What the chat desk needs of a platform's SDK."""

    platform: str  # as in PersonRef.platform and Source: "slack", "matrix"
    prefix: str  # how admins start a command: "/coc", "!coc"
    person_example: str  # how a person is typed in a command: "@person", "@someone:server"

    @property
    def admin_room(self) -> str | None:
        """Where admins work and cards go (None: not set up)."""
        ...

    def mention(self, user_id: str) -> str:
        """How to name a person in a text so the platform shows them (``<@U1>``)."""
        ...

    def person_word(self, word: str) -> str | None:
        """The user id a command's word stands for (a mention, an id), or None."""
        ...

    def people_in(self, text: str) -> list[str]:
        """The user ids mentioned in free text, in order."""
        ...

    def message_in(self, text: str) -> MessageRef | None:
        """The first link to a message in free text, if any."""
        ...

    def person_name(self, user_id: str) -> str | None:
        """The person's display name, or None when the platform does not say."""
        ...

    def channel_name(self, channel: str) -> str | None:
        """The channel's name as people know it (``#community``), or None."""
        ...

    def looks_after(self, channel: str) -> str | None:
        """The channel's id when the desk looks after it (links may use aliases), else None."""
        ...

    def dm(self, user_id: str, text: str) -> Effect:
        """A private message to one person."""
        ...

    def answer(self, user_id: str, room: str | None, reply_to: str | None, text: str) -> Effect:
        """Answer a command: in ``room`` (replying to ``reply_to``), or, with no room, so that
        only ``user_id`` reads it."""
        ...

    def post_card(self, card: Card) -> Posted | Effect:
        """Post the card, or edit ``card.existing`` in place; an Effect when refused."""
        ...

    def reads_admin_room(self, user_id: str) -> bool:
        """True when the person may read the admins' room (or the platform will not say)."""
        ...

    def desk_account(self) -> str | None:
        """The desk's own user id here (its bot), when known: nobody to report."""
        ...

    def open_step_form(self, trigger: str, case_id: int, rung: str, text: str,
                       recommended: str | None, duration: str | None) -> bool:
        """Open the platform's form to check a step's text; False when it has none."""
        ...
