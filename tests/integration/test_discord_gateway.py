"""The desk's Discord connection: only the intents it needs, its commands, a dropped gateway
connection resumed with nothing lost, its own messages ignored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.discord_harness import REPORTER, SUBJECT, TALK, Harness, harness
from tests.support.fake_discord import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
)

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def test_it_asks_only_for_the_intents_it_needs(h: Harness) -> None:
    (identify,) = h.fake.identifies
    assert identify["intents"] == (
        INTENT_GUILDS | INTENT_GUILD_MESSAGES | INTENT_GUILD_MESSAGE_REACTIONS | INTENT_DIRECT_MESSAGES
    )
    assert h.fake.connections == ["/gateway"]


def test_it_registers_coc_and_the_message_menu_command_for_the_server(h: Harness) -> None:
    commands = {c["name"]: c for c in h.fake.commands()}
    assert set(commands) == {"coc", "Report to admins"}
    assert commands["coc"]["type"] == 1 and commands["Report to admins"]["type"] == 3
    assert h.fake.commands("global") == []  # nothing outside the server it looks after


def test_a_dropped_connection_is_resumed_and_what_came_meanwhile_is_handled(h: Harness) -> None:
    h.fake.drop_connection()
    # while the bot is away, a member writes to it: Discord keeps the event for the resume
    h.fake.send_dm(REPORTER, f"<@{SUBJECT}> keeps making jokes about my accent")
    h.fake.wait_for(lambda: h.fake.resumes or None, 30, "a RESUME")
    (resume,) = h.fake.resumes
    assert resume["accepted"] and resume["path"] == "/resume"
    assert len(h.fake.identifies) == 1  # resumed, not a new session
    h.fake.wait_for(lambda: h.dm_texts(REPORTER) or None, 15, "the answer")
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(PersonRef("discord", SUBJECT))
    # and it goes on working: the next report is confirmed and carded
    h.report()
    assert h.case(h.latest_case_id()).reports[-1].message_id == h.target.id
    assert h.card_text(h.latest_case_id())


def test_its_own_messages_trigger_nothing(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    h.step(case_id, "remind")
    calls = len(h.fake.calls)
    (reply,) = h.fake.bot_messages(TALK)
    # Discord echoes the bot's own messages to it: editing its reply must not loop back
    h.fake.edit_message(reply.id, reply.content + " (edited)")
    h.dm_desk(REPORTER, "hello?")  # handled after the echo: the desk has caught up
    assert [c.route for c in h.fake.calls[calls:] if "/channels/" + TALK in c.path] == []


def test_a_paused_listener_leaves_the_gateway_but_its_steps_still_work(h: Harness) -> None:
    """Another replica took the listener's lease: this one closes its gateway connection at
    once, still takes steps (they are REST calls), and listens again when it gets the lease
    back."""
    h.adapter.pause()
    h.fake.wait_for(lambda: h.fake._live_session() is None or None, 15, "the gateway closed")
    h.fake.send_dm(REPORTER, f"<@{SUBJECT}> said something cruel")  # for the replica listening
    assert h.adapter.platform.send_dm(PersonRef("discord", REPORTER), "a word from the desk") \
        .status.value == "done"
    assert h.dm_texts(REPORTER) == ["a word from the desk"]
    h.adapter.start()
    assert h.adapter.transport.ready.wait(15)
    h.report()  # listening again: the next report is confirmed and carded
    assert h.card_text(h.latest_case_id())
