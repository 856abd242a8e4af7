"""The Matrix transport: what the bot hears becomes the chat desk's inputs, and what the desk
says goes out as Matrix events.

``start()`` runs matrix-nio's ``AsyncClient.sync`` on its own asyncio loop in a background
thread (nio parses the sync stream and tracks rooms), and polls Synapse's event and user
reports. Read positions (the sync token, the last report ids) live in the database, so a
restart neither misses nor repeats anything. No behaviour lives here: every decision is the
chat desk's (:class:`~conduct_desk.service.chat.desk.ChatDesk`).

matrix-nio comes with the ``matrix`` extra and is imported only here.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from conduct_desk.domain.errors import DeskError
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.chat.deliveries import Deliveries
from conduct_desk.service.chat.inputs import (
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
from conduct_desk.service.chat.transport import Card, MessageRef, Posted
from conduct_desk.service.ports import Effect

from .api import JsonDict, MatrixFailure, find_event_link, permalink
from .platform import MatrixPlatform
from .settings import NAME, USER_ID

if TYPE_CHECKING:
    from conduct_desk.service.chat.desk import ChatDesk

try:
    import aiohttp  # matrix-nio's HTTP client
    import nio
except ModuleNotFoundError:  # the matrix extra is not installed
    aiohttp = None  # type: ignore[assignment]
    nio = None

logger = logging.getLogger(__name__)


def sdk_installed() -> bool:
    """Whether matrix-nio (the ``matrix`` extra) is installed."""
    return nio is not None


PREFIX = "!coc"
CONFIRM_KEYS = {"✅", "✔", "👍"}
MEMBERS_TTL = 5.0  # seconds the management room's members are trusted
CATCH_UP = timedelta(minutes=15)  # a command typed while the desk was away is run this late


def emoji_key(emoji: str) -> str:
    return emoji.replace("\ufe0f", "").strip()


@dataclass(frozen=True)
class Message:
    """One timeline event, as the transport reads it."""

    room_id: str
    event_id: str
    sender: str
    type: str
    content: JsonDict
    redacts: str | None = None
    ts: int | None = None  # origin_server_ts, ms

    @classmethod
    def of(cls, room_id: str, source: JsonDict) -> Message:
        content = source.get("content")
        redacts = source.get("redacts") or (content or {}).get("redacts")
        ts = source.get("origin_server_ts")
        return cls(room_id, str(source.get("event_id", "")), str(source.get("sender", "")),
                   str(source.get("type", "")), content if isinstance(content, dict) else {},
                   str(redacts) if redacts else None, ts if isinstance(ts, int) else None)

    @property
    def body(self) -> str:
        body = self.content.get("body")
        return body if isinstance(body, str) else ""

    @property
    def relates(self) -> JsonDict:
        rel = self.content.get("m.relates_to")
        return rel if isinstance(rel, dict) else {}

    @property
    def command(self) -> str | None:
        """The text after ``!coc`` when this is an admin command."""
        if self.type != "m.room.message" or self.relates.get("rel_type") == "m.replace":
            return None
        words = self.body.strip().split(maxsplit=1)
        if not words or words[0].lower() != PREFIX:
            return None
        return words[1] if len(words) > 1 else ""


def missed_commands(messages: list[Message], bot: str, now_ms: int,
                    window: timedelta = CATCH_UP) -> list[Message]:
    """The management room's commands typed while the desk was not listening: those after
    the bot's own last message there, and at most ``window`` old (an old command may no
    longer stand)."""
    last = max((i for i, m in enumerate(messages)
                if m.sender == bot and m.type == "m.room.message"), default=-1)
    limit = window.total_seconds() * 1000
    return [m for m in messages[last + 1:] if m.command is not None and m.ts is not None
            and now_ms - m.ts <= limit]


class MatrixTransport:
    """:class:`~conduct_desk.service.chat.transport.ChatTransport` on Matrix, and the listener."""

    platform = NAME
    prefix = PREFIX
    person_example = "@someone:server"

    def __init__(self, matrix: MatrixPlatform) -> None:
        self.matrix, self.api, self.config = matrix, matrix.api, matrix.config
        self.cursors = matrix.cursors
        self.bot = self.config.user_id
        self.chat: ChatDesk | None = None  # set by the adapter
        self.deliveries: Deliveries | None = None  # set by the adapter: events taken in once
        self.on_listening: Callable[[], None] | None = None  # after the first sync of a start
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._long_poll: asyncio.Future[Any] | None = None  # the open sync request, if any
        self._stopping = threading.Event()
        self.synced = threading.Event()  # set after each completed sync round (tests wait on it)
        self.rounds = 0
        self._dm_rooms: set[str] = set()
        self._members: tuple[float, frozenset[str]] | None = None  # the management room's

    # -- the ChatTransport protocol ----------------------------------------------------------
    @property
    def admin_room(self) -> str | None:
        """The management room's id (an alias is resolved; unresolvable, as configured)."""
        room = self.config.management_room
        if room is None:
            return None
        try:
            return self.matrix.room_id(room)
        except MatrixFailure:
            return room

    def mention(self, user_id: str) -> str:
        try:
            return self.api.display_name(user_id) or user_id
        except MatrixFailure:
            return user_id

    def person_word(self, word: str) -> str | None:
        word = word.strip("<>")
        if word.startswith("https://matrix.to/#/"):
            word = word.removeprefix("https://matrix.to/#/").split("?", 1)[0]
        return word if USER_ID.fullmatch(word) else None

    def people_in(self, text: str) -> list[str]:
        return [u for u in USER_ID.findall(text) if u != self.bot]

    def message_in(self, text: str) -> MessageRef | None:
        link = find_event_link(text)
        return MessageRef(link.room, link.event_id) if link else None

    def person_name(self, user_id: str) -> str | None:
        return self.api.display_name(user_id)

    def channel_name(self, channel: str) -> str | None:
        return self.api.room_name(self._rid(channel))

    def looks_after(self, channel: str) -> str | None:
        try:
            room_id = self.matrix.room_id(channel)
        except MatrixFailure:
            return None
        return room_id if room_id in self._watched_ids() else None

    def dm(self, user_id: str, text: str) -> Effect:
        return self.matrix.send_dm(PersonRef(NAME, user_id), text)

    def answer(self, user_id: str, room: str | None, reply_to: str | None, text: str) -> Effect:
        if room is None:
            return self.dm(user_id, text)
        content: JsonDict = {"msgtype": "m.notice", "body": text}
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        try:
            self.api.send(room, content)
        except MatrixFailure as exc:
            return exc.effect("answering in the management room")
        return Effect.done("answered")

    def post_card(self, card: Card) -> Posted | Effect:
        """An m.notice in the management room; edited in place (m.replace) once posted."""
        where = self.config.management_room
        if where is None:
            return Effect.failed("no management room (CONDUCT_MATRIX_MANAGEMENT_ROOM)",
                                 retryable=False)
        try:
            room = self.matrix.room_id(where)
            if card.existing is None:
                return Posted(self.api.send(room, {"msgtype": "m.notice", "body": card.text}))
            self.api.send(room, {
                "msgtype": "m.notice", "body": f"* {card.text}",
                "m.new_content": {"msgtype": "m.notice", "body": card.text},
                "m.relates_to": {"rel_type": "m.replace", "event_id": card.existing},
            })
        except MatrixFailure as exc:
            return exc.effect("posting the case card", f"Invite {self.bot} to {where}.")
        return Posted(card.existing)

    def reads_admin_room(self, user_id: str) -> bool:
        """Whether the person is in the management room (asked once per card refresh, so the
        members are trusted for a few seconds)."""
        where = self.config.management_room
        if where is None:
            return False
        now = time.monotonic()
        if self._members is None or now - self._members[0] > MEMBERS_TTL:
            try:
                self._members = (now, frozenset(self.api.joined_members(self.matrix.room_id(where))))
            except MatrixFailure:
                self._members = None
                return True  # cannot tell who reads the room: assume the worst
        return user_id in self._members[1]

    def desk_account(self) -> str | None:
        return str(self.bot) if self.bot else None

    def open_step_form(self, trigger: str, case_id: int, rung: str, text: str,
                       recommended: str | None, duration: str | None) -> bool:
        return False  # Matrix has no forms: `!coc step … --text` checks the text instead

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="conduct-matrix", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and wait for the listener thread to end.

        Only an open long-poll is cancelled: a sync round already being handled runs to its
        end and saves its read position, so nothing is handled twice after a restart, and no
        thread is left using the database or the homeserver once this returns.
        """
        self._stopping.set()
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
        first = True
        try:
            client.access_token = await asyncio.to_thread(self.api.token)
            client.user_id = self.bot
            await asyncio.to_thread(self._join_rooms)
            since = await asyncio.to_thread(self.cursors.get, "sync")
            timeline = {"room": {"timeline": {"limit": 100}}}
            while not self._stopping.is_set():
                timeout_ms = int(self.config.poll_seconds * 1000) if since and not first else 0
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
                await asyncio.to_thread(self._handle_sync, client, response, since is None,
                                        first)
                since = response.next_batch
                await asyncio.to_thread(self.cursors.set, "sync", since)
                await asyncio.to_thread(self.poll_reports)
                if first and self.on_listening is not None:
                    await asyncio.to_thread(self.on_listening)
                first = False
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
                self.matrix.remember_room(room, self.api.join(room))
            except MatrixFailure as exc:
                logger.warning("could not join %s: %s (invite %s there)", room, exc.errcode, self.bot)

    # -- sync --------------------------------------------------------------------------------
    def _chat(self) -> ChatDesk:
        assert self.chat is not None, "the adapter sets the chat desk"
        return self.chat

    def _handle_sync(self, client: Any, response: Any, fresh: bool, first: bool) -> None:
        """One sync round. ``fresh``: the desk's very first sync (no read position), whose
        timeline is history from before the desk's time; ``first``: the first round since
        this start, when commands typed while the desk was away are caught up with."""
        for room_id in response.rooms.invite:
            try:
                self.api.join(room_id)
            except MatrixFailure as exc:
                logger.info("could not accept an invite to %s: %s", room_id, exc.errcode)
        watched = self._watched_ids()
        management = self._rid(self.config.management_room) if self.config.management_room \
            else None
        for room_id, info in response.rooms.join.items():
            room = client.rooms.get(room_id)
            messages = [Message.of(room_id, e.source) for e in info.timeline.events
                        if isinstance(getattr(e, "source", None), dict)]
            if room_id == management:
                if first:
                    messages = missed_commands(messages, self.bot, int(time.time() * 1000))
                for m in messages:
                    if m.sender != self.bot and (text := m.command) is not None:
                        self._hand(CommandTyped(m.sender, text, room=room_id,
                                                message_id=m.event_id), m.event_id)
                continue
            if fresh:
                continue  # a fresh start: earlier messages were before the desk's time
            direct = room_id not in watched and (
                room_id in self._dm_rooms or (room is not None and room.member_count <= 2))
            for m in messages:
                if m.sender == self.bot or not m.event_id:
                    continue
                if room_id in watched:
                    self._room_event(m)
                elif direct:
                    self._dm_rooms.add(room_id)
                    self._direct(m)

    def _hand(self, item: ChatInput, event_id: str | None = None) -> None:
        """Hand one event to the desk, once: a sync resumed from an older position (after a
        crash, or on the replica that took the listener over) repeats events. Without
        ``event_id``, the input carries its claim (``mark``) into the desk's transaction."""
        try:
            if event_id is not None and self.deliveries is not None \
                    and not self.deliveries.first(event_id):
                return
            self._chat().handle(item)
        except Exception:  # one bad event must not stop the bot
            logger.exception("handling a %s failed", type(item).__name__)

    def _rid(self, room: str) -> str:
        try:
            return self.matrix.room_id(room)
        except MatrixFailure:
            return room

    def _watched_ids(self) -> set[str]:
        return {self._rid(r) for r in self.config.rooms}

    # -- looked-after rooms ------------------------------------------------------------------
    def _room_event(self, m: Message) -> None:
        chat = self._chat()
        if m.type == "m.reaction":
            rel = m.relates
            key, target = emoji_key(str(rel.get("key", ""))), rel.get("event_id")
            if rel.get("rel_type") != "m.annotation" or not isinstance(target, str):
                return
            kind = {emoji_key(self.config.report_emoji): ReactionKind.REPORT,
                    emoji_key(self.config.nudge_emoji): ReactionKind.NUDGE}.get(key)
            if kind is None or not chat.takes_reactions:
                return  # when reactions do not report, the bot draws no eyes to one
            try:  # a private report: the reaction is taken away again
                self.api.redact(m.room_id, m.event_id)
            except MatrixFailure as exc:
                logger.warning("could not take the report reaction away: %s", exc.errcode)
            if kind is ReactionKind.REPORT and self.deliveries is not None:
                # claimed with the report it files: a crash cannot lose it nor file it twice
                self._hand(Reaction(m.sender, m.room_id, target, kind,
                                    mark=self.deliveries.mark(m.event_id)))
            else:
                self._hand(Reaction(m.sender, m.room_id, target, kind), m.event_id)
        elif m.type == "m.room.redaction" and m.redacts:
            self._hand(MessageDeleted(m.room_id, m.redacts, m.sender), m.event_id)
        elif m.type == "m.room.message":
            target = m.relates.get("event_id")
            if m.relates.get("rel_type") == "m.replace" and isinstance(target, str):
                self._hand(MessageEdited(m.sender, m.room_id, target), m.event_id)
            elif chat.watches(m.room_id, author=m.sender):
                self._hand(ChannelMessage(m.sender, m.room_id, m.event_id, m.body), m.event_id)

    # -- direct rooms ------------------------------------------------------------------------
    def _direct(self, m: Message) -> None:
        if m.type == "m.reaction":
            if emoji_key(str(m.relates.get("key", ""))) in CONFIRM_KEYS:
                self._hand(Reaction(m.sender, m.room_id, str(m.relates.get("event_id", "")),
                                    ReactionKind.CONFIRM), m.event_id)
            return
        if m.type != "m.room.message" or m.relates.get("rel_type") == "m.replace":
            return
        self.matrix.remember_dm(m.sender, m.room_id)  # answer where they wrote
        self._hand(DirectMessage(m.sender, m.body), m.event_id)

    # -- Synapse's reports -------------------------------------------------------------------
    def poll_reports(self) -> None:
        """Hand every new event and user report about the rooms the desk looks after to the
        desk, once: each moves the read position in the transaction that files it."""
        if not self.config.admin_token:
            return
        try:
            self._poll("event_reports", self._event_report)
            self._poll("user_reports", self._user_report)
        except MatrixFailure as exc:
            logger.warning("reading Synapse's reports failed: %s", exc.errcode)

    def _poll(self, kind: str, handle: Callable[[JsonDict, tuple[str, str]], None]) -> None:
        last = int(self.cursors.get(kind) or 0)
        fresh: list[JsonDict] = []
        offset = 0
        while True:  # newest first, until the last one already read
            page = self.api.admin("GET", f"/_synapse/admin/v1/{kind}",
                                  params={"from": offset, "limit": 100, "dir": "b"})
            items = [r for r in page.get(kind, []) if isinstance(r, dict)]
            older = [r for r in items if int(r.get("id", 0)) <= last]
            fresh.extend(r for r in items if int(r.get("id", 0)) > last)
            if older or "next_token" not in page or not items:
                break
            offset = int(page["next_token"])
        for report in sorted(fresh, key=lambda r: int(r["id"])):
            try:
                handle(report, (f"{self.cursors.prefix}{kind}:{report['id']}", "filed"))
            except DeskError as exc:
                logger.info("Synapse %s %s not filed: %s", kind, report["id"], exc)
            self.cursors.set(kind, str(report["id"]))

    def _event_report(self, report: JsonDict, mark: tuple[str, str]) -> None:
        room_id, event_id = str(report.get("room_id", "")), str(report.get("event_id", ""))
        sender, reporter = report.get("sender"), report.get("user_id")
        if room_id not in self._watched_ids() or not sender or not reporter:
            return  # a report about another room is the server admins' to read
        detail = self.api.admin("GET", f"/_synapse/admin/v1/event_reports/{report['id']}")
        body = detail.get("event_json", {}).get("content", {}).get("body")
        self._chat().handle(ReportSubmitted(
            reporter=str(reporter), subject=str(sender), channel=room_id, message_id=event_id,
            note=report.get("reason") or None, message_text=str(body) if body else None,
            message_link=permalink(room_id, event_id), mark=mark))

    def _user_report(self, report: JsonDict, mark: tuple[str, str]) -> None:
        target, reporter = report.get("target_user_id"), report.get("user_id")
        if not target or not reporter:
            return
        members: set[str] = set()
        for room_id in self._watched_ids():
            try:
                members |= self.api.joined_members(room_id)
            except MatrixFailure:
                continue
        if target not in members:
            return  # about someone outside the rooms the desk looks after
        self._chat().handle(ReportSubmitted(reporter=str(reporter), subject=str(target),
                                            note=report.get("reason") or None, mark=mark))
