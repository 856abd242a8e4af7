"""Slack's rules: signatures and the replay window, retried deliveries, rate limits, refusals."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from tests.support.slack_harness import (
    ADMINS,
    OTHER,
    REPORTER,
    SECRET,
    SUBJECT,
    TALK,
    Harness,
    channel_message,
    event_body,
    harness,
    manifest_bot_scopes,
    reactions_policy,
)

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import StepStatus
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.slack import SlackSettings, configure, form_body, sign
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def policy() -> Policy:
    """These tests use reactions as Slack's simplest event: reaction intake is on."""
    return reactions_policy()


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def _reaction(h: Harness) -> dict[str, object]:
    return {"type": "reaction_added", "user": REPORTER, "reaction": "triangular_flag_on_post",
            "item_user": SUBJECT, "item": {"type": "message", "channel": TALK, "ts": h.message_ts},
            "event_ts": "1700000001.000200"}


# -- signatures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["event", "interaction"])
def test_bad_signatures_and_stale_timestamps_are_refused(h: Harness, kind: str) -> None:
    if kind == "event":
        body, content_type = event_body(_reaction(h), "EvSIGNED01"), "application/json"
    else:
        body = form_body({"type": "block_actions", "user": {"id": REPORTER},
                          "actions": [{"action_id": "case_take", "value": "1"}]})
        content_type = "application/x-www-form-urlencoded"
    assert h.send(body, content_type, secret="not-the-secret")[0] == 401
    assert h.send(body, content_type, timestamp=int(time.time()) - 6 * 60)[0] == 401
    assert h.send(body + b" ", content_type, headers=sign(SECRET, body))[0] == 401
    assert not h.fake.calls, "nothing reached Slack"
    with h.app.uow() as uow:
        assert uow.cursors.get("slack:event:EvSIGNED01") is None


def test_url_verification(h: Harness) -> None:
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "c-123"}).encode()
    status, _, answer = h.send(body, "application/json")
    assert status == 200 and b"c-123" in answer


# -- retried deliveries --------------------------------------------------------------------------


def test_a_retried_delivery_is_not_filed_twice(h: Harness) -> None:
    assert h.event(_reaction(h), event_id="EvRETRY001") == 200
    assert h.event(_reaction(h), event_id="EvRETRY001", retry=1) == 200
    assert h.event(_reaction(h), event_id="EvRETRY001", retry=2) == 200
    case = h.case(h.latest_case_id())
    assert len(case.reports) == 1
    assert len(h.dm_texts(REPORTER)) == 1
    assert h.cursor("slack:event:EvRETRY001") == h.clock.now().isoformat()


def test_event_ids_are_remembered_for_a_day_then_let_go(h: Harness) -> None:
    assert h.event(_reaction(h), event_id="EvOLD00001") == 200
    h.clock.advance(timedelta(days=2))
    other = {**_reaction(h), "user": OTHER}
    assert h.event(other, event_id="EvNEW00001") == 200
    assert h.cursor("slack:event:EvOLD00001") is None
    assert h.cursor("slack:event:EvNEW00001") is not None


def test_a_retried_dm_is_not_filed_twice(h: Harness) -> None:
    dm = {"type": "message", "channel": h.fake.dm_channel_id(REPORTER), "channel_type": "im",
          "user": REPORTER, "text": f"<@{SUBJECT}> again", "ts": "1700000003.000100"}
    h.event(dm, event_id="EvDM000001")
    h.event(dm, event_id="EvDM000001", retry=1)
    subject = h.case(h.latest_case_id()).subject
    with h.app.uow() as uow:
        assert len(uow.cases.case_ids_for(subject)) == 1


# -- the hot path --------------------------------------------------------------------------------


def test_plain_channel_messages_touch_neither_slack_nor_the_database(h: Harness) -> None:
    h.adapter.chat.watched()  # the watch list is read at most every few seconds
    before = len(h.fake.calls)
    for i in range(20):
        assert h.event(channel_message(f"hello {i}", ts=f"1700000100.{i:06d}")) == 200
    assert len(h.fake.calls) == before
    assert h.transport.ignorable(json.loads(event_body(channel_message("hi"), "Ev1")))
    assert not h.transport.ignorable(json.loads(event_body(_reaction(h), "Ev2")))


# -- rate limits and refusals --------------------------------------------------------------------


def test_ratelimited_keeps_the_step_and_the_timer_retries_it(h: Harness) -> None:
    case_id = h.report()
    h.fake.fail_next("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "120"})
    assert h.step(case_id, "remind") == (200, {})
    (step,) = h.case(case_id).steps
    assert step.status is StepStatus.FAILED and "ratelimited" in (step.detail or "")
    assert "120s" in (step.detail or "")
    # not before Retry-After
    h.run_timers(timedelta(seconds=90))
    assert h.case(case_id).steps[0].status is StepStatus.FAILED
    h.run_timers(timedelta(seconds=31))
    step = h.case(case_id).steps[0]
    assert step.status is StepStatus.DONE and step.attempts == 2
    assert h.fake.calls_to("chat.postMessage")[-1].params["thread_ts"] == h.message_ts


def test_a_card_slack_refuses_for_a_moment_catches_up_with_the_case(h: Harness) -> None:
    case_id = h.report()
    card_ts = h.cursor(f"slack:card:{case_id}")
    h.fake.fail_next("chat.update", "ratelimited", status=429, headers={"Retry-After": "1"})
    assert "yours" in h.command(f"take {case_id}")

    def card_says_taken() -> bool:
        card = next(m for m in h.fake.messages(ADMINS) if m.ts == card_ts)
        return "Taken by" in json.dumps(card.blocks)

    assert not card_says_taken()  # not claimed as updated
    h.run_timers()
    assert not card_says_taken()  # not before Slack's Retry-After
    h.run_timers(timedelta(seconds=1))
    assert card_says_taken(), "the card updated once Slack allowed it"
    assert [c.params["ts"] for c in h.fake.calls_to("chat.update")] == [card_ts, card_ts]


@pytest.mark.parametrize(("method", "error", "words"), [
    ("conversations.kick", "not_in_channel", "invite the app"),
    ("conversations.kick", "cant_kick_self", "remove itself"),
    ("conversations.kick", "user_not_found", "does not know that user"),
    ("conversations.kick", "missing_scope", "lacks the scope channels:manage"),
])
def test_refusals_are_recorded_and_shown(h: Harness, method: str, error: str, words: str) -> None:
    case_id = h.report()
    h.fake.fail_next(method, error)
    h.step(case_id, "remove", reason="the thread is getting worse")
    step = h.case(case_id).steps[0]
    assert step.status is StepStatus.FAILED and error in (step.detail or "")
    assert words in (step.detail or "")
    # not retryable: the admins are told at once, under the case's card, and the card shows it
    card_ts = h.cursor(f"slack:card:{case_id}")
    told = [m.text for m in h.fake.messages(ADMINS) if m.thread_ts == card_ts]
    assert any(error in t and "needs you" in t for t in told)
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == card_ts)
    assert words in json.dumps(card.blocks)
    with h.app.uow() as uow:
        assert not [t for t in uow.timers.pending(case_id) if t.kind == "run-step"]


def test_scim_rate_limit_is_retried(h: Harness) -> None:
    case_id = h.report(flagrant=True)
    h.command(f"consult {case_id} none nobody to ask")
    h.fake.fail_next("scim.v2.Users.patch", "Too many requests", status=429,
                     headers={"Retry-After": "60"})
    h.step(case_id, "ban")
    assert h.case(case_id).steps[0].status is StepStatus.FAILED
    h.run_timers(timedelta(minutes=2))
    assert h.case(case_id).steps[0].status is StepStatus.DONE
    user = h.fake.get_user(SUBJECT)
    assert user is not None and user.deleted


# -- transports and settings ---------------------------------------------------------------------


def test_asgi_handler(h: Harness) -> None:
    body = event_body(channel_message("hi"), "EvASGI0001")

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=h.transport.http_handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk") as client:
            return await client.post("/slack/events", content=body, headers={
                "Content-Type": "application/json", **sign(SECRET, body)})

    assert asyncio.run(post()).status_code == 200


def test_standalone_http_server(app: App, clock: FakeClock) -> None:
    with harness(app, clock) as h:
        h.adapter.settings.http_port = 0
        h.adapter.start()
        url = f"http://127.0.0.1:{h.adapter.http_port}/slack/events"
        body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", **sign(SECRET, body)})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200 and b"abc" in response.read()
        assert any("Conduct Desk is listening here" in p for p in h.admin_posts())
        h.adapter.stop()
        assert h.adapter.http_port is None


def test_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: App) -> None:
    assert configure(app, SlackSettings()) is None
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    settings = SlackSettings(bot_token_file=secret, admins="U1:admin, U2=observer U3")
    assert settings.secret("bot_token") == "from-a-file"
    assert {u: a.role for u, a in settings.admin_list().items()} == {
        "U1": Role.ADMIN, "U2": Role.OBSERVER, "U3": Role.MODERATOR}
    assert "from-a-file" not in repr(SlackSettings(bot_token="from-a-file"))
    with pytest.raises(InvalidInput, match="SIGNING_SECRET"):
        configure(app, SlackSettings(bot_token="xoxb-1", admin_channel="C1"))
    with pytest.raises(InvalidInput, match="ADMIN_CHANNEL"):
        configure(app, SlackSettings(bot_token="xoxb-1", signing_secret="s"))
    with pytest.raises(InvalidInput, match="role"):
        SlackSettings(admins="U1:owner").admin_list()
    with pytest.raises(InvalidInput, match="not a slack user id"):
        SlackSettings(admins="@ana:example.org").admin_list()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(InvalidInput, match="CONDUCT_SLACK_BOT_TOKEN_FILE: .* is empty"):
        SlackSettings(bot_token_file=empty).secret("bot_token")
    # through bootstrap and the environment, as `conduct serve` does
    monkeypatch.setenv("CONDUCT_SLACK_BOT_TOKEN", "xoxb-env")
    monkeypatch.setenv("CONDUCT_SLACK_SIGNING_SECRET", "env-secret")
    monkeypatch.setenv("CONDUCT_SLACK_ADMIN_CHANNEL", "C0ADMINS01")
    wired = bootstrap(Settings(database_url=app.settings.database_url), engine=app.engine,
                      policy=app.desk.policy, clock=app.desk.clock, with_adapters=True)
    assert "slack" in wired.desk.platforms and len(wired.adapters) == 1
    # the settings read names in any case: so does the check that skips an unset platform
    for name in ("BOT_TOKEN", "SIGNING_SECRET", "ADMIN_CHANNEL"):
        monkeypatch.setenv(f"conduct_slack_{name.lower()}", os.environ[f"CONDUCT_SLACK_{name}"])
        monkeypatch.delenv(f"CONDUCT_SLACK_{name}")
    wired = bootstrap(Settings(database_url=app.settings.database_url), engine=app.engine,
                      policy=app.desk.policy, clock=app.desk.clock, with_adapters=True)
    assert "slack" in wired.desk.platforms and len(wired.adapters) == 1
    for name in ("BOT_TOKEN", "SIGNING_SECRET", "ADMIN_CHANNEL"):
        monkeypatch.delenv(f"conduct_slack_{name.lower()}")
    wired = bootstrap(Settings(database_url=app.settings.database_url), engine=app.engine,
                      policy=app.desk.policy, clock=app.desk.clock, with_adapters=True)
    assert "slack" not in wired.desk.platforms and not wired.adapters


def test_the_manifest_asks_for_exactly_the_scopes_used() -> None:
    assert manifest_bot_scopes() == {
        "chat:write", "im:write", "im:history", "channels:history", "groups:history",
        "channels:manage", "groups:write", "groups:read", "channels:read", "reactions:read",
        "users:read", "commands"}


class _SocketClient:
    def __init__(self) -> None:
        self.responses: list[SocketModeResponse] = []
        self.logger = logging.getLogger("socket-test")

    def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.responses.append(response)


def test_socket_mode_requests_take_the_same_paths(h: Harness) -> None:
    h.transport._socket = SocketModeHandler(h.transport.bolt, "xapp-test")  # not connected
    client = _SocketClient()
    calls = len(h.fake.calls)
    plain = json.loads(event_body(channel_message("hi"), "EvSOCK0001"))
    h.transport._socket_handle(client, SocketModeRequest("events_api", "env-1", plain))
    assert [r.envelope_id for r in client.responses] == ["env-1"]
    assert len(h.fake.calls) == calls
    report = json.loads(event_body(_reaction(h), "EvSOCK0002"))
    h.transport._socket_handle(client, SocketModeRequest("events_api", "env-2", report,
                                                       retry_attempt=None))
    assert [r.envelope_id for r in client.responses] == ["env-1", "env-2"]
    assert len(h.case(h.latest_case_id()).reports) == 1
    h.transport._socket_handle(client, SocketModeRequest("events_api", "env-3", report,
                                                       retry_attempt=1, retry_reason="timeout"))
    assert len(h.case(h.latest_case_id()).reports) == 1
    h.transport._socket = None
