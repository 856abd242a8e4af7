"""A fake Slack Web API (and SCIM API) server on 127.0.0.1 for tests.

Only Slack is faked, and only at the HTTP boundary: the code under test keeps using the
real ``slack_sdk.WebClient`` / ``slack_bolt.App`` and just points them at this server::

    with FakeSlack(tokens={"xoxb-test"}) as slack:
        slack.add_user("U0ALICE", "alice", real_name="Alice Example")
        slack.add_channel("C0MODS", "mods", members=["U0ALICE"])
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.chat_postMessage(channel="C0MODS", text="hello")
        assert slack.calls_to("chat.postMessage")[0].params["text"] == "hello"

Answers follow the JSON shapes of Slack's API reference: HTTP 200 with
``{"ok": false, "error": "..."}`` for method errors, ``missing_scope`` with
``needed``/``provided``, HTTP 429 + ``Retry-After`` + ``{"ok": false, "error": "ratelimited"}``
for rate limits, and ``{"Errors": {"description": ..., "code": ...}}`` for the SCIM API.

Every request is recorded as a :class:`Call` (``FakeSlack.calls`` / ``calls_to``); errors can
be injected with :meth:`FakeSlack.fail_next` and scopes narrowed with
:meth:`FakeSlack.set_scopes`. All state sits behind one lock, so the fake may be driven from
handler threads and test threads at once.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.parser
import email.policy
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_slack_socket import FakeSocketMode

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: Request headers kept on each recorded :class:`Call` (names as Slack clients send them).
RECORDED_HEADERS: Final[tuple[str, ...]] = (
    "Authorization",
    "Content-Type",
    "User-Agent",
    "X-Slack-Retry-Num",
)

#: Bot scopes granted when the test does not narrow them with ``set_scopes``. Deliberately
#: without ``chat:write.public``, so posting to a public channel the bot is not in answers
#: ``not_in_channel`` as it does in a real workspace.
DEFAULT_BOT_SCOPES: Final[frozenset[str]] = frozenset(
    {
        "chat:write",
        "channels:read",
        "groups:read",
        "im:read",
        "mpim:read",
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
        "channels:manage",
        "groups:write",
        "im:write",
        "mpim:write",
        "users:read",
        "reactions:write",
        "team:read",
    }
)

#: Status and ``Errors.description`` answered on the SCIM API while SCIM is disabled.
#: NOTE: Slack documents SCIM as Business+/Enterprise-only and its SCIM errors use the
#: ``{"Errors": {"description", "code"}}`` envelope; the exact description it sends for a
#: workspace without SCIM could not be confirmed, so it is configurable (constructor args
#: ``scim_disabled_status`` / ``scim_disabled_description``).
DEFAULT_SCIM_DISABLED: Final[tuple[int, str]] = (403, "team_not_authorized")

_SCIM_USER_SCHEMA: Final[Mapping[str, str]] = {
    "v1": "urn:scim:schemas:core:1.0",
    "v2": "urn:ietf:params:scim:schemas:core:2.0:User",
}
_SCIM_PATH = re.compile(r"^/scim/(?P<version>v[12])/(?P<resource>[A-Za-z]+)(?:/(?P<id>[^/]+))?/?$")

# Channel kind -> scope prefix, as in Slack's per-conversation-type scopes.
_KIND_PREFIX: Final[Mapping[str, str]] = {
    "public": "channels",
    "private": "groups",
    "im": "im",
    "mpim": "mpim",
}


# --------------------------------------------------------------------------- public records


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    ``method`` is the Web API method (``"chat.postMessage"``) or, for SCIM, a synthetic name
    ``"scim.<version>.<Resource>.<verb>"`` such as ``"scim.v2.Users.patch"``. ``params`` merges
    the query string, a form body and a JSON body (later wins); for SCIM it is the JSON body
    plus ``"id"`` from the path. ``headers`` keeps :data:`RECORDED_HEADERS` that were sent.
    """

    method: str
    params: dict[str, Any] = field(hash=False)
    headers: dict[str, str] = field(hash=False)
    http_method: str = "POST"
    path: str = ""

    @property
    def token(self) -> str | None:
        """The bearer token of the call, or the legacy ``token`` parameter."""
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        token = self.params.get("token")
        return token if isinstance(token, str) and token else None


@dataclass
class FakeUser:
    id: str
    name: str
    real_name: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    email: str = ""
    display_name: str | None = None  # the profile's display name; None: the user name


@dataclass
class FakeChannel:
    id: str
    name: str
    members: list[str] = field(default_factory=list)
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_general: bool = False
    is_archived: bool = False
    created: int = 0
    creator: str = ""

    @property
    def kind(self) -> str:
        if self.is_im:
            return "im"
        if self.is_mpim:
            return "mpim"
        return "private" if self.is_private else "public"


@dataclass
class FakeMessage:
    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None = None
    #: Slack's ``edited`` object, ``{"user": ..., "ts": ...}``, once ``chat.update`` ran.
    edited: dict[str, str] | None = None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    bot_id: str | None = None
    reactions: list[dict[str, Any]] = field(default_factory=list)
    #: Slack's message metadata, ``{"event_type": ..., "event_payload": {...}}``
    metadata: dict[str, Any] | None = None


@dataclass
class FakeEphemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str | None = None


@dataclass
class _Failure:
    method: str
    error: str
    status: int
    headers: dict[str, str]
    extra: dict[str, Any]
    remaining: int


@dataclass
class _Reply:
    status: int
    body: JsonDict | None
    headers: dict[str, str] = field(default_factory=dict)


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class _ScimError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# --------------------------------------------------------------------------- helpers


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return False


def _scim_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _str_param(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _json_param(params: Mapping[str, Any], name: str) -> Any:
    """A parameter that is JSON in form bodies (``blocks``, ``view``) and raw in JSON bodies."""
    value = params.get(name)
    if isinstance(value, str) and value.strip()[:1] in {"{", "["}:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _SlackError("invalid_arguments") from exc
    return value


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _SlackError("invalid_cursor") from exc
    kind, _, number = decoded.partition(":")
    if kind != "offset" or not number.isdigit():
        raise _SlackError("invalid_cursor")
    return int(number)


def _limit(params: Mapping[str, Any], default: int) -> int:
    raw = params.get("limit")
    try:
        value = int(raw) if raw not in (None, "") else default
    except (TypeError, ValueError) as exc:
        raise _SlackError("invalid_limit") from exc
    return value if value > 0 else default


def _paginate(
    items: Sequence[Any], params: Mapping[str, Any], default: int
) -> tuple[list[Any], str]:
    start = _decode_cursor(_str_param(params, "cursor"))
    end = start + _limit(params, default)
    page = list(items[start:end])
    return page, (_encode_cursor(end) if end < len(items) else "")


def _parse_body(content_type: str, raw: bytes) -> JsonDict:
    """Parameters from a request body: JSON, urlencoded form or multipart form fields."""
    if not raw:
        return {}
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        parsed = json.loads(raw.decode("utf-8"))
        if not isinstance(parsed, dict):
            raise ValueError("JSON body is not an object")
        return parsed
    if mime == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        fields: JsonDict = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename():
                fields[name] = {"filename": part.get_filename(), "size": len(data)}
            else:
                fields[name] = data.decode("utf-8", errors="replace")
        return fields
    # Slack treats anything else as a urlencoded form.
    return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake slack %s: %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        fake = cast(_Server, self.server).fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        recorded = {
            name: value
            for name in RECORDED_HEADERS
            if (value := self.headers.get(name)) is not None
        }
        try:
            reply = fake._handle_http(
                http_method=self.command,
                path=split.path,
                query=split.query,
                content_type=self.headers.get("Content-Type", ""),
                raw=raw,
                headers=recorded,
            )
        except Exception:
            logger.exception("fake slack failed on %s %s", self.command, self.path)
            reply = _Reply(500, {"ok": False, "error": "fatal_error"})
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)


# --------------------------------------------------------------------------- the fake


class FakeSlack:
    """A simulated Slack workspace served over HTTP on 127.0.0.1.

    ``tokens`` are the bearer tokens the Web API accepts (anything else answers
    ``invalid_auth``; no token at all answers ``not_authed``). Every accepted token acts as the
    app's bot user ``bot_user_id``. ``app_tokens`` are app-level (``xapp-``) tokens: they serve
    only ``apps.connections.open``, whose Socket Mode URL leads to :attr:`socket`. ``scopes`` are the bot scopes granted (default
    :data:`DEFAULT_BOT_SCOPES`). ``scim_tokens`` are the tokens the SCIM API accepts (default:
    ``tokens``); ``scim_enabled=False`` simulates a plan without SCIM.

    The workspace starts with the bot user and ``#general`` (``general_channel_id``) holding
    the bot; add people and channels with :meth:`add_user` / :meth:`add_channel`.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = ("xoxb-fake-bot-token",),
        app_tokens: Iterable[str] = (),
        scopes: Iterable[str] | None = None,
        bot_user_id: str = "UFAKEBOT01",
        bot_name: str = "conduct-desk",
        bot_id: str = "BFAKEBOT01",
        app_id: str = "AFAKEAPP01",
        team_id: str = "TFAKETEAM1",
        team_name: str = "Conduct Desk Test",
        team_domain: str = "conduct-desk-test",
        general_channel_id: str = "CGENERAL01",
        scim_enabled: bool = True,
        scim_tokens: Iterable[str] | None = None,
        scim_disabled_status: int = DEFAULT_SCIM_DISABLED[0],
        scim_disabled_description: str = DEFAULT_SCIM_DISABLED[1],
    ) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._tokens: set[str] = set(tokens)
        self._app_tokens: set[str] = set(app_tokens)
        self._socket: FakeSocketMode | None = None
        self._scim_tokens: set[str] | None = None if scim_tokens is None else set(scim_tokens)
        self._scopes: frozenset[str] = DEFAULT_BOT_SCOPES if scopes is None else frozenset(scopes)
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.general_channel_id = general_channel_id
        self._scim_enabled = scim_enabled
        self._scim_disabled = (scim_disabled_status, scim_disabled_description)

        self._calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._users: dict[str, FakeUser] = {}
        self._channels: dict[str, FakeChannel] = {}
        self._messages: list[FakeMessage] = []
        self._ephemerals: list[FakeEphemeral] = []
        self._views: dict[str, JsonDict] = {}
        self._home_views: dict[str, str] = {}
        self._view_counter = 0
        self._last_ts_micros = 0

        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._methods: dict[str, Callable[[JsonDict], JsonDict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.kick": self._conversations_kick,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "reactions.add": self._reactions_add,
            "team.info": self._team_info,
            "apps.connections.open": self._apps_connections_open,
        }

        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True)
        self.add_channel(general_channel_id, "general", is_general=True)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Start serving on a free port of 127.0.0.1 in a daemon thread."""
        with self._lock:
            if self._server is not None:
                return self
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-slack-{self.port}",
                daemon=True,
            )
            self._thread.start()
        logger.debug("fake slack listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if self._socket is not None:
            self._socket.stop()
            self._socket = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        server = self._server
        if server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        """Web API base for ``WebClient(base_url=...)``; ends in ``/api/``."""
        return f"{self.url}api/"

    @property
    def scim_base_url(self) -> str:
        """SCIM 2.0 base (Slack's real one is ``https://api.slack.com/scim/v2/``)."""
        return f"{self.url}scim/v2/"

    @property
    def scim_v1_base_url(self) -> str:
        """SCIM 1.1 base for ``slack_sdk.scim.SCIMClient(base_url=...)``."""
        return f"{self.url}scim/v1/"

    @property
    def socket(self) -> FakeSocketMode:
        """The Socket Mode endpoint (started on first use)."""
        with self._lock:
            if self._socket is None:
                self._socket = FakeSocketMode(self.app_id).start()
            return self._socket

    # ----------------------------------------------------------------- recorded calls

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every call received so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls to one method (``"conversations.kick"``, ``"scim.v2.Users.patch"``...)."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``method`` was called ``count`` times; raise ``TimeoutError`` if not."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [call for call in self._calls if call.method == method]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{method} called {len(found)} time(s), expected {count} within {timeout}s"
                    )
                self._changed.wait(remaining)

    # ----------------------------------------------------------------- configuration

    def set_tokens(self, tokens: Iterable[str]) -> None:
        with self._lock:
            self._tokens = set(tokens)

    def set_scopes(self, scopes: Iterable[str] | None) -> None:
        """Grant exactly ``scopes`` (``None`` restores :data:`DEFAULT_BOT_SCOPES`)."""
        with self._lock:
            self._scopes = DEFAULT_BOT_SCOPES if scopes is None else frozenset(scopes)

    @property
    def scopes(self) -> frozenset[str]:
        with self._lock:
            return self._scopes

    def set_scim_enabled(self, enabled: bool) -> None:
        with self._lock:
            self._scim_enabled = enabled

    def fail_next(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any method) with ``error``.

        Web API methods answer ``{"ok": false, "error": error, **extra}`` with HTTP ``status``
        and ``headers``. ``missing_scope`` gets ``needed``/``provided`` filled in from the
        method's scopes unless ``extra`` gives them; a 429 without ``Retry-After`` gets
        ``Retry-After: 1`` as Slack always sends one. SCIM methods (``"scim.v2.Users.patch"``)
        answer the SCIM envelope ``{"Errors": {"description": error, "code": status}}``.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._failures.append(
                _Failure(
                    method=method,
                    error=error,
                    status=status,
                    headers=dict(headers or {}),
                    extra=dict(extra or {}),
                    remaining=times,
                )
            )

    # ----------------------------------------------------------------- workspace state

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        email: str | None = None,
        display_name: str | None = None,
    ) -> FakeUser:
        user = FakeUser(
            id=user_id,
            name=name,
            real_name=real_name if real_name is not None else name,
            is_admin=is_admin,
            is_owner=is_owner,
            is_bot=is_bot,
            deleted=deleted,
            email=email if email is not None else f"{name}@example.com",
            display_name=display_name,
        )
        with self._lock:
            self._users[user_id] = user
            return copy.deepcopy(user)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        include_bot: bool = True,
        is_general: bool = False,
        is_archived: bool = False,
    ) -> FakeChannel:
        """Add a channel; the bot is a member unless ``include_bot=False``."""
        member_list = [self.bot_user_id] if include_bot else []
        member_list += [m for m in members if m not in member_list]
        channel = FakeChannel(
            id=channel_id,
            name=name,
            members=member_list,
            is_private=is_private,
            is_general=is_general,
            is_archived=is_archived,
            created=int(time.time()),
            creator=self.bot_user_id,
        )
        with self._lock:
            self._channels[channel_id] = channel
            return copy.deepcopy(channel)

    def add_member(self, channel_id: str, user_id: str) -> None:
        with self._lock:
            members = self._channels[channel_id].members
            if user_id not in members:
                members.append(user_id)

    def add_message(
        self,
        channel_id: str,
        text: str,
        *,
        user: str,
        ts: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Seed a message (as if ``user`` had posted it) and return its ``ts``."""
        with self._lock:
            if channel_id not in self._channels:
                raise KeyError(channel_id)
            message = FakeMessage(
                channel=channel_id,
                ts=ts or self._next_ts(),
                user=user,
                text=text,
                thread_ts=thread_ts,
            )
            self._messages.append(message)
            self._messages.sort(key=lambda m: float(m.ts))
            return message.ts

    def get_user(self, user_id: str) -> FakeUser | None:
        with self._lock:
            user = self._users.get(user_id)
            return copy.deepcopy(user) if user is not None else None

    def get_channel(self, channel_id: str) -> FakeChannel | None:
        with self._lock:
            channel = self._channels.get(channel_id)
            return copy.deepcopy(channel) if channel is not None else None

    def channel_members(self, channel_id: str) -> list[str]:
        with self._lock:
            return list(self._channels[channel_id].members)

    def messages(self, channel_id: str | None = None) -> list[FakeMessage]:
        """Posted/seeded messages (replies included), oldest first."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages
                if channel_id is None or m.channel == channel_id
            ]

    def ephemerals(self) -> list[FakeEphemeral]:
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    def views(self) -> dict[str, JsonDict]:
        """Opened/updated/published views by view id."""
        with self._lock:
            return copy.deepcopy(self._views)

    def dm_channel_id(self, *user_ids: str) -> str:
        """The stable conversation id ``conversations.open`` gives for these users.

        ``D...`` for a DM with one user, ``G...`` for a group DM; the bot is implied.
        """
        people = sorted(set(user_ids) | {self.bot_user_id})
        digest = hashlib.sha1(",".join(people).encode(), usedforsecurity=False)
        prefix = "D" if len(people) <= 2 else "G"
        return prefix + digest.hexdigest()[:10].upper()

    # ----------------------------------------------------------------- request handling

    def _handle_http(
        self,
        *,
        http_method: str,
        path: str,
        query: str,
        content_type: str,
        raw: bytes,
        headers: dict[str, str],
    ) -> _Reply:
        params: JsonDict = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        body_error = False
        try:
            params.update(_parse_body(content_type, raw))
        except (ValueError, UnicodeDecodeError):
            body_error = True
        if path.startswith("/api/"):
            return self._handle_web_api(
                path[len("/api/") :], http_method, path, params, headers, body_error
            )
        if path.startswith("/scim/"):
            return self._handle_scim(http_method, path, params, headers, body_error)
        return _Reply(404, {"ok": False, "error": "unknown_method"})

    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        logger.debug("fake slack call %s %s", call.method, sorted(call.params))

    def _take_failure(self, method: str) -> _Failure | None:
        for failure in self._failures:
            if failure.method in (method, "*"):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _handle_web_api(
        self,
        method: str,
        http_method: str,
        path: str,
        params: JsonDict,
        headers: dict[str, str],
        body_error: bool,
    ) -> _Reply:
        call = Call(
            method=method,
            params=copy.deepcopy(params),
            headers=headers,
            http_method=http_method,
            path=path,
        )
        self._record(call)
        with self._lock:
            handler = self._methods.get(method)
            if handler is None:
                return self._ok_false("unknown_method", req_method=method)
            token = call.token
            if token is None:
                return self._ok_false("not_authed")
            if (token in self._app_tokens) != (method == "apps.connections.open") \
                    and token in self._app_tokens | self._tokens:
                return self._ok_false("not_allowed_token_type")
            if token not in self._tokens | self._app_tokens:
                return self._ok_false("invalid_auth")
            failure = self._take_failure(method)
            if failure is not None:
                return self._injected_web_failure(method, params, failure)
            if body_error:
                return self._ok_false("invalid_json")
            accepted = self._required_scopes(method, params)
            if accepted and not (set(accepted) & self._scopes):
                return self._missing_scope(accepted)
            try:
                body = handler(params)
            except _SlackError as exc:
                return self._ok_false(exc.error, **exc.extra)
            return _Reply(200, {"ok": True, **body}, self._scope_headers(accepted))

    def _ok_false(self, error: str, **extra: Any) -> _Reply:
        return _Reply(200, {"ok": False, "error": error, **extra})

    def _scope_headers(self, accepted: Sequence[str]) -> dict[str, str]:
        return {
            "X-OAuth-Scopes": ",".join(sorted(self._scopes)),
            "X-Accepted-OAuth-Scopes": ",".join(accepted),
        }

    def _missing_scope(self, accepted: Sequence[str]) -> _Reply:
        reply = self._ok_false(
            "missing_scope",
            needed=",".join(accepted),
            provided=",".join(sorted(self._scopes)),
        )
        reply.headers = self._scope_headers(accepted)
        return reply

    def _injected_web_failure(self, method: str, params: JsonDict, failure: _Failure) -> _Reply:
        body: JsonDict = {"ok": False, "error": failure.error}
        if failure.error == "missing_scope":
            accepted = self._required_scopes(method, params) or ("admin",)
            body["needed"] = ",".join(accepted)
            body["provided"] = ",".join(sorted(self._scopes - set(accepted)))
        body.update(failure.extra)
        headers = dict(failure.headers)
        if failure.status == 429 and not any(k.lower() == "retry-after" for k in headers):
            headers["Retry-After"] = "1"
        return _Reply(failure.status, body, headers)

    def _required_scopes(self, method: str, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Scopes of which any one lets the bot call ``method`` (empty: none needed)."""
        simple: dict[str, tuple[str, ...]] = {
            "chat.postMessage": ("chat:write",),
            "chat.postEphemeral": ("chat:write",),
            "chat.update": ("chat:write",),
            "users.info": ("users:read",),
            "users.list": ("users:read",),
            "reactions.add": ("reactions:write",),
            "team.info": ("team:read",),
        }
        if method in simple:
            return simple[method]
        suffix = {
            "conversations.history": "history",
            "conversations.replies": "history",
            "conversations.info": "read",
            "conversations.members": "read",
            "conversations.kick": "write",
        }.get(method)
        if suffix is not None:
            channel = self._channels.get(_str_param(params, "channel"))
            kinds = [channel.kind] if channel is not None else list(_KIND_PREFIX)
            scopes = [f"{_KIND_PREFIX[kind]}:{suffix}" for kind in kinds]
            # Slack's manage scope for public channels replaced channels:write for bots.
            return tuple(s.replace("channels:write", "channels:manage") for s in scopes)
        if method == "conversations.open":
            users = [u for u in _str_param(params, "users").split(",") if u.strip()]
            if _str_param(params, "channel"):
                return ("im:write", "mpim:write")
            return ("mpim:write",) if len(users) > 1 else ("im:write",)
        return ()

    # ----------------------------------------------------------------- state helpers

    def _next_ts(self) -> str:
        micros = int(time.time() * 1_000_000)
        if micros <= self._last_ts_micros:
            micros = self._last_ts_micros + 1
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel(self, params: Mapping[str, Any], *, as_member: bool = False) -> FakeChannel:
        """The conversation named by ``channel``; private ones the bot is not in are invisible."""
        channel = self._channels.get(_str_param(params, "channel"))
        if channel is None:
            raise _SlackError("channel_not_found")
        if channel.kind != "public" and self.bot_user_id not in channel.members:
            raise _SlackError("channel_not_found")
        if as_member and self.bot_user_id not in channel.members:
            raise _SlackError("not_in_channel")
        return channel

    def _find_message(self, channel_id: str, ts: str) -> FakeMessage | None:
        for message in self._messages:
            if message.channel == channel_id and message.ts == ts:
                return message
        return None

    def _replies_to(self, message: FakeMessage) -> list[FakeMessage]:
        return [
            m
            for m in self._messages
            if m.channel == message.channel and m.thread_ts == message.ts and m.ts != message.ts
        ]

    def _message_json(self, message: FakeMessage, *, with_thread: bool = True,
                      metadata: bool = False) -> JsonDict:
        """A message as the Web API gives it; its metadata only when asked
        (``include_all_metadata``), as Slack does."""
        body: JsonDict = {
            "type": "message",
            "user": message.user,
            "text": message.text,
            "ts": message.ts,
            "team": self.team_id,
        }
        if message.bot_id:
            body["bot_id"] = message.bot_id
            body["app_id"] = self.app_id
        if message.blocks is not None:
            body["blocks"] = copy.deepcopy(message.blocks)
        if message.attachments is not None:
            body["attachments"] = copy.deepcopy(message.attachments)
        if message.edited is not None:
            body["edited"] = dict(message.edited)
        if message.reactions:
            body["reactions"] = copy.deepcopy(message.reactions)
        if metadata and message.metadata is not None:
            body["metadata"] = copy.deepcopy(message.metadata)
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
            parent = self._find_message(message.channel, message.thread_ts)
            if message.thread_ts != message.ts and parent is not None:
                body["parent_user_id"] = parent.user
        if with_thread:
            replies = self._replies_to(message)
            if replies:
                reply_users = list(dict.fromkeys(r.user for r in replies))
                body.update(
                    thread_ts=message.ts,
                    reply_count=len(replies),
                    reply_users_count=len(reply_users),
                    reply_users=reply_users,
                    latest_reply=replies[-1].ts,
                    is_locked=False,
                    subscribed=False,
                )
        return body

    def _user_json(self, user: FakeUser) -> JsonDict:
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "color": "9f69e7",
            "real_name": user.real_name,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "profile": {
                "real_name": user.real_name,
                "real_name_normalized": user.real_name,
                "display_name": user.name if user.display_name is None else user.display_name,
                "display_name_normalized": (
                    user.name if user.display_name is None else user.display_name),
                "email": user.email,
                "status_text": "",
                "status_emoji": "",
                "team": self.team_id,
            },
            "is_admin": user.is_admin,
            "is_owner": user.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 0,
        }

    def _channel_json(self, channel: FakeChannel, *, num_members: bool = False) -> JsonDict:
        if channel.is_im:
            other = next((m for m in channel.members if m != self.bot_user_id), self.bot_user_id)
            other_user = self._users.get(other)
            return {
                "id": channel.id,
                "created": channel.created,
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "user": other,
                "is_user_deleted": bool(other_user and other_user.deleted),
                "priority": 0,
            }
        topic = {"value": "", "creator": "", "last_set": 0}
        body: JsonDict = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": channel.kind == "public",
            "is_group": channel.kind == "private",
            "is_im": False,
            "is_mpim": channel.is_mpim,
            "is_private": channel.kind != "public",
            "created": channel.created,
            "is_archived": channel.is_archived,
            "is_general": channel.is_general,
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "context_team_id": self.team_id,
            "creator": channel.creator,
            "is_member": self.bot_user_id in channel.members,
            "topic": dict(topic),
            "purpose": dict(topic),
            "previous_names": [],
        }
        if num_members:
            body["num_members"] = len(channel.members)
        return body

    def _view_json(self, view_id: str, view: Mapping[str, Any]) -> JsonDict:
        self._view_counter += 1
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type", "modal"),
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._view_counter:08d}",
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _view_param(self, params: Mapping[str, Any]) -> JsonDict:
        view = _json_param(params, "view")
        if not isinstance(view, dict):
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: view"]},
            )
        return view

    def _new_view_id(self) -> str:
        return f"VFAKE{len(self._views) + 1:06d}"

    # ----------------------------------------------------------------- Web API methods

    def _api_test(self, params: JsonDict) -> JsonDict:
        return {"args": {k: v for k, v in params.items() if k != "token"}}

    def _auth_test(self, params: JsonDict) -> JsonDict:
        bot = self._users[self.bot_user_id]
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": bot.name,
            "team_id": self.team_id,
            "user_id": bot.id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _resolve_post_target(self, params: JsonDict) -> FakeChannel:
        target = _str_param(params, "channel")
        user = self._users.get(target)
        if user is not None and not target.startswith(("C", "G", "D")):
            # Posting to a user ID lands in the app's DM with that user.
            return self._open_conversation([target])
        channel = self._channel(params)
        if channel.kind == "public" and self.bot_user_id not in channel.members:
            if "chat:write.public" not in self._scopes:
                raise _SlackError("not_in_channel")
        if channel.is_archived:
            raise _SlackError("is_archived")
        return channel

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        if not _str_param(params, "channel"):
            raise _SlackError("channel_not_found")
        channel = self._resolve_post_target(params)
        text = _str_param(params, "text")
        blocks = _json_param(params, "blocks")
        attachments = _json_param(params, "attachments")
        if not text and not blocks and not attachments:
            raise _SlackError("no_text")
        thread_ts = _str_param(params, "thread_ts") or None
        metadata = _json_param(params, "metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            raise _SlackError("invalid_metadata_format")
        message = FakeMessage(
            channel=channel.id,
            ts=self._next_ts(),
            user=self.bot_user_id,
            text=text,
            thread_ts=thread_ts,
            blocks=blocks if isinstance(blocks, list) else None,
            attachments=attachments if isinstance(attachments, list) else None,
            bot_id=self.bot_id,
            metadata=copy.deepcopy(metadata),
        )
        self._messages.append(message)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "message": self._message_json(message, with_thread=False),
        }

    def _chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        user_id = _str_param(params, "user")
        user = self._users.get(user_id)
        if user is None:
            raise _SlackError("user_not_found")
        if user_id not in channel.members:
            raise _SlackError("user_not_in_channel")
        text = _str_param(params, "text")
        blocks = _json_param(params, "blocks")
        if not text and not blocks and not params.get("attachments"):
            raise _SlackError("no_text")
        ts = self._next_ts()
        self._ephemerals.append(
            FakeEphemeral(
                channel=channel.id,
                user=user_id,
                ts=ts,
                text=text,
                blocks=blocks if isinstance(blocks, list) else None,
                thread_ts=_str_param(params, "thread_ts") or None,
            )
        )
        return {"message_ts": ts}

    def _chat_update(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        message = self._find_message(channel.id, _str_param(params, "ts"))
        if message is None:
            raise _SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise _SlackError("cant_update_message")
        text = params.get("text")
        blocks = _json_param(params, "blocks")
        if text is None and blocks is None and params.get("attachments") is None:
            raise _SlackError("no_text")
        if text is not None:
            message.text = str(text)
        if isinstance(blocks, list):
            message.blocks = blocks
        message.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _chat_get_permalink(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        ts = _str_param(params, "message_ts")
        message = self._find_message(channel.id, ts)
        if message is None:
            raise _SlackError("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
        if message.thread_ts and message.thread_ts != message.ts:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _open_conversation(self, user_ids: Sequence[str]) -> FakeChannel:
        channel_id = self.dm_channel_id(*user_ids)
        channel = self._channels.get(channel_id)
        if channel is None:
            people = [
                self.bot_user_id,
                *dict.fromkeys(u for u in user_ids if u != self.bot_user_id),
            ]
            channel = FakeChannel(
                id=channel_id,
                name=channel_id if len(people) <= 2 else "mpdm-" + "--".join(people) + "-1",
                members=people,
                is_private=True,
                is_im=len(people) <= 2,
                is_mpim=len(people) > 2,
                created=int(time.time()),
                creator=self.bot_user_id,
            )
            self._channels[channel_id] = channel
        return channel

    def _conversations_open(self, params: JsonDict) -> JsonDict:
        existing = _str_param(params, "channel")
        if existing:
            channel = self._channel(params)
            return {"channel": {"id": channel.id}, "no_op": True, "already_open": True}
        user_ids = [u.strip() for u in _str_param(params, "users").split(",") if u.strip()]
        if not user_ids:
            raise _SlackError("users_list_not_supplied")
        if len(user_ids) > 8:
            raise _SlackError("too_many_users")
        for user_id in user_ids:
            user = self._users.get(user_id)
            if user is None:
                raise _SlackError("user_not_found")
            if user.deleted:
                raise _SlackError("user_disabled")
            if user.is_bot and user_id != self.bot_user_id and len(user_ids) == 1:
                raise _SlackError("cannot_dm_bot")
        already = self.dm_channel_id(*user_ids) in self._channels
        channel = self._open_conversation(user_ids)
        if _truthy(params.get("return_im")):
            body: JsonDict = {"channel": self._channel_json(channel)}
        else:
            body = {"channel": {"id": channel.id}}
        if already:
            body.update(no_op=True, already_open=True)
        return body

    def _conversations_kick(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        user_id = _str_param(params, "user")
        if user_id not in self._users:
            raise _SlackError("user_not_found")
        if user_id == self.bot_user_id:
            raise _SlackError("cant_kick_self")
        if channel.is_im or channel.is_mpim:
            raise _SlackError("method_not_supported_for_channel_type")
        if channel.is_general:
            raise _SlackError("cant_kick_from_general")
        if user_id not in channel.members:
            raise _SlackError("not_in_channel")
        channel.members.remove(user_id)
        return {}

    def _conversations_history(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params, as_member=True)
        inclusive = _truthy(params.get("inclusive"))
        oldest = float(_str_param(params, "oldest") or 0)
        latest_raw = _str_param(params, "latest")
        latest = float(latest_raw) if latest_raw else float("inf")

        def in_range(ts: float) -> bool:
            return oldest <= ts <= latest if inclusive else oldest < ts < latest

        top_level = [
            m
            for m in reversed(self._messages)
            if m.channel == channel.id
            and (m.thread_ts is None or m.thread_ts == m.ts)
            and in_range(float(m.ts))
        ]
        page, next_cursor = _paginate(top_level, params, default=100)
        metadata = _truthy(params.get("include_all_metadata"))
        return {
            "messages": [self._message_json(m, metadata=metadata) for m in page],
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params, as_member=True)
        parent = self._find_message(channel.id, _str_param(params, "ts"))
        if parent is None:
            raise _SlackError("thread_not_found")
        if parent.thread_ts is not None and parent.thread_ts != parent.ts:
            root = self._find_message(channel.id, parent.thread_ts)
            if root is None:
                raise _SlackError("thread_not_found")
            parent = root
        thread = [parent, *self._replies_to(parent)]
        page, next_cursor = _paginate(thread, params, default=1000)
        metadata = _truthy(params.get("include_all_metadata"))
        return {
            "messages": [self._message_json(m, metadata=metadata) for m in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_info(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        return {
            "channel": self._channel_json(
                channel, num_members=_truthy(params.get("include_num_members"))
            )
        }

    def _conversations_members(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        page, next_cursor = _paginate(channel.members, params, default=100)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _users_info(self, params: JsonDict) -> JsonDict:
        user = self._users.get(_str_param(params, "user"))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": self._user_json(user)}

    def _users_list(self, params: JsonDict) -> JsonDict:
        """users.list: every member of the workspace (deleted ones and bots too), a page at a
        time (``limit``, ``cursor``; ``response_metadata.next_cursor`` empty on the last)."""
        users = list(self._users.values())
        page, next_cursor = _paginate(users, params, default=100)
        return {"members": [self._user_json(u) for u in page], "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _views_open(self, params: JsonDict) -> JsonDict:
        if not _str_param(params, "trigger_id"):
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]},
            )
        view = self._view_param(params)
        view_id = self._new_view_id()
        self._views[view_id] = self._view_json(view_id, view)
        return {"view": copy.deepcopy(self._views[view_id])}

    def _views_update(self, params: JsonDict) -> JsonDict:
        view = self._view_param(params)
        view_id = _str_param(params, "view_id")
        external_id = _str_param(params, "external_id")
        if not view_id and external_id:
            view_id = next(
                (vid for vid, v in self._views.items() if v.get("external_id") == external_id), ""
            )
        current = self._views.get(view_id)
        if current is None:
            raise _SlackError("not_found")
        expected_hash = _str_param(params, "hash")
        if expected_hash and expected_hash != current["hash"]:
            raise _SlackError("hash_conflict")
        updated = self._view_json(view_id, view)
        updated["previous_view_id"] = current.get("previous_view_id")
        updated["state"] = current.get("state", {"values": {}})
        self._views[view_id] = updated
        return {"view": copy.deepcopy(updated)}

    def _views_publish(self, params: JsonDict) -> JsonDict:
        user_id = _str_param(params, "user_id")
        if not user_id:
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: user_id"]},
            )
        view = self._view_param(params)
        view_id = self._home_views.get(user_id) or self._new_view_id()
        current = self._views.get(view_id)
        expected_hash = _str_param(params, "hash")
        if current is not None and expected_hash and expected_hash != current["hash"]:
            raise _SlackError("hash_conflict")
        self._home_views[user_id] = view_id
        self._views[view_id] = self._view_json(view_id, view)
        return {"view": copy.deepcopy(self._views[view_id])}

    def _reactions_add(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        ts = _str_param(params, "timestamp")
        if not ts:
            raise _SlackError("no_item_specified")
        name = _str_param(params, "name").strip(":")
        if not name:
            raise _SlackError("invalid_name")
        message = self._find_message(channel.id, ts)
        if message is None:
            raise _SlackError("message_not_found")
        for reaction in message.reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise _SlackError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                break
        else:
            message.reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    def _apps_connections_open(self, params: JsonDict) -> JsonDict:
        return {"url": self.socket.new_url()}

    def _team_info(self, params: JsonDict) -> JsonDict:
        return {
            "team": {
                "id": self.team_id,
                "name": self.team_name,
                "url": f"https://{self.team_domain}.slack.com/",
                "domain": self.team_domain,
                "email_domain": "",
                "icon": {"image_default": True},
                "avatar_base_url": "https://ca.slack-edge.com/",
                "is_verified": False,
            }
        }

    # ----------------------------------------------------------------- SCIM API

    def _handle_scim(
        self,
        http_method: str,
        path: str,
        params: JsonDict,
        headers: dict[str, str],
        body_error: bool,
    ) -> _Reply:
        match = _SCIM_PATH.match(path)
        version = match["version"] if match else "v2"
        resource = match["resource"] if match else "unknown"
        user_id = match["id"] if match else None
        call_params = copy.deepcopy(params)
        if user_id is not None:
            call_params["id"] = user_id
        method = f"scim.{version}.{resource}.{http_method.lower()}"
        call = Call(
            method=method, params=call_params, headers=headers, http_method=http_method, path=path
        )
        self._record(call)
        with self._lock:
            try:
                token = call.token
                scim_tokens = self._tokens if self._scim_tokens is None else self._scim_tokens
                if token is None or token not in scim_tokens:
                    raise _ScimError(401, "invalid_authentication")
                failure = self._take_failure(method)
                if failure is not None:
                    body: JsonDict = {
                        "Errors": {"description": failure.error, "code": failure.status}
                    }
                    body.update(failure.extra)
                    return _Reply(failure.status, body, dict(failure.headers))
                if not self._scim_enabled:
                    raise _ScimError(*self._scim_disabled)
                if match is None or resource != "Users" or user_id is None:
                    raise _ScimError(404, "bad_endpoint")
                if body_error:
                    raise _ScimError(400, "invalid_json")
                return self._scim_users(version, http_method, user_id, params)
            except _ScimError as exc:
                return _Reply(
                    exc.status, {"Errors": {"description": exc.description, "code": exc.status}}
                )

    def _scim_users(self, version: str, http_method: str, user_id: str, body: JsonDict) -> _Reply:
        user = self._users.get(user_id)
        if user is None:
            raise _ScimError(404, "user_not_found")
        if http_method == "GET":
            return _Reply(200, self._scim_user_json(version, user))
        if http_method == "DELETE":
            user.deleted = True
            return _Reply(204, None)
        if http_method == "PATCH":
            self._scim_patch(user, body)
            return _Reply(200, self._scim_user_json(version, user))
        raise _ScimError(405, "method_not_allowed")

    def _scim_patch(self, user: FakeUser, body: JsonDict) -> None:
        """Apply SCIM 2.0 PatchOp ``Operations`` or SCIM 1.1 style top-level attributes."""
        changes: JsonDict = {}
        operations = body.get("Operations")
        if isinstance(operations, list):
            for operation in operations:
                if not isinstance(operation, dict):
                    raise _ScimError(400, "invalid_patch_body")
                op = str(operation.get("op", "")).lower()
                path = operation.get("path")
                value = operation.get("value")
                if op not in {"add", "replace"}:
                    continue
                if isinstance(path, str) and path:
                    changes[path] = value
                elif isinstance(value, dict):
                    changes.update(value)
        else:
            changes = {k: v for k, v in body.items() if k != "schemas"}
        if "active" in changes:
            active = _scim_bool(changes["active"])
            if active is None:
                raise _ScimError(400, "invalid_patch_body")
            user.deleted = not active
        if isinstance(changes.get("userName"), str):
            user.name = changes["userName"]
        if isinstance(changes.get("displayName"), str):
            user.real_name = changes["displayName"]

    def _scim_user_json(self, version: str, user: FakeUser) -> JsonDict:
        given, _, family = user.real_name.partition(" ")
        location = f"{self.url}scim/{version}/Users/{user.id}"
        return {
            "schemas": [_SCIM_USER_SCHEMA[version]],
            "id": user.id,
            "externalId": "",
            "meta": {"created": "2024-01-01T00:00:00-00:00", "location": location},
            "userName": user.name,
            "nickName": user.name,
            "name": {"givenName": given, "familyName": family},
            "displayName": user.real_name,
            "profileUrl": f"https://{self.team_domain}.slack.com/team/{user.name}",
            "title": "",
            "timezone": "Europe/London",
            "active": not user.deleted,
            "emails": [{"value": user.email, "primary": True}],
            "photos": [],
            "groups": [],
        }
