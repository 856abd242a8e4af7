"""An in-memory chat transport: the chat desk's behaviour tested without any platform.

Shipped like the sandbox platform (pair them), so that chat behaviour is tested once and
users can try their policies in a chat that lives in memory. People are typed ``@id``; a
message link is ``sandbox://CHANNEL/MESSAGE`` (what the sandbox platform gives).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from conduct_desk.service.chat.transport import Card, MessageRef, Posted
from conduct_desk.service.ports import Effect

_PEOPLE = re.compile(r"(?<![\w/])@([\w.\-]+)")
_LINK = re.compile(r"sandbox://([^/\s]+)/(\S+)")


@dataclass(frozen=True)
class Said:
    kind: str  # "dm", "answer", "card", "form"
    to: str  # a user id, a room, or the card's message id
    text: str
    reply_to: str | None = None


@dataclass
class MemoryTransport:
    platform: str = "sandbox"
    prefix: str = "!coc"
    person_example: str = "@person"
    admin_room: str | None = "admins"
    names: dict[str, str] = field(default_factory=dict)  # user id -> display name
    channels: dict[str, str] = field(default_factory=dict)  # channel id -> name
    looked_after: set[str] = field(default_factory=set)  # channels the desk looks after
    admin_room_members: set[str] = field(default_factory=set)
    forms: bool = False  # True: the platform has a form to check a step's text
    bot: str | None = "desk-bot"  # the desk's own account here
    said: list[Said] = field(default_factory=list)
    cards: dict[str, Card] = field(default_factory=dict)  # message id -> the card as last drawn
    _failures: dict[str, list[Effect]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting -------------------------------------------------------------------------
    def fail_next(self, kind: str, error: str = "the platform refused", *, times: int = 1,
                  retryable: bool = True, retry_after: timedelta | None = None) -> None:
        """Refuse the next ``times`` calls of ``kind`` ("dm", "answer", "card")."""
        with self._lock:
            self._failures.setdefault(kind, []).extend(
                [Effect.failed(error, retryable=retryable, retry_after=retry_after)] * times)

    def to(self, user_id: str) -> list[str]:
        """What one person read privately, oldest first."""
        return [s.text for s in self.said if s.kind == "dm" and s.to == user_id]

    def answers(self) -> list[str]:
        return [s.text for s in self.said if s.kind == "answer"]

    def _refused(self, kind: str) -> Effect | None:
        with self._lock:
            queue = self._failures.get(kind)
            return queue.pop(0) if queue else None

    # -- the ChatTransport protocol ---------------------------------------------------------
    def mention(self, user_id: str) -> str:
        return f"@{user_id}"

    def person_word(self, word: str) -> str | None:
        match = _PEOPLE.fullmatch(word)
        return match.group(1) if match else None

    def people_in(self, text: str) -> list[str]:
        return _PEOPLE.findall(text)

    def message_in(self, text: str) -> MessageRef | None:
        match = _LINK.search(text)
        return MessageRef(match.group(1), match.group(2)) if match else None

    def person_name(self, user_id: str) -> str | None:
        return self.names.get(user_id)

    def channel_name(self, channel: str) -> str | None:
        return self.channels.get(channel)

    def looks_after(self, channel: str) -> str | None:
        return channel if not self.looked_after or channel in self.looked_after else None

    def dm(self, user_id: str, text: str) -> Effect:
        refused = self._refused("dm")
        if refused:
            return refused
        self.said.append(Said("dm", user_id, text))
        return Effect.done(f"sent privately to {user_id}")

    def answer(self, user_id: str, room: str | None, reply_to: str | None, text: str) -> Effect:
        refused = self._refused("answer")
        if refused:
            return refused
        self.said.append(Said("answer", room or user_id, text, reply_to))
        return Effect.done("answered")

    def post_card(self, card: Card) -> Posted | Effect:
        refused = self._refused("card")
        if refused:
            return refused
        ref = card.existing or f"card-{len(self.cards) + 1}"
        self.cards[ref] = card
        self.said.append(Said("card", ref, card.text))
        return Posted(ref)

    def reads_admin_room(self, user_id: str) -> bool:
        return user_id in self.admin_room_members

    def desk_account(self) -> str | None:
        return self.bot

    def open_step_form(self, trigger: str, case_id: int, rung: str, text: str,
                       recommended: str | None, duration: str | None) -> bool:
        if not self.forms:
            return False
        self.said.append(Said("form", trigger, text))
        return True
