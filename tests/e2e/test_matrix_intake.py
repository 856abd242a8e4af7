"""Intake on Matrix: Synapse's reports (read once across restarts), reactions, direct messages."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.engine import Engine
from tests.support.matrix_world import World, wait_for
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)

from conduct_desk.domain.policy import Policy
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import CaseFilter


def test_synapse_reports_are_read_once_across_a_restart(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    app, adapter = world.app(engine, clock, policy)
    first = world.bob.client.send_text(world.lobby, "first unkind thing")
    world.cara.client.report_event(world.lobby, first, "")
    wait_for(lambda: world.card(1), "the first card")

    adapter.stop()  # while the bot is down, two more reports come in
    world.adapters.remove(adapter)
    second = world.bob.client.send_text(world.lobby, "second unkind thing")
    world.cara.client.report_event(world.lobby, second, "again")
    world.ana.client.report_user(world.bob.user_id, "he keeps doing it")
    # a report about a room the desk does not look after is left to the server admins
    elsewhere = world.bob.client.create_room(name="elsewhere", invite=[world.cara.user_id])
    world.cara.client.join(elsewhere)
    world.cara.client.report_event(elsewhere, world.bob.client.send_text(elsewhere, "x"), "")

    app2, adapter2 = world.app(engine, clock, policy)
    wait_for(lambda: world.card(3), "the cards of the reports made while the bot was down")
    rounds = adapter2.rounds  # a few more rounds: nothing is filed twice
    wait_for(lambda: adapter2.rounds > rounds + 3, "three more sync rounds")
    with app2.uow() as uow:
        cases = [uow.cases.get(i) for i in (1, 2, 3)]
        assert uow.cases.count(CaseFilter()) == 3
    assert [len(c.reports) for c in cases] == [1, 1, 1]
    assert cases[0].reports[0].message_text == "first unkind thing"
    assert cases[1].reports[0].note == "again"
    assert cases[2].reports[0].reporter is not None
    assert cases[2].reports[0].reporter.user_id == world.ana.user_id
    assert cases[2].reports[0].note == "he keeps doing it"


def test_a_reaction_reports_privately(world: World, engine: Engine, clock: FakeClock,
                                      policy: Policy) -> None:
    # reaction intake is off by default (a reaction shows who reacted); this policy turns it on
    app, adapter = world.app(engine, clock, replace(policy, reactions=True))
    said = world.bob.client.send_text(world.lobby, "that was a nasty thing to say")
    reaction = world.cara.client.call(
        "PUT", f"/_matrix/client/v3/rooms/{world.lobby}/send/m.reaction/r1",
        json={"m.relates_to": {"rel_type": "m.annotation", "event_id": said, "key": "🚩"}},
    )["event_id"]
    card = wait_for(lambda: world.card(1), "the card")
    assert "that was a nasty thing to say" in card
    thanks = world.dm_texts(world.cara)
    assert any("admins" in t for t in thanks)
    # nothing is said in the room, and the reaction itself is taken away
    bot_lines = [e for e in world.ana.client.messages(world.lobby, limit=20)
                 if e["sender"] == world.bot.user_id and e["type"] == "m.room.message"]
    assert bot_lines == []
    redacted = world.ana.client.call("GET", f"/_matrix/client/v3/rooms/{world.lobby}/event/{reaction}")
    assert redacted.get("content") == {}
    with app.uow() as uow:
        report = uow.cases.get(1).reports[0]
    assert report.reporter is not None and report.reporter.user_id == world.cara.user_id


def test_a_direct_message_reports(world: World, engine: Engine, clock: FakeClock,
                                  policy: Policy) -> None:
    app, adapter = world.app(engine, clock, policy)
    said = world.bob.client.send_text(world.lobby, "you people are all the same")
    dm = world.cara.client.create_room(invite=[world.bot.user_id], is_direct=True)
    wait_for(lambda: world.bot.user_id in world.cara.client.joined_members(dm), "the bot to join")
    world.cara.client.send_text(dm, f"hi, this one: https://matrix.to/#/{world.lobby}/{said}?via=localhost")
    card = wait_for(lambda: world.card(1), "the card")
    assert "you people are all the same" in card
    # the thanks comes in the same room she wrote in
    wait_for(lambda: any("admins" in t for t in world.cara.texts_from(dm, world.bot.user_id)),
             "the thanks in her direct room")

    world.cara.client.send_text(dm, f"also {world.bob.user_id} keeps messaging me")
    wait_for(lambda: world.card(2), "the second card")
    with app.uow() as uow:
        second = uow.cases.get(2)
    assert second.subject.user_id == world.bob.user_id and second.channel is None

    world.cara.client.send_text(dm, "hello?")
    wait_for(lambda: any("send me a link" in t for t in world.cara.texts_from(dm, world.bot.user_id)),
             "the help text")


def test_show_sends_reporters_privately_when_the_person_reported_reads_the_room(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    world.ana.client.invite(world.management, world.bob.user_id)  # bob helps run the room
    world.bob.client.join(world.management)
    app, adapter = world.app(engine, clock, policy)
    said = world.bob.client.send_text(world.lobby, "an unkind thing from an admin")
    world.cara.client.report_event(world.lobby, said, "cara: it is not the first time")
    wait_for(lambda: world.card(1), "the card")

    assert world.ask("!coc show 1") == "I've answered you privately."
    room = " ".join(world.bob.texts_from(world.management, world.bot.user_id))
    assert world.cara.name not in room and "not the first time" not in room
    details = wait_for(lambda: [t for t in world.dm_texts(world.ana) if t.startswith("Case 1 ")],
                       "the details in ana's direct room")
    assert world.cara.name in details[-1] and "not the first time" in details[-1]


def test_a_bot_stopped_right_after_filing_a_report_does_not_file_it_again(
        world: World, engine: Engine, clock: FakeClock, policy: Policy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app, adapter = world.app(engine, clock, policy, start=False)
    world.adapters.append(adapter)  # stopped (its connections closed) with the world
    said = world.bob.client.send_text(world.lobby, "something unkind")
    world.cara.client.report_event(world.lobby, said, "")
    saved = adapter.cursors.set

    def dies_before_saving_the_read_position(name: str, value: str) -> None:
        if name == "event_reports":
            raise KeyboardInterrupt("the process is stopped here")
        saved(name, value)

    monkeypatch.setattr(adapter.cursors, "set", dies_before_saving_the_read_position)
    with pytest.raises(KeyboardInterrupt):
        adapter.poll_reports()

    app2, adapter2 = world.app(engine, clock, policy, start=False)  # the next start
    world.adapters.append(adapter2)
    adapter2.poll_reports()
    adapter2.poll_reports()
    with app2.uow() as uow:
        assert uow.cases.count(CaseFilter()) == 1
        assert len(uow.cases.get(1).reports) == 1
