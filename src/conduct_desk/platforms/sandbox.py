"""The sandbox platform: does nothing outside, remembers everything it was asked.

Used by the tests and the demo, and shipped so that users can test their own policies.
Failures can be scripted with :meth:`SandboxPlatform.fail_next` (and rate limits with
:meth:`SandboxPlatform.rate_limit_next`); a directory of people (:meth:`SandboxPlatform.
add_person`) lets it look people up as a chat platform does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.service.lookup import name_matches
from conduct_desk.service.ports import Candidate, Capability, Effect, FetchedMessage


@dataclass(frozen=True)
class Call:
    method: str
    person: PersonRef | None = None
    channel: str | None = None
    text: str | None = None
    until: datetime | None = None


@dataclass
class SandboxPlatform:
    name: str = "sandbox"
    # all but look-ups: those come with a directory (add_person)
    capabilities: frozenset[Capability] = frozenset(Capability) - {Capability.FIND_PEOPLE}
    confirm_hint: str = "Please reply here with \"I have re-read it\" once you have."
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], FetchedMessage] = field(default_factory=dict)
    suspended: dict[PersonRef, datetime] = field(default_factory=dict)
    banned: set[PersonRef] = field(default_factory=set)
    channel_members: dict[str, set[PersonRef]] = field(default_factory=dict)
    names: dict[PersonRef, tuple[str, ...]] = field(default_factory=dict)  # display names
    directory: list[Candidate] = field(default_factory=list)  # who look-ups can find
    _failures: dict[str, list[Effect]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting -------------------------------------------------------------------------
    def fail_next(self, method: str, error: str = "the platform refused", *, times: int = 1,
                  retryable: bool = True, retry_after: timedelta | None = None) -> None:
        with self._lock:
            self._failures.setdefault(method, []).extend(
                [Effect.failed(error, retryable=retryable, retry_after=retry_after)] * times)

    def rate_limit_next(self, method: str, wait: timedelta, *, times: int = 1) -> None:
        """Refuse the next ``times`` calls of ``method`` as a rate limit does (Slack's 429 with
        Retry-After, Synapse's M_LIMIT_EXCEEDED with retry_after_ms): try again after ``wait``."""
        self.fail_next(method, f"rate limited; retry after {wait.total_seconds():g}s",
                       times=times, retry_after=wait)

    def add_person(self, user_id: str, display_name: str, handle: str | None = None) -> PersonRef:
        """Someone look-ups can find (by display name or handle); turns look-ups on."""
        person = PersonRef(self.name, user_id)
        self.directory.append(Candidate(person, display_name, handle or f"@{user_id}"))
        self.names.setdefault(person, (display_name,))
        self.capabilities = self.capabilities | {Capability.FIND_PEOPLE}
        return person

    def add_message(self, channel: str, message_id: str, text: str, author: PersonRef) -> None:
        self.messages[(channel, message_id)] = FetchedMessage(
            channel, message_id, text, author, f"sandbox://{channel}/{message_id}")
        self.channel_members.setdefault(channel, set()).add(author)

    def to(self, person: PersonRef) -> list[Call]:
        """Everything the person received privately."""
        return [c for c in self.calls if c.person == person and c.text is not None]

    def _record(self, call: Call) -> Effect | None:
        with self._lock:
            self.calls.append(call)
            queue = self._failures.get(call.method)
            return queue.pop(0) if queue else None

    # -- the Platform protocol ------------------------------------------------------------
    def post_reply(self, channel: str, message_id: str | None, text: str) -> Effect:
        return self._record(Call("post_reply", channel=channel, text=text)) or Effect.done(
            f"replied in {channel}")

    def send_dm(self, person: PersonRef, text: str, key: str | None = None,
                again: bool = False) -> Effect:
        return self._record(Call("send_dm", person=person, text=text)) or Effect.done(
            f"sent privately to {person.user_id}")

    def remove_from_channel(self, person: PersonRef, channel: str) -> Effect:
        failed = self._record(Call("remove_from_channel", person=person, channel=channel))
        if failed:
            return failed
        self.channel_members.setdefault(channel, set()).discard(person)
        return Effect.done(f"removed {person.user_id} from {channel}")

    def readmit(self, person: PersonRef, channel: str) -> Effect:
        failed = self._record(Call("readmit", person=person, channel=channel))
        if failed:
            return failed
        self.channel_members.setdefault(channel, set()).add(person)
        return Effect.done(f"{person.user_id} is back in {channel}")

    def suspend(self, person: PersonRef, until: datetime) -> Effect:
        failed = self._record(Call("suspend", person=person, until=until))
        if failed:
            return failed
        self.suspended[person] = until
        return Effect.done(f"suspended {person.user_id} until {until:%Y-%m-%d %H:%M} UTC")

    def restore(self, person: PersonRef) -> Effect:
        failed = self._record(Call("restore", person=person))
        if failed:
            return failed
        self.suspended.pop(person, None)
        return Effect.done(f"restored {person.user_id}")

    def unban(self, person: PersonRef) -> Effect:
        """Lift a ban (an appeal overturned it): the account works again."""
        failed = self._record(Call("unban", person=person))
        if failed:
            return failed
        self.banned.discard(person)
        return Effect.done(f"lifted the ban on {person.user_id}")

    def ban(self, person: PersonRef) -> Effect:
        failed = self._record(Call("ban", person=person))
        if failed:
            return failed
        self.banned.add(person)
        self.suspended.pop(person, None)
        return Effect.done(f"banned {person.user_id}")

    def fetch_message(self, channel: str, message_id: str) -> FetchedMessage | None:
        self._record(Call("fetch_message", channel=channel))
        return self.messages.get((channel, message_id))

    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The display names set in :attr:`names` (tests script them)."""
        return self.names.get(person, ())

    def find_people(self, query: str, limit: int) -> list[Candidate] | Effect:
        """The people in :attr:`directory` whose display name or handle holds ``query``."""
        failed = self._record(Call("find_people", text=query))
        if failed:
            return failed
        return [c for c in self.directory
                if name_matches(query, c.display_name, c.handle, c.person.user_id)][:limit]

    def notify_admins(self, text: str, key: str | None = None,
                      again: bool = False) -> Effect:
        return self._record(Call("notify_admins", text=text)) or Effect.done("admins told")

    def manual_instructions(self, action: Action, person: PersonRef, channel: str | None,
                            until: datetime | None) -> str:
        return f"Do '{action}' for {person.user_id} by hand, then mark the step done."
