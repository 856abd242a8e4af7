"""The bot restarts in the middle of a suspension: the account is still given back, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from tests.support.matrix_world import World, wait_for
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)

from conduct_desk.domain.policy import Action, Policy
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock


def test_restore_happens_once_after_a_restart(world: World, engine: Engine, clock: FakeClock,
                                              policy: Policy) -> None:
    app, adapter = world.app(engine, clock, policy)
    said = world.bob.client.send_text(world.lobby, "I will find where you live")
    world.cara.client.report_event(world.lobby, said, "threat")
    wait_for(lambda: world.card(1), "the card")
    answer = world.ask("!coc step 1 suspend --duration 24h --reason a threat, no warm-up")
    assert ": done" in answer, answer
    assert world.bob.client.send_text_raw(world.lobby, "hm").json()["errcode"] == "M_USER_SUSPENDED"

    adapter.stop()  # the bot goes away mid-suspension
    world.adapters.remove(adapter)
    clock.advance(timedelta(hours=24, minutes=1))
    app2, adapter2 = world.app(engine, clock, policy)
    assert app2.bus.handle(commands.RunDueTimers("worker-2")) >= 1
    world.bob.client.send_text(world.lobby, "I'm sorry")  # accepted again

    # neither the old process nor another round restores a second time
    app.bus.handle(commands.RunDueTimers("worker-1"))
    app2.bus.handle(commands.RunDueTimers("worker-2"))
    with app2.uow() as uow:
        steps = uow.cases.get(1).steps
    assert [s.action for s in steps] == [Action.SUSPEND, Action.RESTORE]
    back = [t for t in world.dm_texts(world.bob) if t.startswith("Welcome back")]
    assert len(back) == 1, world.dm_texts(world.bob)


def _answers_to(world: World, event_id: str) -> list[str]:
    return [str(e["content"].get("body", ""))
            for e in world.ana.client.messages(world.management, limit=50)
            if e.get("sender") == world.bot.user_id and e.get("content", {}).get(
                "m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id]


def _listening(world: World) -> int:
    return sum(1 for e in world.ana.client.messages(world.management, limit=50)
               if e.get("sender") == world.bot.user_id
               and str(e.get("content", {}).get("body", "")).startswith(
                   "Conduct Desk is listening here"))


def test_a_command_typed_before_the_bot_listens_is_answered_once(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    # a first start: the command was typed before the desk ever synced
    early = world.ana.client.send_text(world.management, "!coc list")
    app, adapter = world.app(engine, clock, policy)
    assert wait_for(lambda: _answers_to(world, early), "the answer to the early command") == [
        "No open cases."]
    wait_for(lambda: _listening(world) == 1, "the bot to say it listens")

    # a restart: a command typed while the bot is away is answered when it is back, once
    adapter.stop()
    world.adapters.remove(adapter)
    away = world.ana.client.send_text(world.management, "!coc help")
    app2, adapter2 = world.app(engine, clock, policy)
    wait_for(lambda: _answers_to(world, away), "the answer to the command typed while away")
    wait_for(lambda: _listening(world) == 2, "the bot to say it listens again")
    rounds = adapter2.rounds
    wait_for(lambda: adapter2.rounds > rounds + 2, "a few more sync rounds")
    assert len(_answers_to(world, away)) == 1 and len(_answers_to(world, early)) == 1
    # and a third start, with nothing typed meanwhile, answers nothing again
    adapter2.stop()
    world.adapters.remove(adapter2)
    world.app(engine, clock, policy)
    wait_for(lambda: _listening(world) == 3, "the bot to say it listens a third time")
    assert len(_answers_to(world, away)) == 1 and len(_answers_to(world, early)) == 1
