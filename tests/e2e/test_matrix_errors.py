"""Homeserver errors: recorded on the step, shown to the admins, retried where it helps."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.support.matrix_world import World, wait_for
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)

from conduct_desk.domain.model import StepStatus
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.matrix import MatrixFailure
from conduct_desk.service import commands
from conduct_desk.service.chat.inputs import CommandTyped
from conduct_desk.service.clock import FakeClock


def test_missing_power_level_is_recorded_and_shown(world: World, engine: Engine, clock: FakeClock,
                                                   policy: Policy) -> None:
    ana, bob = world.ana, world.bob
    ana.client.set_power_level(world.lobby, world.bot.user_id, 0)  # the bot may not kick
    app, adapter = world.app(engine, clock, policy)
    said = bob.client.send_text(world.lobby, "get lost")
    world.cara.client.report_event(world.lobby, said, "")
    wait_for(lambda: world.card(1), "the card")

    answer = world.ask("!coc step 1 remove --reason he was told twice already")
    assert ": failed" in answer and "M_FORBIDDEN" in answer and "power level" in answer, answer
    assert bob.user_id in ana.client.joined_members(world.lobby)
    with app.uow() as uow:
        step = uow.cases.get(1).steps[0]
    assert step.status is StepStatus.FAILED and step.detail and "M_FORBIDDEN" in step.detail
    # the admins are told without asking, and the card shows it
    notices = [e["content"].get("body", "") for e in ana.client.messages(world.management, limit=30)
               if e["sender"] == world.bot.user_id]
    assert any("step remove needs you" in n for n in notices)
    wait_for(lambda: "remove: failed" in (world.card(1) or ""), "the card to show the failure")

    # once the power level is fixed, the admin retries from the room
    ana.client.set_power_level(world.lobby, world.bot.user_id, 50)
    answer = world.ask(f"!coc retry 1 {step.id}")
    assert ": done" in answer, answer
    assert bob.user_id not in ana.client.joined_members(world.lobby)


def test_rate_limit_is_retried_after_the_servers_wait(world: World, engine: Engine,
                                                      clock: FakeClock, policy: Policy) -> None:
    app, adapter = world.app(engine, clock, policy)
    said = world.bob.client.send_text(world.lobby, "nobody wants you here")
    world.cara.client.report_event(world.lobby, said, "")
    wait_for(lambda: world.card(1), "the card")
    noise = world.bot.client.create_room(name="noise")  # the bot's own room, nobody reads it
    override = f"/_synapse/admin/v1/users/{world.bot.user_id}/override_ratelimit"
    world.server_admin.client.call("POST", override,
                                   json={"messages_per_second": 1, "burst_count": 1})
    # While the step runs, the bot's own account keeps its one-message bucket empty, so the
    # step's reply meets M_LIMIT_EXCEEDED however slowly this machine runs (bounded tries).
    stop = threading.Event()

    def drain() -> None:
        for _ in range(2000):
            if stop.is_set():
                return
            world.bot.client.send_text_raw(noise, ".")

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        # The bot cannot answer in the room while limited, so the command goes to the chat
        # desk directly, answered in place: the same parser, permissions and bus.
        answers: list[str] = []
        step = None
        for attempt in range(5):
            answers.append(adapter.chat.handle(CommandTyped(
                world.ana.user_id,
                "step 1 remind" + (f" --reason attempt {attempt}" if attempt else ""))) or "")
            with app.uow() as uow:
                step = uow.cases.get(1).steps[-1]
            if step.status is StepStatus.FAILED:
                break
        assert step is not None and step.status is StepStatus.FAILED, answers
        assert step.detail and "M_LIMIT_EXCEEDED" in step.detail
        with app.uow() as uow:
            retry = [t for t in uow.timers.pending(1) if t.step_id == step.id]
        assert retry, "a rate-limited step is tried again by a timer"
        stop.set()
        drainer.join(timeout=60)
    finally:
        stop.set()
        world.server_admin.client.request("DELETE", override)
    clock.advance(timedelta(hours=1))
    app.bus.handle(commands.RunDueTimers("test"))
    with app.uow() as uow:
        step = uow.cases.get(1).step(step.id)
    assert step.status is StepStatus.DONE and step.attempts == 2


def test_a_card_edit_refused_for_a_moment_catches_up_with_the_case(
        world: World, engine: Engine, clock: FakeClock, policy: Policy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app, adapter = world.app(engine, clock, policy)
    said = world.bob.client.send_text(world.lobby, "get lost")
    world.cara.client.report_event(world.lobby, said, "")
    wait_for(lambda: world.card(1), "the card")
    send, refused = adapter.platform.api.send, []

    def limited_once(room_id: str, content: dict[str, Any], *args: Any) -> str:
        if "m.new_content" in content and not refused:  # the homeserver's rate limit, once
            refused.append(content)
            raise MatrixFailure("M_LIMIT_EXCEEDED", "Too Many Requests", 429,
                                timedelta(milliseconds=300))
        return send(room_id, content, *args)

    monkeypatch.setattr(adapter.platform.api, "send", limited_once)
    assert "is yours" in world.ask("!coc take 1")
    wait_for(lambda: refused, "the homeserver's refusal")
    assert "Taken by ana" not in (world.card(1) or "")  # not claimed as edited

    def caught_up() -> bool:  # kept in the outbox: drawn again by the desk's timers
        clock.advance(timedelta(milliseconds=300))
        app.bus.handle(commands.RunDueTimers(worker="test"))
        return "Taken by ana" in (world.card(1) or "")

    wait_for(caught_up, "the card to catch up")
    assert len(refused) == 1
