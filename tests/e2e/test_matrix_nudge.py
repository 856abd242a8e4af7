"""The peer step on Matrix: a private word to the author, and what happens next."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.engine import Engine
from tests.support.matrix_world import World, wait_for
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)

from conduct_desk.domain.policy import Policy
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import CaseFilter


def _nudge_state(app: object, nudge_id: int) -> str:
    with app.uow() as uow:  # type: ignore[attr-defined]
        item = uow.nudges.get(nudge_id)
        uow.commit()
    return str(item.state)


def test_nudge_answered_by_an_edit_a_redaction_or_an_apology_the_reporter_finds_enough(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    app, adapter = world.app(engine, clock, policy)
    bob, cara = world.bob, world.cara
    first = bob.client.send_text(world.lobby, "only idiots use that editor")
    dm = cara.client.create_room(invite=[world.bot.user_id], is_direct=True)
    wait_for(lambda: world.bot.user_id in cara.client.joined_members(dm), "the bot to join")
    cara.client.send_text(dm, f"!nudge https://matrix.to/#/{world.lobby}/{first}")
    wait_for(lambda: any("written to them privately" in t
                         for t in cara.texts_from(dm, world.bot.user_id)),
             "the bot's answer to the nudge request")
    nudge_text = world.dm_texts(bob)[-1]
    assert "only idiots use that editor" in nudge_text and cara.user_id not in nudge_text

    # bob edits the message: the nudge is answered and cara hears so; no case opens
    bob.client.call("PUT", f"/_matrix/client/v3/rooms/{world.lobby}/send/m.room.message/e1", json={
        "msgtype": "m.text", "body": "* that editor isn't for me",
        "m.new_content": {"msgtype": "m.text", "body": "that editor isn't for me"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": first},
    })
    wait_for(lambda: _nudge_state(app, 1) == "answered", "the edit to answer the nudge")
    wait_for(lambda: any("edited the message" in t for t in cara.texts_from(dm, world.bot.user_id)),
             "cara to hear about the edit")

    # a second nudge answered by a redaction
    second = bob.client.send_text(world.lobby, "typical of your kind")
    cara.client.send_text(dm, f"!nudge https://matrix.to/#/{world.lobby}/{second}")
    wait_for(lambda: len(world.dm_texts(bob)) >= 3, "the second private word")
    bob.client.call("PUT", f"/_matrix/client/v3/rooms/{world.lobby}/redact/{second}/x2", json={})
    wait_for(lambda: _nudge_state(app, 2) == "answered", "the redaction to answer the nudge")

    # a third: words that look like an apology are shown to cara and close nothing by
    # themselves; cara may say they are enough
    third = bob.client.send_text(world.lobby, "whatever, snowflake")
    cara.client.send_text(dm, f"!nudge https://matrix.to/#/{world.lobby}/{third}")
    wait_for(lambda: len(world.dm_texts(bob)) >= 5, "the third private word")
    bob.client.send_text(world.lobby, "sorry cara, that was out of line")
    wait_for(lambda: any("that was out of line" in t and "enough" in t
                         for t in cara.texts_from(dm, world.bot.user_id)),
             "cara to see what bob wrote")
    assert _nudge_state(app, 3) == "waiting"
    cara.client.send_text(dm, "enough")
    wait_for(lambda: _nudge_state(app, 3) == "answered", "cara's `enough` to close the nudge")
    with app.uow() as uow:
        assert uow.cases.count(CaseFilter()) == 0


def test_unanswered_nudge_becomes_a_case(world: World, engine: Engine, clock: FakeClock,
                                         policy: Policy) -> None:
    # asked for with the nudge reaction, which this policy turns on ([intake] reactions)
    app, adapter = world.app(engine, clock, replace(policy, reactions=True))
    said = world.bob.client.send_text(world.lobby, "go back where you came from")
    world.cara.client.call("PUT", f"/_matrix/client/v3/rooms/{world.lobby}/send/m.reaction/n1",
                           json={"m.relates_to": {"rel_type": "m.annotation", "event_id": said,
                                                  "key": "🕊"}})
    wait_for(lambda: world.dm_texts(world.bob), "the private word")
    clock.advance(policy.peer_wait + timedelta(minutes=1))
    app.bus.handle(commands.RunDueTimers("test"))
    card = wait_for(lambda: world.card(1), "the card of the case the nudge became")
    assert "go back where you came from" in card
    with app.uow() as uow:
        report = uow.cases.get(1).reports[0]
    assert report.note is not None and "private word" in report.note
