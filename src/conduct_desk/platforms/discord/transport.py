"""The Discord bot's transport: gateway events and interactions turned into the chat desk's
inputs, and the :class:`~conduct_desk.service.chat.transport.ChatTransport` calls in
Discord's REST API. The only module that listens with discord.py.

Discord's own mechanics live here: the intents, the hot-path filter that drops channel
messages nobody waits on before discord.py builds objects for them, answering every
interaction within Discord's 3 seconds (a modal first when one is due, else a deferral and
the answer after), taking the report emoji away at once, the application commands, the
embed cards. What people's actions mean is the chat desk's
(:class:`~conduct_desk.service.chat.desk.ChatDesk`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.platforms.discord import components as ui
from conduct_desk.platforms.discord.platform import (
    MAX_WAIT,
    Connection,
    DiscordPlatform,
    discord_effect,
    error_code,
)
from conduct_desk.platforms.discord.roster import RoleRoster
from conduct_desk.platforms.discord.settings import Admins, DiscordSettings
from conduct_desk.service import commands, views
from conduct_desk.service.chat import render
from conduct_desk.service.chat.deliveries import Deliveries
from conduct_desk.service.chat.desk import ThankYou
from conduct_desk.service.chat.inputs import (
    CardPressed,
    ChannelMessage,
    ChatInput,
    CommandTyped,
    DirectMessage,
    MessageDeleted,
    MessageEdited,
    Reaction,
    ReactionKind,
    ReportSubmitted,
)
from conduct_desk.service.chat.roster import ChatAdmin, platform_admins
from conduct_desk.service.chat.transport import Card, MessageRef, Posted
from conduct_desk.service.ports import Effect

try:
    import aiohttp
    import discord
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra only
    MISSING: ModuleNotFoundError | None = exc
else:
    MISSING = None

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import ChatDesk, DeskApp

logger = logging.getLogger(__name__)

MEMBERS_TTL = 60.0  # seconds who may read the admins' channel is trusted
EPHEMERAL = 64  # message flag: only the person who acted reads it
# interaction callback types
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, MODAL = 4, 5, 6, 9
_MENTION = re.compile(r"<@!?(\d{15,21})>")
_SNOWFLAKE = re.compile(r"\d{15,21}")
_LINK = re.compile(r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/(\d+|@me)/(\d+)/(\d+)")
ELSEWHERE = "elsewhere:"  # a message link to another server: not looked after
# the listening gateway session, kept so that the next listener (another replica, or this one
# after a crash) resumes it and hears what came while nobody listened
GATEWAY_CURSOR = "discord:gateway"
EVENT_PREFIX = "discord:event:"  # events taken in: a resumed session replays some again
KEEP_EVERY = 1.0  # seconds between saves of the session's place
CATCH_UP_WITHIN = 15.0  # seconds an earlier session may take to replay what it missed
_REPLAYED = ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_REACTION_ADD")


def intents(settings: DiscordSettings) -> discord.Intents:
    """Only what the desk needs: servers and channels (names, the card's channel), messages
    in them (edits and deletions that answer a private word), reactions (the report emoji),
    direct messages. Message Content only when the settings ask for it."""
    found = discord.Intents.none()
    found.guilds = True
    found.guild_messages = True
    found.guild_reactions = True
    found.dm_messages = True
    found.message_content = settings.message_content
    return found


def report_emoji(raw: dict[str, Any]) -> str:
    """The reaction's emoji as the settings write it: ``🚩``, or ``name:id`` for a custom one."""
    emoji = raw.get("emoji") or {}
    if emoji.get("id"):
        return f"{emoji.get('name')}:{emoji['id']}"
    return str(emoji.get("name") or "")


class DeskClient(discord.Client if MISSING is None else object):  # type: ignore[misc]
    """discord.py's client; READY is the one event it takes the objects route for."""

    def __init__(self, transport: DiscordTransport, settings: DiscordSettings) -> None:
        # one server: no need to wait long for more GUILD_CREATEs before READY
        super().__init__(intents=intents(settings), max_ratelimit_timeout=MAX_WAIT,
                         guild_ready_timeout=0.5,
                         application_id=int(settings.application_id or 0) or None,
                         http_trace=transport.conn.waits.trace())
        self.transport = transport

    async def on_ready(self) -> None:
        await self.transport.on_ready()


class DiscordTransport:
    """Discord under the chat desk. ``chat`` is set once built."""

    platform = "discord"
    prefix = "/coc"
    person_example = "@person"
    chat: ChatDesk

    def __init__(self, app: DeskApp, settings: DiscordSettings, platform: DiscordPlatform,
                 admins: Admins) -> None:
        self.app = app
        self.settings = settings
        self.discord = platform
        self.conn: Connection = platform.conn
        self.admins = admins
        self.roster = RoleRoster(admins.people, admins.roles, self._member_roles,
                                 self._admin_found)
        self.guild = settings.guild_id or ""
        self.application = settings.application_id or ""
        self.admin_room: str | None = settings.admin_channel or None
        self.emoji = settings.report_emoji.strip()
        self.ready = threading.Event()  # set after READY and the commands' registration
        self._woken = threading.Event()  # READY, or the connection failed
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="conduct-discord")
        self._failure: BaseException | None = None
        self._open: dict[str, dict[str, Any]] = {}  # step triggers not answered yet
        self._open_lock = threading.Lock()
        self._targets: OrderedDict[tuple[str, str], str] = OrderedDict()  # reported texts
        self._view: dict[str, tuple[float, bool]] = {}
        self._admin_room_data: tuple[float, dict[str, Any] | None] = (float("-inf"), None)
        self._registered = False
        self._gateway: concurrent.futures.Future[None] | None = None  # the running connect()
        self._keeper: concurrent.futures.Future[None] | None = None  # saves the session's place
        self.deliveries = Deliveries(app.uow, app.desk.clock, EVENT_PREFIX)
        self._inflight: Counter[int] = Counter()  # sequence numbers of events being taken in
        self._inflight_lock = threading.Lock()
        # while an earlier session's events are heard (not this one's): their work
        self._replayed: list[concurrent.futures.Future[None]] | None = None

    # -- starting and stopping ----------------------------------------------------------------
    def install(self, client: discord.Client) -> None:
        """Take the hot events before discord.py builds objects for them."""
        parsers = client._connection.parsers
        parsers["MESSAGE_CREATE"] = self._message_create
        parsers["MESSAGE_UPDATE"] = self._message_update
        parsers["MESSAGE_DELETE"] = self._message_delete
        parsers["MESSAGE_REACTION_ADD"] = self._reaction_add
        parsers["INTERACTION_CREATE"] = self._interaction_create

    def start(self, wait: float = 30.0) -> None:
        """Connect to the gateway in the background; wait for READY (a refusal is raised).
        Then hear what the session listening before this one missed (it died, or this
        replica took its lease over), and keep this session's place for the next one."""
        client = self.conn.client
        earlier = self._earlier_session()

        async def run() -> None:
            try:
                await self.conn.logged_in()
                await client.connect(reconnect=True)
            except asyncio.CancelledError:  # pause(): another replica listens now
                raise
            except BaseException as exc:
                self._failure = exc
                self._woken.set()
                raise

        self._gateway = self.conn.submit(run())
        if not self._woken.wait(wait):
            logger.warning("Discord: no READY after %.0fs; still trying", wait)
            return
        if self._failure is not None:
            exc, self._failure = self._failure, None
            if isinstance(exc, discord.LoginFailure):
                raise DeskError("Discord refused the bot token: check CONDUCT_DISCORD_BOT_TOKEN "
                                "(Developer Portal → Bot → Reset Token)") from None
            if isinstance(exc, discord.PrivilegedIntentsRequired):
                raise DeskError("Discord refused the Message Content intent: turn it on under "
                                "Developer Portal → Bot → Privileged Gateway Intents, or unset "
                                "CONDUCT_DISCORD_MESSAGE_CONTENT") from None
            raise DeskError(f"cannot connect to Discord ({type(exc).__name__}); check the "
                            "network, or CONDUCT_DISCORD_API_URL / _GATEWAY_URL if you set "
                            "them") from None
        logger.info("Discord: connected")
        if earlier is not None:
            try:
                self.conn.run(lambda: self._catch_up(earlier), timeout=CATCH_UP_WITHIN + 5)
            except Exception as exc:  # nothing more to hear from it: listening goes on
                logger.warning("Discord: could not resume the earlier session: %s",
                               _why(exc, "resuming"))
        self._keeper = self.conn.submit(self._keep_place())

    # -- the session's place: resumed by the next listener ------------------------------------
    def _earlier_session(self) -> dict[str, Any] | None:
        """The session the last listener kept (its id, resume address and last sequence)."""
        with self.app.uow() as uow:
            raw = uow.cursors.get(GATEWAY_CURSOR)
        try:
            kept = json.loads(raw) if raw else None
        except ValueError:
            return None
        if not isinstance(kept, dict) or not all(
                isinstance(kept.get(k), t) for k, t in (("session", str), ("url", str),
                                                        ("seq", int))):
            return None
        return kept

    async def _keep_place(self) -> None:
        """While this replica listens: save the session's place every :data:`KEEP_EVERY`
        seconds (when it moved). What the next listener then replays twice, the desk takes
        in once (:attr:`deliveries`)."""
        loop = asyncio.get_running_loop()
        saved = None
        while True:
            ws = self.conn.client.ws
            place = None
            if ws is not None and ws.session_id and ws.sequence is not None:
                with self._inflight_lock:
                    seq = min(self._inflight) - 1 if self._inflight else ws.sequence
                place = json.dumps({"session": ws.session_id, "url": str(ws.gateway),
                                    "seq": seq})
            if place is not None and place != saved:
                try:
                    await loop.run_in_executor(self._pool, self._save_place, place)
                    saved = place
                except Exception as exc:  # the database is away: the next round tries again
                    logger.warning("Discord: could not keep the gateway's place: %s",
                                   type(exc).__name__)
            await asyncio.sleep(KEEP_EVERY)

    def _save_place(self, place: str) -> None:
        with self.app.uow() as uow:
            uow.cursors.set(GATEWAY_CURSOR, place)
            uow.commit()

    async def _catch_up(self, earlier: dict[str, Any]) -> None:
        """Resume the earlier session on its own connection, take in the events it missed
        (messages, edits, deletions, report reactions: each once), then end it. Interactions
        are not taken: Discord already told the person it failed, and they can press again."""
        ws = self.conn.client.ws
        if ws is not None and ws.session_id == earlier["session"]:
            return  # still the same session (a paused listener listening again)
        url = earlier["url"].split("?")[0] + "?v=10&encoding=json"
        parsers = self.conn.client._connection.parsers
        taken: list[concurrent.futures.Future[None]] = []
        async with asyncio.timeout(CATCH_UP_WITHIN):
            socket = await self.conn.client.http.ws_connect(url)
            try:
                await socket.receive_json()  # HELLO
                await socket.send_json({"op": 6, "d": {
                    "token": self.conn.client.http.token, "session_id": earlier["session"],
                    "seq": earlier["seq"]}})
                async for message in socket:
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        break
                    payload = json.loads(message.data)
                    if payload.get("op") == 9:  # the session is gone: nothing to hear from it
                        logger.info("Discord: the earlier gateway session had ended")
                        return
                    if payload.get("op") != 0:
                        continue
                    if payload.get("t") == "RESUMED":
                        break
                    if payload.get("t") in _REPLAYED and payload.get("t") in parsers:
                        self._replayed = taken
                        try:
                            parsers[payload["t"]](payload.get("d") or {})
                        finally:
                            self._replayed = None
                # taken in before that session ends: should this replica die first, the next
                # one resumes it again (what was taken in is not taken twice)
                await asyncio.gather(*(asyncio.wrap_future(f) for f in taken))
                await socket.close(code=1000)  # ends that session: all of it was heard
            finally:
                if not socket.closed:
                    await socket.close(code=4000)  # left resumable for the next listener
        logger.info("Discord: resumed the earlier gateway session: %d events heard again",
                    len(taken))

    def pause(self) -> None:
        """Close the gateway only (another replica listens now): the REST client stays, so
        steps still work from here, and ``start()`` connects again."""
        self._leave_gateway()
        self.ready.clear()
        self._woken.clear()

    def _leave_gateway(self) -> None:
        """Stop listening, leaving the session resumable (closed with a code other than 1000):
        the next listener resumes it from its kept place and hears what came meanwhile."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
        gateway, self._gateway = self._gateway, None
        if gateway is None:
            return
        gateway.cancel()
        client = self.conn.client

        async def close_gateway() -> None:
            if client.ws is not None:
                await client.ws.close(code=4000)

        self.conn.run(close_gateway)

    def stop(self) -> None:
        """Stop listening (resumably, as :meth:`pause`), let desk work already running finish
        (it may still call Discord), drop what has not started (the next listener hears it
        again from the kept place), then close the connection."""
        self._leave_gateway()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.conn.close()
        self.ready.clear()
        self._woken.clear()

    async def on_ready(self) -> None:
        """Register ``/coc`` and the report command for the server (once), then say ready."""
        if not self._registered:
            try:
                await self.conn.request(
                    "PUT", "/applications/{application_id}/guilds/{guild_id}/commands",
                    body=ui.application_commands("report, cases, steps"),
                    application_id=self.application, guild_id=self.guild)
                self._registered = True
            except Exception as exc:
                logger.warning("Discord: could not register the commands: %s",
                               _why(exc, "registering the commands"))
        self.ready.set()
        self._woken.set()

    # -- running the desk off the gateway's loop ------------------------------------------------
    def handle(self, item: ChatInput) -> str | None:
        return self.chat.handle(item)

    def _later(self, work: Callable[[], Any]) -> concurrent.futures.Future[None]:
        """Run desk work in a worker thread: the loop keeps heartbeats and deadlines. Called
        from a gateway event's parser, the event's sequence number counts as in flight until
        the work is done: the session's kept place never passes an event not yet taken in."""
        ws = self.conn.client.ws if MISSING is None else None
        seq = ws.sequence if ws is not None and self._replayed is None else None
        if seq is not None:
            with self._inflight_lock:
                self._inflight[seq] += 1

        def guarded() -> None:
            try:
                work()
            except Exception:
                logger.exception("Discord: handling an event failed")
            finally:
                if seq is not None:
                    with self._inflight_lock:
                        self._inflight[seq] -= 1
                        if not self._inflight[seq]:
                            del self._inflight[seq]

        future = self._pool.submit(guarded)
        if self._replayed is not None:
            self._replayed.append(future)
        return future

    def _hand(self, item: ChatInput, event_id: str) -> None:
        """Hand one gateway event to the desk once: a resumed session replays events that
        may have been taken in already (by this replica or the one that listened before)."""
        if self.deliveries.first(event_id):
            self.handle(item)

    # -- gateway events (raw, on the loop) ------------------------------------------------------
    def _message_create(self, data: dict[str, Any]) -> None:
        author = data.get("author") or {}
        if author.get("bot") or not author.get("id") or data.get("webhook_id"):
            return
        user, channel = str(author["id"]), str(data.get("channel_id") or "")
        if not data.get("guild_id"):
            if data.get("type", 0) in (0, 19):  # a message, or a reply to one
                text, event = str(data.get("content") or ""), f"dm:{data.get('id')}"
                self._later(lambda: self._hand(DirectMessage(user, text), event))
            return
        if str(data.get("guild_id")) != self.guild or not data.get("content"):
            return  # without Message Content, the words are empty: nothing to show
        if self.chat.watches(channel, author=user):
            item = ChannelMessage(user, channel, str(data["id"]), str(data["content"]))
            self._later(lambda: self._hand(item, f"message:{item.message_id}"))

    def _message_update(self, data: dict[str, Any]) -> None:
        channel, message_id = str(data.get("channel_id") or ""), str(data.get("id") or "")
        # embeds unfurling send an update too: only an edit carries edited_timestamp
        if not data.get("edited_timestamp") or str(data.get("guild_id") or "") != self.guild:
            return
        if self.chat.watches(channel, message_id):
            user = str((data.get("author") or {}).get("id") or "")
            event = f"edit:{message_id}:{data.get('edited_timestamp')}"
            self._later(lambda: self._hand(MessageEdited(user, channel, message_id), event))

    def _message_delete(self, data: dict[str, Any]) -> None:
        channel, message_id = str(data.get("channel_id") or ""), str(data.get("id") or "")
        if str(data.get("guild_id") or "") == self.guild and self.chat.watches(channel, message_id):
            self._later(lambda: self._hand(MessageDeleted(channel, message_id),
                                           f"delete:{message_id}"))

    def _reaction_add(self, data: dict[str, Any]) -> None:
        if str(data.get("guild_id") or "") != self.guild or report_emoji(data) != self.emoji:
            return
        user, channel = str(data.get("user_id") or ""), str(data.get("channel_id") or "")
        message_id = str(data.get("message_id") or "")
        if not user or (data.get("member") or {}).get("user", {}).get("bot") \
                or not self.chat.takes_reactions:
            return  # reactions off: taking one away would only draw eyes to it
        # at once: a report reaction shows the room who reported
        asyncio.get_running_loop().create_task(self._unreact(channel, message_id, user))
        author = str(data.get("message_author_id") or "") or None
        # claimed with the report it files: heard again (a resumed session), it files nothing
        event = f"report:{channel}:{message_id}:{user}"
        self._later(lambda: self.handle(Reaction(user, channel, message_id, ReactionKind.REPORT,
                                                 author=author,
                                                 mark=self.deliveries.mark(event))))

    async def _unreact(self, channel: str, message_id: str, user: str) -> None:
        try:
            await self.conn.request(
                "DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}",
                channel_id=channel, message_id=message_id, emoji=self.emoji, user_id=user)
        except Exception as exc:
            logger.warning("Discord: could not take a report reaction away: %s",
                           _why(exc, "taking the reaction away"))

    # -- interactions: answered within 3 seconds ------------------------------------------------
    def _interaction_create(self, data: dict[str, Any]) -> None:
        asyncio.get_running_loop().create_task(self._interaction(data))

    async def _interaction(self, data: dict[str, Any]) -> None:
        try:
            await self._dispatch(data)
        except Exception as exc:
            logger.warning("Discord: an interaction failed: %s", _why(exc, "answering"))

    async def _dispatch(self, data: dict[str, Any]) -> None:
        kind, body = int(data.get("type") or 0), data.get("data") or {}
        member = data.get("member") or {}
        user = str((member.get("user") or data.get("user") or {}).get("id") or "")
        if not user:
            return
        if member:
            self.roster.learn(user, [str(r) for r in member.get("roles") or []])
        if kind == 2 and body.get("type") == 3 and body.get("name") == ui.REPORT_COMMAND:
            await self._report_command(data, body, user)
        elif kind == 2 and body.get("name") == ui.COMMAND:
            await self._slash(data, body, user)
        elif kind == 3:
            await self._button(data, str(body.get("custom_id") or ""), user)
        elif kind == 5:
            await self._modal(data, body, user)

    async def _callback(self, data: dict[str, Any], kind: int,
                        payload: dict[str, Any] | None = None) -> None:
        await self.conn.request(
            "POST", "/interactions/{interaction_id}/{interaction_token}/callback",
            body={"type": kind, **({"data": payload} if payload is not None else {})},
            params={"with_response": "1"}, interaction_id=str(data["id"]),
            interaction_token=str(data["token"]))

    async def _follow(self, data: dict[str, Any], payload: dict[str, Any]) -> None:
        """The answer after a deferral: the deferred message, edited."""
        await self.conn.request(
            "PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            body={"allowed_mentions": {"parse": []}, **payload},
            webhook_id=self.application, webhook_token=str(data["token"]))

    async def _private(self, data: dict[str, Any], text: str, *, deferred: bool) -> None:
        """A private answer, in as many messages as it takes: the first edits the deferred
        answer (or is the interaction's answer), the rest follow it."""
        parts = ui.chunks(text)
        if deferred:
            await self._follow(data, {"content": parts[0]})
        else:
            await self._callback(data, MESSAGE, {"flags": EPHEMERAL, "content": parts[0],
                                                 "allowed_mentions": {"parse": []}})
        for part in parts[1:]:
            await self.conn.request(
                "POST", "/webhooks/{webhook_id}/{webhook_token}",
                body={"content": part, "flags": EPHEMERAL, "allowed_mentions": {"parse": []}},
                webhook_id=self.application, webhook_token=str(data["token"]))

    def _answer_later(self, data: dict[str, Any], work: Callable[[], str | None]) -> None:
        """Work in a thread, then edit the deferred answer with what it said."""
        def run() -> None:
            try:
                text = work() or "Done."
            except DeskError as exc:
                text = f"Not done: {self.chat.explain(exc)}"
            except Exception:
                logger.exception("Discord: answering an interaction failed")
                text = ("The desk ran into an error; please check the case card before "
                        "trying again.")
            self.conn.run(lambda: self._private(data, text, deferred=True))

        self._later(run)

    async def _report_command(self, data: dict[str, Any], body: dict[str, Any],
                              user: str) -> None:
        """The message menu's *Report to admins*: the modal is the first answer."""
        target = ui.target_message(body, str(data.get("channel_id") or ""))
        if target is None or not target.author or target.author_is_bot or target.author == user:
            await self._callback(data, MESSAGE, {
                "flags": EPHEMERAL, "content": "That message has no person to report (or it is "
                "your own); use Apps → Report to admins on the message that hurt."})
            return
        if target.content:
            with self._open_lock:
                self._targets[(target.channel, target.message_id)] = target.content
                while len(self._targets) > 500:
                    self._targets.popitem(last=False)
        peer = humanize_span(self.app.desk.policy.peer_wait)
        await self._callback(data, MODAL, ui.report_modal(target.channel, target.message_id,
                                                          target.author, peer))

    async def _slash(self, data: dict[str, Any], body: dict[str, Any], user: str) -> None:
        """``/coc …``: answered so only the admin reads it. A step opens its modal first
        (Discord allows no modal after a deferral); anything else is deferred."""
        text = ui.command_text(body)
        words = text.split()
        lowered = [w.lower() for w in words]  # as the command's parser reads them
        if lowered[:1] == ["step"] and "--text" not in lowered:
            self._with_form(data, lambda trigger: self.handle(
                CommandTyped(user, text, trigger=trigger)))
            return
        await self._callback(data, DEFERRED_MESSAGE, {"flags": EPHEMERAL})
        self._answer_later(data, lambda: self.handle(CommandTyped(user, text)))

    def _with_form(self, data: dict[str, Any], work: Callable[[str], str | None]) -> None:
        """Work that may open a modal as the interaction's first answer; else it answers
        privately with what the desk said."""
        trigger = str(data["id"])
        with self._open_lock:
            self._open[trigger] = data

        def run() -> None:
            try:
                text = work(trigger) or "Done."
            except DeskError as exc:
                text = f"Not done: {self.chat.explain(exc)}"
            except Exception:
                logger.exception("Discord: answering an interaction failed")
                text = "The desk ran into an error; nothing was done. Please try again."
            with self._open_lock:
                pending = self._open.pop(trigger, None)
            if pending is not None:
                self.conn.run(lambda: self._private(pending, text, deferred=False))

        self._later(run)

    async def _button(self, data: dict[str, Any], custom_id: str, user: str) -> None:
        found = ui.pressed(custom_id)
        if found is None:
            await self._callback(data, DEFERRED_UPDATE)
            return
        if found.kind == ui.REREAD:
            await self._callback(data, DEFERRED_UPDATE)
            text = str((data.get("message") or {}).get("content") or "")

            def reread() -> None:
                if self.chat.confirm_reread(user, found.case_id):
                    self.conn.run(lambda: self._follow(data, {
                        "content": (text + "\n\n✅ Thank you — the admins can see you re-read "
                                    "the Code of Conduct.")[:2000], "components": []}))

            self._later(reread)
            return
        if found.kind == "step":
            self._with_form(data, lambda trigger: self.handle(CardPressed(
                user, "step", found.case_id, found.arg, trigger=trigger)))
            return
        await self._callback(data, DEFERRED_MESSAGE, {"flags": EPHEMERAL})
        self._answer_later(data, lambda: self.handle(CardPressed(user, found.kind,
                                                                 found.case_id, found.arg)))

    async def _modal(self, data: dict[str, Any], body: dict[str, Any], user: str) -> None:
        custom_id = str(body.get("custom_id") or "")
        values = ui.modal_values(body)
        await self._callback(data, DEFERRED_MESSAGE, {"flags": EPHEMERAL})
        kind, _, rest = custom_id.partition(":")
        if kind == ui.REPORT_MODAL:
            channel, message_id, author = (rest.split(":") + ["", "", ""])[:3]
            self._answer_later(data, lambda: self._report(user, channel, message_id, author,
                                                          values))
        elif kind == ui.STEP_MODAL:
            case_id, _, tail = rest.partition(":")
            rung, _, shown = tail.partition(":")
            if not (case_id.isascii() and case_id.isdigit()):
                self._answer_later(data, lambda: "That window names no case; nothing was done.")
                return
            self._answer_later(data, lambda: self._step(user, int(case_id), rung, values,
                                                        shown or None))
        else:
            self._answer_later(data, lambda: "That window is no longer in use; nothing was done.")

    def _report(self, user: str, channel: str, message_id: str, author: str,
                values: dict[str, str | list[str]]) -> str:
        chosen = set(ui.list_value(values, "options"))
        with self._open_lock:
            text = self._targets.pop((channel, message_id), None)
        link = ui.message_link(self.guild, channel, message_id)
        if text is None:
            fetched = self.discord.fetch_message(channel, message_id)
            text = fetched.text if fetched and fetched.text else None
        nudge = "nudge" in chosen and "flagrant" not in chosen
        refused = self.handle(ReportSubmitted(
            reporter=user, subject=author, channel=channel, message_id=message_id,
            note=ui.text_value(values, "note"), harmed=ui.list_value(values, "harmed"),
            anonymous="anonymous" in chosen, flagrant="flagrant" in chosen, nudge=nudge,
            message_text=text, message_link=link))
        if refused:
            return refused
        if nudge:
            return ("Thank you. The desk writes to them privately, without your name; there is "
                    "nothing more you need to do.")
        return ThankYou

    def _step(self, user: str, case_id: int, rung: str, values: dict[str, str | list[str]],
              shown: str | None = None) -> str:
        """The step modal sent: the same checks as ``/coc step``, then the step. The text
        counts as the admin's own only if it differs from what the window showed (composed
        with the duration it showed, ``shown``); else the desk composes it again, with the
        duration as sent."""
        desk = self.app.desk
        text = ui.text_value(values, "text") or ""
        duration = ui.text_value(values, "duration")
        reason = ui.text_value(values, "reason")
        admin = self.chat.acting(user, Role.MODERATOR, desk.policy.rung(rung).action)
        composed = views.preview_step(self.app.uow(), desk, case_id, rung, admin.name,
                                      duration=duration)
        before = composed if shown in (None, duration) else views.preview_step(
            self.app.uow(), desk, case_id, rung, admin.name, duration=shown)
        edited = text.strip() not in (composed.text.strip(), before.text.strip())
        if edited:
            views.check_step_text(self.app.uow(), desk, case_id, admin.name, text)
        rec = views.case_detail(self.app.uow(), desk, case_id).recommendation
        if rec is not None and rec.rung.name != rung and not reason:
            raise InvalidInput(f"the desk recommends {rec.rung.name} ({rec.reason}); press "
                               f"{rung.capitalize()} again and say why in Reason")
        step_id = self.app.bus.handle(commands.TakeStep(
            case_id, rung, admin.name, duration=duration, text=text if edited else None,
            reason=reason))
        case = views.case_detail(self.app.uow(), desk, case_id).case
        return render.step_result_text(case, case.step(int(step_id)), self.chat.words, "Discord")

    def _member_roles(self, user: str) -> list[str] | None:
        member = self.discord.member(user)
        return [str(r) for r in member.get("roles") or []] if member is not None else None

    def _admin_found(self, admin: ChatAdmin, holds: bool) -> None:
        """An admin by server role found, or their role taken away: the desk's list of
        admins (hand-over, recusal, backups) follows."""
        if holds:
            self.app.desk.platform_admins.update(platform_admins({admin.user_id: admin}))
        else:
            self.app.desk.platform_admins.pop(admin.name, None)

    # -- ChatTransport ------------------------------------------------------------------------
    def open_step_form(self, trigger: str, case_id: int, rung: str, text: str,
                       recommended: str | None, duration: str | None) -> bool:
        with self._open_lock:
            data = self._open.pop(trigger, None)
        if data is None:
            return False
        modal = ui.step_modal(case_id, rung, text, recommended=recommended, duration=duration)
        try:
            self.conn.run(lambda: self._callback(data, MODAL, modal))
        except Exception as exc:
            # never take the step unseen: the admin presses again (an interaction lasts 3 s)
            raise InvalidInput(f"Discord did not open the step's window "
                               f"({_why(exc, 'opening it')}); please press again") from None
        return True

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def person_word(self, word: str) -> str | None:
        found = _MENTION.fullmatch(word)
        if found:
            return found.group(1)
        return word if _SNOWFLAKE.fullmatch(word) else None

    def people_in(self, text: str) -> list[str]:
        return _MENTION.findall(text)

    def message_in(self, text: str) -> MessageRef | None:
        found = _LINK.search(text)
        if found is None:
            return None
        guild, channel, message_id = found.groups()
        return MessageRef(channel if guild == self.guild else ELSEWHERE + channel, message_id)

    def person_name(self, user_id: str) -> str | None:
        member = self.discord.member(user_id)
        if member is None:
            return None
        user = member.get("user") or {}
        for name in (member.get("nick"), user.get("global_name"), user.get("username")):
            if name and str(name).strip():
                return str(name).strip()
        return None

    def channel_name(self, channel: str) -> str | None:
        try:
            found = self.conn.call("GET", "/channels/{channel_id}", channel_id=channel)
        except Exception as exc:
            logger.warning("could not read a channel's name: %s", _why(exc, "reading it"))
            return None
        name = found.get("name") if isinstance(found, dict) else None
        return f"#{name}" if name else None

    def looks_after(self, channel: str) -> str | None:
        """Every channel of the server the bot can read (Discord says so on fetching)."""
        return None if channel.startswith(ELSEWHERE) else channel

    def dm(self, user_id: str, text: str) -> Effect:
        return self.discord.dm_user(user_id, text)

    def answer(self, user_id: str, room: str | None, reply_to: str | None, text: str) -> Effect:
        if room is None:
            return self.discord.dm_user(user_id, text)
        return self.discord.post_reply(room, reply_to, text)

    def post_card(self, card: Card) -> Posted | Effect:
        payload = ui.case_card(card.detail, self.app.desk.policy, names_hidden=card.names_hidden)
        what = f"the card of case {card.detail.case.id}"
        channel = self.admin_room or ""
        try:
            if card.existing:
                try:
                    self.conn.call("PATCH", "/channels/{channel_id}/messages/{message_id}",
                                   body=payload, channel_id=channel, message_id=card.existing)
                    return Posted(card.existing)
                except Exception as exc:
                    if error_code(exc) != 10008:  # the card was deleted: post it again
                        raise
            posted = self.conn.call("POST", "/channels/{channel_id}/messages", body=payload,
                                    channel_id=channel)
        except Exception as exc:
            return _effect(exc, what)
        return Posted(str(posted["id"]))

    def reads_admin_room(self, user_id: str) -> bool:
        """True when the person may read the admins' channel (or Discord will not say)."""
        if user_id in self.roster:
            return True
        now = time.monotonic()
        cached = self._view.get(user_id)
        if cached is not None and now - cached[0] < MEMBERS_TTL:
            return cached[1]
        try:
            room = self._room()
            member = self.conn.call("GET", "/guilds/{guild_id}/members/{user_id}",
                                    guild_id=self.guild, user_id=user_id)
            sees = ui.can_view_channel(self.guild, user_id,
                                       [str(r) for r in member.get("roles") or []],
                                       room["roles"], room["overwrites"], room["owner"])
        except Exception as exc:
            if error_code(exc) == 10007:  # not a member: cannot read it
                sees = False
            else:
                logger.warning("cannot tell who reads the admins' channel, so cards leave out "
                               "reporters' names: %s", _why(exc, "reading permissions"))
                return True
        self._view[user_id] = (now, sees)
        return sees

    def desk_account(self) -> str | None:
        return self.conn.bot_id  # known from READY on

    def _room(self) -> dict[str, Any]:
        fetched_at, room = self._admin_room_data
        if room is not None and time.monotonic() - fetched_at < MEMBERS_TTL:
            return room
        channel = self.conn.call("GET", "/channels/{channel_id}", channel_id=self.admin_room)
        roles = self.conn.call("GET", "/guilds/{guild_id}/roles", guild_id=self.guild)
        guild = self.conn.call("GET", "/guilds/{guild_id}", guild_id=self.guild)
        room = {"overwrites": list(channel.get("permission_overwrites") or []),
                "roles": ui.guild_roles(roles), "owner": str(guild.get("owner_id") or "") or None}
        self._admin_room_data = (time.monotonic(), room)
        return room


def _effect(exc: BaseException, what: str) -> Effect:
    try:
        return discord_effect(exc, what)
    except Exception:
        return Effect.failed(f"{what}: {type(exc).__name__}")


def _why(exc: BaseException, what: str) -> str:
    return _effect(exc, what).detail
