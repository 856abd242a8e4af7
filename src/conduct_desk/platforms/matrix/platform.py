"""Matrix steps: :class:`MatrixPlatform`, the desk's ``Platform`` on a Synapse homeserver.

Reply in a thread, write privately, kick, suspend and lift (Synapse's admin API), ban and
deactivate or lock. Every homeserver refusal becomes an :class:`Effect` with the fix.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.service.ports import Candidate, Capability, Effect, FetchedMessage

from .api import Cursors, JsonDict, MatrixApi, MatrixFailure, _q, permalink
from .settings import NAME, BanMode, MatrixConfig

logger = logging.getLogger(__name__)

NAMES_TTL = 600.0  # seconds a room's or a person's name is trusted in texts


REREAD_HINT = ("Once you have read it again, reply here with !reread (or react ✅ to this "
               "message) so the admins know.")


class MatrixPlatform:
    """The :class:`~conduct_desk.service.ports.Platform` on a Matrix homeserver."""

    name = NAME
    confirm_hint = REREAD_HINT

    def __init__(self, config: MatrixConfig, cursors: Cursors) -> None:
        self.config = config
        self.api = MatrixApi(config)
        self.cursors = cursors
        caps = {Capability.REPLY, Capability.DM, Capability.REMOVE, Capability.FETCH,
                Capability.FIND_PEOPLE}
        if config.management_room:
            caps.add(Capability.NOTIFY_ADMINS)
        if config.admin_token:
            caps |= {Capability.SUSPEND, Capability.RESTORE, Capability.BAN}
        self.capabilities: frozenset[Capability] = frozenset(caps)
        self._dm_lock = threading.Lock()
        self._room_ids: dict[str, str] = {}
        self._names: dict[str, tuple[float, str]] = {}

    # -- names for texts: admins read rooms and people as they know them, not ids -------------
    def room_label(self, room: str) -> str:
        """The room's name (``#community``), else the id or alias it was given as."""
        return self._label(room, lambda r: self.api.room_name(self.room_id(r)))

    def person_label(self, user_id: str) -> str:
        """The person's display name, else their Matrix id."""
        return self._label(user_id, self.api.display_name)

    def _label(self, key: str, look_up: Callable[[str], str | None]) -> str:
        now = time.monotonic()
        found = self._names.get(key)
        if found is not None and now - found[0] < NAMES_TTL:
            return found[1]
        try:
            name = look_up(key) or key
        except MatrixFailure:  # a name is a courtesy: the id still says which
            name = key
        if len(self._names) > 1000:
            self._names.clear()
        self._names[key] = (now, name)
        return name

    def close(self) -> None:
        self.api.close()

    def room_id(self, room: str) -> str:
        if room not in self._room_ids:
            self._room_ids[room] = self.api.resolve(room)
        return self._room_ids[room]

    def remember_room(self, room: str, room_id: str) -> None:
        """The id a room (an alias, say) was found to have when the bot joined it."""
        self._room_ids[room] = room_id

    @property
    def management_room_id(self) -> str | None:
        room = self.config.management_room
        return self.room_id(room) if room else None

    # -- the Platform protocol ---------------------------------------------------------------
    def post_reply(self, channel: str, message_id: str | None, text: str) -> Effect:
        """Reply in the message's thread, quoting it."""
        content: JsonDict = {"msgtype": "m.text", "body": text}
        try:
            if message_id:
                content["m.relates_to"] = self._thread_reply(channel, message_id)
            event_id = self.api.send(channel, content)
        except MatrixFailure as exc:
            room = self.room_label(channel)
            return exc.effect(f"posting in {room}",
                              f"Let {self.config.user_id} join {room} and post there.")
        logger.debug("replied with %s", event_id)
        return Effect.done(f"replied in {self.room_label(channel)}")

    def _thread_reply(self, room_id: str, event_id: str) -> JsonDict:
        root = event_id
        try:
            relates = self.api.get_event(room_id, event_id).get("content", {}).get("m.relates_to", {})
            if relates.get("rel_type") == "m.thread" and relates.get("event_id"):
                root = str(relates["event_id"])
        except MatrixFailure as exc:
            if exc.errcode not in ("M_NOT_FOUND",):
                raise
        return {"rel_type": "m.thread", "event_id": root, "is_falling_back": False,
                "m.in_reply_to": {"event_id": event_id}}

    def send_dm(self, person: PersonRef, text: str, key: str | None = None,
                again: bool = False) -> Effect:
        try:
            room_id = self.dm_room(person.user_id)
            self.api.send(room_id, {"msgtype": "m.text", "body": text}, txn=key)
        except MatrixFailure as exc:
            return exc.effect(f"writing to {self.person_label(person.user_id)} privately")
        return Effect.done(f"sent privately to {self.person_label(person.user_id)}")

    def dm_room(self, user_id: str) -> str:
        """The direct room with ``user_id``: the one on record if they are still in it, else a new one."""
        with self._dm_lock:
            room_id = self.cursors.get(f"dm:{user_id}")
            if room_id is not None:
                try:
                    if self.api.membership(room_id, user_id) in ("join", "invite"):
                        return room_id
                except MatrixFailure as exc:
                    if exc.rate_limited or exc.status is None:
                        raise
            created = self.api.cs("POST", "/_matrix/client/v3/createRoom", {
                "preset": "trusted_private_chat", "is_direct": True, "invite": [user_id],
            })
            room_id = str(created["room_id"])
            self.cursors.set(f"dm:{user_id}", room_id)
            return room_id

    def remember_dm(self, user_id: str, room_id: str) -> None:
        """A member wrote to the bot in this room: answer there."""
        with self._dm_lock:
            if self.cursors.get(f"dm:{user_id}") != room_id:
                self.cursors.set(f"dm:{user_id}", room_id)

    def remove_from_channel(self, person: PersonRef, channel: str) -> Effect:
        user = person.user_id
        try:
            self.api.cs("POST", f"/_matrix/client/v3/rooms/{_q(channel)}/kick",
                        {"user_id": user, "reason": "Code of Conduct: removed by the admins"})
        except MatrixFailure as exc:
            if exc.errcode == "M_FORBIDDEN" and self._membership_or_none(channel, user) in (
                    "leave", "ban", None):
                return Effect.done(f"{self.person_label(user)} was no longer in "
                                   f"{self.room_label(channel)}")
            return exc.effect(f"removing {self.person_label(user)} from "
                              f"{self.room_label(channel)}", self._power_fix(channel, "kick"))
        return Effect.done(f"removed {self.person_label(user)} from {self.room_label(channel)}")

    def _membership_or_none(self, room_id: str, user_id: str) -> str | None:
        try:
            return self.api.membership(room_id, user_id)
        except MatrixFailure:
            return "unknown"

    def _power_fix(self, room: str, what: str) -> str:
        return (f"Give {self.config.user_id} a power level that allows {what} in "
                f"{self.room_label(room)} "
                f"(moderator, 50, usually), then retry the step.")

    def suspend(self, person: PersonRef, until: datetime) -> Effect:
        """Synapse's suspension: the account can read but not send. The desk's timer restores it."""
        who = self.person_label(person.user_id)
        return self._suspension(person, True, f"suspending {who}",
                                f"suspended {who} until {until:%Y-%m-%d %H:%M} UTC")

    def restore(self, person: PersonRef) -> Effect:
        who = self.person_label(person.user_id)
        return self._suspension(person, False, f"lifting the suspension of {who}",
                                f"lifted the suspension of {who}")

    def _suspension(self, person: PersonRef, suspend: bool, doing: str, done: str) -> Effect:
        try:
            self.api.admin("PUT", f"/_synapse/admin/v1/suspend/{_q(person.user_id)}",
                           {"suspend": suspend})
        except MatrixFailure as exc:
            return exc.effect(doing, self._admin_fix())
        return Effect.done(done)

    def _admin_fix(self) -> str:
        return "Check that CONDUCT_MATRIX_ADMIN_TOKEN belongs to a Synapse server admin."

    def ban(self, person: PersonRef) -> Effect:
        """Ban from every room the desk looks after, then deactivate or lock the account."""
        user, done, failures = person.user_id, [], []
        for room in self.config.rooms:
            try:
                room_id = self.room_id(room)
                self.api.cs("POST", f"/_matrix/client/v3/rooms/{_q(room_id)}/ban",
                            {"user_id": user, "reason": "Code of Conduct: banned by the admins"})
                done.append(room)
            except MatrixFailure as exc:
                if self._membership_or_none(self._room_ids.get(room, room), user) == "ban":
                    done.append(room)
                else:
                    failures.append((exc, f"banning {self.person_label(user)} in "
                                     f"{self.room_label(room)}", self._power_fix(room, "bans")))
        try:
            if self.config.ban_mode is BanMode.LOCK:
                self.api.admin("PUT", f"/_synapse/admin/v2/users/{_q(user)}", {"locked": True})
            else:
                self.api.admin("POST", f"/_synapse/admin/v1/deactivate/{_q(user)}", {"erase": False})
        except MatrixFailure as exc:
            failures.append((exc, f"{self.config.ban_mode.value}ing the account of "
                                  f"{self.person_label(user)}",
                             self._admin_fix()))
        account = "locked" if self.config.ban_mode is BanMode.LOCK else "deactivated"
        if not failures:
            rooms = f"banned from {', '.join(map(self.room_label, done))}; " if done else ""
            return Effect.done(f"{rooms}account {account}")
        effects = [exc.effect(doing, fix) for exc, doing, fix in failures]
        waits = [e.retry_after for e in effects if e.retry_after is not None]
        return Effect.failed("; ".join(e.detail for e in effects),
                             retryable=all(e.retryable for e in effects),
                             retry_after=max(waits) if waits else None)

    def fetch_message(self, channel: str, message_id: str) -> FetchedMessage | None:
        try:
            event = self.api.get_event(channel, message_id)
        except MatrixFailure as exc:
            logger.info("could not fetch %s in %s: %s", message_id, channel, exc.errcode)
            return None
        body = event.get("content", {}).get("body")
        sender = event.get("sender")
        return FetchedMessage(channel, message_id, str(body) if body is not None else "",
                              PersonRef(NAME, str(sender)) if sender else None,
                              permalink(channel, message_id))

    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The person's Matrix display name (their profile); the localpart comes from the id."""
        try:
            name = self.api.display_name(person.user_id)
        except MatrixFailure as exc:
            logger.info("could not read a display name: %s", exc.errcode)
            return ()
        return (name,) if name else ()

    @property
    def handle_example(self) -> str:
        """How a person is typed here: ``@sam:`` and the bot's own server."""
        return f"@sam:{self.config.user_id.partition(':')[2] or 'example.org'}"

    def find_people(self, query: str, limit: int) -> list[Candidate] | Effect:
        """People the user directory finds for ``query`` (display name or Matrix id)."""
        try:
            found = self.api.search_users(query.strip(), limit)
        except MatrixFailure as exc:
            return exc.effect("looking people up")
        return [Candidate(PersonRef(NAME, str(r["user_id"])),
                          str(r.get("display_name") or r["user_id"]), str(r["user_id"]))
                for r in found if r.get("user_id") and r["user_id"] != self.config.user_id]

    def notify_admins(self, text: str, key: str | None = None,
                      again: bool = False) -> Effect:
        room = self.config.management_room
        if not room:
            return Effect.failed("no management room (CONDUCT_MATRIX_MANAGEMENT_ROOM)", retryable=False)
        try:
            self.api.send(self.room_id(room), {"msgtype": "m.notice", "body": text}, txn=key)
        except MatrixFailure as exc:
            return exc.effect("telling the admins",
                              f"Invite {self.config.user_id} to {self.room_label(room)}.")
        return Effect.done("admins told in the management room")

    def manual_instructions(self, action: Action, person: PersonRef, channel: str | None,
                            until: datetime | None) -> str:
        """What an admin does by hand: people and rooms by name, ids only where a command or
        an API call needs them."""
        user, hs = person.user_id, self.config.homeserver
        who = self.person_label(user)
        admin_api = f"{hs}/_synapse/admin/v1"
        where = self.room_label(channel) if channel else "the room"
        rooms = ", ".join(map(self.room_label, self.config.rooms)) or where
        return {
            Action.REMIND: f"Reply to the message in {where} with the text below.",
            Action.SUGGEST: f"Reply to the message in {where} with the text below.",
            Action.REMOVE: f"Send {who} the text below, then kick them from {where} "
                           f"(/remove {user} in Element).",
            Action.WARN: f"Send {who} the text below in a direct message.",
            Action.SUSPEND: f"Send {who} the text below, then suspend the account: PUT "
                            f"{admin_api}/suspend/{user} with {{\"suspend\": true}}; lift it at "
                            f"{until:%Y-%m-%d %H:%M} UTC." if until else
                            f"Send {who} the text below, then suspend the account.",
            Action.BAN: f"Send {who} the text below, ban them in {rooms}, "
                        f"then deactivate the account: POST {admin_api}/deactivate/{user}.",
            Action.RESTORE: f"Lift the suspension of {who}: PUT {admin_api}/suspend/{user} with "
                            "{\"suspend\": false}.",
        }[action] + " Then mark the step done (!coc done CASE STEP)."
