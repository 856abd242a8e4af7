"""One person on Slack and Matrix (issue 12, items 1-3), in one story: the fake Slack (the real
slack_sdk pointed at it) and the real Synapse, wired to one desk. bob links his Matrix and
Slack accounts by a one-time code; a warning on Matrix counts on Slack; a suspension taken on
Slack with scope "everywhere" suspends him on Synapse too, and both come back together; an
admin's linked Slack account recuses her; a ban reaches both; a case about another account
linked to him says so; unlinking undoes it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.integration.test_linked_identities import CODE, everywhere_policy
from tests.support.accounts import add_admins
from tests.support.matrix_world import World, wait_for
from tests.support.slack_harness import OTHER, REPORTER, STRANGER, SUBJECT, harness
from tests.support.synapse_fixtures import db_url  # noqa: F401  (Matrix, not storage: SQLite)

from conduct_desk.domain.errors import Recused
from conduct_desk.domain.identities import CODE_LIFETIME, EffectTarget, TargetStatus
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands, views
from conduct_desk.service.clock import FakeClock


def test_one_person_on_slack_and_matrix(world: World, engine: Engine,
                                        clock: FakeClock) -> None:
    app, _ = world.app(engine, clock, everywhere_policy(),
                       admins=f"ana={world.ana.user_id} admin")
    bob, ana = world.bob, world.ana
    on_matrix, on_slack = PersonRef("matrix", bob.user_id), PersonRef("slack", SUBJECT)
    with harness(app, clock) as h:
        # bob asks for a code in his direct room with the desk on Matrix
        dm = bob.client.create_room(invite=[world.bot.user_id], is_direct=True)
        wait_for(lambda: world.bot.user_id in bob.client.joined_members(dm), "the bot to join")
        bob.client.send_text(dm, "!coc link")

        def code_sent() -> str | None:
            found = [CODE.search(t) for t in bob.texts_from(dm, world.bot.user_id)]
            return next((m.group(0) for m in found if m), None)

        code = wait_for(code_sent, "the code in bob's direct room")
        # given on Slack: a wrong one, then his; a second use is refused
        assert "not a code the desk sent" in h.command("link ABCD-EFGH", SUBJECT)
        assert f"matrix:{bob.user_id} as one person" in h.command(f"link {code}", SUBJECT)
        assert "used already" in h.command(f"link {code}", OTHER)
        # a code from Slack, given on Matrix too late
        assert "sent you a code privately" in h.command("link", STRANGER)
        late = CODE.findall(h.dm_texts(STRANGER)[-1])[0]
        clock.advance(CODE_LIFETIME + timedelta(minutes=1))
        bob.client.send_text(dm, f"!coc link {late}")
        wait_for(lambda: any("expired" in t for t in bob.texts_from(dm, world.bot.user_id)),
                 "the refusal of an expired code")

        # a warning on Matrix counts on Slack: the next step recommended there is a suspension
        warned = app.bus.handle(commands.FileReport(
            on_matrix, PersonRef("matrix", world.cara.user_id), Source.MATRIX,
            channel=world.lobby, message_id="$said", message_text="go away")).case_id
        app.bus.handle(commands.TakeStep(warned, "warn", "ana", reason="a first warning"))
        case_id = h.report()
        detail = views.case_detail(app.uow(), app.desk, case_id)
        assert detail.recommendation is not None
        assert detail.recommendation.rung.name == "suspend", detail.recommendation
        assert [p.case_id for p in detail.history] == [warned]

        # suspended on Slack with scope "everywhere": Synapse refuses bob too
        h.step(case_id, "suspend", duration="12h")
        assert h.fake.calls_to("scim.v2.Users.patch")[-1].params["id"] == SUBJECT
        refused = bob.client.send_text_raw(world.lobby, "hello?")
        assert refused.status_code == 403 and refused.json()["errcode"] == "M_USER_SUSPENDED"
        effects = views.case_detail(app.uow(), app.desk, case_id).effects
        assert [(e.account, e.status) for e in effects] == [(on_matrix, TargetStatus.DONE)]
        card = h.admin_posts()
        assert any(f"on matrix:{bob.user_id}: suspension done" in c for c in card)

        # ...and both come back together
        h.run_timers(timedelta(hours=12, minutes=1))
        user = h.fake.get_user(SUBJECT)
        assert user is not None and not user.deleted
        bob.client.send_text(world.lobby, "I'm back")
        effects = views.case_detail(app.uow(), app.desk, case_id).effects
        assert [(e.target, e.status) for e in effects] == [
            (EffectTarget.APPLY, TargetStatus.DONE), (EffectTarget.RESTORE, TargetStatus.DONE)]

        # ana's Slack account, linked to hers (by another admin: nobody links their own),
        # reported a case: she stands aside from it
        add_admins(app, "lead")
        with pytest.raises(Recused, match="another admin with the admin role"):
            app.bus.handle(commands.LinkAccounts((f"matrix:{ana.user_id}", f"slack:{OTHER}"),
                                                 "ana"))
        app.bus.handle(commands.LinkAccounts((f"matrix:{ana.user_id}", f"slack:{OTHER}"), "lead"))
        h.command(f"report <@{REPORTER}> was unkind", OTHER)
        with app.uow() as uow:
            (theirs,) = uow.cases.case_ids_for(PersonRef("slack", REPORTER))
        with pytest.raises(Recused):
            app.bus.handle(commands.TakeCase(theirs, "ana"))

        # a ban on Slack reaches Matrix
        h.command(f"consult {case_id} <@{REPORTER}> wants them gone")
        h.step(case_id, "ban")
        member = ana.client.call("GET", f"/_matrix/client/v3/rooms/{world.lobby}/state/"
                                        f"m.room.member/{bob.user_id}")
        assert member["membership"] == "ban"
        assert views.case_detail(app.uow(), app.desk, case_id).effects[-1].status \
            is TargetStatus.DONE

        # another account linked to him: its case says so, plainly
        app.bus.handle(commands.LinkAccounts((f"slack:{STRANGER}", on_matrix.key), "ana"))
        h.command(f"report <@{STRANGER}> the same again", REPORTER)
        with app.uow() as uow:
            (new,) = uow.cases.case_ids_for(PersonRef("slack", STRANGER))
        hint = f"linked to {on_slack}, banned in case {case_id}"
        assert views.case_detail(app.uow(), app.desk, new).evasion == (hint,)
        assert any(re.search(f"Linked to {on_slack}, banned in case {case_id}", c)
                   for c in h.admin_posts())

        # unlinking undoes it, audited
        app.bus.handle(commands.UnlinkAccount(f"slack:{STRANGER}", "ana"))
        assert views.case_detail(app.uow(), app.desk, new).evasion == ()
        with app.uow() as uow:
            kinds = [e.kind for e in uow.audit.entries() if e.kind.startswith("person.")]
        assert kinds == ["person.linked", "person.linked", "person.linked", "person.unlinked"]
