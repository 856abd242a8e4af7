"""The bot restarts in the middle of a suspension: the account is still given back, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from tests.support.matrix_world import World, wait_for

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
