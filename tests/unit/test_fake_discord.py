"""The fake Discord, driven by discord.py itself: a plain ``discord.Client`` pointed at it.

Only the two URLs are changed (``discord.http.Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``), as the desk's settings ``CONDUCT_DISCORD_API_URL`` and
``CONDUCT_DISCORD_GATEWAY_URL`` do; everything else is discord.py as shipped, so what passes here
is what the library really sends and accepts.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from tests.support.fake_discord import (
    BOT_USER_ID,
    INTENT_GUILD_MEMBERS,
    INTENT_MESSAGE_CONTENT,
    FakeDiscord,
    component_labels,
    option,
    subcommand,
)

T = TypeVar("T")

ALICE = "200000000000000001"
BOB = "200000000000000002"
MOD = "200000000000000003"
LOW = "200000000000000004"
GENERAL = "300000000000000001"
ADMINS = "300000000000000002"
MOD_ROLE = "400000000000000001"
HIGH_ROLE = "400000000000000002"


class ClientThread:
    """Runs a discord.py client on its own loop in a thread, as the desk's transport does."""

    def __init__(self, client: discord.Client, token: str) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._token = token
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

        @client.event
        async def on_ready() -> None:
            self.ready.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            async with self.client:  # closes the client however start ends
                await self.client.start(self._token)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by the test that waits
            self.error = exc
            self.ready.set()
        finally:
            # as asyncio.run does: what discord.py left running is cancelled, then the loop closed
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> ClientThread:
        self._thread.start()
        assert self.ready.wait(15), "discord.py never got READY"
        assert self.error is None, self.error
        return self

    def call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(15)

    def next_event(self, name: str, timeout: float = 10.0) -> Any:
        while True:
            kind, value = self.events.get(timeout=timeout)
            if kind == name:
                return value

    def stop(self) -> None:
        if self._thread.is_alive() and not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.client.close(), self.loop)
        self._thread.join(15)
        assert not self._thread.is_alive(), "discord.py did not close"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    with FakeDiscord() as server:
        server.add_role(MOD_ROLE, "moderators", position=2)
        server.add_role(HIGH_ROLE, "elders", position=20)
        server.add_member(ALICE, "alice", global_name="Alice")
        server.add_member(BOB, "bob", global_name="Bob", dms_open=False)
        server.add_member(MOD, "mod", roles=[MOD_ROLE, HIGH_ROLE])
        server.add_member(LOW, "low")
        server.add_channel(GENERAL, "general")
        server.add_channel(ADMINS, "admins")
        server.make_private(ADMINS, visible_to=[MOD_ROLE])
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_url)
        monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
        yield server


def _connect(
    fake: FakeDiscord, intents: discord.Intents | None = None, client: discord.Client | None = None
) -> ClientThread:
    client = client or discord.Client(intents=intents or discord.Intents.default(), guild_ready_timeout=0.05)
    runner = ClientThread(client, fake.token)

    @client.event
    async def on_message(message: discord.Message) -> None:
        runner.events.put(("message", message))

    @client.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        runner.events.put(("reaction", payload))

    @client.event
    async def on_raw_message_edit(payload: discord.RawMessageUpdateEvent) -> None:
        runner.events.put(("edit", payload))

    @client.event
    async def on_raw_message_delete(payload: discord.RawMessageDeleteEvent) -> None:
        runner.events.put(("delete", payload))

    @client.event
    async def on_resumed() -> None:
        runner.events.put(("resumed", None))

    return runner.start()


@pytest.fixture
def bot(fake: FakeDiscord) -> Iterator[ClientThread]:
    runner = _connect(fake)
    yield runner
    runner.stop()


# --------------------------------------------------------------------------- connecting


def test_a_plain_client_logs_in_identifies_and_sees_the_guild(fake: FakeDiscord, bot: ClientThread) -> None:
    client = bot.client
    assert client.user is not None and str(client.user.id) == BOT_USER_ID
    assert client.application_id == int(fake.application_id)
    assert [c.route for c in fake.calls[:2]] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    guild = client.get_guild(int(fake.guild_id))
    assert guild is not None and guild.name == "Fake Guild"
    assert sorted(c.name for c in guild.text_channels) == ["admins", "general"]
    assert "moderators" in [r.name for r in guild.roles]
    # discord.py asked for zlib-stream compression and read the compressed frames
    assert fake.connections == ["/gateway"]
    assert fake.identifies[0]["token"] == fake.token
    assert fake.identifies[0]["intents"] == discord.Intents.default().value
    # the heartbeat sent at HELLO was acknowledged
    fake.wait_for(lambda: fake.heartbeats >= 1)
    assert client.latency != float("inf")


def test_the_admin_channel_is_hidden_from_members_by_overwrites(fake: FakeDiscord, bot: ClientThread) -> None:
    guild = bot.client.get_guild(int(fake.guild_id))
    assert guild is not None and guild.me is not None
    admins = guild.get_channel(int(ADMINS))
    assert isinstance(admins, discord.TextChannel)
    everyone_view = admins.overwrites_for(guild.default_role).view_channel
    assert everyone_view is False
    assert admins.permissions_for(guild.me).view_channel
    assert not fake.can_view(ALICE, ADMINS)
    assert fake.can_view(MOD, ADMINS)


def test_members_are_chunked_when_the_members_intent_is_on(fake: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.members = True
    runner = _connect(fake, intents)
    try:
        guild = runner.client.get_guild(int(fake.guild_id))
        assert guild is not None
        assert {str(m.id) for m in guild.members} >= {ALICE, BOB, MOD, BOT_USER_ID}
        assert fake.identifies[0]["intents"] & INTENT_GUILD_MEMBERS
    finally:
        runner.stop()


# --------------------------------------------------------------------------- events in


def test_message_create_arrives_without_content_unless_the_intent_is_asked(
    fake: FakeDiscord, bot: ClientThread
) -> None:
    sent = fake.send_message(GENERAL, ALICE, "that was not ok")
    message = bot.next_event("message")
    assert str(message.id) == sent.id
    assert str(message.author.id) == ALICE
    assert message.content == ""  # Message Content is privileged: Discord strips it

    async def fetch() -> str:
        channel = bot.client.get_channel(int(GENERAL))
        assert isinstance(channel, discord.TextChannel)
        return (await channel.fetch_message(int(sent.id))).content

    assert bot.call(fetch) == ""  # in REST answers too

    dm = fake.send_dm(ALICE, "I need to tell you something")
    message = bot.next_event("message")
    assert str(message.id) == dm.id and message.guild is None
    assert message.content == "I need to tell you something"  # DMs always carry it


def test_message_content_with_the_intent_and_edit_delete_reaction_events(fake: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    runner = _connect(fake, intents)
    try:
        assert fake.identifies[0]["intents"] & INTENT_MESSAGE_CONTENT
        sent = fake.send_message(GENERAL, ALICE, "rude words")
        assert runner.next_event("message").content == "rude words"

        async def fetch() -> str:
            channel = runner.client.get_channel(int(GENERAL))
            assert isinstance(channel, discord.TextChannel)
            return (await channel.fetch_message(int(sent.id))).content

        assert runner.call(fetch) == "rude words"
        fake.edit_message(sent.id, "kinder words")
        edit = runner.next_event("edit")
        assert edit.message_id == int(sent.id) and edit.data["content"] == "kinder words"
        fake.react(sent.id, BOB, "🚩")
        reaction = runner.next_event("reaction")
        assert (reaction.message_id, reaction.user_id, str(reaction.emoji)) == (int(sent.id), int(BOB), "🚩")
        fake.delete_message(sent.id)
        assert runner.next_event("delete").message_id == int(sent.id)
    finally:
        runner.stop()


# --------------------------------------------------------------------------- REST out


def test_sending_replying_editing_and_removing_a_reaction(fake: FakeDiscord, bot: ClientThread) -> None:
    original = fake.send_message(GENERAL, ALICE, "hmm")
    fake.react(original.id, BOB, "🚩")
    bot.next_event("message")

    async def act() -> None:
        channel = bot.client.get_channel(int(GENERAL))
        assert isinstance(channel, discord.TextChannel)
        target = channel.get_partial_message(int(original.id))
        reply = await target.reply("A reminder of our code of conduct.", mention_author=False)
        await reply.edit(content="A kind reminder of our code of conduct.")
        await target.remove_reaction("🚩", discord.Object(int(BOB)))

    bot.call(act)
    post = fake.calls_to("POST /channels/{channel_id}/messages")[0]
    assert post.json["content"] == "A reminder of our code of conduct."
    assert str(post.json["message_reference"]["message_id"]) == original.id
    [reply] = fake.bot_messages(GENERAL)
    assert reply.content == "A kind reminder of our code of conduct."
    assert reply.message_reference is not None and reply.message_reference["message_id"] == original.id
    removal = fake.calls_to(
        "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}"
    )[0]
    assert removal.param("emoji") == "🚩" and removal.param("user_id") == BOB
    assert fake.message(original.id).reactions["🚩"] == []


def test_moderation_steps_and_their_errors(fake: FakeDiscord, bot: ClientThread) -> None:
    guild_id = int(fake.guild_id)
    until = datetime.now(UTC) + timedelta(hours=12)

    async def act() -> None:
        guild = bot.client.get_guild(guild_id)
        assert guild is not None
        channel = guild.get_channel(int(GENERAL))
        assert isinstance(channel, discord.TextChannel)
        alice = await guild.fetch_member(int(ALICE))
        await alice.timeout(until, reason="Cooling off: see the café’s code")
        await channel.set_permissions(alice, view_channel=False, reason="removed from #general")
        await alice.send("A warning, with the code of conduct.")
        await guild.ban(alice, reason="Banned after consultation", delete_message_seconds=3600)

    bot.call(act)
    timeout = fake.calls_to("PATCH /guilds/{guild_id}/members/{user_id}")[0]
    assert timeout.reason == "Cooling off: see the café’s code"  # percent-decoded audit-log reason
    assert fake.member(ALICE).communication_disabled_until is not None
    overwrite = fake.calls_to("PUT /channels/{channel_id}/permissions/{overwrite_id}")[0]
    assert (overwrite.json["allow"], overwrite.json["deny"], overwrite.json["type"]) == ("0", str(1 << 10), 1)
    assert not fake.can_view(ALICE, GENERAL)
    assert [m.content for m in fake.dms_to(ALICE)] == ["A warning, with the code of conduct."]
    ban = fake.calls_to("PUT /guilds/{guild_id}/bans/{user_id}")[0]
    assert ban.params == {"delete_message_seconds": "3600"}
    assert ALICE in fake.bans()

    async def refused() -> list[int]:
        guild = bot.client.get_guild(guild_id)
        assert guild is not None
        mod = await guild.fetch_member(int(MOD))
        low = await guild.fetch_member(int(LOW))
        codes = []
        for attempt in (
            lambda: bot.client.get_partial_messageable(int(fake.dm_channel_id(BOB))).send("hi"),  # DMs closed
            lambda: bot.client.get_partial_messageable(int(fake.dm_channel_id(ALICE))).send(
                "hi"
            ),  # no shared guild
            lambda: guild.fetch_member(int(ALICE)),  # banned: not a member any more
            lambda: mod.timeout(timedelta(hours=1)),
            lambda: low.timeout(timedelta(days=29)),
        ):
            try:
                await attempt()
            except discord.HTTPException as exc:
                codes.append(exc.code)
        return codes

    # 50013: MOD's "elders" role sits above the bot's role; 50035: 29 days is beyond Discord's limit
    assert bot.call(refused) == [50007, 50007, 10007, 50013, 50035]


def test_injected_failures(fake: FakeDiscord, bot: ClientThread) -> None:
    fake.fail_next("POST /channels/{channel_id}/messages", 50013)
    fake.fail_next("GET /guilds/{guild_id}/members/{user_id}", 10007)

    async def act() -> tuple[int, int]:
        channel = bot.client.get_channel(int(GENERAL))
        assert isinstance(channel, discord.TextChannel)
        guild = channel.guild
        with pytest.raises(discord.Forbidden) as forbidden:
            await channel.send("nope")
        with pytest.raises(discord.NotFound) as missing:
            await guild.fetch_member(int(ALICE))
        await channel.send("now it works")
        return forbidden.value.code, missing.value.code

    assert bot.call(act) == (50013, 10007)
    assert [m.content for m in fake.bot_messages(GENERAL)] == ["now it works"]
    assert [c.status for c in fake.calls_to("POST /channels/{channel_id}/messages")] == [403, 200]


# --------------------------------------------------------------------------- Discord's rules


def test_a_429_with_a_bucket_is_waited_out_and_nothing_is_dropped(
    fake: FakeDiscord, bot: ClientThread
) -> None:
    fake.rate_limit_next("POST /channels/{channel_id}/messages", 0.3, bucket="b0cket")

    async def act() -> None:
        channel = bot.client.get_channel(int(GENERAL))
        assert isinstance(channel, discord.TextChannel)
        await asyncio.gather(channel.send("one"), channel.send("two"))

    bot.call(act)
    posts = fake.calls_to("POST /channels/{channel_id}/messages")
    assert [c.status for c in posts] == [429, 200, 200]
    assert sorted(m.content for m in fake.bot_messages(GENERAL)) == ["one", "two"]
    assert fake.early_retries == []  # discord.py waited out retry_after before retrying


def test_a_global_429_holds_every_route(fake: FakeDiscord, bot: ClientThread) -> None:
    fake.rate_limit_next("POST /channels/{channel_id}/messages", 0.3, global_=True)

    async def act() -> None:
        channel = bot.client.get_channel(int(GENERAL))
        assert isinstance(channel, discord.TextChannel)
        await channel.send("held")
        await channel.guild.fetch_member(int(ALICE))

    bot.call(act)
    assert [m.content for m in fake.bot_messages(GENERAL)] == ["held"]
    assert fake.early_retries == []


def test_a_dropped_connection_resumes_and_replays_what_was_missed(
    fake: FakeDiscord, bot: ClientThread
) -> None:
    fake.drop_connection()
    missed = fake.send_message(GENERAL, ALICE, "while you were away")
    # Discord replays what was missed, then says RESUMED
    assert str(bot.next_event("message").id) == missed.id
    bot.next_event("resumed")
    [resume] = fake.resumes
    assert resume["accepted"] and resume["path"] == "/resume"  # READY's resume_gateway_url
    assert len(fake.identifies) == 1
    after = fake.send_message(GENERAL, ALICE, "and now")
    assert str(bot.next_event("message").id) == after.id


def test_an_expired_session_is_refused_and_the_client_identifies_again(
    fake: FakeDiscord, bot: ClientThread
) -> None:
    fake.drop_connection(resumable=False)
    fake.wait_for(lambda: len(fake.identifies) == 2, 30, "a second IDENTIFY")
    assert [r["accepted"] for r in fake.resumes] == [False]
    # discord.py identifies again on the URL it last used (Discord accepts IDENTIFY there too)
    assert fake.connections[:2] == ["/gateway", "/resume"] and len(fake.connections) == 3
    after = fake.send_message(GENERAL, ALICE, "hello again")
    assert str(bot.next_event("message").id) == after.id


def test_an_interaction_answered_too_late_is_unknown(fake: FakeDiscord, bot: ClientThread) -> None:
    fake.interaction_deadline = 0.0  # Discord allows 3 seconds; here, none
    late = fake.slash_command(ALICE, "coc", [option("text", "help")], channel_id=GENERAL)

    async def answer() -> int:
        with pytest.raises(discord.NotFound) as refused:
            await bot.client.http.request(
                discord.http.Route(
                    "POST",
                    "/interactions/{webhook_id}/{webhook_token}/callback",
                    webhook_id=late.id,
                    webhook_token=late.token,
                ),
                json={"type": 4, "data": {"content": "too late"}},
            )
        return refused.value.code

    assert bot.call(answer) == 10062
    assert not late.acknowledged


# --------------------------------------------------------------------------- interactions


class ReportModal(discord.ui.Modal, title="Report to admins"):
    note: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Anything to add? (optional)", required=False
    )

    def __init__(self, runner: ClientThread) -> None:
        super().__init__(custom_id="report-modal")
        self.runner = runner

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.runner.events.put(("submitted", self.note.value))
        await interaction.response.send_message("Thank you. The admins have it.", ephemeral=True)


class Card(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Acknowledge", custom_id="card:ack")
    async def ack(self, interaction: discord.Interaction, button: discord.ui.Button[Card]) -> None:
        await interaction.response.edit_message(content="Acknowledged.", view=None)


def test_context_menu_modal_submit_button_and_slash_command(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    tree = app_commands.CommandTree(client)
    runner = ClientThread(client, fake.token)
    guild = discord.Object(int(fake.guild_id))

    @tree.context_menu(name="Report to admins", guild=guild)
    async def report(interaction: discord.Interaction, message: discord.Message) -> None:
        runner.events.put(("target", message.content))
        await interaction.response.send_modal(ReportModal(runner))

    coc = app_commands.Group(name="coc", description="Conduct desk", guild_ids=[int(fake.guild_id)])

    @coc.command(name="report", description="Report to the admins")
    async def coc_report(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(f"Noted: {text}", ephemeral=True)

    tree.add_command(coc)
    runner.start()
    try:
        runner.call(lambda: tree.sync(guild=guild))
        assert sorted(c["name"] for c in fake.commands()) == ["Report to admins", "coc"]
        client.add_view(Card())

        target = fake.send_message(GENERAL, BOB, "the words that hurt")
        opened = fake.message_command(ALICE, "Report to admins", target.id)
        assert runner.next_event("target") == "the words that hurt"  # resolved message carries content
        modal = fake.wait_for_response(opened)
        assert modal["type"] == 9 and modal["data"]["title"] == "Report to admins"
        submitted = fake.submit_modal(opened, values={ReportModal.note.custom_id: "it keeps happening"})
        assert runner.next_event("submitted") == "it keeps happening"
        assert fake.wait_for_response(submitted)["type"] == 4
        [confirmation] = fake.ephemerals_to(ALICE)
        assert confirmation.content == "Thank you. The admins have it."
        assert confirmation not in fake.visible_to(BOB)

        async def post_card() -> None:
            channel = client.get_channel(int(ADMINS))
            assert isinstance(channel, discord.TextChannel)
            await channel.send("Case 1", view=Card())

        runner.call(post_card)
        [card] = fake.bot_messages(ADMINS)
        assert component_labels(card.components) == ["Acknowledge"]
        click = fake.click(MOD, card.id, "card:ack")
        assert fake.wait_for_response(click)["type"] == 7
        fake.wait_for(lambda: fake.message(card.id).content == "Acknowledged.")
        assert fake.message(card.id).components == []

        command = fake.slash_command(
            ALICE, "coc", [subcommand("report", option("text", "hello"))], channel_id=GENERAL
        )
        fake.wait_for(lambda: command.followups or None)
        assert fake.wait_for_response(command)["type"] == 5
        assert [m.content for m in fake.ephemerals_to(ALICE)][-1] == "Noted: hello"

        # a second answer to the same interaction is refused, as Discord does (40060)
        async def again() -> int:
            with pytest.raises(discord.HTTPException) as refused:
                await client.http.request(
                    discord.http.Route(
                        "POST",
                        "/interactions/{webhook_id}/{webhook_token}/callback",
                        webhook_id=click.id,
                        webhook_token=click.token,
                    ),
                    json={"type": 6},
                )
            return refused.value.code

        assert runner.call(again) == 40060
    finally:
        runner.stop()
