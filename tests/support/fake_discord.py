"""A fake Discord (REST API and gateway websocket) on 127.0.0.1 for tests.

Only Discord is faked, and only at its boundary: the code under test keeps using the real
``discord.py`` client and is pointed at this server through two URLs (the desk's settings
``CONDUCT_DISCORD_API_URL`` and ``CONDUCT_DISCORD_GATEWAY_URL``, or ``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` for a plain client)::

    with FakeDiscord() as discord_:
        discord_.add_member(ALICE, "alice")
        discord_.add_channel(GENERAL, "general")
        ...  # start the bot with api_url=discord_.api_url, gateway_url=discord_.gateway_url
        discord_.wait_until_identified()
        discord_.send_message(GENERAL, ALICE, "hello")
        assert discord_.wait_for_calls("POST /channels/{channel_id}/messages")[0].json == {...}

One guild, its roles, members, channels (with permission overwrites), messages, reactions,
bans, timeouts and DM channels. Answers follow the shapes of Discord's API reference
(https://discord.com/developers/docs): JSON errors ``{"message", "code"}``, 429 with
``retry_after``, ``X-RateLimit-*`` headers and ``Via``, the gateway's HELLO / IDENTIFY / READY /
GUILD_CREATE / heartbeat ACKs / RESUME with replay, ``zlib-stream`` transport compression.

Discord's own rules are enforced, so a bot that breaks them fails here as it would there:
role hierarchy and permissions (50013), DMs only to members sharing the guild and accepting
them (50007), one response per interaction within the deadline (40060, 10062), a modal only as
the first response, message content stripped without the Message Content intent (in gateway
events and REST answers alike, interactions exempt), Discord's 28-day timeout limit, a
rate-limited bucket answering 429 again until its ``retry_after`` has passed (each early retry
is recorded in ``early_retries``).

The test side:

* state: ``add_role``, ``add_member``, ``add_channel``, ``make_private``, ``add_message``;
  read back with ``member``, ``channel``, ``message``, ``messages``, ``bot_messages``, ``dms_to``,
  ``ephemerals_to``, ``visible_to`` (what one person can read), ``bans``, ``commands``,
  ``permissions`` / ``can_view`` (Discord's permission computation);
* events: ``send_message``, ``send_dm``, ``edit_message``, ``delete_message``, ``react``, and
  interactions: ``slash_command`` (with :func:`option` / :func:`subcommand`), ``message_command``
  (a message context-menu command), ``click`` (a button), ``submit_modal`` (the modal the bot
  opened, as Discord shapes the submission), or any ``interaction``; ``drop_connection``;
* failures: ``fail_next(route, code)``, ``rate_limit_next(route, retry_after, bucket, global_)``,
  ``clear_rate_limits``;
* the record: every REST request as a :class:`Call` (method, route template, path, query, JSON,
  status, audit-log reason): ``calls``, ``calls_to``, ``wait_for_calls``; the gateway's
  ``identifies``, ``resumes``, ``heartbeats``, ``connections``.

State sits behind one lock; the server runs its own asyncio loop in a thread, so tests drive it
from plain synchronous code, and ``wait_for`` waits on the fake's own changes (no sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import unquote

from aiohttp import WSMsgType, web

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
T = TypeVar("T")

API_VERSION: Final = 10
DEFAULT_TOKEN: Final = "fake-discord-bot-token"
APPLICATION_ID: Final = "900000000000000001"
BOT_USER_ID: Final = APPLICATION_ID
GUILD_ID: Final = "900000000000000100"
BOT_ROLE_ID: Final = "900000000000000101"
OWNER_ID: Final = "900000000000000199"

# Gateway opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, ACK = (
    0,
    1,
    2,
    6,
    7,
    8,
    9,
    10,
    11,
)

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
INTENT_GUILDS: Final = 1 << 0
INTENT_GUILD_MEMBERS: Final = 1 << 1
INTENT_GUILD_MODERATION: Final = 1 << 2
INTENT_GUILD_MESSAGES: Final = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS: Final = 1 << 10
INTENT_DIRECT_MESSAGES: Final = 1 << 12
INTENT_DIRECT_MESSAGE_REACTIONS: Final = 1 << 13
INTENT_MESSAGE_CONTENT: Final = 1 << 15

# Permission bits (https://discord.com/developers/docs/topics/permissions).
KICK_MEMBERS: Final = 1 << 1
BAN_MEMBERS: Final = 1 << 2
ADMINISTRATOR: Final = 1 << 3
MANAGE_CHANNELS: Final = 1 << 4
ADD_REACTIONS: Final = 1 << 6
VIEW_CHANNEL: Final = 1 << 10
SEND_MESSAGES: Final = 1 << 11
MANAGE_MESSAGES: Final = 1 << 13
EMBED_LINKS: Final = 1 << 14
READ_MESSAGE_HISTORY: Final = 1 << 16
MANAGE_ROLES: Final = 1 << 28
MODERATE_MEMBERS: Final = 1 << 40
ALL_PERMISSIONS: Final = (1 << 51) - 1
EVERYONE_DEFAULT: Final = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | ADD_REACTIONS | EMBED_LINKS

#: Discord's JSON error codes the fake can answer, with their HTTP status and message.
ERRORS: Final[dict[int, tuple[int, str]]] = {
    10003: (404, "Unknown Channel"),
    10007: (404, "Unknown Member"),
    10008: (404, "Unknown Message"),
    10013: (404, "Unknown User"),
    10026: (404, "Unknown Ban"),
    10062: (404, "Unknown interaction"),
    40060: (400, "Interaction has already been acknowledged."),
    10015: (404, "Unknown Webhook"),
    50001: (403, "Missing Access"),
    50005: (403, "Cannot edit a message authored by another user"),
    50006: (400, "Cannot send an empty message"),
    50007: (403, "Cannot send messages to this user"),
    50013: (403, "Missing Permissions"),
    50035: (400, "Invalid Form Body"),
}

MESSAGE_ROUTES: Final = "/channels/{channel_id}/messages"
EPHEMERAL: Final = 1 << 6
TIMEOUT_LIMIT: Final = timedelta(days=28)


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Call:
    """One REST request the bot made, as the fake received it."""

    method: str
    route: str  # "POST /channels/{channel_id}/messages": the template, as discord.py names routes
    path: str  # the real path, ids filled in, without the /api/v10 prefix
    params: Mapping[str, str]
    json: Any
    status: int
    reason: str | None  # X-Audit-Log-Reason, percent-decoded
    at: float  # time.monotonic() when it arrived

    def param(self, name: str) -> str:
        """A path parameter by its template name, e.g. ``call.param("user_id")``."""
        match = _ROUTE_PATTERNS[self.route].fullmatch(self.path)
        assert match is not None
        return match.group(name)


@dataclass
class FakeRole:
    id: str
    name: str
    position: int
    permissions: int = 0
    managed: bool = False

    def json(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
            **({"tags": {"bot_id": BOT_USER_ID}} if self.managed else {}),
        }


@dataclass
class FakeMember:
    id: str
    username: str
    global_name: str | None = None
    roles: list[str] = field(default_factory=list)
    bot: bool = False
    dms_open: bool = True
    in_guild: bool = True
    nick: str | None = None
    communication_disabled_until: str | None = None
    joined_at: str = "2024-01-01T00:00:00.000000+00:00"

    def user_json(self) -> JsonDict:
        return {
            "id": self.id,
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def json(self) -> JsonDict:
        return {
            "user": self.user_json(),
            "nick": self.nick,
            "avatar": None,
            "roles": list(self.roles),
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": self.communication_disabled_until,
        }


@dataclass
class FakeOverwrite:
    id: str
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def json(self) -> JsonDict:
        return {"id": self.id, "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass
class FakeChannel:
    id: str
    name: str
    type: int = 0  # 0 guild text, 1 DM
    position: int = 0
    overwrites: dict[str, FakeOverwrite] = field(default_factory=dict)
    recipient: str | None = None  # for DMs

    @property
    def is_dm(self) -> bool:
        return self.type == 1


@dataclass
class FakeMessage:
    id: str
    channel_id: str
    author_id: str
    content: str
    timestamp: str
    embeds: list[JsonDict] = field(default_factory=list)
    components: list[JsonDict] = field(default_factory=list)
    flags: int = 0
    message_reference: JsonDict | None = None
    edited_timestamp: str | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)  # emoji name -> user ids
    deleted: bool = False
    ephemeral_to: str | None = None  # an interaction's ephemeral answer: who sees it
    interaction_id: str | None = None
    webhook_id: str | None = None
    nonce: str | None = None  # as the sender gave it

    @property
    def ephemeral(self) -> bool:
        return self.ephemeral_to is not None


@dataclass
class FakeInteraction:
    """An interaction the test created, and what the bot answered to it."""

    id: str
    token: str
    type: int
    user_id: str
    channel_id: str
    payload: JsonDict
    created: float
    responses: list[JsonDict] = field(default_factory=list)  # callback bodies, in order
    followups: list[FakeMessage] = field(default_factory=list)
    original: FakeMessage | None = None

    @property
    def acknowledged(self) -> bool:
        return bool(self.responses)

    @property
    def modal(self) -> JsonDict | None:
        """The modal the bot opened in answer, if it did (the callback's ``data``)."""
        for response in self.responses:
            if response.get("type") == 9:
                data: JsonDict = response["data"]
                return data
        return None


@dataclass
class _Failure:
    route: str
    code: int


@dataclass
class _RateLimit:
    route: str
    retry_after: float
    bucket: str
    global_: bool
    scope: str


@dataclass
class _Blocked:
    until: float
    retry_after: float
    global_: bool
    scope: str
    bucket: str


class _ApiError(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        status, default = ERRORS[code]
        super().__init__(message or default)
        self.status = status
        self.code = code
        self.message = message or default


class _Session:
    """A gateway session: it outlives its connection, so a RESUME can replay what was missed."""

    def __init__(self, session_id: str, intents: int) -> None:
        self.id = session_id
        self.intents = intents
        self.seq = 0
        self.sent: list[tuple[int, str]] = []  # (seq, encoded payload) of every dispatch
        self.connection: _Connection | None = None


class _Connection:
    def __init__(self, ws: web.WebSocketResponse, compress: str | None, path: str) -> None:
        self.ws = ws
        self.path = path
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self.lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self.lock:
            if self._zlib is not None:
                data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(text)


# ----------------------------------------------------------------------------- routes

_ROUTES: Final[tuple[str, ...]] = (
    "GET /users/@me",
    "GET /users/{user_id}",
    "GET /oauth2/applications/@me",
    "GET /applications/@me",
    "GET /gateway",
    "GET /gateway/bot",
    "POST /users/@me/channels",
    "GET /channels/{channel_id}",
    "GET /channels/{channel_id}/messages",
    "POST /channels/{channel_id}/messages",
    "GET /channels/{channel_id}/messages/{message_id}",
    "PATCH /channels/{channel_id}/messages/{message_id}",
    "DELETE /channels/{channel_id}/messages/{message_id}",
    "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}",
    "PUT /channels/{channel_id}/permissions/{overwrite_id}",
    "DELETE /channels/{channel_id}/permissions/{overwrite_id}",
    "GET /guilds/{guild_id}",
    "GET /guilds/{guild_id}/channels",
    "GET /guilds/{guild_id}/roles",
    "GET /guilds/{guild_id}/members",
    "GET /guilds/{guild_id}/members/search",
    "GET /guilds/{guild_id}/members/{user_id}",
    "PATCH /guilds/{guild_id}/members/{user_id}",
    "DELETE /guilds/{guild_id}/members/{user_id}",
    "GET /guilds/{guild_id}/bans/{user_id}",
    "PUT /guilds/{guild_id}/bans/{user_id}",
    "DELETE /guilds/{guild_id}/bans/{user_id}",
    "GET /applications/{application_id}/commands",
    "PUT /applications/{application_id}/commands",
    "GET /applications/{application_id}/guilds/{guild_id}/commands",
    "PUT /applications/{application_id}/guilds/{guild_id}/commands",
    "POST /interactions/{interaction_id}/{interaction_token}/callback",
    "GET /webhooks/{webhook_id}/{webhook_token}/messages/@original",
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
    "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/@original",
    "POST /webhooks/{webhook_id}/{webhook_token}",
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
    "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
)


def _pattern(route: str) -> re.Pattern[str]:
    _, template = route.split(" ", 1)
    regex = re.sub(
        r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    )
    return re.compile(regex)


_ROUTE_PATTERNS: Final[dict[str, re.Pattern[str]]] = {route: _pattern(route) for route in _ROUTES}


def _match_route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    # Literal segments (@me, @original) win over parameters: try the routes with fewer parameters first.
    for route in sorted(_ROUTES, key=lambda r: r.count("{")):
        if not route.startswith(method + " "):
            continue
        match = _ROUTE_PATTERNS[route].fullmatch(path)
        if match:
            return route, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ----------------------------------------------------------------------------- the fake


class FakeDiscord:
    """One Discord guild on loopback: REST under ``api_url``, the gateway at ``gateway_url``."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        guild_name: str = "Fake Guild",
        bot_name: str = "Conduct Desk",
        bot_permissions: int = (
            VIEW_CHANNEL
            | SEND_MESSAGES
            | READ_MESSAGE_HISTORY
            | EMBED_LINKS
            | ADD_REACTIONS
            | MANAGE_MESSAGES
            | MANAGE_ROLES
            | KICK_MEMBERS
            | BAN_MEMBERS
            | MODERATE_MEMBERS
        ),
        bot_role_position: int = 10,
        heartbeat_interval_ms: int = 41250,
        interaction_deadline: float = 3.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """``now`` is Discord's clock for timestamps and the timeout limit (a test's fake clock)."""
        self._now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.token = token
        self.guild_id = GUILD_ID
        self.application_id = APPLICATION_ID
        self.bot_id = BOT_USER_ID
        self.guild_name = guild_name
        self.owner_id = OWNER_ID
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_deadline = interaction_deadline
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._roles: dict[str, FakeRole] = {
            GUILD_ID: FakeRole(GUILD_ID, "@everyone", 0, EVERYONE_DEFAULT),
            BOT_ROLE_ID: FakeRole(BOT_ROLE_ID, bot_name, bot_role_position, bot_permissions, managed=True),
        }
        self._members: dict[str, FakeMember] = {
            BOT_USER_ID: FakeMember(BOT_USER_ID, bot_name, roles=[BOT_ROLE_ID], bot=True),
            OWNER_ID: FakeMember(OWNER_ID, "owner"),
        }
        self._channels: dict[str, FakeChannel] = {}
        self._messages: dict[str, FakeMessage] = {}
        self._bans: dict[str, JsonDict] = {}
        self._interactions: dict[str, FakeInteraction] = {}
        self._commands: dict[str, list[JsonDict]] = {}  # "global" or guild id -> commands
        self._calls: list[Call] = []
        self._failures: list[_Failure] = []
        self._rate_limits: list[_RateLimit] = []
        self._blocked: dict[str, _Blocked] = {}  # route (or "global") -> blocked until
        self.early_retries: list[Call] = []
        self._sessions: dict[str, _Session] = {}
        self.identifies: list[JsonDict] = []
        self.resumes: list[JsonDict] = []
        self.heartbeats = 0
        self.connections: list[str] = []  # the path each gateway connection came to
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start the server in its own thread; returns once it listens."""
        started = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/api/v{version}/{tail:.*}", self._handle_http)
            app.router.add_get("/gateway", self._handle_ws)
            app.router.add_get("/resume", self._handle_ws)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert isinstance(server, asyncio.Server)
            self._port = server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            started.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-discord", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake Discord server did not start")
        return self

    def stop(self) -> None:
        """Close every gateway connection and stop the server."""
        if self._loop is None or self._thread is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            for session in list(self._sessions.values()):
                if session.connection is not None:
                    with contextlib.suppress(Exception):
                        await session.connection.ws.close(code=1001)
            if self._runner is not None:
                await self._runner.cleanup()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """What ``discord.http.Route.BASE`` / ``CONDUCT_DISCORD_API_URL`` should be."""
        return f"{self.url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` / ``CONDUCT_DISCORD_GATEWAY_URL`` should be."""
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """Sent in READY: a resuming client must come back here, not to ``gateway_url``."""
        return f"ws://127.0.0.1:{self._port}/resume"

    # ------------------------------------------------------------------ guild state (test side)

    def snowflake(self) -> str:
        """A fresh id, shaped like Discord's (a timestamp-based 64-bit integer)."""
        ms = int(time.time() * 1000) - 1420070400000
        return str((ms << 22) | (next(self._ids) & 0x3FFFFF))

    def add_role(self, role_id: str, name: str, *, position: int = 1, permissions: int = 0) -> FakeRole:
        with self._lock:
            role = FakeRole(role_id, name, position, permissions)
            self._roles[role_id] = role
            return role

    def add_member(
        self,
        user_id: str,
        username: str,
        *,
        global_name: str | None = None,
        roles: Iterable[str] = (),
        bot: bool = False,
        dms_open: bool = True,
    ) -> FakeMember:
        with self._lock:
            member = FakeMember(user_id, username, global_name, list(roles), bot=bot, dms_open=dms_open)
            self._members[user_id] = member
            return member

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        overwrites: Iterable[FakeOverwrite] = (),
    ) -> FakeChannel:
        with self._lock:
            channel = FakeChannel(
                channel_id, name, position=len(self._channels), overwrites={o.id: o for o in overwrites}
            )
            self._channels[channel_id] = channel
            return channel

    def make_private(self, channel_id: str, *, visible_to: Iterable[str] = ()) -> None:
        """Hide a channel from @everyone; ``visible_to`` (role or member ids) still see it.

        The bot's own role always sees it (as an admin channel's setup would allow).
        """
        with self._lock:
            channel = self._channels[channel_id]
            channel.overwrites[GUILD_ID] = FakeOverwrite(GUILD_ID, 0, deny=VIEW_CHANNEL)
            for target in [BOT_ROLE_ID, *visible_to]:
                kind = 0 if target in self._roles else 1
                channel.overwrites[target] = FakeOverwrite(target, kind, allow=VIEW_CHANNEL | SEND_MESSAGES)

    def add_message(self, channel_id: str, author_id: str, content: str) -> FakeMessage:
        """A message that already exists (no gateway event), e.g. history before the bot started."""
        with self._lock:
            return self._store_message(channel_id, author_id, content)

    def member(self, user_id: str) -> FakeMember:
        with self._lock:
            return self._members[user_id]

    def channel(self, channel_id: str) -> FakeChannel:
        with self._lock:
            return self._channels[channel_id]

    def message(self, message_id: str) -> FakeMessage:
        with self._lock:
            return self._messages[message_id]

    def messages(
        self, channel_id: str | None = None, *, include_ephemeral: bool = False
    ) -> list[FakeMessage]:
        """Messages in posting order (deleted ones included, flagged), optionally in one channel."""
        with self._lock:
            return [
                m
                for m in self._messages.values()
                if (channel_id is None or m.channel_id == channel_id)
                and (include_ephemeral or not m.ephemeral)
            ]

    def bot_messages(self, channel_id: str | None = None) -> list[FakeMessage]:
        return [m for m in self.messages(channel_id) if m.author_id == BOT_USER_ID and not m.deleted]

    def dm_channel_id(self, user_id: str) -> str:
        """The DM channel between the bot and ``user_id`` (made on first use, as Discord does)."""
        with self._lock:
            for channel in self._channels.values():
                if channel.is_dm and channel.recipient == user_id:
                    return channel.id
            channel = FakeChannel(self.snowflake(), "", type=1, recipient=user_id)
            self._channels[channel.id] = channel
            return channel.id

    def dms_to(self, user_id: str) -> list[FakeMessage]:
        """What the bot sent ``user_id`` by DM."""
        return self.bot_messages(self.dm_channel_id(user_id))

    def ephemerals_to(self, user_id: str) -> list[FakeMessage]:
        """Interaction answers only ``user_id`` could see."""
        with self._lock:
            return [m for m in self._messages.values() if m.ephemeral_to == user_id and not m.deleted]

    def visible_to(self, user_id: str) -> list[FakeMessage]:
        """Every live bot message ``user_id`` can read: channels they can view, their DMs, their ephemerals."""
        with self._lock:
            seen = []
            for m in self._messages.values():
                if m.deleted or m.author_id != BOT_USER_ID:
                    continue
                channel = self._channels[m.channel_id]
                if m.ephemeral:
                    if m.ephemeral_to == user_id:
                        seen.append(m)
                elif channel.is_dm:
                    if channel.recipient == user_id:
                        seen.append(m)
                elif self.permissions(user_id, m.channel_id) & VIEW_CHANNEL:
                    seen.append(m)
            return seen

    def bans(self) -> dict[str, JsonDict]:
        with self._lock:
            return copy.deepcopy(self._bans)

    def commands(self, scope: str | None = None) -> list[JsonDict]:
        """The application commands the bot registered (guild ones by default)."""
        with self._lock:
            return copy.deepcopy(self._commands.get(scope or self.guild_id, []))

    def set_bot_permissions(self, permissions: int) -> None:
        with self._lock:
            self._roles[BOT_ROLE_ID].permissions = permissions

    def permissions(self, user_id: str, channel_id: str | None = None) -> int:
        """Discord's permission computation: base (roles), then the channel's overwrites."""
        with self._lock:
            member = self._members[user_id]
            if user_id == self.owner_id:
                return ALL_PERMISSIONS
            base = self._roles[GUILD_ID].permissions
            for role_id in member.roles:
                base |= self._roles[role_id].permissions
            if base & ADMINISTRATOR:
                return ALL_PERMISSIONS
            if channel_id is None:
                return base
            channel = self._channels[channel_id]
            if channel.is_dm:
                return base
            perms = base
            everyone = channel.overwrites.get(GUILD_ID)
            if everyone:
                perms = (perms & ~everyone.deny) | everyone.allow
            allow = deny = 0
            for role_id in member.roles:
                ow = channel.overwrites.get(role_id)
                if ow and ow.type == 0:
                    allow |= ow.allow
                    deny |= ow.deny
            perms = (perms & ~deny) | allow
            own = channel.overwrites.get(user_id)
            if own and own.type == 1:
                perms = (perms & ~own.deny) | own.allow
            return perms

    def can_view(self, user_id: str, channel_id: str) -> bool:
        return bool(self.permissions(user_id, channel_id) & VIEW_CHANNEL)

    def top_role_position(self, user_id: str) -> int:
        with self._lock:
            member = self._members[user_id]
            return max([0, *(self._roles[r].position for r in member.roles)])

    # ------------------------------------------------------------------ failures (test side)

    def fail_next(self, route: str, code: int) -> None:
        """The next request on ``route`` (a template like ``"PUT /guilds/{guild_id}/bans/{user_id}"``,
        or just a method and path prefix) answers Discord's error ``code`` (e.g. 50007, 50013, 10007)."""
        if code not in ERRORS:
            raise ValueError(f"unknown Discord error code {code}")
        with self._lock:
            self._failures.append(_Failure(route, code))

    def rate_limit_next(
        self,
        route: str,
        retry_after: float,
        bucket: str | None = None,
        global_: bool = False,
        scope: str | None = None,
    ) -> None:
        """The next request on ``route`` answers 429; that bucket (or everything, if global) keeps
        answering 429 until ``retry_after`` seconds have passed, recording each early retry."""
        with self._lock:
            self._rate_limits.append(
                _RateLimit(
                    route,
                    retry_after,
                    bucket or secrets.token_hex(16),
                    global_,
                    scope or ("global" if global_ else "user"),
                )
            )

    def clear_rate_limits(self) -> None:
        """Time has passed: every rate-limited bucket (and the global limit) is open again."""
        with self._lock:
            self._blocked.clear()

    # ------------------------------------------------------------------ calls (test side)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, route: str) -> list[Call]:
        """Calls on a route template (``"POST /channels/{channel_id}/messages"``)."""
        return [c for c in self.calls if _route_matches(route, c)]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for_calls(self, route: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until ``count`` calls on ``route`` have been answered; return them all."""
        return self.wait_for(lambda: cs if len(cs := self.calls_to(route)) >= count else None, timeout, route)

    def wait_for(self, probe: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
        """Wait (on the fake's own changes, no polling sleeps) until ``probe`` returns something."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = probe()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self._changed.wait(min(left, 0.5))

    def wait_until_identified(self, timeout: float = 10.0) -> None:
        """Wait until a client has IDENTIFYed and received READY and GUILD_CREATE."""
        self.wait_for(lambda: bool(self.identifies) and self._live_session() is not None, timeout, "IDENTIFY")

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ gateway events (test side)

    def send_message(
        self,
        channel_id: str,
        author_id: str,
        content: str,
        *,
        reply_to: str | None = None,
        mentions: Iterable[str] = (),
    ) -> FakeMessage:
        """A member posts; the bot gets MESSAGE_CREATE (content only with the Message Content intent)."""
        with self._lock:
            message = self._store_message(channel_id, author_id, content)
            if reply_to is not None:
                message.message_reference = {
                    "type": 0,
                    "message_id": reply_to,
                    "channel_id": channel_id,
                    **({} if self._channels[channel_id].is_dm else {"guild_id": self.guild_id}),
                }
            payload = self._message_json(message, mentions=list(mentions))
        self._dispatch_message_event("MESSAGE_CREATE", message, payload)
        return message

    def send_dm(self, author_id: str, content: str) -> FakeMessage:
        """A member writes to the bot in their DM channel."""
        return self.send_message(self.dm_channel_id(author_id), author_id, content)

    def edit_message(self, message_id: str, content: str) -> FakeMessage:
        """The author edits; the bot gets MESSAGE_UPDATE with the full message."""
        with self._lock:
            message = self._messages[message_id]
            message.content = content
            message.edited_timestamp = self._now().isoformat()
            payload = self._message_json(message)
        self._dispatch_message_event("MESSAGE_UPDATE", message, payload)
        return message

    def delete_message(self, message_id: str) -> None:
        """The author (or a moderator) deletes; the bot gets MESSAGE_DELETE."""
        with self._lock:
            message = self._messages[message_id]
            message.deleted = True
            payload = {"id": message.id, "channel_id": message.channel_id}
            if not self._channels[message.channel_id].is_dm:
                payload["guild_id"] = self.guild_id
        self._dispatch_message_event("MESSAGE_DELETE", message, payload, full=False)

    def react(self, message_id: str, user_id: str, emoji: str) -> None:
        """``user_id`` adds a unicode reaction; the bot gets MESSAGE_REACTION_ADD."""
        with self._lock:
            message = self._messages[message_id]
            users = message.reactions.setdefault(emoji, [])
            if user_id not in users:
                users.append(user_id)
            dm = self._channels[message.channel_id].is_dm
            payload: JsonDict = {
                "user_id": user_id,
                "channel_id": message.channel_id,
                "message_id": message.id,
                "emoji": {"id": None, "name": emoji},
                "message_author_id": message.author_id,
                "burst": False,
                "burst_colors": [],
                "type": 0,
            }
            if not dm:
                payload["guild_id"] = self.guild_id
                payload["member"] = self._members[user_id].json()
            intent = INTENT_DIRECT_MESSAGE_REACTIONS if dm else INTENT_GUILD_MESSAGE_REACTIONS
        self.dispatch("MESSAGE_REACTION_ADD", payload, intent=intent)

    def slash_command(
        self,
        user_id: str,
        name: str,
        options: list[JsonDict] | None = None,
        *,
        channel_id: str,
    ) -> FakeInteraction:
        """``user_id`` runs ``/name`` with raw option payloads (see :func:`option`, :func:`subcommand`)."""
        data: JsonDict = {"id": self._command_id(name, 1), "name": name, "type": 1, "guild_id": self.guild_id}
        if options:
            data["options"] = options
        return self.interaction(2, user_id, channel_id, data)

    def message_command(self, user_id: str, name: str, message_id: str) -> FakeInteraction:
        """``user_id`` picks the message context-menu command ``name`` on ``message_id``."""
        with self._lock:
            message = self._messages[message_id]
            resolved = self._message_json(message, for_interaction=True)
        data = {
            "id": self._command_id(name, 3),
            "name": name,
            "type": 3,
            "guild_id": self.guild_id,
            "target_id": message_id,
            "resolved": {"messages": {message_id: resolved}},
        }
        return self.interaction(2, user_id, message.channel_id, data)

    def click(self, user_id: str, message_id: str, custom_id: str) -> FakeInteraction:
        """``user_id`` presses the button ``custom_id`` on the bot's message ``message_id``."""
        with self._lock:
            message = self._messages[message_id]
            if custom_id not in _custom_ids(message.components):
                raise AssertionError(f"no component {custom_id!r} on message {message_id}")
            payload = self._message_json(message, for_interaction=True)
        data = {"custom_id": custom_id, "component_type": 2}
        return self.interaction(3, user_id, message.channel_id, data, message=payload)

    def submit_modal(
        self,
        opened_by: FakeInteraction,
        user_id: str | None = None,
        values: Mapping[str, str | bool | list[str]] | None = None,
    ) -> FakeInteraction:
        """Submit the modal the bot opened in answer to ``opened_by``: every field the bot put in it,
        with its prefilled value unless ``values`` (by custom_id) says otherwise."""
        modal = opened_by.modal
        if modal is None:
            raise AssertionError("the bot opened no modal in answer to that interaction")
        values = dict(values or {})
        unknown = set(values) - set(_custom_ids(modal["components"]))
        if unknown:
            raise AssertionError(f"the modal has no field {sorted(unknown)}")
        data: JsonDict = {
            "custom_id": modal["custom_id"],
            "components": _submitted(modal["components"], values),
        }
        # user and member selects come with the people they name, as Discord resolves them
        people = [
            str(v)
            for found in _inputs(data["components"])
            if found.get("type") in (5, 7)
            for v in found.get("values", [])
            if str(v) in self._members
        ]
        if people:
            with self._lock:
                data["resolved"] = {
                    "users": {u: self._members[u].user_json() for u in people},
                    "members": {
                        u: {k: v for k, v in self._members[u].json().items() if k != "user"}
                        for u in people
                        if self._members[u].in_guild
                    },
                }
        extra: JsonDict = {}
        source = opened_by.payload.get("message")
        if source is not None:
            extra["message"] = source
        return self.interaction(5, user_id or opened_by.user_id, opened_by.channel_id, data, **extra)

    def interaction(
        self, type_: int, user_id: str, channel_id: str, data: JsonDict, **extra: Any
    ) -> FakeInteraction:
        """Send INTERACTION_CREATE of any type (2 command, 3 component, 5 modal submit)."""
        with self._lock:
            channel = self._channels[channel_id]
            member = self._members[user_id]
            interaction_id = self.snowflake()
            token = "itok-" + secrets.token_urlsafe(24)
            payload: JsonDict = {
                "id": interaction_id,
                "application_id": self.application_id,
                "type": type_,
                "data": data,
                "channel_id": channel_id,
                "channel": self._channel_json(channel),
                "token": token,
                "version": 1,
                "app_permissions": str(self.permissions(BOT_USER_ID, channel_id)),
                "locale": "en-US",
                "entitlements": [],
                "authorizing_integration_owners": {"0": self.guild_id},
                "context": 1 if channel.is_dm else 0,
                "attachment_size_limit": 10485760,
                **extra,
            }
            if channel.is_dm:
                payload["user"] = member.user_json()
            else:
                payload["guild_id"] = self.guild_id
                payload["guild_locale"] = "en-US"
                payload["guild"] = {"id": self.guild_id, "locale": "en-US", "features": []}
                payload["member"] = {
                    **member.json(),
                    "permissions": str(self.permissions(user_id, channel_id)),
                }
            record = FakeInteraction(
                interaction_id, token, type_, user_id, channel_id, payload, time.monotonic()
            )
            self._interactions[interaction_id] = record
        self.dispatch("INTERACTION_CREATE", payload, intent=0)
        return record

    def wait_for_response(self, interaction: FakeInteraction, timeout: float = 10.0) -> JsonDict:
        """Wait for the bot's first callback to ``interaction``; return its body."""
        return self.wait_for(
            lambda: interaction.responses[0] if interaction.responses else None,
            timeout,
            "interaction response",
        )

    def drop_connection(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close the bot's gateway connection abnormally: it must come back with RESUME on
        ``resume_gateway_url``. Events sent while it is away are replayed when it resumes.
        ``resumable=False``: the session is gone too (it expired), so the RESUME is answered
        with INVALID_SESSION and the client must IDENTIFY again on ``gateway_url``."""
        session = self._live_session()
        if session is None or session.connection is None:
            raise AssertionError("no gateway connection to drop")
        connection = session.connection
        session.connection = None
        if not resumable:
            with self._lock:
                del self._sessions[session.id]
        self._run(connection.ws.close(code=code))

    def dispatch(self, event: str, data: JsonDict, *, intent: int = INTENT_GUILDS) -> None:
        """Send one DISPATCH to every session whose intents include ``intent`` (0: always)."""
        for session in self._sessions_for(intent):
            self._run(self._send_dispatch(session, event, data))

    def sequence_of(self, message_id: str) -> int | None:
        """The sequence number of the latest session's MESSAGE_CREATE of ``message_id``."""
        session = self._live_session(any_state=True)
        if session is None:
            return None
        with self._lock:
            return next((seq for seq, text in session.sent
                         if '"t": "MESSAGE_CREATE"' in text and f'"id": "{message_id}"' in text),
                        None)

    def _sessions_for(self, intent: int) -> list[_Session]:
        """The sessions an event goes to, as on Discord: every one not ended (a session whose
        connection dropped keeps its events for a RESUME), with the event's intent."""
        with self._lock:
            sessions = list(self._sessions.values())
        return [s for s in sessions if not intent or s.intents & intent]

    def dispatch_many(self, event: str, payloads: list[JsonDict], *, intent: int = INTENT_GUILDS) -> int:
        """Send many DISPATCHes in one go from the server's loop (for benchmarks); returns the
        sequence number of the last one."""
        session = self._live_session(any_state=True)
        if session is None or (intent and not session.intents & intent):
            return 0

        async def send_all() -> int:
            for payload in payloads:
                await self._send_dispatch(session, event, payload)
            return session.seq

        return int(self._run(send_all()))

    # ------------------------------------------------------------------ internals: gateway

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None, "the fake is not started"
        if threading.current_thread() is self._thread:
            return asyncio.ensure_future(coro)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def _live_session(self, any_state: bool = False) -> _Session | None:
        with self._lock:
            sessions = list(self._sessions.values())
        if not sessions:
            return None
        session = sessions[-1]
        if any_state or session.connection is not None:
            return session
        return None

    async def _send_dispatch(self, session: _Session, event: str, data: JsonDict) -> None:
        with self._lock:
            session.seq += 1
            text = json.dumps({"op": DISPATCH, "t": event, "s": session.seq, "d": data})
            session.sent.append((session.seq, text))
            connection = session.connection
        if connection is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.send(text)

    async def _handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        connection = _Connection(ws, compress if compress == "zlib-stream" else None, request.path)
        with self._lock:
            self.connections.append(request.path)
        await connection.send(
            json.dumps(
                {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
            )
        )
        session: _Session | None = None
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                op = payload.get("op")
                if op == HEARTBEAT:
                    with self._lock:
                        self.heartbeats += 1
                    await connection.send(json.dumps({"op": ACK, "d": None, "s": None, "t": None}))
                elif op == IDENTIFY:
                    session = await self._identify(connection, payload["d"])
                elif op == RESUME:
                    session = await self._resume(connection, payload["d"])
                elif op == REQUEST_MEMBERS and session is not None:
                    await self._members_chunk(session, payload["d"])
        finally:
            with self._lock:
                if session is not None and session.connection is connection:
                    session.connection = None
                    if ws.close_code in (1000, 1001):
                        # the client closed normally: Discord ends the session (no RESUME)
                        self._sessions.pop(session.id, None)
            self._notify()
        return ws

    async def _identify(self, connection: _Connection, data: JsonDict) -> _Session | None:
        if data.get("token") != self.token:
            await connection.ws.close(code=4004, message=b"Authentication failed.")
            return None
        session = _Session(secrets.token_hex(16), int(data.get("intents", 0)))
        session.connection = connection
        with self._lock:
            self.identifies.append(data)
            self._sessions[session.id] = session
            bot = self._members[BOT_USER_ID]
            ready = {
                "v": API_VERSION,
                "user": {**bot.user_json(), "verified": True, "mfa_enabled": False, "flags": 0},
                "guilds": [{"id": self.guild_id, "unavailable": True}],
                "session_id": session.id,
                "resume_gateway_url": self.resume_gateway_url,
                "session_type": "normal",
                "application": {"id": self.application_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "auth_session_id_hash": secrets.token_hex(8),
                "_trace": ["fake-discord"],
            }
        await self._send_dispatch(session, "READY", ready)
        if session.intents & INTENT_GUILDS:
            await self._send_dispatch(session, "GUILD_CREATE", self._guild_create_json(session.intents))
        self._notify()
        return session

    async def _resume(self, connection: _Connection, data: JsonDict) -> _Session | None:
        with self._lock:
            session = self._sessions.get(data.get("session_id", ""))
            valid = (
                session is not None
                and data.get("token") == self.token
                and connection.path == "/resume"
                and isinstance(data.get("seq"), int)
            )
            self.resumes.append({**data, "path": connection.path, "accepted": valid})
        if not valid or session is None:
            await connection.send(json.dumps({"op": INVALID_SESSION, "d": False, "s": None, "t": None}))
            self._notify()
            return None
        with self._lock:
            session.connection = connection
            missed = [text for seq, text in session.sent if seq > data["seq"]]
        for text in missed:
            await connection.send(text)
        await self._send_dispatch(session, "RESUMED", {"_trace": ["fake-discord"]})
        self._notify()
        return session

    async def _members_chunk(self, session: _Session, data: JsonDict) -> None:
        with self._lock:
            wanted = data.get("user_ids")
            if isinstance(wanted, str | int):
                wanted = [wanted]
            query = data.get("query", "")
            members = [
                m.json()
                for m in self._members.values()
                if m.in_guild
                and (wanted is None or m.id in {str(u) for u in wanted})
                and (wanted is not None or m.username.startswith(query))
            ]
            chunk = {
                "guild_id": self.guild_id,
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                **({"nonce": data["nonce"]} if "nonce" in data else {}),
            }
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    def _guild_create_json(self, intents: int) -> JsonDict:
        members = [m for m in self._members.values() if m.in_guild]
        if not intents & INTENT_GUILD_MEMBERS:
            members = [self._members[BOT_USER_ID]]
        return {
            "id": self.guild_id,
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": self.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": [r.json() for r in self._roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len([m for m in self._members.values() if m.in_guild]),
            "voice_states": [],
            "members": [m.json() for m in members],
            "channels": [self._channel_json(c) for c in self._channels.values() if not c.is_dm],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "lazy": True,
        }

    def _dispatch_message_event(
        self, event: str, message: FakeMessage, payload: JsonDict, *, full: bool = True
    ) -> None:
        dm = self._channels[message.channel_id].is_dm
        intent = INTENT_DIRECT_MESSAGES if dm else INTENT_GUILD_MESSAGES
        for session in self._sessions_for(intent):
            sent = payload
            if full and not self._content_visible(session, message, payload):
                sent = {**payload, "content": "", "embeds": [], "attachments": [], "components": []}
                sent.pop("poll", None)
            self._run(self._send_dispatch(session, event, sent))

    def _content_visible(self, session: _Session | None, message: FakeMessage, payload: JsonDict) -> bool:
        # Without the privileged Message Content intent, Discord sends content only in DMs, for the
        # bot's own messages, and for messages that mention the bot; in gateway events and in
        # REST answers alike. (Interactions are exempt: their resolved messages keep it.)
        if session is not None and session.intents & INTENT_MESSAGE_CONTENT:
            return True
        if self._channels[message.channel_id].is_dm or message.author_id == BOT_USER_ID:
            return True
        return any(u["id"] == BOT_USER_ID for u in payload.get("mentions", []))

    # ------------------------------------------------------------------ internals: REST

    async def _handle_http(self, request: web.Request) -> web.Response:
        if request.match_info["version"] != str(API_VERSION):
            return _json_response(404, {"message": "404: Not Found", "code": 0})
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body: Any = None
        if raw:
            if request.headers.get("Content-Type") != "application/json":
                return _json_response(400, {"message": "Expected a JSON body", "code": 50109})
            body = json.loads(raw)
        reason_header = request.headers.get("X-Audit-Log-Reason")
        reason = unquote(reason_header) if reason_header is not None else None
        params = dict(request.query)
        found = _match_route(request.method, path)
        route = found[0] if found else f"{request.method} {path}"
        status, answer, headers = self._answer(request, path, params, body, found)

        call = Call(request.method, route, path, params, body, status, reason, time.monotonic())
        with self._lock:
            self._calls.append(call)
        self._notify()
        if status == 204:
            return web.Response(status=204, headers=headers)
        return _json_response(status, answer, headers)

    def _answer(
        self,
        request: web.Request,
        path: str,
        params: dict[str, str],
        body: Any,
        found: tuple[str, dict[str, str]] | None,
    ) -> tuple[int, Any, dict[str, str]]:
        if found is None:
            return 404, {"message": "404: Not Found", "code": 0}, {}
        route, args = found
        webhook_route = route.startswith(("POST /interactions/", "GET /webhooks/", "PATCH /webhooks/")) or (
            route.startswith(("POST /webhooks/", "DELETE /webhooks/"))
        )
        if not webhook_route and request.headers.get("Authorization") != f"Bot {self.token}":
            return 401, {"message": "401: Unauthorized", "code": 0}, {}
        bucket_headers = self._bucket_headers(route)
        limited = self._rate_limited(request.method, route, path)
        if limited is not None:
            return limited
        with self._lock:
            failure = self._take(self._failures, request.method, route, path)
        try:
            if failure is not None:
                raise _ApiError(failure.code)
            handler = _HANDLERS[route]
            with self._lock:
                status, answer = handler(self, args, params, body)
        except _ApiError as error:
            return error.status, {"message": error.message, "code": error.code}, bucket_headers
        return status, answer, bucket_headers

    @staticmethod
    def _take(items: list[Any], method: str, route: str, path: str) -> Any:
        for item in items:
            if _wanted(item.route, method, route, path):
                items.remove(item)
                return item
        return None

    def _bucket_headers(self, route: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": _bucket_hash(route),
        }

    def _rate_limited(self, method: str, route: str, path: str) -> tuple[int, Any, dict[str, str]] | None:
        now = time.monotonic()
        with self._lock:
            blocked = self._blocked.get("global") or self._blocked.get(route)
            if blocked is not None and blocked.until <= now:
                self._blocked.pop("global" if blocked.global_ else route, None)
                blocked = None
            if blocked is not None:
                self.early_retries.append(Call(method, route, path, {}, None, 429, None, now))
                return self._too_many(blocked.until - now, blocked)
            limit = self._take(self._rate_limits, method, route, path)
            if limit is None:
                return None
            blocked = _Blocked(
                now + limit.retry_after, limit.retry_after, limit.global_, limit.scope, limit.bucket
            )
            self._blocked["global" if limit.global_ else route] = blocked
            return self._too_many(limit.retry_after, blocked)

    @staticmethod
    def _too_many(retry_after: float, blocked: _Blocked) -> tuple[int, Any, dict[str, str]]:
        retry_after = max(round(retry_after, 3), 0.001)
        headers = {
            "Retry-After": str(max(1, int(retry_after + 0.999))),
            "Via": "1.1 google",
            "X-RateLimit-Scope": blocked.scope,
        }
        if blocked.global_:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers |= {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": blocked.bucket,
            }
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": blocked.global_,
        }
        if blocked.global_:
            body["code"] = 0
        return 429, body, headers

    # --- JSON shapes

    def _channel_json(self, channel: FakeChannel) -> JsonDict:
        if channel.is_dm:
            assert channel.recipient is not None
            return {
                "id": channel.id,
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._members[channel.recipient].user_json()],
            }
        return {
            "id": channel.id,
            "type": channel.type,
            "guild_id": self.guild_id,
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [o.json() for o in channel.overwrites.values()],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def _store_message(
        self, channel_id: str, author_id: str, content: str, body: JsonDict | None = None
    ) -> FakeMessage:
        if channel_id not in self._channels:
            raise _ApiError(10003)
        body = body or {}
        message = FakeMessage(
            id=self.snowflake(),
            channel_id=channel_id,
            author_id=author_id,
            content=content,
            timestamp=self._now().isoformat(),
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            flags=int(body.get("flags") or 0),
        )
        self._messages[message.id] = message
        return message

    def _message_json(
        self, message: FakeMessage, *, mentions: list[str] | None = None, for_interaction: bool = False
    ) -> JsonDict:
        channel = self._channels[message.channel_id]
        author = self._members.get(message.author_id) or FakeMember(message.author_id, "unknown")
        payload: JsonDict = {
            "id": message.id,
            "channel_id": message.channel_id,
            "author": author.user_json(),
            "content": message.content,
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "tts": False,
            "mention_everyone": False,
            "mentions": [self._members[u].user_json() for u in (mentions or []) if u in self._members],
            "mention_roles": [],
            "attachments": [],
            "embeds": copy.deepcopy(message.embeds),
            "components": copy.deepcopy(message.components),
            "reactions": [
                {"count": len(users), "me": BOT_USER_ID in users, "emoji": {"id": None, "name": emoji}}
                for emoji, users in message.reactions.items()
                if users
            ],
            "pinned": False,
            "type": 19 if message.message_reference else 0,
            "flags": message.flags,
        }
        if message.message_reference:
            payload["message_reference"] = dict(message.message_reference)
            ref = self._messages.get(message.message_reference.get("message_id", ""))
            if ref is not None and not ref.deleted:
                payload["referenced_message"] = self._message_json(ref)
        if message.webhook_id:
            payload["webhook_id"] = message.webhook_id
            payload["application_id"] = self.application_id
        if message.nonce is not None:
            payload["nonce"] = message.nonce
        if not channel.is_dm and not for_interaction:
            payload["guild_id"] = self.guild_id
            if not message.webhook_id:
                payload["member"] = {k: v for k, v in author.json().items() if k != "user"}
        return payload

    def _rest_message_json(self, message: FakeMessage) -> JsonDict:
        """A message as a REST answer: content stripped as the app's last IDENTIFY's intents say."""
        payload = self._message_json(message)
        if not self._content_visible(self._live_session(any_state=True), message, payload):
            payload.update(content="", embeds=[], attachments=[], components=[])
        return payload

    def _command_id(self, name: str, type_: int) -> str:
        with self._lock:
            for scope in (self.guild_id, "global"):
                for command in self._commands.get(scope, []):
                    if command.get("name") == name and int(command.get("type", 1)) == type_:
                        return str(command["id"])
        return self.snowflake()

    def _member(self, user_id: str) -> FakeMember:
        member = self._members.get(user_id)
        if member is None or not member.in_guild:
            raise _ApiError(10007)
        return member

    def _message(self, channel_id: str, message_id: str) -> FakeMessage:
        if channel_id not in self._channels:
            raise _ApiError(10003)
        message = self._messages.get(message_id)
        if message is None or message.channel_id != channel_id or message.deleted or message.ephemeral:
            raise _ApiError(10008)
        return message

    def _require(self, permission: int, channel_id: str | None = None) -> None:
        if not self.permissions(BOT_USER_ID, channel_id) & permission:
            raise _ApiError(50013)

    def _require_above(self, user_id: str) -> None:
        """Discord's role hierarchy: the bot can act only on members whose top role is below its own."""
        if user_id == self.owner_id or self.top_role_position(user_id) >= self.top_role_position(BOT_USER_ID):
            raise _ApiError(50013)

    def _bot_post(self, channel_id: str, body: JsonDict, **extra: Any) -> FakeMessage:
        content = str(body.get("content") or "")
        if not content and not body.get("embeds") and not body.get("components"):
            raise _ApiError(50006)
        message = self._store_message(channel_id, BOT_USER_ID, content, body)
        for key, value in extra.items():
            setattr(message, key, value)
        reference = body.get("message_reference")
        if reference:
            target = self._messages.get(str(reference.get("message_id")))
            if target is None or target.deleted:
                if reference.get("fail_if_not_exists", True):
                    del self._messages[message.id]
                    raise _ApiError(50035, "Invalid Form Body: Unknown message")
            else:
                message.message_reference = {
                    "type": 0,
                    "message_id": target.id,
                    "channel_id": target.channel_id,
                    "guild_id": self.guild_id,
                }
        return message

    def _echo(self, event: str, message: FakeMessage) -> None:
        """What Discord sends the bot about its own message (it receives its own MESSAGE_CREATE)."""
        if message.ephemeral:
            return
        # Called on the server's loop: the send is scheduled, so it leaves after the REST answer.
        self._dispatch_message_event(event, message, self._message_json(message))

    def _dispatch_later(self, event: str, data: JsonDict, intent: int) -> None:
        self.dispatch(event, data, intent=intent)

    # --- handlers: each returns (status, JSON) and runs under the lock

    def _h_me(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        bot = self._members[BOT_USER_ID]
        return 200, {**bot.user_json(), "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"}

    def _h_user(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        member = self._members.get(args["user_id"])
        if member is None:
            raise _ApiError(10013)
        return 200, member.user_json()

    def _h_application(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        bot = self._members[BOT_USER_ID]
        return 200, {
            "id": self.application_id,
            "name": bot.username,
            "icon": None,
            "description": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self._members[self.owner_id].user_json(),
            "team": None,
            "bot": bot.user_json(),
            "summary": "",
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "approximate_guild_count": 1,
        }

    def _h_gateway(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    def _h_gateway_bot(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14400000,
                "max_concurrency": 1,
            },
        }

    def _h_open_dm(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        recipient = str((body or {}).get("recipient_id", ""))
        if recipient not in self._members:
            raise _ApiError(10013)
        return 200, self._channel_json(self._channels[self.dm_channel_id(recipient)])

    def _h_channel(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        channel = self._channels.get(args["channel_id"])
        if channel is None:
            raise _ApiError(10003)
        if not channel.is_dm:
            self._require(VIEW_CHANNEL, channel.id)
        return 200, self._channel_json(channel)

    def _h_history(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        channel_id = args["channel_id"]
        if channel_id not in self._channels:
            raise _ApiError(10003)
        if not self._channels[channel_id].is_dm:
            self._require(VIEW_CHANNEL, channel_id)
            self._require(READ_MESSAGE_HISTORY, channel_id)
        limit = int(params.get("limit", 50))
        found = [
            m
            for m in self._messages.values()
            if m.channel_id == channel_id and not m.deleted and not m.ephemeral
        ]
        if "before" in params:
            found = [m for m in found if int(m.id) < int(params["before"])]
        if "after" in params:
            found = [m for m in found if int(m.id) > int(params["after"])]
        found.sort(key=lambda m: int(m.id), reverse=True)
        return 200, [self._rest_message_json(m) for m in found[:limit]]

    def _h_post_message(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        channel = self._channels.get(args["channel_id"])
        if channel is None:
            raise _ApiError(10003)
        if channel.is_dm:
            assert channel.recipient is not None
            recipient = self._members[channel.recipient]
            if not recipient.in_guild or not recipient.dms_open or recipient.bot:
                raise _ApiError(50007)
        else:
            self._require(VIEW_CHANNEL, channel.id)
            self._require(SEND_MESSAGES, channel.id)
        body = body or {}
        nonce = str(body["nonce"]) if body.get("nonce") is not None else None
        if nonce is not None and len(nonce) > 25:
            raise _ApiError(50035, "Invalid Form Body: nonce must be 25 characters or fewer")
        if nonce is not None and body.get("enforce_nonce"):
            # "checked for uniqueness in the past few minutes": the same author's message with
            # this nonce is returned, and no new one created
            since = (self._now() - timedelta(minutes=5)).isoformat()
            earlier = next((m for m in self._messages.values() if m.author_id == BOT_USER_ID
                            and m.nonce == nonce and m.timestamp >= since), None)
            if earlier is not None:
                return 200, self._message_json(earlier)
        message = self._bot_post(channel.id, body, nonce=nonce)
        self._echo("MESSAGE_CREATE", message)
        return 200, self._message_json(message)

    def _h_get_message(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._message(args["channel_id"], args["message_id"])
        if not self._channels[message.channel_id].is_dm:
            self._require(VIEW_CHANNEL, message.channel_id)
            self._require(READ_MESSAGE_HISTORY, message.channel_id)
        return 200, self._rest_message_json(message)

    def _h_edit_message(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._message(args["channel_id"], args["message_id"])
        if message.author_id != BOT_USER_ID:
            raise _ApiError(50005)
        self._apply_edit(message, body or {})
        self._echo("MESSAGE_UPDATE", message)
        return 200, self._message_json(message)

    def _apply_edit(self, message: FakeMessage, body: JsonDict) -> None:
        if "content" in body:
            message.content = str(body["content"] or "")
        if "embeds" in body:
            message.embeds = list(body["embeds"] or [])
        if "components" in body:
            message.components = list(body["components"] or [])
        message.edited_timestamp = self._now().isoformat()

    def _h_delete_message(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._message(args["channel_id"], args["message_id"])
        if message.author_id != BOT_USER_ID:
            self._require(MANAGE_MESSAGES, message.channel_id)
        message.deleted = True
        data = {"id": message.id, "channel_id": message.channel_id, "guild_id": self.guild_id}
        self._dispatch_later("MESSAGE_DELETE", data, INTENT_GUILD_MESSAGES)
        return 204, None

    def _h_add_own_reaction(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._message(args["channel_id"], args["message_id"])
        users = message.reactions.setdefault(args["emoji"], [])
        if BOT_USER_ID not in users:
            users.append(BOT_USER_ID)
        return 204, None

    def _h_remove_own_reaction(
        self, args: dict[str, str], params: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        return self._remove_reaction(args, BOT_USER_ID)

    def _h_remove_reaction(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._message(args["channel_id"], args["message_id"])
        if not self._channels[message.channel_id].is_dm:
            self._require(MANAGE_MESSAGES, message.channel_id)
        return self._remove_reaction(args, args["user_id"])

    def _remove_reaction(self, args: dict[str, str], user_id: str) -> tuple[int, Any]:
        message = self._message(args["channel_id"], args["message_id"])
        users = message.reactions.get(args["emoji"], [])
        if user_id in users:
            users.remove(user_id)
            data = {
                "user_id": user_id,
                "channel_id": message.channel_id,
                "message_id": message.id,
                "guild_id": self.guild_id,
                "emoji": {"id": None, "name": args["emoji"]},
                "burst": False,
                "type": 0,
            }
            self._dispatch_later("MESSAGE_REACTION_REMOVE", data, INTENT_GUILD_MESSAGE_REACTIONS)
        return 204, None

    def _h_put_overwrite(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        channel = self._channels.get(args["channel_id"])
        if channel is None or channel.is_dm:
            raise _ApiError(10003)
        self._require(MANAGE_ROLES, channel.id)
        body = body or {}
        target = args["overwrite_id"]
        kind = int(body.get("type", 1))
        if kind == 1:
            self._member(target)
        elif target not in self._roles:
            raise _ApiError(50035, "Unknown role")
        allow, deny = int(body.get("allow") or 0), int(body.get("deny") or 0)
        # Discord refuses to grant or deny, through an overwrite, a permission the bot lacks there.
        if (allow | deny) & ~self.permissions(BOT_USER_ID, channel.id):
            raise _ApiError(50013)
        channel.overwrites[target] = FakeOverwrite(target, kind, allow, deny)
        self._dispatch_later("CHANNEL_UPDATE", self._channel_json(channel), INTENT_GUILDS)
        return 204, None

    def _h_delete_overwrite(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        channel = self._channels.get(args["channel_id"])
        if channel is None or channel.is_dm:
            raise _ApiError(10003)
        self._require(MANAGE_ROLES, channel.id)
        if channel.overwrites.pop(args["overwrite_id"], None) is not None:
            self._dispatch_later("CHANNEL_UPDATE", self._channel_json(channel), INTENT_GUILDS)
        return 204, None

    def _check_guild(self, args: dict[str, str]) -> None:
        if args.get("guild_id", self.guild_id) != self.guild_id:
            raise _ApiError(50001)

    def _h_guild(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        data = self._guild_create_json(INTENT_GUILDS)
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "lazy",
            "large",
            "joined_at",
        ):
            data.pop(key, None)
        return 200, data

    def _h_guild_channels(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        return 200, [self._channel_json(c) for c in self._channels.values() if not c.is_dm]

    def _h_roles(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        return 200, [r.json() for r in self._roles.values()]

    def _h_members(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        limit = int(params.get("limit", 1))
        after = int(params.get("after", 0))
        found = sorted(
            (m for m in self._members.values() if m.in_guild and int(m.id) > after), key=lambda m: int(m.id)
        )
        return 200, [m.json() for m in found[:limit]]

    def _h_search_members(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        """Search Guild Members: members whose username or nickname starts with ``query``
        (case aside); ``query`` is required, ``limit`` 1-1000 (default 1)."""
        self._check_guild(args)
        query = params.get("query", "")
        if not query or len(query) > 100:
            raise _ApiError(50035, "Invalid Form Body: query")
        try:
            limit = int(params.get("limit", 1))
        except ValueError:
            raise _ApiError(50035, "Invalid Form Body: limit") from None
        if not 1 <= limit <= 1000:
            raise _ApiError(50035, "Invalid Form Body: limit")
        q = query.casefold()
        found = [m for m in self._members.values() if m.in_guild and (
            m.username.casefold().startswith(q) or (m.nick or "").casefold().startswith(q))]
        return 200, [m.json() for m in found[:limit]]

    def _h_member(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        return 200, self._member(args["user_id"]).json()

    def _h_edit_member(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        member = self._member(args["user_id"])
        body = body or {}
        if "communication_disabled_until" in body:
            self._require(MODERATE_MEMBERS)
            self._require_above(member.id)
            until = body["communication_disabled_until"]
            if until is not None and self.permissions(member.id) & ADMINISTRATOR:
                raise _ApiError(50013)  # Discord never times out an Administrator
            if until is not None:
                when = _parse_iso(until)
                if when - self._now() > TIMEOUT_LIMIT:
                    raise _ApiError(50035, "Invalid Form Body: communication_disabled_until is too far")
            member.communication_disabled_until = until
        if "nick" in body:
            self._require_above(member.id)
            member.nick = body["nick"]
        if "roles" in body:
            self._require(MANAGE_ROLES)
            member.roles = [str(r) for r in body["roles"]]
        self._dispatch_later(
            "GUILD_MEMBER_UPDATE", {**member.json(), "guild_id": self.guild_id}, INTENT_GUILD_MEMBERS
        )
        return 200, member.json()

    def _h_kick(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        member = self._member(args["user_id"])
        self._require(KICK_MEMBERS)
        self._require_above(member.id)
        member.in_guild = False
        data = {"guild_id": self.guild_id, "user": member.user_json()}
        self._dispatch_later("GUILD_MEMBER_REMOVE", data, INTENT_GUILD_MEMBERS)
        return 204, None

    def _h_get_ban(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        self._require(BAN_MEMBERS)
        ban = self._bans.get(args["user_id"])
        if ban is None:
            raise _ApiError(10026)
        return 200, {"reason": ban["reason"], "user": ban["user"]}

    def _h_ban(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        self._require(BAN_MEMBERS)
        user_id = args["user_id"]
        user = self._members.get(user_id)
        if user is None:
            raise _ApiError(10013)
        if user.in_guild:
            self._require_above(user_id)
        seconds = int(params.get("delete_message_seconds", 0))
        if not 0 <= seconds <= 604800:
            raise _ApiError(50035, "Invalid Form Body: delete_message_seconds")
        cutoff = self._now() - timedelta(seconds=seconds)
        for message in self._messages.values():
            if (
                message.author_id == user_id
                and not message.deleted
                and _parse_iso(message.timestamp) >= cutoff
            ):
                if not self._channels[message.channel_id].is_dm:
                    message.deleted = True
        was_member = user.in_guild
        user.in_guild = False
        self._bans[user_id] = {"user": user.user_json(), "reason": None, "delete_message_seconds": seconds}
        self._dispatch_later(
            "GUILD_BAN_ADD", {"guild_id": self.guild_id, "user": user.user_json()}, INTENT_GUILD_MODERATION
        )
        if was_member:
            data = {"guild_id": self.guild_id, "user": user.user_json()}
            self._dispatch_later("GUILD_MEMBER_REMOVE", data, INTENT_GUILD_MEMBERS)
        return 204, None

    def _h_unban(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._check_guild(args)
        self._require(BAN_MEMBERS)
        ban = self._bans.pop(args["user_id"], None)
        if ban is None:
            raise _ApiError(10026)
        self._dispatch_later(
            "GUILD_BAN_REMOVE", {"guild_id": self.guild_id, "user": ban["user"]}, INTENT_GUILD_MODERATION
        )
        return 204, None

    def _h_get_commands(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._commands.get(args.get("guild_id", "global"), []))

    def _h_put_commands(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        if args["application_id"] != self.application_id:
            raise _ApiError(50001)
        scope = args.get("guild_id", "global")
        commands = []
        for command in body or []:
            commands.append(
                {
                    "id": self.snowflake(),
                    "application_id": self.application_id,
                    "version": self.snowflake(),
                    "type": 1,
                    "description": "",
                    "default_member_permissions": None,
                    "nsfw": False,
                    **({"guild_id": scope} if scope != "global" else {}),
                    **command,
                }
            )
        self._commands[scope] = commands
        return 200, copy.deepcopy(commands)

    def _interaction_for(self, interaction_id: str | None, token: str) -> FakeInteraction:
        for interaction in self._interactions.values():
            if interaction.token == token and (interaction_id is None or interaction.id == interaction_id):
                return interaction
        raise _ApiError(10062)

    def _h_callback(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        interaction = self._interaction_for(args["interaction_id"], args["interaction_token"])
        if interaction.acknowledged:
            raise _ApiError(40060)
        if time.monotonic() - interaction.created > self.interaction_deadline:
            raise _ApiError(10062)
        body = body or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        if kind == 9:
            if interaction.type == 5:
                raise _ApiError(50035, "Invalid Form Body: a modal cannot answer a modal submit")
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise _ApiError(50035, "Invalid Form Body: a modal needs custom_id, title and components")
        if kind in (6, 7) and interaction.type not in (3, 5):
            raise _ApiError(50035, "Invalid Form Body: interaction response type")
        if kind not in (1, 4, 5, 6, 7, 8, 9, 12):
            raise _ApiError(50035, "Invalid Form Body: interaction response type")
        interaction.responses.append(copy.deepcopy(body))
        callback: JsonDict = {"id": interaction.id, "type": interaction.type}
        resource: JsonDict = {"type": kind}
        message: FakeMessage | None = None
        if kind in (4, 5):
            ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
            content = str(data.get("content") or "")
            message = self._store_message(interaction.channel_id, BOT_USER_ID, content, data)
            message.interaction_id = interaction.id
            message.webhook_id = self.application_id
            if ephemeral:
                message.ephemeral_to = interaction.user_id
            interaction.original = message
            callback |= {
                "response_message_id": message.id,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            }
        elif kind == 7:
            source = interaction.payload.get("message")
            if source is None:
                raise _ApiError(50035, "Invalid Form Body: no message to update")
            message = self._messages[source["id"]]
            self._apply_edit(message, data)
            interaction.original = message
            callback |= {"response_message_id": message.id, "response_message_ephemeral": message.ephemeral}
            self._echo("MESSAGE_UPDATE", message)
        elif kind == 6:
            source = interaction.payload.get("message")
            if source is not None:
                interaction.original = self._messages[source["id"]]
        if message is not None:
            resource["message"] = self._message_json(message)
            if kind == 4:
                self._echo("MESSAGE_CREATE", message)
        return 200, {"interaction": callback, "resource": resource}

    def _webhook_interaction(self, args: dict[str, str]) -> FakeInteraction:
        if args["webhook_id"] != self.application_id:
            raise _ApiError(10015)
        interaction = self._interaction_for(None, args["webhook_token"])
        if not interaction.acknowledged:
            raise _ApiError(10015)
        return interaction

    def _original(self, interaction: FakeInteraction) -> FakeMessage:
        if interaction.original is None or interaction.original.deleted:
            raise _ApiError(10008)
        return interaction.original

    def _h_get_original(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        return 200, self._message_json(self._original(self._webhook_interaction(args)))

    def _h_edit_original(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._original(self._webhook_interaction(args))
        self._apply_edit(message, body or {})
        self._echo("MESSAGE_UPDATE", message)
        return 200, self._message_json(message)

    def _h_delete_original(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._original(self._webhook_interaction(args))
        message.deleted = True
        return 204, None

    def _h_followup(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        interaction = self._webhook_interaction(args)
        body = body or {}
        message = self._bot_post(interaction.channel_id, body, webhook_id=self.application_id)
        if int(body.get("flags") or 0) & EPHEMERAL:
            message.ephemeral_to = interaction.user_id
        message.interaction_id = interaction.id
        interaction.followups.append(message)
        self._echo("MESSAGE_CREATE", message)
        return 200, self._message_json(message)

    def _followup(self, args: dict[str, str]) -> FakeMessage:
        interaction = self._webhook_interaction(args)
        for message in interaction.followups:
            if message.id == args["message_id"] and not message.deleted:
                return message
        if interaction.original is not None and interaction.original.id == args["message_id"]:
            return interaction.original
        raise _ApiError(10008)

    def _h_edit_followup(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        message = self._followup(args)
        self._apply_edit(message, body or {})
        return 200, self._message_json(message)

    def _h_delete_followup(self, args: dict[str, str], params: dict[str, str], body: Any) -> tuple[int, Any]:
        self._followup(args).deleted = True
        return 204, None


Handler = Callable[[FakeDiscord, dict[str, str], dict[str, str], Any], tuple[int, Any]]

_HANDLERS: Final[dict[str, Handler]] = {
    "GET /users/@me": FakeDiscord._h_me,
    "GET /users/{user_id}": FakeDiscord._h_user,
    "GET /oauth2/applications/@me": FakeDiscord._h_application,
    "GET /applications/@me": FakeDiscord._h_application,
    "GET /gateway": FakeDiscord._h_gateway,
    "GET /gateway/bot": FakeDiscord._h_gateway_bot,
    "POST /users/@me/channels": FakeDiscord._h_open_dm,
    "GET /channels/{channel_id}": FakeDiscord._h_channel,
    "GET /channels/{channel_id}/messages": FakeDiscord._h_history,
    "POST /channels/{channel_id}/messages": FakeDiscord._h_post_message,
    "GET /channels/{channel_id}/messages/{message_id}": FakeDiscord._h_get_message,
    "PATCH /channels/{channel_id}/messages/{message_id}": FakeDiscord._h_edit_message,
    "DELETE /channels/{channel_id}/messages/{message_id}": FakeDiscord._h_delete_message,
    "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": FakeDiscord._h_add_own_reaction,
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": FakeDiscord._h_remove_own_reaction,
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}": FakeDiscord._h_remove_reaction,
    "PUT /channels/{channel_id}/permissions/{overwrite_id}": FakeDiscord._h_put_overwrite,
    "DELETE /channels/{channel_id}/permissions/{overwrite_id}": FakeDiscord._h_delete_overwrite,
    "GET /guilds/{guild_id}": FakeDiscord._h_guild,
    "GET /guilds/{guild_id}/channels": FakeDiscord._h_guild_channels,
    "GET /guilds/{guild_id}/roles": FakeDiscord._h_roles,
    "GET /guilds/{guild_id}/members": FakeDiscord._h_members,
    "GET /guilds/{guild_id}/members/search": FakeDiscord._h_search_members,
    "GET /guilds/{guild_id}/members/{user_id}": FakeDiscord._h_member,
    "PATCH /guilds/{guild_id}/members/{user_id}": FakeDiscord._h_edit_member,
    "DELETE /guilds/{guild_id}/members/{user_id}": FakeDiscord._h_kick,
    "GET /guilds/{guild_id}/bans/{user_id}": FakeDiscord._h_get_ban,
    "PUT /guilds/{guild_id}/bans/{user_id}": FakeDiscord._h_ban,
    "DELETE /guilds/{guild_id}/bans/{user_id}": FakeDiscord._h_unban,
    "GET /applications/{application_id}/commands": FakeDiscord._h_get_commands,
    "PUT /applications/{application_id}/commands": FakeDiscord._h_put_commands,
    "GET /applications/{application_id}/guilds/{guild_id}/commands": FakeDiscord._h_get_commands,
    "PUT /applications/{application_id}/guilds/{guild_id}/commands": FakeDiscord._h_put_commands,
    "POST /interactions/{interaction_id}/{interaction_token}/callback": FakeDiscord._h_callback,
    "GET /webhooks/{webhook_id}/{webhook_token}/messages/@original": FakeDiscord._h_get_original,
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original": FakeDiscord._h_edit_original,
    "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/@original": FakeDiscord._h_delete_original,
    "POST /webhooks/{webhook_id}/{webhook_token}": FakeDiscord._h_followup,
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": FakeDiscord._h_edit_followup,
    "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": FakeDiscord._h_delete_followup,
}
assert set(_HANDLERS) == set(_ROUTES)


# ----------------------------------------------------------------------------- helpers


def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    # discord.py parses a body only when Content-Type is exactly "application/json" (no charset).
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)


def _bucket_hash(route: str) -> str:
    return format(zlib.crc32(route.encode()), "08x") * 4


def _wanted(wanted: str, method: str, route: str, path: str) -> bool:
    if wanted == route:
        return True
    if " " in wanted:
        w_method, w_path = wanted.split(" ", 1)
        return w_method == method and (path == w_path or path.startswith(w_path.rstrip("/") + "/"))
    return path == wanted or path.startswith(wanted.rstrip("/") + "/")


def _route_matches(wanted: str, call: Call) -> bool:
    return _wanted(wanted, call.method, call.route, call.path)


def _custom_ids(components: Iterable[JsonDict]) -> list[str]:
    found: list[str] = []
    for component in components:
        if "custom_id" in component:
            found.append(str(component["custom_id"]))
        found.extend(_custom_ids(component.get("components") or []))
        if isinstance(component.get("component"), dict):
            found.extend(_custom_ids([component["component"]]))
        if isinstance(component.get("accessory"), dict):
            found.extend(_custom_ids([component["accessory"]]))
    return found


def _inputs(components: Iterable[JsonDict]) -> Iterable[JsonDict]:
    """Every input in a modal submission, inside rows and labels."""
    for component in components:
        if "custom_id" in component:
            yield component
        yield from _inputs(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            yield from _inputs([component["component"]])


def _submitted_input(component: JsonDict, values: Mapping[str, Any]) -> JsonDict:
    kind = int(component["type"])
    custom_id = component.get("custom_id")
    answer: JsonDict = {"type": kind, "id": component.get("id", 0), "custom_id": custom_id}
    given = values.get(custom_id) if custom_id is not None else None
    if kind == 4:
        answer["value"] = str(given if given is not None else component.get("value") or "")
    elif kind == 23:
        answer["value"] = bool(given if given is not None else component.get("default", False))
    elif kind == 21:
        answer["value"] = given if given is not None else None
    elif kind in (3, 5, 6, 7, 8, 19, 22):
        if given is None:
            defaults = [o["value"] for o in component.get("options", []) if o.get("default")]
            given = defaults
        answer["values"] = list(given) if isinstance(given, list | tuple) else [str(given)]
    elif kind == 10:
        return {"type": 10, "id": component.get("id", 0), "content": component.get("content", "")}
    return answer


def _submitted(components: Iterable[JsonDict], values: Mapping[str, Any]) -> list[JsonDict]:
    """A modal's submission, shaped as Discord sends it: rows of inputs, or labels around one input."""
    out: list[JsonDict] = []
    for component in components:
        kind = int(component["type"])
        if kind == 1:
            out.append(
                {
                    "type": 1,
                    "id": component.get("id", 0),
                    "components": _submitted(component["components"], values),
                }
            )
        elif kind == 18:
            out.append(
                {
                    "type": 18,
                    "id": component.get("id", 0),
                    "component": _submitted_input(component["component"], values),
                }
            )
        else:
            out.append(_submitted_input(component, values))
    return out


def option(name: str, value: str | int | bool) -> JsonDict:
    """A slash-command option as Discord sends it (type from the value: string, integer, boolean)."""
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 3
    return {"name": name, "type": kind, "value": value}


def subcommand(name: str, *options: JsonDict) -> JsonDict:
    """A subcommand option, e.g. ``subcommand("report", option("text", "..."))`` for ``/coc report``."""
    return {"name": name, "type": 1, "options": list(options)}


def component_labels(components: Iterable[JsonDict]) -> list[str]:
    """Every button label on a message or modal, in order (for assertions on what people see)."""
    found: list[str] = []
    for component in components:
        if component.get("type") == 2 and "label" in component:
            found.append(str(component["label"]))
        found.extend(component_labels(component.get("components") or []))
        if isinstance(component.get("accessory"), dict):
            found.extend(component_labels([component["accessory"]]))
    return found


def message_text(message: FakeMessage) -> str:
    """Everything a reader sees in a bot message: content, embed titles, descriptions, fields, footers."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        for field_ in embed.get("fields") or []:
            parts += [field_.get("name") or "", field_.get("value") or ""]
        parts.append((embed.get("footer") or {}).get("text") or "")
        parts.append((embed.get("author") or {}).get("name") or "")
    parts += component_labels(message.components)
    return "\n".join(p for p in parts if p)
