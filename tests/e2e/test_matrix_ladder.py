"""An admin walks every rung from the Matrix management room; each effect is checked on Synapse."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.engine import Engine
from tests.support.matrix_world import World, wait_for
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)

from conduct_desk.domain.model import StepStatus
from conduct_desk.domain.policy import Action, Policy
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock

PRIVATELY = "I've answered you privately."


def test_report_then_every_rung_from_the_management_room(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    # a ban needs the admin role, which CONDUCT_MATRIX_ADMINS gives explicitly
    app, adapter = world.app(engine, clock, policy, admins=f"ana={world.ana.user_id} admin")
    bob, cara, ana = world.bob, world.cara, world.ana

    # Matrix's own report feature: cara reports bob's message; a case card appears.
    said = bob.client.send_text(world.lobby, "nobody asked for your opinion, go away")
    cara.client.report_event(world.lobby, said, "this hurt")
    card = wait_for(lambda: world.card(1), "the case card")
    assert bob.name in card and "nobody asked for your opinion" in card  # named, not an id
    assert bob.user_id not in card.split("https://")[0]
    assert f"in lobby-{world.tag}" in card and world.lobby not in card.split("https://")[0]
    assert cara.user_id not in card and cara.name not in card  # the card never names who reported
    assert any("admins" in t for t in world.dm_texts(cara))  # the reporter is thanked privately

    assert world.ask("!coc take 1") == "Case 1 is yours, ana."
    wait_for(lambda: "Taken by ana" in (world.card(1) or ""), "the card to show who took it")

    # remind: a threaded reply to the message, quoting it
    answer = world.ask("!coc step 1 remind")
    assert ": done" in answer, answer
    replies = [e for e in ana.client.messages(world.lobby, limit=20)
               if e["sender"] == world.bot.user_id]
    relates = replies[0]["content"]["m.relates_to"]
    assert relates["rel_type"] == "m.thread" and relates["event_id"] == said
    assert relates["m.in_reply_to"]["event_id"] == said
    assert "nobody asked for your opinion" in replies[0]["content"]["body"]

    # suggest: in the same thread
    answer = world.ask("!coc step 1 suggest --suggestion ask what they meant instead")
    assert ": done" in answer, answer
    latest = next(e for e in ana.client.messages(world.lobby, limit=20)
                  if e["sender"] == world.bot.user_id)
    assert latest["content"]["m.relates_to"]["event_id"] == said
    assert "ask what they meant instead" in latest["content"]["body"]

    # remove: bob is told privately first, then kicked
    answer = world.ask("!coc step 1 remove")
    assert ": done" in answer and "message sent first" in answer, answer
    assert f"removed {bob.name} from lobby-{world.tag}" in answer, answer  # names, not ids
    assert bob.user_id not in ana.client.joined_members(world.lobby)
    assert any("removed you" in t for t in world.dm_texts(bob))
    ana.client.invite(world.lobby, bob.user_id)  # he is let back in later
    bob.client.join(world.lobby)

    # warn: a DM with a way to confirm re-reading
    answer = world.ask("!coc step 1 warn")
    assert ": done" in answer, answer
    warning = world.dm_texts(bob)[-1]
    assert "!reread" in warning
    bob_dm = wait_for(lambda: bob.direct_room_with(world.bot.user_id), "bob's direct room")
    bob.client.send_text(bob_dm, "!reread")
    wait_for(lambda: any("Thank you for reading it again" in t for t in world.dm_texts(bob)),
             "the thanks for re-reading")
    with app.uow() as uow:
        assert [n.kind for n in uow.cases.get(1).notes] == ["reread"]

    # suspend: refused with M_USER_SUSPENDED until the timer restores the account
    answer = world.ask("!coc step 1 suspend --duration 12h")
    assert ": done" in answer, answer
    refused = bob.client.send_text_raw(world.lobby, "hello?")
    assert refused.status_code == 403 and refused.json()["errcode"] == "M_USER_SUSPENDED"
    clock.advance(timedelta(hours=11))
    app.bus.handle(commands.RunDueTimers("test"))
    assert bob.client.send_text_raw(world.lobby, "still?").json()["errcode"] == "M_USER_SUSPENDED"
    clock.advance(timedelta(hours=1, minutes=1))
    app.bus.handle(commands.RunDueTimers("test"))
    bob.client.send_text(world.lobby, "sorry, I'm back")

    # ban: needs the consultation first, then bans in the room and closes the account
    assert world.ask("!coc step 1 ban") == PRIVATELY  # a refusal is the asker's alone
    refusal = world.private_answer(ana, "Not done:")
    assert "consult" in refusal, refusal
    answer = world.ask(f"!coc consult 1 {cara.user_id} she asked that he not return")
    assert answer == f"Case 1: consultation with {cara.name} recorded.", answer
    answer = world.ask("!coc step 1 ban")
    assert ": done" in answer and "deactivated" in answer, answer
    member = ana.client.call("GET", f"/_matrix/client/v3/rooms/{world.lobby}/state/"
                                    f"m.room.member/{bob.user_id}")
    assert member["membership"] == "ban"
    assert bob.client.request("POST", f"/_matrix/client/v3/join/{world.lobby}",
                              json={}).status_code in (401, 403)
    assert bob.client.login(bob.name, bob.password).status_code == 403

    answer = world.ask("!coc resolve 1 steps-taken")
    assert "resolved" in answer
    with app.uow() as uow:
        case = uow.cases.get(1)
    assert [(s.action, s.status) for s in case.steps] == [
        (Action.REMIND, StepStatus.DONE), (Action.SUGGEST, StepStatus.DONE),
        (Action.REMOVE, StepStatus.DONE), (Action.WARN, StepStatus.DONE),
        (Action.SUSPEND, StepStatus.DONE), (Action.RESTORE, StepStatus.DONE),
        (Action.BAN, StepStatus.DONE),
    ]
    wait_for(lambda: "resolved" in (world.card(1) or ""), "the card to show the outcome")
    assert adapter.rounds >= 1


def test_roles_recusal_and_a_locking_ban(world: World, engine: Engine, clock: FakeClock,
                                         policy: Policy) -> None:
    ana, bob, cara, sam = world.ana, world.bob, world.cara, world.server_admin
    for member in (sam, cara, bob):  # bob only to show that he cannot use !coc
        ana.client.invite(world.management, member.user_id)
        member.client.join(world.management)
    app, adapter = world.app(  # the policy says a ban locks the account
        engine, clock, replace(policy, ban_account="lock"),
        admins=f"ana={ana.user_id} admin, sam={sam.user_id} moderator, cy={cara.user_id}")
    said = bob.client.send_text(world.lobby, "a threat")
    cara.client.report_event(world.lobby, said, "")
    wait_for(lambda: world.card(1), "the card")

    refused = world.ask("!coc list", bob)
    assert "only the desk's admins" in refused and "CONDUCT_MATRIX_ADMINS" in refused, refused
    # cara reported it: she hears privately that she must step aside; the room hears nothing
    assert world.ask("!coc show 1", cara) == PRIVATELY
    assert "must step aside" in world.private_answer(cara, "Not done:")
    assert world.ask("!coc step 1 ban --reason flagrant", sam) == PRIVATELY
    assert "a ban needs the admin role" in world.private_answer(sam, "Not done:")
    assert world.ask("!coc take 1", sam) == "Case 1 is yours, sam."
    world.ask("!coc consult 1 --not-possible the reporter asked not to be contacted", sam)
    assert world.ask("!coc step 1 ban --reason flagrant") == PRIVATELY  # ana: not hers
    assert "taken by sam" in world.private_answer(ana, "Not done:")
    answer = world.ask("!coc step 1 remove --reason a threat", sam)
    assert ": done" in answer, answer

    # a lock: bob cannot sign in, nor come back to the room
    ana.client.invite(world.lobby, bob.user_id)
    bob.client.join(world.lobby)
    app.bus.handle(commands.HandOver(1, "sam", "ana"))  # a ban needs the admin role
    app.bus.handle(commands.TakeStep(1, "ban", "ana", reason="flagrant"))
    login = bob.client.login(bob.name, bob.password)
    assert login.status_code in (401, 403) and login.json()["errcode"] == "M_USER_LOCKED"
    rejoin = bob.client.request("POST", f"/_matrix/client/v3/join/{world.lobby}", json={})
    assert rejoin.status_code in (401, 403)
    member = ana.client.call("GET", f"/_matrix/client/v3/rooms/{world.lobby}/state/"
                                    f"m.room.member/{bob.user_id}")
    assert member["membership"] == "ban"


def test_a_case_is_handed_over_in_the_management_room(
        world: World, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    cara = world.cara.user_id
    app, adapter = world.app(engine, clock, policy,
                             admins=f"ana={world.ana.user_id}, cy={cara} moderator")
    said = world.bob.client.send_text(world.lobby, "an unkind thing")
    world.cara.client.report_event(world.lobby, said, "")
    wait_for(lambda: world.card(1), "the card")
    assert "is yours" in world.ask("!coc take 1")
    assert world.ask(f"!coc handover 1 {world.bob.user_id}") == PRIVATELY
    assert "not one of the desk's" in world.private_answer(world.ana, "Not done:")
    # cara reported it, so cy (her admin name) must step aside
    assert world.ask("!coc handover 1 cy") == PRIVATELY
    assert "involved" in world.private_answer(world.ana, "Not done:")
    with app.uow() as uow:
        assert uow.cases.get(1).taken_by == "ana"
