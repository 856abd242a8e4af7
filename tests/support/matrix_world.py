"""A small community on the real Synapse, with the desk's Matrix bot wired to a test app.

Each test gets fresh users and rooms (the homeserver is shared by the session):
a server admin whose token the desk uses, the bot, ana (a desk admin), bob (the person
cases are about), cara (who reports), a looked-after room ``lobby`` where the bot is a
moderator, and the management room.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import Engine
from tests.conftest import SECRET_KEY
from tests.support.polling import wait_for
from tests.support.synapse import MatrixTestClient, SynapseServer

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.matrix import MatrixAdapter, MatrixSettings, configure
from conduct_desk.service.clock import FakeClock


@dataclass
class Member:
    name: str
    user_id: str
    password: str
    client: MatrixTestClient

    since: str | None = None
    rooms: set[str] = field(default_factory=set)

    def direct_room_with(self, bot: str) -> str | None:
        """The room the bot opened with this member (accepting its invite), if any.

        Syncs incrementally: Synapse caches identical initial syncs for a while.
        """
        sync = self.client.sync_once(self.since)
        self.since = sync["next_batch"]
        for room_id in sync.get("rooms", {}).get("invite", {}):
            self.client.join(room_id)
            self.rooms.add(room_id)
        self.rooms.update(sync.get("rooms", {}).get("join", {}))
        for room_id in sorted(self.rooms):
            if set(self.client.joined_members(room_id)) == {self.user_id, bot}:
                return room_id
        return None

    def texts_from(self, room_id: str, sender: str, limit: int = 50) -> list[str]:
        """Bodies of ``sender``'s messages in the room, oldest first."""
        events = self.client.messages(room_id, limit=limit)
        return [str(e["content"].get("body", "")) for e in reversed(events)
                if e.get("sender") == sender and e.get("type") == "m.room.message"]


@dataclass
class World:
    synapse: SynapseServer
    tag: str
    server_admin: Member
    bot: Member
    ana: Member
    bob: Member
    cara: Member
    lobby: str
    management: str
    extra: dict[str, Any] = field(default_factory=dict)
    adapters: list[MatrixAdapter] = field(default_factory=list)

    @classmethod
    def build(cls, synapse: SynapseServer) -> World:
        tag = uuid.uuid4().hex[:6]

        def member(name: str, admin: bool = False, rate_limited: bool = False) -> Member:
            password = f"{name}-pw-{tag}"
            user_id, token = synapse.register(f"{name}-{tag}", password, admin=admin,
                                              rate_limited=rate_limited)
            return Member(f"{name}-{tag}", user_id, password, synapse.client(user_id, token))

        # on a server with stock rate limits only the bot is held to them (the people and
        # the server admin are the harness's and are exempt)
        server_admin, bot = member("srvadmin", admin=True), member("desk", rate_limited=True)
        ana, bob, cara = member("ana"), member("bob"), member("cara")
        lobby = ana.client.create_room(name=f"lobby-{tag}",
                                       invite=[bot.user_id, bob.user_id, cara.user_id])
        for m in (bob, cara):
            m.client.join(lobby)
        ana.client.set_power_level(lobby, bot.user_id, 50)
        management = ana.client.create_room(name=f"desk-{tag}", invite=[bot.user_id])
        return cls(synapse, tag, server_admin, bot, ana, bob, cara, lobby, management)

    def settings(self, **overrides: Any) -> MatrixSettings:
        values: dict[str, Any] = {
            "homeserver": self.synapse.base_url, "user_id": self.bot.user_id,
            "access_token": self.bot.client.token, "admin_token": self.server_admin.client.token,
            "management_room": self.management, "rooms": self.lobby,
            "admins": f"ana={self.ana.user_id}", "poll_seconds": 0.2, "request_timeout": 10.0,
        }
        values.update(overrides)
        return MatrixSettings(**values)

    def app(self, engine: Engine, clock: FakeClock, policy: Policy,
            start: bool = True, **overrides: Any) -> tuple[App, MatrixAdapter]:
        """A desk app whose only platform is the Matrix bot (no sandbox)."""
        app = bootstrap(Settings(database_url=str(engine.url), secret_key=SecretStr(SECRET_KEY)),
                        engine=engine, policy=policy, clock=clock, platforms={})
        adapter = configure(app, self.settings(**overrides))
        assert adapter is not None
        app.desk.platforms[adapter.platform.name] = adapter.platform
        app.adapters.append(adapter)
        if start:
            adapter.start()
            self.adapters.append(adapter)
            wait_for(lambda: adapter.rounds >= 1, "the bot's first sync")
        return app, adapter

    def stop(self) -> None:
        for adapter in self.adapters:
            adapter.stop()
        self.adapters.clear()
        for m in (self.server_admin, self.bot, self.ana, self.bob, self.cara):
            m.client.close()

    # -- talking to the bot ------------------------------------------------------------------
    def ask(self, command: str, who: Member | None = None, timeout: float = 30.0) -> str:
        """Type a command in the management room; return the bot's answer to it."""
        who = who or self.ana
        sent = who.client.send_text(self.management, command)

        def answer() -> str | None:
            for event in who.client.messages(self.management, limit=30):
                rel = event.get("content", {}).get("m.relates_to", {})
                if event.get("sender") == self.bot.user_id and \
                        rel.get("m.in_reply_to", {}).get("event_id") == sent:
                    return str(event["content"]["body"])
            return None

        return wait_for(answer, f"the bot's answer to {command!r}", timeout)

    def cards(self) -> list[str]:
        """The case cards in the management room, newest text of each (edits applied)."""
        events = self.ana.client.messages(self.management, limit=100)
        latest: dict[str, str] = {}
        for event in reversed(events):
            if event.get("sender") != self.bot.user_id:
                continue
            content = event.get("content", {})
            rel = content.get("m.relates_to", {})
            if rel.get("rel_type") == "m.replace":
                latest[rel["event_id"]] = content["m.new_content"]["body"]
            elif str(content.get("body", "")).startswith("Case ") and "m.in_reply_to" not in rel:
                latest.setdefault(event["event_id"], content["body"])
        return list(latest.values())

    def card(self, case_id: int) -> str | None:
        return next((c for c in self.cards() if c.startswith(f"Case {case_id} ")), None)

    def private_answer(self, member: Member, starts: str) -> str:
        """The bot's latest direct message to ``member`` that starts with ``starts`` (not the
        management room, which may hold only the two of them)."""
        bot = self.bot.user_id

        def probe() -> str | None:
            member.direct_room_with(bot)  # syncs, and accepts the bot's invitation
            for room_id in sorted(member.rooms - {self.management}):
                if set(member.client.joined_members(room_id)) == {member.user_id, bot}:
                    found = [t for t in member.texts_from(room_id, bot) if t.startswith(starts)]
                    if found:
                        return found[-1]
            return None

        return wait_for(probe, f"a private answer to {member.name}")

    def dm_texts(self, member: Member) -> list[str]:
        room = wait_for(lambda: member.direct_room_with(self.bot.user_id),
                        f"a direct room for {member.name}")
        return member.texts_from(room, self.bot.user_id)
