"""Discord's gateway payloads read into the chat desk's inputs: what reaches the desk, and
what is dropped on the hot path (bots, other servers, events nobody waits on)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from conduct_desk.platforms.discord.settings import DiscordSettings, parse_discord_admins
from conduct_desk.platforms.discord.transport import DiscordTransport, intents, report_emoji
from conduct_desk.service.chat.inputs import (
    ChannelMessage,
    ChatInput,
    DirectMessage,
    MessageDeleted,
    MessageEdited,
    Reaction,
    ReactionKind,
)

GUILD, TALK, BO, CY, MSG = "900000000000000001", "300000000000000001", "2" * 18, "3" * 18, "4" * 18


@dataclass
class Chat:
    watched: set[tuple[str, str | None, str | None]] = field(default_factory=set)
    got: list[ChatInput] = field(default_factory=list)

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


def transport(**settings: Any) -> tuple[DiscordTransport, Chat, Conn]:
    s = DiscordSettings(bot_token="t", application_id="1" * 18, guild_id=GUILD,
                        admin_channel="5" * 18, **settings)
    conn = Conn()
    app = SimpleNamespace(desk=SimpleNamespace(policy=SimpleNamespace(peer_wait=timedelta(days=1)),
                                               platform_admins={}))
    t = DiscordTransport(app, s, SimpleNamespace(conn=conn), parse_discord_admins(""))  # type: ignore[arg-type]
    chat = Chat()
    t.chat = chat  # type: ignore[assignment]
    t._later = lambda work: work()  # type: ignore[method-assign]
    return t, chat, conn


def message(**extra: Any) -> dict[str, Any]:
    return {"id": MSG, "channel_id": TALK, "guild_id": GUILD, "type": 0, "content": "hi",
            "author": {"id": BO, "username": "bo"}, **extra}


def test_a_direct_message_reaches_the_desk_and_a_bots_does_not() -> None:
    t, chat, _ = transport()
    t._message_create(message(guild_id=None, content="about <@333>"))
    t._message_create(message(guild_id=None, type=19, content="a reply"))
    t._message_create(message(guild_id=None, author={"id": CY, "bot": True}))
    t._message_create(message(guild_id=None, type=7))  # a system message
    assert chat.got == [DirectMessage(BO, "about <@333>"), DirectMessage(BO, "a reply")]


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
def test_the_report_emoji_is_taken_away_at_once_and_reported(
        emoji: dict[str, Any], setting: str, counts: bool) -> None:
    t, chat, conn = transport(report_emoji=setting)
    payload = {"user_id": CY, "channel_id": TALK, "message_id": MSG, "guild_id": GUILD,
               "message_author_id": BO, "emoji": emoji}
    assert (report_emoji(payload) == setting) is counts

    async def run() -> None:
        t._reaction_add(payload)
        await asyncio.sleep(0)

    asyncio.run(run())
    if counts:
        assert chat.got == [Reaction(CY, TALK, MSG, ReactionKind.REPORT, author=BO)]
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
