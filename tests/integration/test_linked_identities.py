"""One person across platforms (issue 12, items 1-3), on Slack (the fake, with the real
slack_sdk) and the sandbox as the second platform: a member links their own accounts by a
one-time code; a suspension with scope "everywhere" reaches both accounts and comes back on
both; a ban reaches both; the ladder counts across accounts; recusal covers an admin's
linked accounts; a case about an account linked to someone banned says so; unlinking undoes
it, audited. The same story on the real Synapse: tests/e2e/test_matrix_linked.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support.accounts import add_admins
from tests.support.slack_harness import ADMIN, ADMINS, REPORTER, STRANGER, SUBJECT, Harness, harness
from tests.support.web import clients, csrf_of, file_case, web  # noqa: F401

from conduct_desk.bootstrap import App
from conduct_desk.config import preset_text
from conduct_desk.domain.errors import InvalidInput, Recused
from conduct_desk.domain.identities import CODE_LIFETIME, EffectTarget, TargetStatus
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands, views
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.storage.uow import SqlUnitOfWork

SLACK_SAM = PersonRef("slack", SUBJECT)
SANDBOX_SAM = PersonRef("sandbox", "sam")
CODE = re.compile(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}\b")


def everywhere_policy() -> Policy:
    """The guide's ladder, its suspension and ban carried out on every linked account."""
    text = preset_text("guide")
    for action in ("suspend", "ban"):
        assert f'\naction = "{action}"\n' in text
        text = text.replace(f'\naction = "{action}"\n',
                            f'\naction = "{action}"\nscope = "everywhere"\n')
    return parse_policy(text, "guide, everywhere")


@pytest.fixture
def policy() -> Policy:
    return everywhere_policy()


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def _card(h: Harness, case_id: int) -> str:
    ts = h.cursor(f"slack:card:{case_id}")
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == ts)
    return card.text + json.dumps(card.blocks)


def _detail(app: App, case_id: int) -> views.CaseDetail:
    return views.case_detail(app.uow(), app.desk, case_id)


def _code(h: Harness) -> str:
    assert "sent you a code privately" in h.command("link", SUBJECT)
    found = CODE.findall(h.dm_texts(SUBJECT)[-1])
    assert found, h.dm_texts(SUBJECT)[-1]
    return str(found[0])


def _refused(app: App, command: commands.Command) -> str:
    with pytest.raises(InvalidInput) as refused:
        app.bus.handle(command)
    return str(refused.value)


def test_a_member_links_their_accounts_by_a_code(h: Harness, app: App, engine: sa.Engine,
                                                 clock: FakeClock) -> None:
    code = _code(h)
    with engine.connect() as conn:  # only its hash is kept, nowhere in plain
        for table in (tables.link_codes, tables.notices, tables.audit):
            rows = conn.execute(sa.select(table)).all()
            assert code.replace("-", "") not in str(rows) and code not in str(rows)

    # refused clearly: a wrong code, the code given back on the same account
    assert "not a code the desk sent" in _refused(
        app, commands.LinkByCode(SANDBOX_SAM, "ABCD-EFGH"))
    assert "Not done: that code was sent to this account" in h.command(f"link {code}", SUBJECT)

    person = app.bus.handle(commands.LinkByCode(SANDBOX_SAM, code.lower().replace("-", " ")))
    assert set(person) == {SLACK_SAM, SANDBOX_SAM}
    assert "used already" in _refused(app, commands.LinkByCode(PersonRef("sandbox", "x"), code))

    # a code works for 15 minutes only
    late = _code(h)
    clock.advance(CODE_LIFETIME + timedelta(seconds=1))
    assert "expired" in _refused(app, commands.LinkByCode(PersonRef("sandbox", "y"), late))
    with app.uow() as uow:
        assert uow.people.linked(PersonRef("sandbox", "y")) == (PersonRef("sandbox", "y"),)
        linked = [e for e in uow.audit.entries() if e.kind == "person.linked"]
    assert len(linked) == 1 and "by a one-time code" in linked[0].summary


def test_wrong_codes_are_limited(h: Harness, app: App) -> None:
    for _ in range(5):
        _refused(app, commands.LinkByCode(SANDBOX_SAM, "ABCD-EFGH"))
    code = _code(h)  # even the right one now waits
    assert "too many codes" in _refused(app, commands.LinkByCode(SANDBOX_SAM, code))


def test_act_once_enforce_everywhere(h: Harness, app: App, sandbox: SandboxPlatform,
                                     clock: FakeClock) -> None:
    add_admins(app, "ana")
    app.bus.handle(commands.LinkAccounts((SLACK_SAM.key, SANDBOX_SAM.key), "ana"))

    # a warning on the sandbox account counts on Slack: the ladder is the person's
    sandbox.add_message("#general", "m1", "go away", SANDBOX_SAM)
    first = app.bus.handle(commands.FileReport(SANDBOX_SAM, PersonRef("sandbox", "rae"),
                                               Source.CLI, channel="#general",
                                               message_id="m1")).case_id
    app.bus.handle(commands.TakeStep(first, "warn", "ana", reason="a first warning"))
    case_id = h.report()
    detail = _detail(app, case_id)
    assert [p.case_id for p in detail.history] == [first]
    assert detail.recommendation is not None and detail.recommendation.rung.name == "suspend"
    assert detail.linked == (SANDBOX_SAM,)

    # the suspension, taken on Slack, reaches the sandbox account too; each effect on its own
    h.step(case_id, "suspend", duration="12h")
    assert h.fake.calls_to("scim.v2.Users.patch")[-1].params["id"] == SUBJECT
    assert SANDBOX_SAM in sandbox.suspended
    (effect,) = _detail(app, case_id).effects
    assert (effect.account, effect.target, effect.status) == (
        SANDBOX_SAM, EffectTarget.APPLY, TargetStatus.DONE)
    assert "on sandbox:sam: suspension done" in _card(h, case_id)

    # ...and both come back together when it ends
    h.run_timers(timedelta(hours=12, minutes=1))
    user = h.fake.get_user(SUBJECT)
    assert user is not None and not user.deleted
    assert SANDBOX_SAM not in sandbox.suspended
    assert [(e.target, e.status) for e in _detail(app, case_id).effects] == [
        (EffectTarget.APPLY, TargetStatus.DONE), (EffectTarget.RESTORE, TargetStatus.DONE)]

    # a ban reaches both; one that fails elsewhere is recorded as failed and the admins told
    h.command(f"consult {case_id} <@{REPORTER}> wants them gone")
    sandbox.fail_next("ban", "the sandbox said no", retryable=False)
    h.step(case_id, "ban")
    assert h.fake.calls_to("scim.v2.Users.patch")[-1].params["Operations"][0]["value"] is False
    ban = _detail(app, case_id).effects[-1]
    assert ban.status is TargetStatus.FAILED and "the sandbox said no" in ban.detail
    assert any("sandbox:sam: ban failed" in t for t in h.admin_posts())
    with app.uow() as uow:
        kinds = [e.kind for e in uow.audit.entries(case_id=case_id)]
    assert kinds.count("step.elsewhere.done") == 2 and "step.elsewhere.failed" in kinds


def test_evasion_hint_recusal_and_unlink(h: Harness, app: App, sandbox: SandboxPlatform) -> None:
    add_admins(app, "ana")
    banned = h.report(flagrant=True)
    h.command(f"consult {banned} none reporter asked not to be contacted")
    h.step(banned, "ban", reason="flagrant")

    # another account, linked to the banned one: its case says so, without accusing
    app.bus.handle(commands.LinkAccounts((f"slack:{STRANGER}", SLACK_SAM.key), "ana"))
    h.command(f"report <@{STRANGER}> the same words again", REPORTER)
    with app.uow() as uow:
        (case_id,) = uow.cases.case_ids_for(PersonRef("slack", STRANGER))
    hint = f"linked to slack:{SUBJECT}, banned in case {banned}"
    detail = _detail(app, case_id)
    assert detail.evasion == (hint,)
    assert detail.standing.banned is None  # this account itself is not banned
    assert views.case_json(detail)["linked_to_banned_or_suspended"] == [hint]
    assert f"Linked to slack:{SUBJECT}, banned in case {banned}" in _card(h, case_id)

    # an admin's linked account is theirs: the Slack admin stands aside from a case that
    # account reported
    app.bus.handle(commands.LinkAccounts((f"slack:{ADMIN}", "sandbox:ada"), "ana"))
    reported = app.bus.handle(commands.FileReport(
        PersonRef("sandbox", "bo"), PersonRef("sandbox", "ada"), Source.CLI)).case_id
    with pytest.raises(Recused):
        app.bus.handle(commands.TakeCase(reported, f"slack:{ADMIN}"))

    # unlinking undoes it, audited
    assert app.bus.handle(commands.UnlinkAccount(f"slack:{STRANGER}", "ana")) == (SLACK_SAM,)
    assert _detail(app, case_id).evasion == ()
    app.bus.handle(commands.UnlinkAccount("sandbox:ada", "ana"))
    app.bus.handle(commands.TakeCase(reported, f"slack:{ADMIN}"))
    with app.uow() as uow:
        entries = [e for e in uow.audit.entries() if e.kind.startswith("person.")]
    assert [e.kind for e in entries] == ["person.linked", "person.linked", "person.unlinked",
                                         "person.unlinked"]
    assert all(e.actor == "ana" for e in entries)
    assert "is not linked" in _refused(app, commands.UnlinkAccount("sandbox:ada", "ana"))


def test_links_on_the_person_page_and_the_api(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:  # noqa: F811
    mo, obs = clients["mo"], clients["obs"]
    page = mo.get("/people/sandbox:sam")
    assert "No other account is linked" in page.text
    # CSRF is needed; an observer may not link; a bare id is refused with the fix
    assert mo.post("/people/sandbox:sam/link", data={"accounts": "slack:U1"}).status_code == 403
    r = obs.post("/people/sandbox:sam/link",
                 data={"csrf": csrf_of(obs.get("/people/sandbox:sam").text), "accounts": "x"})
    assert r.status_code == 403
    r = mo.post("/people/sandbox:sam/link", data={"csrf": csrf_of(page.text), "accounts": "U1"})
    assert r.status_code == 422 and "does not say its platform" in r.text
    r = mo.post("/people/sandbox:sam/link",
                data={"csrf": csrf_of(page.text), "accounts": "slack:U1\nmatrix:@sam:x.org"})
    assert r.status_code == 303
    page = mo.get(r.headers["location"])
    for account in ("slack:U1", "matrix:@sam:x.org"):
        assert account in page.text
    r = mo.post("/people/sandbox:sam/unlink",
                data={"csrf": csrf_of(page.text), "account": "matrix:@sam:x.org"})
    assert r.status_code == 303 and "matrix:@sam:x.org" not in mo.get("/people/sandbox:sam").text

    raw = accounts.create_token(app.uow(), app.desk.clock, "bot", "moderator", account="mo")
    api = TestClient(web)
    auth = {"Authorization": f"Bearer {raw}"}
    r = api.post("/api/v1/people/links", json={"accounts": ["sandbox:sam", "discord:42"]},
                 headers=auth)
    assert r.status_code == 201 and set(r.json()["accounts"]) == {
        "sandbox:sam", "slack:U1", "discord:42"}
    shown = api.get("/api/v1/people/discord:42", headers=auth).json()["accounts"]
    assert sorted(map(str, shown)) == ["discord:42", "sandbox:sam", "slack:U1"], shown
    r = api.post("/api/v1/people/unlink", json={"account": "discord:42"}, headers=auth)
    assert r.status_code == 200 and "sandbox:sam" in r.json()["was_linked_to"]

    # the case pages: what a ban did on each linked account; a case about a linked account
    banned = file_case(app, subject="sam", message_id="m-ban")
    app.bus.handle(commands.Consult(banned, "ana", "jo wants them gone",
                                    PersonRef("sandbox", "jo")))
    app.bus.handle(commands.TakeStep(banned, "ban", "ana", reason="flagrant"))
    ana = clients["ana"]
    page = ana.get(f"/cases/{banned}").text
    assert "On slack:U1: ban manual — The desk is not connected to slack" in page
    other = file_case(app, subject="slack:U1", message_id="m-other")
    page = ana.get(f"/cases/{other}").text
    assert f"This account is linked to sandbox:sam, banned in case {banned}." in page


def test_lifting_a_suspension_early_gives_back_every_linked_account(
        app: App, sandbox: SandboxPlatform) -> None:
    """Lifting early, the timer and an appeal share one path: the linked accounts come back
    with the one reported, once."""
    add_admins(app, "ana")
    second = PersonRef("sandbox", "sam-alt")
    app.bus.handle(commands.LinkAccounts((SANDBOX_SAM.key, second.key), "ana"))
    case_id = file_case(app, subject="sam", message_id="m-lift")
    step_id = app.bus.handle(commands.TakeStep(case_id, "suspend", "ana", reason="harsh"))
    assert set(sandbox.suspended) == {SANDBOX_SAM, second}
    app.bus.handle(commands.LiftSuspension(case_id, step_id, "ana"))
    assert sandbox.suspended == {}
    assert [(e.account, e.target, e.status) for e in _detail(app, case_id).effects] == [
        (second, EffectTarget.APPLY, TargetStatus.DONE),
        (second, EffectTarget.RESTORE, TargetStatus.DONE)]
    assert [c.method for c in sandbox.calls if c.person == second] == ["suspend", "restore"]


def test_links_read_in_a_transaction_follow_its_own_link_and_unlink(engine: sa.Engine) -> None:
    """The links are read once per transaction, and read again once it links or unlinks:
    after an unlink, the account stands alone for the rest of that transaction too."""
    slack, sam, sammy = SLACK_SAM, SANDBOX_SAM, PersonRef("sandbox", "sammy")
    with SqlUnitOfWork(engine) as uow:
        assert uow.people.linked(slack) == (slack,)
        uow.people.link((slack, sam, sammy), datetime(2026, 1, 1, tzinfo=UTC), "ana")
        assert uow.people.linked(slack) == (slack, sam, sammy)
        assert uow.people.unlink(slack) == (sam, sammy)
        assert uow.people.linked(slack) == (slack,)
        assert uow.cases.linked(slack) == (slack,)  # the case repository reads the same
        assert uow.people.linked(sam) == (sam, sammy)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.people.linked(slack) == (slack,)
