"""The homeserver's HTTP API: the few client-server and Synapse admin calls the desk makes.

A plain, thread-safe ``httpx.Client``: steps run synchronously from whichever thread runs a
command (web, CLI, timers, the bot), and every homeserver error (``M_FORBIDDEN``,
``M_LIMIT_EXCEEDED`` with its ``retry_after_ms``…) becomes a :class:`MatrixFailure`, turned
into an :class:`Effect` at once instead of being retried silently inside an SDK.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote

import httpx

from conduct_desk.service.ports import Effect, UnitOfWork

from .settings import MatrixConfig

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

_MATRIX_TO = re.compile(r"https://matrix\.to/#/([^/\s?]+)/([^/\s?]+)")
_MATRIX_URI = re.compile(r"matrix:(roomid|r)/([^/\s?]+)/e/([^/\s?]+)")


def permalink(room_id: str, event_id: str | None = None) -> str:
    """A matrix.to link any client opens."""
    return f"https://matrix.to/#/{room_id}" + (f"/{event_id}" if event_id else "")


@dataclass(frozen=True)
class EventLink:
    room: str  # a room id (!…) or an alias (#…) that the bot resolves
    event_id: str


def find_event_link(text: str) -> EventLink | None:
    """The first link to a message in ``text`` (matrix.to or matrix: URI), decoded."""
    if m := _MATRIX_TO.search(text):
        room, event = unquote(m.group(1)), unquote(m.group(2))
        if room[:1] in "!#" and event.startswith("$"):
            return EventLink(room, event)
    if m := _MATRIX_URI.search(text):
        sigil = "!" if m.group(1) == "roomid" else "#"
        return EventLink(sigil + unquote(m.group(2)), "$" + unquote(m.group(3)))
    return None


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
    def send(self, room_id: str, content: JsonDict, event_type: str = "m.room.message",
             txn: str | None = None) -> str:
        """Send an event; the same ``txn`` again (a try repeated after the homeserver took it)
        gives back the first event instead of a second one (Synapse keeps transaction ids for
        a while, per access token)."""
        txn = _q(txn) if txn else uuid.uuid4().hex
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



    def state(self, room_id: str, event_type: str, key: str = "") -> JsonDict | None:
        """A room's state event content, or None when the room has none of that type."""
        try:
            return self.cs("GET", f"/_matrix/client/v3/rooms/{_q(room_id)}/state/"
                                  f"{_q(event_type)}/{_q(key)}")
        except MatrixFailure as exc:
            if exc.errcode == "M_NOT_FOUND":
                return None
            raise

    def search_users(self, term: str, limit: int) -> list[JsonDict]:
        """The homeserver's user directory search, as the bot: people who share a room with
        the bot or sit in a public room (what any member could find)."""
        found = self.cs("POST", "/_matrix/client/v3/user_directory/search",
                        {"search_term": term, "limit": limit})
        results = found.get("results")
        return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []

    def display_name(self, user_id: str) -> str | None:
        """The person's profile display name, or None."""
        try:
            profile = self.cs("GET", f"/_matrix/client/v3/profile/{_q(user_id)}/displayname")
        except MatrixFailure as exc:
            if exc.errcode == "M_NOT_FOUND":
                return None
            raise
        name = profile.get("displayname")
        return str(name) if name else None

    def room_name(self, room_id: str) -> str | None:
        """The room as people know it: its name, else its canonical alias, without the server
        (``#community:example.org`` reads ``#community``)."""
        named = self.state(room_id, "m.room.name") or {}
        name = str(named.get("name") or "").strip()
        if not name:
            alias = (self.state(room_id, "m.room.canonical_alias") or {}).get("alias")
            name = str(alias or "")
        if name.startswith("#") and ":" in name:
            name = name.split(":", 1)[0]
        return name or None


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

