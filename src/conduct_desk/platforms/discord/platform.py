"""Discord's :class:`Platform` port: the steps, over discord.py's HTTP client.

discord.py runs on its own asyncio loop in a background thread (:class:`Connection`); the
desk's handlers are synchronous, so each step waits for its call there. discord.py keeps
Discord's per-route rate-limit buckets and waits out a short 429 itself (up to
:data:`MAX_WAIT`); a longer wait comes back as a failed step with Discord's ``retry_after``,
which the desk's durable timer honours, so nothing is dropped.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from conduct_desk.domain.errors import ConfidentialityError
from conduct_desk.domain.model import Case, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.platforms.discord import components as ui
from conduct_desk.platforms.discord.settings import DiscordSettings
from conduct_desk.service.ports import Candidate, Capability, Effect, FetchedMessage
from conduct_desk.service.texts import check_confidential

try:
    import aiohttp
    import discord
    import yarl
    from discord.http import Route
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra only
    MISSING: ModuleNotFoundError | None = exc
else:
    MISSING = None

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import DeskApp

logger = logging.getLogger(__name__)

DISCORD = "discord"
CARD_PREFIX = "discord:card:"  # cursor f"{CARD_PREFIX}{case_id}": the message id of the card
REMOVED_PREFIX = "discord:removed:"  # cursor f"{REMOVED_PREFIX}{user}": channels it closed
MAX_WAIT = 30.0  # seconds discord.py may wait out a rate limit itself (its smallest setting)
TIMEOUT_LIMIT = timedelta(days=28)  # Discord's longest timeout
_CASE_IN_TEXT = re.compile(r"\b[Cc]ase (\d+)\b")
CALL_TIMEOUT = 120.0  # seconds a synchronous caller waits for one call
T = TypeVar("T")

# Discord's JSON error codes the desk reads
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
MISSING_ACCESS = 50001
UNKNOWN_MEMBER = 10007
UNKNOWN_USER = 10013
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_BAN = 10026


def configure_urls(settings: DiscordSettings) -> None:
    """Point discord.py at ``CONDUCT_DISCORD_API_URL`` and ``_GATEWAY_URL``: both are
    discord.py's own class attributes (one Discord per process)."""
    discord.http.Route.BASE = settings.api_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def once(key: str | None, part: int = 0) -> dict[str, Any]:
    """A message's nonce, enforced: Discord returns the message it already posted with this
    nonce (in the last few minutes) instead of posting it again. At most 25 characters."""
    if key is None:
        return {}
    digest = hashlib.blake2b(key.encode(), digest_size=10).hexdigest()  # 20 characters
    return {"nonce": f"{digest}-{part}", "enforce_nonce": True}


class Waits:
    """The waits Discord asked for that outlast :data:`MAX_WAIT`, so that no call goes out
    before they end: discord.py raises for those and forgets them (a global limit too)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now  # real time: Discord's waits pass whatever the desk's clock says
        self._until: dict[str, float] = {}
        self._global = float("-inf")

    def trace(self) -> aiohttp.TraceConfig:
        """Watches each response for a global 429 (``X-RateLimit-Global``, or the scope)."""
        config = aiohttp.TraceConfig()
        config.on_request_end.append(self._seen)
        return config

    async def _seen(self, session: Any, context: Any, params: Any) -> None:
        response = params.response
        if response.status != 429:
            return
        headers = response.headers
        if headers.get("X-RateLimit-Global", "").lower() == "true" or \
                headers.get("X-RateLimit-Scope", "").lower() == "global":
            try:
                wait = float(headers.get("Retry-After") or 0)
            except ValueError:
                return
            if wait > MAX_WAIT:
                self._global = max(self._global, self._now() + wait)

    def left(self, key: str) -> float:
        """Seconds to wait before calling ``key`` (0: go ahead)."""
        now = self._now()
        return max(0.0, self._global - now, self._until.get(key, now) - now)

    def hold(self, key: str, seconds: float) -> None:
        self._until[key] = max(self._until.get(key, float("-inf")), self._now() + seconds)
        if len(self._until) > 512:
            now = self._now()
            self._until = {k: v for k, v in self._until.items() if v > now}


class Connection:
    """discord.py's client on its own event loop, in a daemon thread; logged in once."""

    client: discord.Client  # set once the transport has built it

    def __init__(self, token: str, now: Callable[[], float] = time.monotonic) -> None:
        self._token = token
        self.waits = Waits(now)
        self._loop: asyncio.AbstractEventLoop | None = None  # made when first needed
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._login_lock: asyncio.Lock | None = None
        self._logged = False
        self.bot_id: str | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The client's loop (started on first use; once closed, it stays closed)."""
        if self._loop is None:
            if self._closed:
                self._loop = asyncio.new_event_loop()
                self._loop.close()
            else:
                self._ensure_thread()
        assert self._loop is not None
        return self._loop

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Discord connection is closed")
            if self._thread is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                                name="conduct-discord")
                self._thread.start()
                # a command-line run uses the connection without serve's stop: close it at exit
                atexit.register(self.close)

    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    async def logged_in(self) -> None:
        """Log in once (``GET /users/@me``, ``GET /oauth2/applications/@me``); every call waits."""
        if self._logged:
            return
        if self._login_lock is None:
            self._login_lock = asyncio.Lock()
        async with self._login_lock:
            if not self._logged:
                await self.client.login(self._token)
                self.bot_id = str(self.client.user.id) if self.client.user else None
                self._logged = True

    def run(self, make: Callable[[], Coroutine[Any, Any, T]],
            timeout: float = CALL_TIMEOUT) -> T:
        """Run a coroutine on the client's loop and wait for it (from any other thread)."""
        if self.in_loop():
            raise RuntimeError("a synchronous Discord call from the client's own loop")
        self._ensure_thread()

        async def call() -> T:
            await self.logged_in()
            return await make()

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # given up on: it must not happen later as well (a retry follows)
            raise

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future[None]:
        """Start a coroutine on the loop without waiting for it (cancel the future to stop
        it)."""
        self._ensure_thread()

        async def call() -> None:
            await coro

        return asyncio.run_coroutine_threadsafe(call(), self.loop)

    async def request(self, method: str, path: str, *, body: Any = None,
                      reason: str | None = None, params: dict[str, Any] | None = None,
                      **ids: Any) -> Any:
        """One REST call through discord.py (its buckets, its 429 handling)."""
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        if reason:
            kwargs["reason"] = reason[:512]
        if params:
            kwargs["params"] = params
        key = " ".join([method, path, *(str(ids.get(k, "")) for k in
                                        ("channel_id", "guild_id", "webhook_id"))])
        left = self.waits.left(key)
        if left > 0:  # Discord asked to wait: not before then
            raise discord.RateLimited(left)
        try:
            return await self.client.http.request(Route(method, path, **ids), **kwargs)
        except discord.RateLimited as exc:
            self.waits.hold(key, exc.retry_after)
            raise

    def call(self, method: str, path: str, *, body: Any = None, reason: str | None = None,
             params: dict[str, Any] | None = None, **ids: Any) -> Any:
        """:meth:`request`, synchronously."""
        return self.run(lambda: self.request(method, path, body=body, reason=reason,
                                             params=params, **ids))

    def close(self) -> None:
        """Close the client (gateway and HTTP session), end the loop and its thread."""
        with self._lock:
            self._closed = True
            thread, loop = self._thread, self._loop
            self._thread = None
        if thread is None or loop is None:
            return

        async def shut() -> None:
            if not self.client.is_closed():
                await self.client.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shut(), loop).result(15)
        except Exception as exc:  # closing is best effort: the thread is a daemon
            logger.warning("Discord: closing the client failed (%s)", type(exc).__name__)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not loop.is_running():
            loop.close()


def discord_effect(exc: BaseException, what: str) -> Effect:
    """Discord's refusal as a failed effect, in words that say what to do."""
    if isinstance(exc, discord.RateLimited):
        wait = timedelta(seconds=max(1.0, exc.retry_after))
        return Effect.failed(f"{what}: Discord is rate limiting the bot; the desk tries again "
                             f"after {wait.total_seconds():.0f}s", retry_after=wait)
    if isinstance(exc, discord.LoginFailure):
        return Effect.failed(f"{what}: Discord refused the bot token; check "
                             "CONDUCT_DISCORD_BOT_TOKEN (Developer Portal → Bot → Reset Token)",
                             retryable=False)
    if isinstance(exc, discord.HTTPException):
        code, status = exc.code, exc.status
        if status == 429:
            raw = exc.response.headers.get("Retry-After") if exc.response is not None else None
            try:
                wait = timedelta(seconds=max(1.0, float(raw or 60)))
            except ValueError:
                wait = timedelta(seconds=60)
            return Effect.failed(f"{what}: Discord is rate limiting the bot (HTTP 429); the desk "
                                 f"tries again after {wait.total_seconds():.0f}s", retry_after=wait)
        hints = {
            CANNOT_DM: "the person does not accept direct messages from this server's members "
                       "(their privacy settings), so nothing reached them",
            UNKNOWN_MEMBER: "the person is no longer a member of the server",
            UNKNOWN_USER: "Discord does not know that user",
            UNKNOWN_CHANNEL: "the channel is gone, or the bot cannot see it",
            UNKNOWN_MESSAGE: "the message is gone",
            MISSING_ACCESS: "the bot cannot see that channel; give its role View Channels there",
            MISSING_PERMISSIONS: "the bot's role lacks a permission for this",
        }
        hint = hints.get(code, exc.text or "Discord refused")
        retryable = status >= 500
        return Effect.failed(f"{what}: Discord answered {code or status} — {hint}",
                             retryable=retryable)
    if isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError)) or \
            type(exc).__module__.startswith("aiohttp"):
        return Effect.failed(f"{what}: could not reach Discord ({type(exc).__name__})")
    raise exc


def error_code(exc: BaseException) -> int | None:
    return exc.code if isinstance(exc, discord.HTTPException) else None


class DiscordPlatform:
    """The desk's :class:`Platform` on one Discord server."""

    name = DISCORD
    confirm_hint = "Once you have, please press the button below."
    capabilities: frozenset[Capability] = frozenset({
        Capability.REPLY, Capability.DM, Capability.REMOVE, Capability.SUSPEND,
        Capability.RESTORE, Capability.BAN, Capability.FETCH, Capability.NOTIFY_ADMINS,
        Capability.READMIT, Capability.FIND_PEOPLE})

    def __init__(self, connection: Connection, settings: DiscordSettings, app: DeskApp) -> None:
        self.conn = connection
        self.settings = settings
        self.app = app
        self.guild = settings.guild_id or ""
        self.admin_channel = settings.admin_channel or ""
        self._dm_channels: dict[str, str] = {}

    # -- plumbing -----------------------------------------------------------------------------
    def _do(self, what: str, make: Callable[[], Coroutine[Any, Any, Any]],
            action: Action | None = None, person: PersonRef | None = None,
            channel: str | None = None, until: datetime | None = None) -> Effect | Any:
        """Run one call; a refusal becomes an Effect (Missing Permissions: a manual task that
        says what to change)."""
        try:
            return self.conn.run(make)
        except Exception as exc:
            if action is not None and error_code(exc) in (MISSING_PERMISSIONS, MISSING_ACCESS):
                return Effect.manual(self._permission_task(action, person, channel, until))
            try:
                return discord_effect(exc, what)
            except Exception:
                logger.exception("Discord: %s failed", what)
                return Effect.failed(f"{what}: {type(exc).__name__}")

    def _permission_task(self, action: Action, person: PersonRef | None, channel: str | None,
                         until: datetime | None) -> str:
        fix = "give the bot's role the permission for this step"
        try:
            fix = self.conn.run(lambda: self._fix(action, person))
        except Exception as exc:
            logger.warning("Discord: could not work out the missing permission (%s)",
                           type(exc).__name__)
        by_hand = self.manual_instructions(action, person, channel, until)
        return (f"Discord refused the bot (missing permissions). {by_hand} So that the desk can "
                f"do it itself next time, {fix}.")

    async def _fix(self, action: Action, person: PersonRef | None) -> str:
        request = self.conn.request
        roles = ui.guild_roles(await request("GET", "/guilds/{guild_id}/roles",
                                             guild_id=self.guild))
        bot_id = self.conn.bot_id or ""
        bot = await request("GET", "/guilds/{guild_id}/members/{user_id}", guild_id=self.guild,
                            user_id=bot_id)
        guild = await request("GET", "/guilds/{guild_id}", guild_id=self.guild)
        subject_roles = None
        if person is not None and action in (Action.REMOVE, Action.SUSPEND, Action.RESTORE,
                                             Action.BAN):
            try:
                member = await request("GET", "/guilds/{guild_id}/members/{user_id}",
                                       guild_id=self.guild, user_id=person.user_id)
                subject_roles = [str(r) for r in member.get("roles") or []]
            except discord.NotFound:
                subject_roles = []
        return ui.refusal_fix(action, self.guild, bot_id, [str(r) for r in bot.get("roles") or []],
                              person.user_id if person else "", subject_roles, roles,
                              str(guild.get("owner_id") or "") or None)

    def _step_for(self, person: PersonRef, text: str,
                  actions: tuple[Action, ...]) -> tuple[int, str, Action] | None:
        """The case, rung and action of the person's step waiting to send this text."""
        with self.app.uow() as uow:
            for case_id in sorted(uow.cases.case_ids_for(person), reverse=True)[:5]:
                case = uow.cases.get(case_id)
                for s in case.steps:
                    if s.action in actions and s.text == text and \
                            s.status in (StepStatus.PENDING, StepStatus.FAILED):
                        return case_id, s.rung, s.action
        return None

    def _reason(self, person: PersonRef, action: Action) -> str:
        """The audit-log reason: the case, the step, and why (never who reported)."""
        with self.app.uow() as uow:
            for case_id in sorted(uow.cases.case_ids_for(person), reverse=True)[:5]:
                case = uow.cases.get(case_id)
                for s in reversed(case.steps):
                    if s.action is action and s.status in (StepStatus.PENDING, StepStatus.FAILED):
                        return f"Conduct Desk, case {case_id}, step {s.rung}" + self._why(
                            case, s.reason, s.actor)
        return f"Conduct Desk: {action.value}"

    def _why(self, case: Case, reason: str | None, actor: str) -> str:
        """The admin's reason, for the audit log, which the server's moderators read (the
        person may be one): left out when it names a reporter or someone hurt."""
        if not reason:
            return ""
        try:
            check_confidential(reason, case, self.app.desk.name_guard(case, actor))
        except ConfidentialityError:
            return ""
        return f": {reason}"

    # -- the Platform port ----------------------------------------------------------------------
    def post_reply(self, channel: str, message_id: str | None, text: str) -> Effect:
        async def send() -> None:
            for i, part in enumerate(ui.chunks(text)):
                body: dict[str, Any] = {"content": part, "allowed_mentions": {"parse": []}}
                if message_id and i == 0:
                    body["message_reference"] = {"message_id": message_id,
                                                 "fail_if_not_exists": False}
                await self.conn.request("POST", "/channels/{channel_id}/messages", body=body,
                                        channel_id=channel)

        result = self._do("replying to the message", send, action=Action.REMIND,
                          channel=channel)
        return result if isinstance(result, Effect) else Effect.done(f"replied in <#{channel}>")

    def send_dm(self, person: PersonRef, text: str, key: str | None = None,
                again: bool = False) -> Effect:
        step = self._step_for(person, text, (Action.WARN, Action.REMOVE, Action.SUSPEND,
                                             Action.BAN))
        buttons = ui.warning_components(step[0]) if step and step[2] is Action.WARN else None
        effect = self.dm_user(person.user_id, text, buttons, key=key)
        if step is not None and step[2] is not Action.WARN and "50007" in effect.detail:
            # the step goes on without its message: the admins must know nobody told them
            self.notify_admins(f"Case {step[0]}: {self._name(person)} does not accept direct "
                               f"messages from this server, so the {step[1]} message did not "
                               f"reach them; the {step[1]} goes ahead. Tell them another way "
                               "if you can.")
        return effect

    def _name(self, person: PersonRef) -> str:
        return f"<@{person.user_id}>"

    def dm_user(self, user_id: str, text: str, components: list[Any] | None = None, *,
                key: str | None = None) -> Effect:
        """A direct message to one Discord user (``components``: buttons under it; ``key``:
        the same on every try, so Discord posts a repeat once)."""

        async def send() -> Any:
            channel = self._dm_channels.get(user_id)
            if channel is None:
                opened = await self.conn.request("POST", "/users/@me/channels",
                                                 body={"recipient_id": user_id})
                channel = self._dm_channels[user_id] = str(opened["id"])
            parts = ui.chunks(text)
            for i, part in enumerate(parts):
                body: dict[str, Any] = {"content": part, "allowed_mentions": {"parse": []},
                                        **once(key, i)}
                if components and i == len(parts) - 1:  # the button under the whole text
                    body["components"] = components
                await self.conn.request("POST", "/channels/{channel_id}/messages", body=body,
                                        channel_id=channel)

        result = self._do("sending a direct message", send)
        return result if isinstance(result, Effect) else Effect.done(
            f"sent privately to <@{user_id}>")

    def remove_from_channel(self, person: PersonRef, channel: str) -> Effect:
        """A permission overwrite that keeps the person out of this one channel."""
        reason = self._reason(person, Action.REMOVE)
        body = {"type": 1, "allow": "0", "deny": str(ui.REMOVAL_DENY)}
        result = self._do(f"removing <@{person.user_id}> from <#{channel}>",
                          lambda: self.conn.request(
                              "PUT", "/channels/{channel_id}/permissions/{target_id}", body=body,
                              reason=reason, channel_id=channel, target_id=person.user_id),
                          Action.REMOVE, person, channel)
        if isinstance(result, Effect):
            return result
        self._remember_removal(person.user_id, channel)
        return Effect.done(f"removed <@{person.user_id}> from <#{channel}>")

    def _remember_removal(self, user_id: str, channel: str) -> None:
        with self.app.uow() as uow:
            key = f"{REMOVED_PREFIX}{user_id}"
            channels = json.loads(uow.cursors.get(key) or "[]")
            if channel not in channels:
                uow.cursors.set(key, json.dumps([*channels, channel]))
                uow.commit()

    def readmit(self, person: PersonRef, channel: str) -> Effect:
        """``lift`` of a removal: take away the desk's overwrite for that one channel."""
        key = f"{REMOVED_PREFIX}{person.user_id}"
        result = self._do(f"letting <@{person.user_id}> back into <#{channel}>",
                          self._unremove(person.user_id, channel), Action.RESTORE, person,
                          channel)
        if isinstance(result, Effect) and "10003" not in result.detail:
            return result
        with self.app.uow() as uow:
            channels = [c for c in json.loads(uow.cursors.get(key) or "[]") if c != channel]
            uow.cursors.set(key, json.dumps(channels))
            uow.commit()
        return Effect.done(f"<@{person.user_id}> is back in <#{channel}>")

    def lift_removals(self, person: PersonRef) -> Effect:
        """Take away the desk's channel permission overwrites for the person."""
        key = f"{REMOVED_PREFIX}{person.user_id}"
        with self.app.uow() as uow:
            channels = list(json.loads(uow.cursors.get(key) or "[]"))
        done: list[str] = []
        for channel in channels:
            result = self._do(f"letting <@{person.user_id}> back into <#{channel}>",
                              self._unremove(person.user_id, channel), Action.RESTORE, person,
                              channel)
            if isinstance(result, Effect) and "10003" not in result.detail:
                with self.app.uow() as uow:
                    uow.cursors.set(key, json.dumps([c for c in channels if c not in done]))
                    uow.commit()
                return result
            done.append(channel)
        with self.app.uow() as uow:
            uow.cursors.set(key, "[]")
            uow.commit()
        return Effect.done(", ".join(f"back in <#{c}>" for c in done))

    def _unremove(self, user_id: str, channel: str) -> Callable[[], Coroutine[Any, Any, Any]]:
        return lambda: self.conn.request(
            "DELETE", "/channels/{channel_id}/permissions/{target_id}",
            reason="Conduct Desk: the person is back", channel_id=channel, target_id=user_id)

    def suspend(self, person: PersonRef, until: datetime) -> Effect:
        """Discord's timeout until ``until`` (at most 28 days ahead)."""
        now = self.app.desk.clock.now()
        if until - now > TIMEOUT_LIMIT:
            return Effect.failed("Discord's timeouts last at most 28 days; choose a shorter "
                                 "suspension (and lower the policy's maximum: `conduct policy "
                                 "check` says so)", retryable=False)
        reason = self._reason(person, Action.SUSPEND)
        result = self._do(f"timing out <@{person.user_id}>", lambda: self.conn.request(
            "PATCH", "/guilds/{guild_id}/members/{user_id}",
            body={"communication_disabled_until": until.isoformat()}, reason=reason,
            guild_id=self.guild, user_id=person.user_id), Action.SUSPEND, person, None, until)
        return result if isinstance(result, Effect) else Effect.done(
            f"<@{person.user_id}> timed out until {until:%Y-%m-%d %H:%M} UTC")

    def restore(self, person: PersonRef) -> Effect:
        """End the timeout (Discord sends no event when one ends: the desk's timer calls this),
        and take away channel removals the desk made."""
        result = self._do(f"ending the timeout of <@{person.user_id}>", lambda: self.conn.request(
            "PATCH", "/guilds/{guild_id}/members/{user_id}",
            body={"communication_disabled_until": None},
            reason="Conduct Desk: the suspension is over", guild_id=self.guild,
            user_id=person.user_id), Action.RESTORE, person)
        if isinstance(result, Effect):
            return result
        lifted = self.lift_removals(person)
        if lifted.status.value != "done":
            return lifted
        return Effect.done(f"<@{person.user_id}> can write again"
                           + (f"; {lifted.detail}" if lifted.detail else ""))

    def ban(self, person: PersonRef) -> Effect:
        """A ban with the audit-log reason and the policy's message-deletion window."""
        seconds = int(self.app.desk.policy.ban_delete_messages.total_seconds())
        seconds = max(0, min(seconds, 604800))  # Discord allows up to 7 days
        reason = self._reason(person, Action.BAN)
        result = self._do(f"banning <@{person.user_id}>", lambda: self.conn.request(
            "PUT", "/guilds/{guild_id}/bans/{user_id}", reason=reason,
            params={"delete_message_seconds": seconds}, guild_id=self.guild,
            user_id=person.user_id), Action.BAN, person)
        return result if isinstance(result, Effect) else Effect.done(
            f"<@{person.user_id}> banned from the server")

    def fetch_message(self, channel: str, message_id: str) -> FetchedMessage | None:
        try:
            found = self.conn.call("GET", "/channels/{channel_id}/messages/{message_id}",
                                   channel_id=channel, message_id=message_id)
        except Exception as exc:
            logger.warning("could not fetch a Discord message: %s",
                           error_code(exc) or type(exc).__name__)
            return None
        author = found.get("author") or {}
        person = PersonRef(DISCORD, str(author["id"])) if author.get("id") \
            and not author.get("bot") else None
        return FetchedMessage(channel, message_id, str(found.get("content") or ""), person,
                              ui.message_link(self.guild, channel, message_id))

    def member(self, user_id: str) -> dict[str, Any] | None:
        try:
            found = self.conn.call("GET", "/guilds/{guild_id}/members/{user_id}",
                                   guild_id=self.guild, user_id=user_id)
        except Exception as exc:
            logger.warning("could not read a Discord member: %s",
                           error_code(exc) or type(exc).__name__)
            return None
        return found if isinstance(found, dict) else None

    def known_names(self, person: PersonRef) -> tuple[str, ...]:
        """The server nickname, the display name and the user name."""
        member = self.member(person.user_id)
        if member is None:
            return ()
        user = member.get("user") or {}
        found = (member.get("nick"), user.get("global_name"), user.get("username"))
        return tuple(str(n) for n in found if n)

    def find_people(self, query: str, limit: int) -> list[Candidate] | Effect:
        """Members of the server whose user name or nickname starts with ``query`` (Discord's
        member search, as the bot)."""
        found = self._do("looking people up", lambda: self.conn.request(
            "GET", "/guilds/{guild_id}/members/search", guild_id=self.guild,
            params={"query": query.strip().lstrip("@"), "limit": max(1, min(limit, 1000))}))
        if isinstance(found, Effect):
            return found
        people = []
        for member in found if isinstance(found, list) else []:
            user = member.get("user") or {}
            if user.get("bot") or not user.get("id"):
                continue
            name = str(user.get("username") or "")
            people.append(Candidate(PersonRef(DISCORD, str(user["id"])),
                                    str(member.get("nick") or user.get("global_name") or name),
                                    name, also=(str(member.get("nick") or ""),
                                                str(user.get("global_name") or ""))))
        return people[:limit]

    def notify_admins(self, text: str, key: str | None = None,
                      again: bool = False) -> Effect:
        """Post in the admins' channel; about a case, as a reply to its card (``key``: the
        same on every try, so Discord posts a repeat once)."""
        card = None
        match = case_in(text)
        if match is not None:
            with self.app.uow() as uow:
                card = uow.cursors.get(f"{CARD_PREFIX}{match}")
        result = self._do("telling the admins", lambda: self.conn.request(
            "POST", "/channels/{channel_id}/messages", body={
                "content": text[:2000], "allowed_mentions": {"parse": []}, **once(key),
                **({"message_reference": {"message_id": card, "fail_if_not_exists": False}}
                   if card else {})}, channel_id=self.admin_channel))
        return result if isinstance(result, Effect) else Effect.done("admins told in Discord")

    def manual_instructions(self, action: Action, person: PersonRef | None, channel: str | None,
                            until: datetime | None) -> str:
        """Exact steps for a server admin when the bot cannot act itself."""
        user = f"<@{person.user_id}> (user id {person.user_id})" if person else "the person"
        done = " Then press *Mark … done* on the case card (or `/coc done CASE STEP`)."
        if action is Action.SUSPEND:
            when = f"<t:{int(until.timestamp())}:f>" if until else "the end of the suspension"
            return (f"By hand: right-click {user} → Timeout, and choose the length "
                    f"closest to {when}.{done}")
        if action is Action.BAN:
            return f"By hand: right-click {user} → Ban.{done}"
        if action is Action.RESTORE:
            return (f"By hand: right-click {user} → Remove Timeout, and remove them from "
                    f"any channel's permissions the desk set.{done}")
        if action is Action.REMOVE:
            where = f"<#{channel}>" if channel else "the channel"
            return (f"By hand: {where} → Edit Channel → Permissions → add {user} and "
                    f"deny View Channel.{done}")
        return f"Send {user} the step's text yourself, privately or as a reply.{done}"


def case_in(text: str) -> int | None:
    """The case a notice to the admins is about ("Case 12: …"), if any."""
    found = _CASE_IN_TEXT.search(text)
    return int(found.group(1)) if found else None
