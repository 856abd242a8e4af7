"""Matrix: the desk as a bot on a Synapse homeserver.

Two halves, for two kinds of work:

* :class:`MatrixPlatform` carries out steps (reply, DM, kick, suspend, ban…). The desk calls
  it synchronously from whichever thread runs a command (web, CLI, timers, the bot), so it
  uses a plain, thread-safe ``httpx.Client`` for the client-server and the Synapse admin API:
  no event loop to bridge into, no risk of a handler blocking the loop it waits on, and every
  homeserver error (``M_FORBIDDEN``, ``M_LIMIT_EXCEEDED``…) becomes an :class:`Effect` at once
  instead of being retried silently inside an SDK.
* :class:`MatrixAdapter` listens. ``start()`` runs matrix-nio's ``AsyncClient.sync`` on its own
  asyncio loop in a background thread (nio parses the sync stream and tracks rooms), and polls
  Synapse's event and user reports. What it hears becomes desk commands on the bus. Read
  positions (the sync token, the last report ids) live in the database, so a restart neither
  misses nor repeats anything.

matrix-nio comes with the ``matrix`` extra and is imported only here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import (
    ConfidentialityError,
    DeskError,
    InvalidInput,
    NotFound,
    Recused,
)
from conduct_desk.domain.events import (
    CaseReopened,
    CaseResolved,
    CaseTaken,
    Event,
    InvolvementChanged,
    ReportFiled,
    StepRecorded,
)
from conduct_desk.domain.model import NoteKind, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.platforms import matrix_commands as mc
from conduct_desk.platforms.quiet import quiet_libraries
from conduct_desk.service import commands, views
from conduct_desk.service.chat.later import CARD_ATTEMPTS, Later
from conduct_desk.service.handlers import Desk
from conduct_desk.service.messagebus import MessageBus
from conduct_desk.service.nudges import says_enough
from conduct_desk.service.ports import (
    Capability,
    CaseFilter,
    Effect,
    EffectStatus,
    FetchedMessage,
    UnitOfWork,
)
from conduct_desk.service.roster import PlatformAdmin

try:
    import aiohttp  # matrix-nio's HTTP client
    import nio
except ModuleNotFoundError:  # the matrix extra is not installed
    aiohttp = None  # type: ignore[assignment]
    nio = None

logger = logging.getLogger(__name__)

NAME = mc.PLATFORM
JsonDict = dict[str, Any]


# -- settings --------------------------------------------------------------------------------


class BanMode(StrEnum):
    DEACTIVATE = "deactivate"  # the account is closed for good (Synapse deactivate)
    LOCK = "lock"  # the account is locked: it cannot sign in, and an admin can unlock it


class MatrixSettings(BaseSettings):
    """``CONDUCT_MATRIX_*``. Secrets can come from files (``…_FILE``) and are never logged."""

    model_config = SettingsConfigDict(env_prefix="CONDUCT_MATRIX_", extra="ignore")

    homeserver: str | None = None  # e.g. https://matrix.example.org
    user_id: str | None = None  # the bot, e.g. @conduct:example.org
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    admin_token: SecretStr | None = None  # a Synapse server admin's token (reports, suspend, ban)
    admin_token_file: Path | None = None
    management_room: str | None = None  # where case cards go and admins type !coc
    rooms: str = ""  # comma list of the rooms the desk looks after
    report_emoji: str = "🚩"
    nudge_emoji: str = "🕊️"
    ban_mode: BanMode | None = None  # set: overrides the policy's [ban] account
    admins: str = ""  # see matrix_commands.parse_admins
    poll_seconds: float = 5.0  # long-poll and report-poll interval
    request_timeout: float = 30.0

    def present(self) -> bool:
        return any((self.homeserver, self.user_id, self.access_token, self.access_token_file,
                    self.password, self.password_file, self.management_room))


@dataclass(frozen=True)
class MatrixConfig:
    """Checked settings. Secrets are kept out of ``repr``."""

    homeserver: str
    user_id: str
    access_token: str | None = field(repr=False)
    password: str | None = field(repr=False)
    admin_token: str | None = field(repr=False)
    management_room: str | None
    rooms: tuple[str, ...]
    report_emoji: str
    nudge_emoji: str
    ban_mode: BanMode
    admins: dict[str, mc.DeskAdmin]
    poll_seconds: float
    request_timeout: float

    @classmethod
    def from_settings(cls, s: MatrixSettings, policy_ban: str = "deactivate") -> MatrixConfig:
        """Checked settings; ``policy_ban`` is the policy's ``[ban] account``, used unless
        CONDUCT_MATRIX_BAN_MODE overrides it."""
        missing = [f"CONDUCT_MATRIX_{n.upper()}" for n in ("homeserver", "user_id")
                   if not getattr(s, n)]
        token = _secret(s.access_token, s.access_token_file, "ACCESS_TOKEN")
        password = _secret(s.password, s.password_file, "PASSWORD")
        if not token and not password:
            missing.append("CONDUCT_MATRIX_ACCESS_TOKEN or CONDUCT_MATRIX_PASSWORD")
        if missing:
            raise InvalidInput(f"Matrix is partly configured; also set {', '.join(missing)}")
        assert s.homeserver and s.user_id
        if not mc.USER_ID.fullmatch(s.user_id):
            raise InvalidInput(f"CONDUCT_MATRIX_USER_ID {s.user_id!r} is not a Matrix id like "
                               "@conduct:example.org")
        return cls(
            homeserver=s.homeserver.rstrip("/"), user_id=s.user_id, access_token=token,
            password=password, admin_token=_secret(s.admin_token, s.admin_token_file, "ADMIN_TOKEN"),
            management_room=s.management_room or None,
            rooms=tuple(r.strip() for r in s.rooms.split(",") if r.strip()),
            report_emoji=s.report_emoji, nudge_emoji=s.nudge_emoji,
            ban_mode=s.ban_mode or BanMode(policy_ban),
            admins=mc.parse_admins(s.admins), poll_seconds=s.poll_seconds,
            request_timeout=s.request_timeout,
        )


def _secret(value: SecretStr | None, path: Path | None, name: str) -> str | None:
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    if path is None:
        return None
    try:
        text = path.read_text("utf-8").strip()
    except OSError as exc:
        raise InvalidInput(f"CONDUCT_MATRIX_{name}_FILE: cannot read {path} ({exc.strerror})") from None
    if not text:
        raise InvalidInput(f"CONDUCT_MATRIX_{name}_FILE: {path} is empty")
    return text


# -- the homeserver's HTTP API ----------------------------------------------------------------


class MatrixFailure(Exception):
    """A homeserver answer other than success, or no answer at all."""

    def __init__(self, errcode: str, message: str, status: int | None = None,
                 retry_after: timedelta | None = None) -> None:
        super().__init__(f"{errcode}: {message}")
        self.errcode, self.message, self.status, self.retry_after = errcode, message, status, retry_after

    @property
    def rate_limited(self) -> bool:
        return self.errcode == "M_LIMIT_EXCEEDED" or self.status == 429

    def effect(self, doing: str, fix: str = "") -> Effect:
        """The step's outcome: retried for rate limits and outages, shown to admins otherwise."""
        said = f"{doing}: the homeserver answered {self.errcode} ({self.message})"
        if self.rate_limited:
            wait = self.retry_after or timedelta(seconds=5)
            return Effect.failed(f"{said}; trying again after {wait.total_seconds():g}s",
                                 retryable=True, retry_after=wait)
        if self.status is None or self.status >= 500:
            return Effect.failed(said, retryable=True)
        if self.errcode == "M_FORBIDDEN" and fix:
            return Effect.failed(f"{said}. {fix}", retryable=False)
        if self.errcode in ("M_NOT_FOUND", "M_USER_DEACTIVATED", "M_INVALID_PARAM"):
            return Effect.failed(f"{said}; the account or room may be gone", retryable=False)
        return Effect.failed(said, retryable=False)


def _q(value: str) -> str:
    return quote(value, safe="")


class MatrixApi:
    """The few client-server and Synapse admin calls the desk needs; thread-safe."""

    def __init__(self, config: MatrixConfig) -> None:
        self.config = config
        self._http = httpx.Client(base_url=config.homeserver, timeout=config.request_timeout)
        self._token = config.access_token
        self._logged_in = False
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._logged_in:
            try:
                self.cs("POST", "/_matrix/client/v3/logout", {})
            except MatrixFailure as exc:
                logger.warning("logging the bot out failed: %s", exc.errcode)
            self._logged_in, self._token = False, self.config.access_token
        self._http.close()

    def token(self) -> str:
        """The bot's access token; signs in with the password once when no token was given."""
        with self._lock:
            if self._token is None:
                assert self.config.password is not None
                body = self._request("POST", "/_matrix/client/v3/login", None, {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": self.config.user_id},
                    "password": self.config.password,
                    "initial_device_display_name": "Conduct Desk",
                })
                self._token, self._logged_in = str(body["access_token"]), True
                logger.info("signed in to %s as %s", self.config.homeserver, self.config.user_id)
            return self._token

    def cs(self, method: str, path: str, body: JsonDict | None = None,
           params: dict[str, str | int] | None = None) -> JsonDict:
        return self._request(method, path, self.token(), body, params)

    def admin(self, method: str, path: str, body: JsonDict | None = None,
              params: dict[str, str | int] | None = None) -> JsonDict:
        if not self.config.admin_token:
            raise MatrixFailure("M_FORBIDDEN", "no Synapse admin token is configured "
                                "(CONDUCT_MATRIX_ADMIN_TOKEN)", 403)
        return self._request(method, path, self.config.admin_token, body, params)

    def _request(self, method: str, path: str, token: str | None, body: JsonDict | None,
                 params: dict[str, str | int] | None = None) -> JsonDict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self._http.is_closed:  # stopped once, used again (e.g. restarted adapter)
            self._http = httpx.Client(base_url=self.config.homeserver,
                                      timeout=self.config.request_timeout)
        try:
            response = self._http.request(method, path, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise MatrixFailure("M_UNREACHABLE", f"no answer from the homeserver "
                                f"({type(exc).__name__})") from None
        if response.is_success:
            data = response.json()
            return data if isinstance(data, dict) else {}
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        retry_after = None
        if isinstance(data.get("retry_after_ms"), int):
            retry_after = timedelta(milliseconds=data["retry_after_ms"])
        elif (header := response.headers.get("Retry-After", "")).isdigit():
            retry_after = timedelta(seconds=int(header))
        raise MatrixFailure(str(data.get("errcode") or f"HTTP_{response.status_code}"),
                            str(data.get("error") or response.reason_phrase),
                            response.status_code, retry_after)

    # -- client-server calls -----------------------------------------------------------------
    def send(self, room_id: str, content: JsonDict, event_type: str = "m.room.message") -> str:
        txn = uuid.uuid4().hex
        path = f"/_matrix/client/v3/rooms/{_q(room_id)}/send/{_q(event_type)}/{txn}"
        return str(self.cs("PUT", path, content)["event_id"])

    def get_event(self, room_id: str, event_id: str) -> JsonDict:
        return self.cs("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/event/{_q(event_id)}")

    def membership(self, room_id: str, user_id: str) -> str | None:
        try:
            state = self.cs("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/state/m.room.member/"
                                   f"{_q(user_id)}")
        except MatrixFailure as exc:
            if exc.errcode == "M_NOT_FOUND":
                return None
            raise
        value = state.get("membership")
        return str(value) if value else None

    def join(self, room: str) -> str:
        return str(self.cs("POST", f"/_matrix/client/v3/join/{_q(room)}", {})["room_id"])

    def resolve(self, room: str) -> str:
        """A room id for an id or an alias."""
        if not room.startswith("#"):
            return room
        return str(self.cs("GET", f"/_matrix/client/v3/directory/room/{_q(room)}")["room_id"])

    def joined_members(self, room_id: str) -> set[str]:
        joined = self.cs("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/joined_members")
        return set(joined.get("joined", {}))

    def redact(self, room_id: str, event_id: str) -> None:
        txn = uuid.uuid4().hex
        self.cs("PUT", f"/_matrix/client/v3/rooms/{_q(room_id)}/redact/{_q(event_id)}/{txn}", {})


# -- the platform ------------------------------------------------------------------------------


class DeskApp(Protocol):
    """What the adapter needs of :class:`conduct_desk.bootstrap.App`."""

    @property
    def desk(self) -> Desk: ...
    @property
    def bus(self) -> MessageBus: ...
    def uow(self) -> UnitOfWork: ...


class Cursors:
    """Small persisted values (read positions, direct rooms, case cards), one transaction each."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], prefix: str) -> None:
        self._uow_factory, self.prefix = uow_factory, prefix

    def get(self, name: str) -> str | None:
        with self._uow_factory() as uow:
            return uow.cursors.get(f"{self.prefix}{name}")

    def set(self, name: str, value: str) -> None:
        with self._uow_factory() as uow:
            uow.cursors.set(f"{self.prefix}{name}", value)
            uow.commit()


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
        caps = {Capability.REPLY, Capability.DM, Capability.REMOVE, Capability.FETCH}
        if config.management_room:
            caps.add(Capability.NOTIFY_ADMINS)
        if config.admin_token:
            caps |= {Capability.SUSPEND, Capability.RESTORE, Capability.BAN}
        self.capabilities: frozenset[Capability] = frozenset(caps)
        self._dm_lock = threading.Lock()
        self._room_ids: dict[str, str] = {}

    def close(self) -> None:
        self.api.close()

    def room_id(self, room: str) -> str:
        if room not in self._room_ids:
            self._room_ids[room] = self.api.resolve(room)
        return self._room_ids[room]

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
            return exc.effect(f"posting in {channel}",
                              f"Let {self.config.user_id} join {channel} and post there.")
        return Effect.done(f"replied in {channel} ({event_id})")

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

    def send_dm(self, person: PersonRef, text: str) -> Effect:
        try:
            room_id = self.dm_room(person.user_id)
            self.api.send(room_id, {"msgtype": "m.text", "body": text})
        except MatrixFailure as exc:
            return exc.effect(f"writing to {person.user_id} privately")
        return Effect.done(f"sent privately to {person.user_id}")

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
                return Effect.done(f"{user} was no longer in {channel}")
            return exc.effect(f"removing {user} from {channel}", self._power_fix(channel, "kick"))
        return Effect.done(f"removed {user} from {channel}")

    def _membership_or_none(self, room_id: str, user_id: str) -> str | None:
        try:
            return self.api.membership(room_id, user_id)
        except MatrixFailure:
            return "unknown"

    def _power_fix(self, room: str, what: str) -> str:
        return (f"Give {self.config.user_id} a power level that allows {what} in {room} "
                f"(moderator, 50, usually), then retry the step.")

    def suspend(self, person: PersonRef, until: datetime) -> Effect:
        """Synapse's suspension: the account can read but not send. The desk's timer restores it."""
        return self._suspension(person, True, f"suspending {person.user_id}",
                                f"suspended {person.user_id} until {until:%Y-%m-%d %H:%M} UTC")

    def restore(self, person: PersonRef) -> Effect:
        return self._suspension(person, False, f"lifting the suspension of {person.user_id}",
                                f"lifted the suspension of {person.user_id}")

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
                    failures.append((exc, f"banning {user} in {room}", self._power_fix(room, "bans")))
        try:
            if self.config.ban_mode is BanMode.LOCK:
                self.api.admin("PUT", f"/_synapse/admin/v2/users/{_q(user)}", {"locked": True})
            else:
                self.api.admin("POST", f"/_synapse/admin/v1/deactivate/{_q(user)}", {"erase": False})
        except MatrixFailure as exc:
            failures.append((exc, f"{self.config.ban_mode.value}ing the account of {user}",
                             self._admin_fix()))
        account = "locked" if self.config.ban_mode is BanMode.LOCK else "deactivated"
        if not failures:
            rooms = f"banned from {', '.join(done)}; " if done else ""
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
                              mc.person(str(sender)) if sender else None,
                              mc.permalink(channel, message_id))

    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The person's Matrix display name (their profile); the localpart comes from the id."""
        try:
            profile = self.api.cs("GET", f"/_matrix/client/v3/profile/{_q(person.user_id)}"
                                         "/displayname")
        except MatrixFailure as exc:
            logger.info("could not read a display name: %s", exc.errcode)
            return ()
        name = profile.get("displayname")
        return (str(name),) if name else ()

    def notify_admins(self, text: str) -> Effect:
        room = self.config.management_room
        if not room:
            return Effect.failed("no management room (CONDUCT_MATRIX_MANAGEMENT_ROOM)", retryable=False)
        try:
            self.api.send(self.room_id(room), {"msgtype": "m.notice", "body": text})
        except MatrixFailure as exc:
            return exc.effect("telling the admins", f"Invite {self.config.user_id} to {room}.")
        return Effect.done("admins told in the management room")

    def manual_instructions(self, action: Action, person: PersonRef, channel: str | None,
                            until: datetime | None) -> str:
        user, hs = person.user_id, self.config.homeserver
        admin_api = f"{hs}/_synapse/admin/v1"
        where = channel or "the room"
        return {
            Action.REMIND: f"Reply to the message in {where} with the text below.",
            Action.SUGGEST: f"Reply to the message in {where} with the text below.",
            Action.REMOVE: f"Send {user} the text below, then kick them from {where} "
                           f"(/remove {user} in Element).",
            Action.WARN: f"Send {user} the text below in a direct message.",
            Action.SUSPEND: f"Send {user} the text below, then suspend the account: PUT "
                            f"{admin_api}/suspend/{user} with {{\"suspend\": true}}; lift it at "
                            f"{until:%Y-%m-%d %H:%M} UTC." if until else
                            f"Send {user} the text below, then suspend the account.",
            Action.BAN: f"Send {user} the text below, ban them in {', '.join(self.config.rooms) or where}, "
                        f"then deactivate the account: POST {admin_api}/deactivate/{user}.",
            Action.RESTORE: f"Lift the suspension: PUT {admin_api}/suspend/{user} with "
                            "{\"suspend\": false}.",
        }[action] + " Then mark the step done (!coc done CASE STEP)."


# -- the listener ------------------------------------------------------------------------------

_CONFIRM_KEYS = {"✅", "✔", "👍"}


def _key(emoji: str) -> str:
    return emoji.replace("\ufe0f", "").strip()


@dataclass(frozen=True)
class _Message:
    room_id: str
    event_id: str
    sender: str
    type: str
    content: JsonDict
    redacts: str | None = None

    @classmethod
    def of(cls, room_id: str, source: JsonDict) -> _Message:
        content = source.get("content")
        redacts = source.get("redacts") or (content or {}).get("redacts")
        return cls(room_id, str(source.get("event_id", "")), str(source.get("sender", "")),
                   str(source.get("type", "")), content if isinstance(content, dict) else {},
                   str(redacts) if redacts else None)

    @property
    def body(self) -> str:
        body = self.content.get("body")
        return body if isinstance(body, str) else ""

    @property
    def relates(self) -> JsonDict:
        rel = self.content.get("m.relates_to")
        return rel if isinstance(rel, dict) else {}


class MatrixAdapter:
    """The bot: intake, the peer step, and the management room. Started by ``conduct serve``."""

    def __init__(self, app: DeskApp, platform: MatrixPlatform) -> None:
        self.app, self.platform, self.config = app, platform, platform.config
        # the desk knows these admins by name, with their Matrix ids (for --admin and recusal)
        app.desk.platform_admins.update({
            a.name: PlatformAdmin(a.name, a.role, (a.user_id, f"{NAME}:{a.user_id}"))
            for a in self.config.admins.values()})
        self.cursors = platform.cursors
        self.bot = self.config.user_id
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._long_poll: asyncio.Future[Any] | None = None  # the open sync request, if any
        self._stopping = threading.Event()
        self._later = Later(CARD_ATTEMPTS)
        self.synced = threading.Event()  # set after each completed sync round (tests wait on it)
        self.rounds = 0
        self._dm_rooms: set[str] = set()
        for event_type in (ReportFiled, CaseTaken, StepRecorded, CaseResolved, CaseReopened,
                           InvolvementChanged):
            app.bus.subscribe(event_type, self._on_case_event)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._later.start()
        self._thread = threading.Thread(target=self._run, name="conduct-matrix", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and wait for the listener thread to end.

        Only an open long-poll is cancelled: a sync round already being handled runs to its
        end and saves its read position, so nothing is handled twice after a restart, and no
        thread is left using the database or the homeserver once this returns.
        """
        self._stopping.set()
        self._later.stop()
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._cancel_long_poll)
            except RuntimeError:  # the loop has closed: the thread is ending anyway
                pass
        thread, self._thread = self._thread, None
        if thread is not None:
            while True:  # each step of a round is bounded by request_timeout
                thread.join(timeout=self.config.request_timeout + 5)
                if not thread.is_alive():
                    break
                logger.warning("still waiting for the Matrix listener to finish its round")
        self._loop = None
        self.platform.close()

    def _cancel_long_poll(self) -> None:
        """Runs on the listener's loop, so it cannot fall between the stop check and a sync."""
        if self._long_poll is not None:
            self._long_poll.cancel()

    def _run(self) -> None:
        try:
            asyncio.run(self._listen())
        except Exception:
            logger.exception("the Matrix listener stopped on an error")

    async def _listen(self) -> None:
        assert nio is not None
        self._loop = asyncio.get_running_loop()
        config = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0,
                                       request_timeout=self.config.request_timeout)
        client = nio.AsyncClient(self.config.homeserver, self.bot, config=config)
        try:
            client.access_token = await asyncio.to_thread(self.platform.api.token)
            client.user_id = self.bot
            await asyncio.to_thread(self._join_rooms)
            since = await asyncio.to_thread(self.cursors.get, "sync")
            timeline = {"room": {"timeline": {"limit": 100}}}
            while not self._stopping.is_set():
                timeout_ms = int(self.config.poll_seconds * 1000) if since else 0
                try:
                    response = await self._interruptible(
                        client.sync(timeout=timeout_ms, since=since, sync_filter=timeline))
                except (TimeoutError, aiohttp.ClientError) as exc:
                    # a slow or unreachable homeserver is a pause, not the end of the bot
                    logger.warning("sync failed: %s; trying again", type(exc).__name__)
                    response = None
                if response is None or isinstance(response, nio.SyncError):
                    if response is not None:
                        logger.warning("sync failed: %s", response.status_code)
                    await self._interruptible(asyncio.sleep(min(self.config.poll_seconds, 5.0)))
                    continue
                await asyncio.to_thread(self._handle_sync, client, response, since is None)
                since = response.next_batch
                await asyncio.to_thread(self.cursors.set, "sync", since)
                await asyncio.to_thread(self.poll_reports)
                self.rounds += 1
                self.synced.set()
        except asyncio.CancelledError:
            pass  # stop() cancelled a wait
        finally:
            await client.close()

    async def _interruptible(self, waiting: Any) -> Any:
        """Await a long-poll or a pause that ``stop()`` may cancel (then CancelledError)."""
        self._long_poll = asyncio.ensure_future(waiting)
        try:
            return await self._long_poll
        finally:
            self._long_poll = None

    def _join_rooms(self) -> None:
        rooms = [*self.config.rooms, *([self.config.management_room] if self.config.management_room
                                       else [])]
        for room in rooms:
            try:
                self.platform._room_ids[room] = self.platform.api.join(room)
            except MatrixFailure as exc:
                logger.warning("could not join %s: %s (invite %s there)", room, exc.errcode, self.bot)

    # -- sync --------------------------------------------------------------------------------
    def _handle_sync(self, client: Any, response: Any, first: bool) -> None:
        for room_id in response.rooms.invite:
            try:
                self.platform.api.join(room_id)
            except MatrixFailure as exc:
                logger.info("could not accept an invite to %s: %s", room_id, exc.errcode)
        if first:
            return  # a fresh start: earlier messages were before the desk's time
        watched = {self._rid(r) for r in self.config.rooms}
        management = self._rid(self.config.management_room) if self.config.management_room else None
        for room_id, info in response.rooms.join.items():
            room = client.rooms.get(room_id)
            direct = room_id not in watched and room_id != management and (
                room_id in self._dm_rooms or (room is not None and room.member_count <= 2))
            for event in info.timeline.events:
                source = getattr(event, "source", None)
                if not isinstance(source, dict):
                    continue
                message = _Message.of(room_id, source)
                if message.sender == self.bot or not message.event_id:
                    continue
                try:
                    if room_id == management:
                        self._on_management(message)
                    elif room_id in watched:
                        self._on_room_event(message)
                    elif direct:
                        self._dm_rooms.add(room_id)
                        self._on_direct(message)
                except Exception:  # one bad event must not stop the bot
                    logger.exception("handling %s in %s failed", message.type, room_id)

    def _rid(self, room: str) -> str:
        try:
            return self.platform.room_id(room)
        except MatrixFailure:
            return room

    # -- looked-after rooms ------------------------------------------------------------------
    def _on_room_event(self, m: _Message) -> None:
        if m.type == "m.reaction":
            if not self.app.desk.policy.reactions:
                return  # a reaction shows the room who reacted: only when the policy allows it
            rel = m.relates
            key, target = _key(str(rel.get("key", ""))), rel.get("event_id")
            if rel.get("rel_type") != "m.annotation" or not isinstance(target, str):
                return
            if key == _key(self.config.report_emoji):
                self._reaction_intake(m, target, nudge=False)
            elif key == _key(self.config.nudge_emoji):
                self._reaction_intake(m, target, nudge=True)
        elif m.type == "m.room.redaction" and m.redacts:
            self._answered(m.sender, m.room_id, m.redacts, "redaction")
        elif m.type == "m.room.message":
            rel = m.relates
            if rel.get("rel_type") == "m.replace" and isinstance(rel.get("event_id"), str):
                self._answered(m.sender, m.room_id, rel["event_id"], "edit")
            else:  # words close nothing: an apology is shown to the reporter
                for target in self._nudged(m.sender, m.room_id):
                    self.app.bus.handle(commands.AuthorWrote(mc.person(m.sender), m.room_id,
                                                             target, m.body))

    def _reaction_intake(self, m: _Message, target: str, *, nudge: bool) -> None:
        """A private report: the reaction is taken away again and nothing is said in the room."""
        try:
            self.platform.api.redact(m.room_id, m.event_id)
        except MatrixFailure as exc:
            logger.warning("could not take the report reaction away in %s: %s", m.room_id, exc.errcode)
        self._report_message(m.sender, m.room_id, target, note=None, nudge=nudge)

    def _report_message(self, reporter: str, room_id: str, event_id: str, *, note: str | None,
                        nudge: bool) -> None:
        fetched = self.platform.fetch_message(room_id, event_id)
        if fetched is None or fetched.author is None:
            self._tell(reporter, "I could not read that message, so nothing was filed. Could you "
                                 "send me its link, or the author's Matrix id, in a direct message?")
            return
        who = mc.person(reporter)
        try:
            if nudge:
                self.app.bus.handle(commands.Nudge(
                    subject=fetched.author, reporter=who, source=Source.MATRIX, channel=room_id,
                    message_id=event_id, message_text=fetched.text, message_link=fetched.link))
                self._remember_nudge(fetched.author.user_id, room_id, event_id)
                self._tell(reporter, "Thank you. I've had a private, kind word with the author "
                                     "without naming you. If they don't make it right in time, "
                                     "the admins take it from there.")
            else:
                self.app.bus.handle(commands.FileReport(
                    subject=fetched.author, reporter=who, source=Source.MATRIX, channel=room_id,
                    message_id=event_id, message_text=fetched.text, message_link=fetched.link,
                    note=note))
        except DeskError as exc:
            self._tell(reporter, f"I could not file that: {exc}")

    def _tell(self, user_id: str, text: str) -> None:
        effect = self.platform.send_dm(mc.person(user_id), text)
        if effect.status is not EffectStatus.DONE:
            # not who: the person may be a reporter
            logger.warning("could not answer someone privately: %s", effect.detail)

    # -- the peer step: answers ------------------------------------------------------------
    def _remember_nudge(self, author: str, room_id: str, event_id: str) -> None:
        pending = self._load_nudged(author)
        if [room_id, event_id] not in pending:
            pending.append([room_id, event_id])
        self.cursors.set(f"nudged:{author}", json.dumps(pending[-50:]))

    def _load_nudged(self, author: str) -> list[list[str]]:
        raw = self.cursors.get(f"nudged:{author}")
        value = json.loads(raw) if raw else []
        return [list(map(str, v)) for v in value if isinstance(v, list) and len(v) == 2]

    def _nudged(self, author: str, room_id: str | None) -> list[str]:
        return [e for r, e in self._load_nudged(author) if room_id is None or r == room_id]

    def _answered(self, author: str, room_id: str, event_id: str, how: str) -> None:
        if event_id not in self._nudged(author, room_id):
            return
        count = self.app.bus.handle(commands.NudgeAnswered(mc.person(author), room_id, event_id, how))
        pending = [p for p in self._load_nudged(author) if p != [room_id, event_id]]
        self.cursors.set(f"nudged:{author}", json.dumps(pending))
        if count:
            self._tell(author, "Thank you — that's all that was needed.")

    def _author_wrote_privately(self, author: str, text: str) -> bool:
        """The author of a nudged message wrote to the bot: an apology goes to the reporter."""
        shown = sum(int(self.app.bus.handle(commands.AuthorWrote(mc.person(author), room_id,
                                                                 event_id, text)))
                    for room_id, event_id in self._load_nudged(author))
        if shown:
            self._tell(author, "Thank you for writing; we'll pass your words on.")
        return bool(shown)

    # -- direct messages ---------------------------------------------------------------------
    def _on_direct(self, m: _Message) -> None:
        if m.type == "m.reaction" and _key(str(m.relates.get("key", ""))) in _CONFIRM_KEYS:
            self._confirm_reread(m.sender)
            return
        if m.type != "m.room.message" or m.relates.get("rel_type") == "m.replace":
            return
        self.platform.remember_dm(m.sender, m.room_id)
        request = mc.parse_dm(m.body, self.bot)
        if says_enough(m.body):
            if not self.app.bus.handle(commands.NudgeEnough(mc.person(m.sender))):
                self._tell(m.sender, "Thanks. Nothing of yours is waiting on an answer right now.")
        elif isinstance(request, mc.ConfirmRereadRequest):
            self._confirm_reread(m.sender)
        elif isinstance(request, mc.NudgeRequest | mc.ReportRequest) and (
                link := request.link) is not None:
            try:
                room_id = self.platform.room_id(link.room)
            except MatrixFailure:
                self._tell(m.sender, f"I don't know the room {link.room}; could you send a link "
                                     "with the room id?")
                return
            if room_id not in self._watched_ids():
                # the bot may be able to read other rooms; the desk only looks after these
                self._tell(m.sender, "That link is to a room this desk does not look after, so "
                                     "I did not open it. You can still tell the admins: send me "
                                     "the person's Matrix id and anything you want to add.")
                return
            self._report_message(m.sender, room_id, link.event_id, nudge=isinstance(
                request, mc.NudgeRequest), note=request.note if isinstance(
                request, mc.ReportRequest) else None)
        elif isinstance(request, mc.ReportRequest) and request.subject:
            try:
                self.app.bus.handle(commands.FileReport(
                    subject=mc.person(request.subject), reporter=mc.person(m.sender),
                    source=Source.MATRIX, note=request.note))
            except DeskError as exc:
                self._tell(m.sender, f"I could not file that: {exc}")
        elif self._nudged(m.sender, None) and self._author_wrote_privately(m.sender, m.body):
            pass
        elif isinstance(request, mc.DmHelp):
            self._tell(m.sender, f"{request.reason} {mc.DM_HELP}".strip())

    def _confirm_reread(self, user_id: str) -> None:
        who = mc.person(user_id)
        with self.app.uow() as uow:
            open_cases = uow.cases.summaries(CaseFilter(states=views.OPEN_STATES, subject=who))
            cases = [uow.cases.get(s.id) for s in open_cases]
        waiting = [c for c in cases if any(s.action is Action.WARN and s.counts for s in c.steps)
                   and not any(n.kind is NoteKind.REREAD for n in c.notes)]
        if not waiting:
            self._tell(user_id, "Thanks — there is no warning waiting for a confirmation from you.")
            return
        for case in waiting:
            assert case.id is not None
            self.app.bus.handle(commands.ConfirmReread(case.id, who))
        self._tell(user_id, "Thank you for reading it again; the admins can see that you did.")

    # -- Synapse's reports -------------------------------------------------------------------
    def poll_reports(self) -> None:
        """File every new event and user report about the rooms the desk looks after, once."""
        if not self.config.admin_token:
            return
        try:
            self._poll("event_reports", self._file_event_report)
            self._poll("user_reports", self._file_user_report)
        except MatrixFailure as exc:
            logger.warning("reading Synapse's reports failed: %s", exc.errcode)

    def _poll(self, kind: str, handle: Callable[[JsonDict, tuple[str, str]], None]) -> None:
        last = int(self.cursors.get(kind) or 0)
        fresh: list[JsonDict] = []
        offset = 0
        while True:  # newest first, until the last one already read
            page = self.platform.api.admin("GET", f"/_synapse/admin/v1/{kind}",
                                           params={"from": offset, "limit": 100, "dir": "b"})
            items = [r for r in page.get(kind, []) if isinstance(r, dict)]
            older = [r for r in items if int(r.get("id", 0)) <= last]
            fresh.extend(r for r in items if int(r.get("id", 0)) > last)
            if older or "next_token" not in page or not items:
                break
            offset = int(page["next_token"])
        for report in sorted(fresh, key=lambda r: int(r["id"])):
            try:  # a filed report moves the read position in its own transaction
                handle(report, (self.cursors.prefix + kind, str(report["id"])))
            except DeskError as exc:
                logger.info("Synapse %s %s not filed: %s", kind, report["id"], exc)
            self.cursors.set(kind, str(report["id"]))

    def _watched_ids(self) -> set[str]:
        return {self._rid(r) for r in self.config.rooms}

    def _file_event_report(self, report: JsonDict, mark: tuple[str, str]) -> None:
        room_id, event_id = str(report.get("room_id", "")), str(report.get("event_id", ""))
        sender, reporter = report.get("sender"), report.get("user_id")
        if room_id not in self._watched_ids() or not sender or not reporter:
            return
        detail = self.platform.api.admin("GET", f"/_synapse/admin/v1/event_reports/{report['id']}")
        body = detail.get("event_json", {}).get("content", {}).get("body")
        self.app.bus.handle(commands.FileReport(
            subject=mc.person(str(sender)), reporter=mc.person(str(reporter)), source=Source.MATRIX,
            channel=room_id, message_id=event_id, message_text=str(body) if body else None,
            message_link=mc.permalink(room_id, event_id), note=report.get("reason") or None,
            mark=mark))

    def _file_user_report(self, report: JsonDict, mark: tuple[str, str]) -> None:
        target, reporter = report.get("target_user_id"), report.get("user_id")
        if not target or not reporter:
            return
        members: set[str] = set()
        for room_id in self._watched_ids():
            try:
                members |= self.platform.api.joined_members(room_id)
            except MatrixFailure:
                continue
        if target not in members:
            return
        self.app.bus.handle(commands.FileReport(
            subject=mc.person(str(target)), reporter=mc.person(str(reporter)), source=Source.MATRIX,
            note=report.get("reason") or None, mark=mark))

    # -- the management room -----------------------------------------------------------------
    def _on_management(self, m: _Message) -> None:
        """A ``!coc`` command. What depends on a case goes to the asker privately (refusals,
        stepping aside), and the room only reads that they were answered: a refusal can say
        that the asker is involved, and for an anonymous reporter that would name them."""
        if m.type != "m.room.message" or not m.body.lstrip().lower().startswith("!coc"):
            return
        admin = self.config.admins.get(m.sender)
        if admin is None:
            answer = (f"{m.sender} is not on the desk's admin list; an admin adds you to "
                      "CONDUCT_MATRIX_ADMINS.")
        else:
            answer, private = self.answer(m.body, admin)
            if private is not None:
                answer = self._answer_privately(admin, private)
        self._say(answer, reply_to=m.event_id)

    def answer(self, text: str, admin: mc.DeskAdmin) -> tuple[str, str | None]:
        """One ``!coc`` command: (what the room reads, what only the asker reads, or None).

        A mistake in what was typed, or a role that does not allow it, depends on nothing
        but the command and its author, so the room may read it. Anything that depends on
        the case is answered privately, refusals and successes of stepping aside alike, so
        that the room cannot tell why a command was refused."""
        try:
            request = self._request(text, admin)
        except DeskError as exc:
            return f"Not done: {exc}", None
        try:
            answer = self._execute(request, admin)
        except DeskError as exc:
            return "", f"Not done: {exc}"
        return ("", answer) if isinstance(request, commands.Recuse) else (answer, None)

    def run_command(self, text: str, admin: mc.DeskAdmin) -> str:
        """One ``!coc`` command, with the web desk's permissions; returns the answer
        (a refusal is raised as :class:`DeskError`)."""
        return self._execute(self._request(text, admin), admin)

    def _request(self, text: str, admin: mc.DeskAdmin) -> mc.Request:
        """The parsed command, refused when the admin's role does not allow it."""
        request = mc.parse_coc(text, admin.name)
        if request is None:
            return mc.Help()
        needed = mc.needed_role(request)
        if isinstance(request, commands.TakeStep) and \
                self.app.desk.policy.rung(request.rung).action is Action.BAN:
            needed = Role.ADMIN
        if not admin.may(needed):
            raise Recused(f"{admin.name} is {admin.role.value}; this needs {needed.value} "
                          "(CONDUCT_MATRIX_ADMINS sets roles)")
        return request

    def _execute(self, request: mc.Request, admin: mc.DeskAdmin) -> str:
        if isinstance(request, mc.Help):
            return mc.HELP
        if isinstance(request, mc.ListCases):
            return mc.list_text(views.queue(self.app.uow(), self.app.desk.clock.now()))
        case_id = getattr(request, "case_id", None)
        assert isinstance(case_id, int)
        if isinstance(request, commands.Recuse):  # the one thing an involved admin may do
            self.app.bus.handle(request)
            return (f"You have stepped aside from case {case_id}; no reason is recorded. If it "
                    "was yours, the other admins are asked to take it.")
        detail = self._detail(case_id, admin)
        if isinstance(request, mc.ShowCase):
            return self._show(detail, admin)
        if isinstance(request, commands.HandOver):
            to = self._desk_admin(request.to)
            request = replace(request, to=to.name, to_aliases=(to.user_id,),
                              may_reassign=admin.role.may_reassign)
        elif isinstance(request, commands.ConfirmHurt):
            request = replace(request, person=self._hurt_person(request.person))
            if request.person == f"{NAME}:{admin.user_id}":
                raise InvalidInput(f"to step aside yourself, type !coc recuse {case_id}")
        elif isinstance(request, commands.ResolveCase | commands.ReopenCase):
            request = replace(request, may_reassign=admin.role.may_reassign)
        try:
            result = self.app.bus.handle(request)
        except ConfidentialityError as exc:  # which option to change, in `!coc` words
            where = {"text": "--text", "suggestion": "--suggestion"}.get(
                exc.field, f"{exc.field} in the policy file")
            raise ConfidentialityError(f"{exc} (change {where})", field=exc.field,
                                       matched=exc.matched) from None
        case = self._detail(case_id, admin).case
        match request:
            case commands.TakeCase():
                return f"Case {case_id} is yours, {admin.name}."
            case commands.HandOver():
                return f"Case {case_id} is {request.to}'s now."
            case commands.ConfirmHurt():
                return (f"Case {case_id}: {request.person.removeprefix(NAME + ':')} is confirmed "
                        "as hurt; an admin so confirmed steps aside from it.")
            case commands.TakeStep():
                return mc.step_result_text(case, case.step(int(result)))
            case commands.RetryStep() | commands.MarkManualDone():
                return mc.step_result_text(case, case.step(request.step_id))
            case commands.LiftSuspension():
                return f"Case {case_id}: suspension lifted — {case.steps[-1].detail or 'done'}"
            case commands.Consult():
                with_whom = request.person.user_id if request.person else "nobody (not possible)"
                return f"Case {case_id}: consultation with {with_whom} recorded."
            case commands.ResolveCase():
                return f"Case {case_id} resolved: {case.outcome}. The reporters are told how it ended."
            case commands.ReopenCase():
                return f"Case {case_id} reopened; it is {case.taken_by}'s."
        return "Done."

    def _hurt_person(self, who: str) -> str:
        """``confirm-hurt``'s person as the case names them: an admin's name or a Matrix id
        becomes ``matrix:@id``; anything else is passed on as typed."""
        admin = next((a for a in self.config.admins.values()
                      if who in (a.user_id, f"{NAME}:{a.user_id}") or a.name.lower() == who.lower()),
                     None)
        if admin is not None:
            return f"{NAME}:{admin.user_id}"
        return f"{NAME}:{who}" if mc.USER_ID.fullmatch(who) else who

    def _answer_privately(self, admin: mc.DeskAdmin, text: str) -> str:
        """Send ``text`` to the admin by DM; the room reads only that they were answered."""
        effect = self.platform.send_dm(mc.person(admin.user_id), text)
        if effect.status is EffectStatus.DONE:
            return "I've answered you privately."
        return ("I could not answer you privately; please make sure I can open a direct chat "
                "with you, then ask again.")

    def _detail(self, case_id: int, admin: mc.DeskAdmin) -> views.CaseDetail:
        """The case for this admin; refused when they are involved in it, by name or Matrix id
        (the refusal is only ever sent to them privately)."""
        detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
        case = detail.case
        if case.involves(admin.user_id) or case.involves(admin.name):
            fix = (f": `!coc recuse {case_id}` frees it for another admin"
                   if case.taken_by == admin.name else "; another admin handles it")
            raise Recused(f"you are involved in case {case_id} and must step aside{fix}.")
        return detail

    def _desk_admin(self, who: str) -> mc.DeskAdmin:
        """An admin on CONDUCT_MATRIX_ADMINS, by Matrix id or by name, who may act."""
        found = self.config.admins.get(who) or next(
            (a for a in self.config.admins.values() if a.name.lower() == who.lower()), None)
        if found is None or not found.role.may_act:
            raise InvalidInput(f"{who} is not one of the desk's moderators or admins "
                               "(CONDUCT_MATRIX_ADMINS); choose someone who is")
        return found

    def _show(self, detail: views.CaseDetail, admin: mc.DeskAdmin) -> str:
        """``!coc show`` names reporters; when the person the case is about can read the
        management room, the names go to the asking admin privately instead."""
        text = mc.show_text(detail)
        room, subject = self.platform.management_room_id, detail.case.subject
        try:
            exposed = subject.platform == mc.PLATFORM and room is not None and \
                subject.user_id in self.platform.api.joined_members(room)
        except MatrixFailure:
            exposed = True  # cannot tell who reads the room: assume the worst
        if not exposed:
            return text
        case_id = detail.case.id
        effect = self.platform.send_dm(mc.person(admin.user_id), text)
        if effect.status is EffectStatus.DONE:
            return (f"Case {case_id} is about someone who can read this room, so I've sent you "
                    "its details in a private message.")
        return (f"Case {case_id} is about someone who can read this room, and I could not "
                f"message you privately ({effect.detail}); open it on the web desk instead.")

    def _say(self, text: str, reply_to: str | None = None) -> str | None:
        room = self.platform.management_room_id
        if room is None:
            return None
        content: JsonDict = {"msgtype": "m.notice", "body": text}
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        try:
            return self.platform.api.send(room, content)
        except MatrixFailure as exc:
            logger.warning("could not post in the management room: %s", exc.errcode)
            return None

    # -- case cards --------------------------------------------------------------------------
    def _on_case_event(self, event: Event, uow: UnitOfWork) -> None:
        case_id = getattr(event, "case_id", None)
        if isinstance(case_id, int):
            self._refresh_card_or_retry(case_id, attempt=1)

    def _refresh_card_or_retry(self, case_id: int, attempt: int) -> None:
        """Refresh the card; when the homeserver is rate limiting or unreachable, try again
        after the time it asks for (a few times), so the card does not stay behind the case."""
        try:
            self.refresh_card(case_id)
        except MatrixFailure as exc:
            wait = (exc.retry_after or timedelta(seconds=5 * attempt)).total_seconds()
            retryable = exc.rate_limited or exc.errcode == "M_UNREACHABLE" or (exc.status or 0) >= 500
            if not (retryable and self._later.again(
                    attempt, wait, lambda n: self._refresh_card_or_retry(case_id, n))):
                logger.warning("the card of case %s was not updated: %s", case_id, exc.errcode)

    def refresh_card(self, case_id: int) -> None:
        """Post the case card, or edit it in place (a refusal is raised as MatrixFailure)."""
        if self.platform.management_room_id is None:
            return
        try:
            detail = views.case_detail(self.app.uow(), self.app.desk, case_id)
        except NotFound:
            return
        if detail.case.subject.platform != NAME:
            return
        text = mc.card_text(detail)
        card = self.cursors.get(f"card:{case_id}")
        room = self.platform.management_room_id
        if card is None:
            event_id = self.platform.api.send(room, {"msgtype": "m.notice", "body": text})
            self.cursors.set(f"card:{case_id}", event_id)
            return
        self.platform.api.send(room, {
            "msgtype": "m.notice", "body": f"* {text}",
            "m.new_content": {"msgtype": "m.notice", "body": text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": card},
        })


# -- wiring ------------------------------------------------------------------------------------


def configure(app: DeskApp, settings: MatrixSettings | None = None) -> MatrixAdapter | None:
    """The Matrix adapter when ``CONDUCT_MATRIX_*`` is set, else None."""
    settings = settings or MatrixSettings()
    if not settings.present():
        return None
    if nio is None:
        raise DeskError("CONDUCT_MATRIX_* is set but matrix-nio is not installed; install the "
                        "matrix extra: pip install 'conduct-desk[matrix]'")
    config = MatrixConfig.from_settings(settings, app.desk.policy.ban_account)
    # httpx logs each URL at INFO (Matrix URLs carry user ids); nio logs what it syncs
    quiet_libraries("nio", "httpx", "httpcore")
    platform = MatrixPlatform(config, Cursors(app.uow, f"{NAME}:{config.user_id}:"))
    return MatrixAdapter(app, platform)


__all__ = ["BanMode", "MatrixAdapter", "MatrixPlatform", "MatrixSettings", "configure"]
