"""Socket Mode: the app connects out to Slack over a WebSocket (faked on loopback) and works
the same as over HTTP — envelopes acknowledged, reports filed once, commands answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.support.fake_slack import FakeSlack
from tests.support.polling import wait_for
from tests.support.slack_harness import (
    ADMIN,
    ADMINS,
    BOT_TOKEN,
    REPORTER,
    SAID,
    SUBJECT,
    TALK,
    channel_message,
    event_body,
    manifest_bot_scopes,
    reactions_policy,
)

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.domain.errors import DeskError
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.slack import SlackAdapter, SlackSettings, configure
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.leases import TTL, LeaseKeeper, Listener
from conduct_desk.storage.leases import SqlLeases

APP_TOKEN = "xapp-1-AFAKEAPP01-1-test"
@pytest.fixture
def policy() -> Policy:
    """These tests use reactions as Slack's simplest event: reaction intake is on."""
    return reactions_policy()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(tokens={BOT_TOKEN}, app_tokens={APP_TOKEN}, scopes=manifest_bot_scopes()) as f:
        for user, name in ((SUBJECT, "sam"), (REPORTER, "rae"), (ADMIN, "ada")):
            f.add_user(user, name, real_name=name.capitalize() + " Example")
        f.add_channel(TALK, "talk", members=[SUBJECT, REPORTER])
        f.add_channel(ADMINS, "admins", members=[ADMIN], is_private=True)
        yield f


def connect(app: App, fake: FakeSlack, app_token: str = APP_TOKEN) -> SlackAdapter:
    settings = SlackSettings(bot_token=BOT_TOKEN, app_token=app_token, admin_channel=ADMINS,
                             admins=f"{ADMIN}:admin", api_url=fake.base_url)
    adapter = configure(app, settings)
    assert adapter is not None
    app.desk.platforms["slack"] = adapter.platform
    app.adapters.append(adapter)
    adapter.start()
    return adapter


@pytest.fixture
def socket_app(app: App, fake: FakeSlack) -> Iterator[SlackAdapter]:
    adapter = connect(app, fake)
    try:
        yield adapter
    finally:
        adapter.stop()


def _cases(app: App) -> list[int]:
    with app.uow() as uow:
        return uow.cases.case_ids_for(PersonRef("slack", SUBJECT))


def _events_api(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return dict(json.loads(event_body(event, event_id)))


def test_the_app_connects_with_its_app_token(fake: FakeSlack, socket_app: SlackAdapter) -> None:
    fake.socket.wait_for_connections(1)
    (opened,) = fake.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN  # the bot token never opens connections
    # once connected, the admins read that commands are heard
    (said,) = [m.text for m in fake.messages(ADMINS)]
    assert "Conduct Desk is listening here" in said and "`/coc help`" in said


def test_a_reaction_over_socket_mode_files_one_report_even_when_redelivered(
        app: App, fake: FakeSlack, socket_app: SlackAdapter) -> None:
    ts = fake.add_message(TALK, SAID, user=SUBJECT)
    fake.socket.wait_for_connections(1)
    event = {"type": "reaction_added", "user": REPORTER, "reaction": "triangular_flag_on_post",
             "item_user": SUBJECT, "item": {"type": "message", "channel": TALK, "ts": ts},
             "event_ts": "1700000001.000200"}
    first = fake.socket.send("events_api", _events_api(event, "Ev0SOCKET01"))
    assert fake.socket.wait_for_ack(first) == {"envelope_id": first}
    (case_id,) = wait_for(lambda: _cases(app), "a case for the reaction", timeout=10)
    # the desk said it listens; then the reporter's thanks and the card
    thanks = fake.wait_for_calls("chat.postMessage", 3)
    assert any(c.params.get("channel") == fake.dm_channel_id(REPORTER)
               and f"case {case_id}" in str(c.params.get("text")) for c in thanks)

    # Slack redelivers an envelope it thinks was lost: acknowledged, not filed twice
    again = fake.socket.send("events_api", _events_api(event, "Ev0SOCKET01"), retry_attempt=1)
    fake.socket.wait_for_ack(again)
    marker = fake.socket.send("events_api", _events_api(
        channel_message("later", ts="1700000002.000100"), "Ev0SOCKET02"))
    fake.socket.wait_for_ack(marker)
    with app.uow() as uow:
        assert len(uow.cases.get(case_id).reports) == 1


def test_plain_channel_messages_are_acknowledged_and_change_nothing(
        app: App, fake: FakeSlack, socket_app: SlackAdapter) -> None:
    fake.socket.wait_for_connections(1)
    before = len(fake.calls)
    envelopes = [fake.socket.send("events_api", _events_api(
        channel_message(f"hello {n}", ts=f"1700000003.{n:06d}"), f"Ev0PLAIN{n:03d}"))
        for n in range(20)]
    for envelope in envelopes:
        assert fake.socket.wait_for_ack(envelope) == {"envelope_id": envelope}
    assert len(fake.calls) == before and _cases(app) == []


def test_slash_commands_are_answered_in_the_acknowledgement(
        fake: FakeSlack, socket_app: SlackAdapter) -> None:
    fake.socket.wait_for_connections(1)
    payload = {"token": "legacy", "team_id": fake.team_id, "channel_id": ADMINS,
               "user_id": ADMIN, "command": "/coc", "text": "take twelve",
               "trigger_id": "trig.socket", "response_url": "https://hooks.slack.invalid/c/1"}
    envelope = fake.socket.send("slash_commands", payload, accepts_response_payload=True)
    answer = fake.socket.wait_for_ack(envelope)
    assert answer["envelope_id"] == envelope
    assert "'twelve' is not a case number" in answer["payload"]["text"]


def test_after_slack_asks_it_to_reconnect_the_app_keeps_working(
        app: App, fake: FakeSlack, socket_app: SlackAdapter) -> None:
    fake.socket.wait_for_connections(1)
    fake.socket.disconnect()
    fake.socket.wait_for_connections(2)
    assert len(fake.calls_to("apps.connections.open")) == 2
    envelope = fake.socket.send("slash_commands", {
        "team_id": fake.team_id, "channel_id": ADMINS, "user_id": ADMIN, "command": "/coc",
        "text": "help", "trigger_id": "trig.2"}, accepts_response_payload=True)
    assert "/coc report" in fake.socket.wait_for_ack(envelope)["payload"]["text"]


@pytest.mark.parametrize(("token", "says"), [
    ("xapp-1-wrong", "(invalid_auth): check CONDUCT_SLACK_APP_TOKEN"),
    (BOT_TOKEN, "(not_allowed_token_type): CONDUCT_SLACK_APP_TOKEN must be the app-level"),
])
def test_a_refused_app_token_is_one_clear_error(app: App, fake: FakeSlack, token: str,
                                                says: str) -> None:
    with pytest.raises(DeskError) as refused:
        connect(app, fake, app_token=token)
    assert str(refused.value).startswith("Slack refused a Socket Mode connection")
    assert says in str(refused.value)
    assert token not in str(refused.value)  # secrets are never echoed


def test_two_replicas_one_socket_the_heir_takes_the_listener_and_files_nothing_twice(
        app: App, engine: Engine, clock: FakeClock, policy: Policy, fake: FakeSlack) -> None:
    """Two replicas on one database: only the lease holder opens a Socket Mode connection;
    when its lease is taken over it closes that connection at its next renewal, and an
    envelope Slack delivers again to the heir is taken in once."""
    settings = SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN, admin_channel=ADMINS,
                             admins=f"{ADMIN}:admin", api_url=fake.base_url)
    keepers = []
    for replica_app in (app, bootstrap(app.settings, engine=engine, policy=policy, clock=clock,
                                       platforms={})):
        adapter = configure(replica_app, settings)
        assert adapter is not None
        replica_app.desk.platforms["slack"] = adapter.platform
        keepers.append((LeaseKeeper(SqlLeases(engine), clock, f"replica-{len(keepers)}",
                                    Listener("listener:slack", adapter.start, adapter.pause)),
                        adapter))
    (holder, adapter_a), (heir, adapter_b) = keepers
    try:
        assert holder.tick() is not None and heir.tick() is None
        fake.socket.wait_for_connections(1)
        ts = fake.add_message(TALK, SAID, user=SUBJECT)
        event = {"type": "reaction_added", "user": REPORTER, "reaction": "triangular_flag_on_post",
                 "item_user": SUBJECT, "item": {"type": "message", "channel": TALK, "ts": ts},
                 "event_ts": "1700000001.000200"}
        fake.socket.wait_for_ack(fake.socket.send("events_api", _events_api(event, "Ev0TAKE01")))
        (case_id,) = wait_for(lambda: _cases(app), "a case for the reaction", timeout=10)

        clock.advance(TTL)  # the holder stops renewing (killed, or paused)
        assert heir.tick() is not None
        fake.socket.wait_for_connections(2)
        assert holder.tick() is None  # its renewal is refused: it stops listening
        wait_for(lambda: fake.socket.sockets() == 1 or None, "the holder's socket closed")
        again = fake.socket.send("events_api", _events_api(event, "Ev0TAKE01"), retry_attempt=1)
        fake.socket.wait_for_ack(again)  # to the heir
        marker = fake.socket.send("events_api", _events_api(
            channel_message("later", ts="1700000002.000100"), "Ev0TAKE02"))
        fake.socket.wait_for_ack(marker)
        with app.uow() as uow:
            assert len(uow.cases.get(case_id).reports) == 1
    finally:
        for keeper, adapter in keepers:
            keeper.release()
            adapter.stop()
