"""Discord's gateway payloads read into the chat desk's inputs: what reaches the desk, and
what is dropped on the hot path (bots, other servers, events nobody waits on)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from conduct_desk.platforms.discord.settings import DiscordSettings
from conduct_desk.platforms.discord.transport import DiscordTransport, intents, report_emoji
from conduct_desk.service.chat.inputs import (
    ChannelMessage,
    ChatInput,
    DirectMessage,
    MessageDeleted,
    MessageEdited,
    Reaction,
    ReactionKind,
    ReportSubmitted,
)

GUILD, TALK, BO, CY, MSG = "900000000000000001", "300000000000000001", "2" * 18, "3" * 18, "4" * 18


@dataclass
class Chat:
    watched: set[tuple[str, str | None, str | None]] = field(default_factory=set)
    got: list[ChatInput] = field(default_factory=list)
    takes_reactions: bool = True

    def watches(self, channel: str, message_id: str | None = None,
                author: str | None = None) -> bool:
        return (channel, message_id, author) in self.watched

    def handle(self, item: ChatInput) -> str | None:
        self.got.append(item)
        return None


@dataclass
class Conn:
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def request(self, method: str, path: str, **ids: Any) -> None:
        self.sent.append((method, path, ids))


class Once:
    """The transport's deliveries, in memory: each event id is taken in once."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first(self, event_id: str) -> bool:
        new = event_id not in self.seen
        self.seen.add(event_id)
        return new

    def mark(self, event_id: str) -> tuple[str, str]:
        return f"discord:event:{event_id}", "now"


def transport(**settings: Any) -> tuple[DiscordTransport, Chat, Conn]:
    s = DiscordSettings(bot_token="t", application_id="1" * 18, guild_id=GUILD,
                        admin_channel="5" * 18, **settings)
    conn = Conn()
    app = SimpleNamespace(uow=lambda: None, desk=SimpleNamespace(
        policy=SimpleNamespace(peer_wait=timedelta(days=1)), platform_admins={}, clock=None))
    t = DiscordTransport(app, s, SimpleNamespace(conn=conn), s.admin_list())  # type: ignore[arg-type]
    t.deliveries = Once()  # type: ignore[assignment]
    chat = Chat()
    t.chat = chat  # type: ignore[assignment]
    t._later = lambda work: work()  # type: ignore[assignment, method-assign]
    return t, chat, conn


def message(**extra: Any) -> dict[str, Any]:
    return {"id": MSG, "channel_id": TALK, "guild_id": GUILD, "type": 0, "content": "hi",
            "author": {"id": BO, "username": "bo"}, **extra}


def test_a_direct_message_reaches_the_desk_and_a_bots_does_not() -> None:
    t, chat, _ = transport()
    t._message_create(message(guild_id=None, content="about <@333>"))
    t._message_create(message(guild_id=None, type=19, id="5" * 18, content="a reply"))
    t._message_create(message(guild_id=None, author={"id": CY, "bot": True}))
    t._message_create(message(guild_id=None, type=7))  # a system message
    assert chat.got == [DirectMessage(BO, "about <@333>"), DirectMessage(BO, "a reply")]


def test_an_event_heard_again_from_a_resumed_session_reaches_the_desk_once() -> None:
    t, chat, _ = transport()
    chat.watched |= {(TALK, None, BO), (TALK, MSG, None)}
    for _ in range(2):  # the same events, replayed by the earlier session
        t._message_create(message(guild_id=None, id="7" * 18, content="about <@333>"))
        t._message_create(message(content="sorry all"))
        t._message_update(message(edited_timestamp="2026-01-01T00:00:00+00:00"))
        t._message_delete({"id": MSG, "channel_id": TALK, "guild_id": GUILD})
    t._message_update(message(edited_timestamp="2026-01-01T00:05:00+00:00"))  # edited again
    assert chat.got == [DirectMessage(BO, "about <@333>"), ChannelMessage(BO, TALK, MSG, "sorry all"),
                        MessageEdited(BO, TALK, MSG), MessageDeleted(TALK, MSG),
                        MessageEdited(BO, TALK, MSG)]


def test_channel_messages_reach_the_desk_only_when_a_private_word_waits_on_the_author() -> None:
    t, chat, _ = transport()
    t._message_create(message())
    assert chat.got == []
    chat.watched.add((TALK, None, BO))
    t._message_create(message(content=""))  # no Message Content intent: nothing to show
    t._message_create(message(guild_id="7" * 18))  # another server
    t._message_create(message(content="sorry all"))
    assert chat.got == [ChannelMessage(BO, TALK, MSG, "sorry all")]


def test_an_edit_counts_only_when_it_is_one_and_a_deletion_when_watched() -> None:
    t, chat, _ = transport()
    chat.watched.add((TALK, MSG, None))
    t._message_update(message(edited_timestamp=None))  # an embed unfurling
    t._message_update(message(edited_timestamp="2026-01-01T00:00:00+00:00"))
    t._message_delete({"id": MSG, "channel_id": TALK, "guild_id": GUILD})
    t._message_delete({"id": "8" * 18, "channel_id": TALK, "guild_id": GUILD})
    assert chat.got == [MessageEdited(BO, TALK, MSG), MessageDeleted(TALK, MSG)]


@pytest.mark.parametrize("emoji, setting, counts", [
    ({"name": "🚩", "id": None}, "🚩", True),
    ({"name": "👍", "id": None}, "🚩", False),
    ({"name": "report", "id": "6" * 18}, f"report:{'6' * 18}", True),
])
def test_the_report_emoji_is_taken_away_at_once_and_reported_when_reactions_report(
        emoji: dict[str, Any], setting: str, counts: bool) -> None:
    t, chat, conn = transport(report_emoji=setting)
    payload = {"user_id": CY, "channel_id": TALK, "message_id": MSG, "guild_id": GUILD,
               "message_author_id": BO, "emoji": emoji}
    assert (report_emoji(payload) == setting) is counts

    async def run() -> None:
        t._reaction_add(payload)
        await asyncio.sleep(0)

    asyncio.run(run())
    chat.takes_reactions = False  # the policy takes no reactions: nothing is touched
    asyncio.run(run())
    if counts:
        # claimed with the report it files (the same person, message and channel: once)
        assert chat.got == [Reaction(CY, TALK, MSG, ReactionKind.REPORT, author=BO, mark=(
            f"discord:event:report:{TALK}:{MSG}:{CY}", "now"))]
        assert conn.sent == [("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/"
                              "{emoji}/{user_id}", {"channel_id": TALK, "message_id": MSG,
                                                   "emoji": setting, "user_id": CY})]
    else:
        assert chat.got == [] and conn.sent == []


def test_the_intents_are_only_what_the_desk_uses() -> None:
    found = intents(DiscordSettings())
    assert found.guilds and found.guild_messages and found.guild_reactions and found.dm_messages
    assert not found.message_content and not found.members and not found.presences
    assert intents(DiscordSettings(message_content=True)).message_content
    assert found.value == (1 << 0) | (1 << 9) | (1 << 10) | (1 << 12)


# -- interactions -----------------------------------------------------------------------------


class Answering(Chat):
    def handle(self, item: ChatInput) -> str | None:
        """As the chat desk answers: a report window filed says nothing back (None)."""
        self.got.append(item)
        return None if isinstance(item, ReportSubmitted) else "the answer"


class Conn2(Conn):
    def run(self, make: Any) -> Any:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, make()).result()


def interacting(**settings: Any) -> tuple[DiscordTransport, Answering, Conn2]:
    t, _, _ = transport(**settings)
    chat, conn = Answering(), Conn2()
    t.chat, t.conn = chat, conn  # type: ignore[assignment]
    return t, chat, conn


def interaction(kind: int, data: dict[str, Any], user: str = CY,
                roles: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"id": "9" * 18, "token": "tok", "type": kind, "data": data, "channel_id": TALK,
            "guild_id": GUILD, "member": {"user": {"id": user}, "roles": list(roles)}}


def callbacks(conn: Conn) -> list[Any]:
    return [ids["body"] for method, path, ids in conn.sent if path.endswith("/callback")]


def followed(conn: Conn) -> list[Any]:
    return [ids["body"]["content"] for method, path, ids in conn.sent
            if path.endswith("/@original")]


def test_the_report_command_answers_with_its_window_first() -> None:
    t, chat, conn = interacting()
    data = {"type": 3, "name": "Report to admins", "target_id": MSG, "resolved": {"messages": {
        MSG: {"id": MSG, "channel_id": TALK, "content": "words", "author": {"id": BO}}}}}
    asyncio.run(t._dispatch(interaction(2, data)))
    (first,) = callbacks(conn)
    assert first["type"] == 9 and first["data"]["custom_id"] == f"report:{TALK}:{MSG}:{BO}"
    own = interaction(2, data, user=BO)
    asyncio.run(t._dispatch(own))
    assert callbacks(conn)[-1]["type"] == 4 and callbacks(conn)[-1]["data"]["flags"] == 64
    assert chat.got == []


def test_a_sent_report_window_becomes_a_report_with_the_words_said() -> None:
    t, chat, conn = interacting()
    t._targets[(TALK, MSG)] = "words"
    submitted = {"custom_id": f"report:{TALK}:{MSG}:{BO}", "components": [
        {"type": 18, "component": {"type": 4, "custom_id": "note", "value": "it hurt"}},
        {"type": 18, "component": {"type": 5, "custom_id": "harmed", "values": ["7" * 18]}},
        {"type": 18, "component": {"type": 22, "custom_id": "options",
                                   "values": ["anonymous", "flagrant"]}}]}
    asyncio.run(t._dispatch(interaction(5, submitted)))
    assert callbacks(conn) == [{"type": 5, "data": {"flags": 64}}]  # at once, privately
    (report,) = chat.got
    assert (report.reporter, report.subject, report.channel, report.message_id) == (
        CY, BO, TALK, MSG)
    assert report.note == "it hurt" and report.harmed == ("7" * 18,)
    assert report.anonymous and report.flagrant and not report.nudge
    assert report.message_text == "words"
    assert report.message_link == f"https://discord.com/channels/{GUILD}/{TALK}/{MSG}"
    assert followed(conn) == ["Thank you. The admins have it; there is nothing more you need "
                              "to do."]


def test_coc_is_deferred_and_answered_privately_but_a_step_may_open_its_window() -> None:
    t, chat, conn = interacting(admins=f"role:{'8' * 18}:moderator")
    slash = {"type": 1, "name": "coc", "options": [{"name": "text", "type": 3, "value": "list"}]}
    asyncio.run(t._dispatch(interaction(2, slash, roles=("8" * 18,))))
    assert callbacks(conn) == [{"type": 5, "data": {"flags": 64}}]
    assert followed(conn) == ["the answer"]
    assert chat.got[0].text == "list" and chat.got[0].user == CY and chat.got[0].room is None
    assert t.roster[CY].name == f"discord:{CY}"  # the role made them an admin
    step = {"type": 1, "name": "coc",
            "options": [{"name": "text", "type": 3, "value": "step 1 warn"}]}
    asyncio.run(t._dispatch(interaction(2, step)))
    assert chat.got[-1].trigger == "9" * 18  # the desk may open the step's window
    assert callbacks(conn)[-1] == {"type": 4, "data": {
        "flags": 64, "content": "the answer", "allowed_mentions": {"parse": []}}}
    assert CY not in t.roster  # no longer holding the role


def test_card_buttons_become_presses() -> None:
    t, chat, conn = interacting()
    asyncio.run(t._dispatch(interaction(3, {"custom_id": "case:take:12", "component_type": 2})))
    asyncio.run(t._dispatch(interaction(3, {"custom_id": "case:done:12:3", "component_type": 2})))
    assert [(p.action, p.case_id, p.arg) for p in chat.got] == [("take", 12, ""),
                                                                 ("done", 12, "3")]
    assert callbacks(conn) == [{"type": 5, "data": {"flags": 64}}] * 2
