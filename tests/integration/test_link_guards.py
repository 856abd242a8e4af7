"""Who may change which cases an admin must stay out of, attacked from outside.

An admin's own accounts, and every account linked to them, decide the cases that admin may
not see or act on. So nobody may link or unlink accounts that include their own (that would
free them from a case about them, or test whether an account of theirs reported
anonymously), and only an admin with the admin role may change another admin's. A name
typed into the public report form is nobody's proof of who reported: it cannot shut an
admin out of the case. Account names cannot pass for platform accounts or break addresses.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.conftest import count_rows
from tests.support.web import PASSWORD, advance, csrf_of, file_case, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Account, Role
from conduct_desk.domain.errors import InvalidInput, Recused
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands, invites
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables


def _api(web: FastAPI, app: App, account: str, role: str) -> TestClient:
    raw = accounts.create_token(app.uow(), app.desk.clock, f"tok-{account}", role,
                                account=account)
    return TestClient(web, headers={"Authorization": f"Bearer {raw}"})


def _anonymous_case(app: App, reporter: str) -> int:
    return int(app.bus.handle(commands.FileReport(
        subject=PersonRef("sandbox", "target"), reporter=PersonRef("sandbox", reporter),
        source=Source.API, anonymous=True, account="they said it again",
        harmed=(PersonRef("sandbox", "someone"),))).case_id)


def test_a_moderator_cannot_learn_who_reported_anonymously_by_linking(
        app: App, engine: Engine, web: FastAPI, clients: dict[str, TestClient]) -> None:
    case_id = _anonymous_case(app, "secretrep")
    mo = _api(web, app, "mo", "moderator")
    assert mo.get(f"/api/v1/cases/{case_id}").status_code == 200
    links_before = count_rows(engine, tables.person_links)
    answers = []
    for guess in ("sandbox:innocent", "sandbox:secretrep"):
        r = mo.post("/api/v1/people/links", json={"accounts": [guess, "web:mo"]})
        answers.append((r.status_code, r.json()["error"]["code"]))
        # the case reads the same whichever account was guessed
        assert mo.get(f"/api/v1/cases/{case_id}").status_code == 200
        page = clients["mo"].get(f"/people/{guess}")
        r = clients["mo"].post(f"/people/{guess}/link",
                               data={"csrf": csrf_of(page.text), "accounts": "web:mo"})
        answers.append((r.status_code, None))
        assert clients["mo"].get(f"/cases/{case_id}").status_code == 200
    # refused alike, right guess or wrong: the answer tells nothing about the reporter
    assert answers == [(403, "recused"), (403, None)] * 2, answers
    assert count_rows(engine, tables.person_links) == links_before


def test_the_subject_cannot_unlink_themselves_to_read_their_case(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    case_id = file_case(app, subject="alias1", reporter="whistle", message_id="al1")
    ana, bo = _api(web, app, "ana", "admin"), _api(web, app, "riley", "admin")
    assert bo.post("/api/v1/people/links",
                   json={"accounts": ["sandbox:alias1", "web:ana"]}).status_code == 201
    assert ana.get(f"/api/v1/cases/{case_id}").status_code == 403
    r = ana.post("/api/v1/people/unlink", json={"account": "web:ana"})
    assert r.status_code == 403 and "another admin with the admin role" in r.text
    page = clients["ana"].get("/people/web:ana")
    r = clients["ana"].post("/people/web:ana/unlink",
                            data={"csrf": csrf_of(page.text), "account": "web:ana"})
    assert r.status_code == 403
    r = clients["ana"].post("/people/sandbox:alias1/unlink",
                            data={"csrf": csrf_of(page.text), "account": "sandbox:alias1"})
    assert r.status_code == 403
    # still hidden from ana, and the reporter never shown to her
    assert ana.get(f"/api/v1/cases/{case_id}").status_code == 403
    assert "whistle" not in clients["ana"].get(f"/cases/{case_id}").text
    # another admin with the admin role may undo a wrong link
    assert bo.post("/api/v1/people/unlink", json={"account": "web:ana"}).status_code == 200


def test_only_an_admin_with_the_admin_role_links_another_admins_accounts(
        app: App, web: FastAPI) -> None:
    case_id = file_case(app, subject="sam", reporter="rae", message_id="s1")
    mo, ana = _api(web, app, "mo", "moderator"), _api(web, app, "ana", "admin")
    obs_like = _api(web, app, "jo-admin", "admin")
    r = mo.post("/api/v1/people/links", json={"accounts": ["sandbox:sam", "web:ana"]})
    assert r.status_code == 403 and "ana" in r.json()["error"]["message"]
    assert ana.get(f"/api/v1/cases/{case_id}").status_code == 200  # not shut out
    # an admin's platform account counts as theirs too (jo-admin is sandbox:jo)
    r = mo.post("/api/v1/people/links", json={"accounts": ["sandbox:jo", "slack:U77"]})
    assert r.status_code == 403
    # accounts nobody at the desk holds: a moderator links them as before
    r = mo.post("/api/v1/people/links", json={"accounts": ["sandbox:sam", "slack:U78"]})
    assert r.status_code == 201
    # another admin with the admin role may link an admin's account, audited as theirs
    r = obs_like.post("/api/v1/people/links", json={"accounts": ["sandbox:sam", "web:ana"]})
    assert r.status_code == 201
    assert ana.get(f"/api/v1/cases/{case_id}").status_code == 403


@pytest.mark.parametrize("typed", ["ana", "web:ana", "sandbox:ana"])
def test_a_name_typed_into_the_public_form_does_not_shut_an_admin_out(
        app: App, clock: FakeClock, visitor: TestClient, clients: dict[str, TestClient],
        typed: str) -> None:
    page = visitor.get("/report").text
    advance(clock, 10)
    r = visitor.post("/report", data={
        "csrf": csrf_of(page), "stamp": stamp_of(page), "subject": "carol",
        "what": "Said something cruel in the channel.", "reporter": typed})
    assert r.status_code == 303
    with app.uow() as uow:
        (case_id,) = uow.cases.case_ids_for(PersonRef("sandbox", "carol"))
    case = clients["ana"].get(f"/cases/{case_id}")
    assert case.status_code == 200
    assert "as typed into the public form: not checked" in case.text
    assert f"/cases/{case_id}\"" in clients["ana"].get("/queue?q=carol").text
    app.bus.handle(commands.TakeCase(case_id, "ana"))


@pytest.mark.parametrize("name", ["team/lead", "web:bo", "slack:U1", "a?b", "a#b", "50%"])
def test_new_account_names_cannot_pass_for_accounts_or_break_addresses(
        app: App, web: FastAPI, name: str) -> None:
    with pytest.raises(InvalidInput, match="may not contain"):
        accounts.add_admin(app.uow(), app.desk.clock, name, "moderator", PASSWORD)
    with app.uow() as uow:
        ana = uow.accounts.admin_by_name("ana")
    assert ana is not None
    with pytest.raises(InvalidInput, match="may not contain"):
        invites.invite(app.uow(), app.desk.clock, ana, "moderator", name)


def test_an_account_with_a_slash_from_before_can_still_be_disabled(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    with app.uow() as uow:  # made before names were checked for "/"
        uow.accounts.add_admin(Account(name="team/lead", role=Role.MODERATOR,
                                       password_hash="x", created_at=app.desk.clock.now()))
        uow.commit()
    ana = clients["ana"]
    page = ana.get("/settings").text
    assert 'action="/settings/accounts/team/lead/disable"' in page
    r = ana.post("/settings/accounts/team/lead/disable", data={"csrf": csrf_of(page)})
    assert r.status_code == 303, r.text
    with app.uow() as uow:
        gone = uow.accounts.admin_by_name("team/lead")
    assert gone is not None and gone.disabled


@pytest.mark.parametrize("guess", ["sandbox:secretrep", "sandbox:innocent"])
def test_nor_by_linking_their_own_chat_account_with_a_code(
        app: App, web: FastAPI, sandbox: SandboxPlatform, guess: str) -> None:
    """The same probe through a member's one-time code: jo-admin (sandbox:jo) links the
    guess to a throwaway, then gives the throwaway's code from their own chat account."""
    case_id = _anonymous_case(app, "secretrep")
    jo = _api(web, app, "jo-admin", "admin")
    assert jo.post("/api/v1/people/links",
                   json={"accounts": [guess, "sandbox:throw"]}).status_code == 201
    app.bus.handle(commands.RequestLinkCode(PersonRef("sandbox", "throw")))
    code = re.findall(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}\b", sandbox.calls[-1].text)[0]
    with pytest.raises(Recused, match="another admin with the admin role"):
        app.bus.handle(commands.LinkByCode(PersonRef("sandbox", "jo"), code))
    assert jo.get(f"/api/v1/cases/{case_id}").status_code == 200  # the same either way
    with app.uow() as uow:
        assert PersonRef("sandbox", "jo") not in uow.people.linked(PersonRef(*guess.split(":")))


def test_a_disabled_admins_accounts_are_still_theirs(app: App, web: FastAPI) -> None:
    case_id = file_case(app, subject="alias2", reporter="whistle", message_id="al2")
    boss, mo = _api(web, app, "riley", "admin"), _api(web, app, "mo", "moderator")
    assert boss.post("/api/v1/people/links",
                     json={"accounts": ["sandbox:alias2", "web:ana"]}).status_code == 201
    accounts.set_disabled(app.uow(), app.desk.clock, "ana", True)
    # while ana is away, a moderator cannot undo the link that keeps her out of the case
    assert mo.post("/api/v1/people/unlink", json={"account": "web:ana"}).status_code == 403
    accounts.set_disabled(app.uow(), app.desk.clock, "ana", False)
    ana = _api(web, app, "ana", "admin")
    assert ana.get(f"/api/v1/cases/{case_id}").status_code == 403


def test_the_longest_names_the_form_takes_read_back(
        app: App, clock: FakeClock, visitor: TestClient, clients: dict[str, TestClient]) -> None:
    page = visitor.get("/report").text
    advance(clock, 10)
    r = visitor.post("/report", data={
        "csrf": csrf_of(page), "stamp": stamp_of(page), "subject": "carol",
        "what": "Said something cruel in the channel.", "hurt": "h" * 300,
        "reporter": "r" * 300, "anonymous": "true"})
    assert r.status_code == 303, r.text
    with app.uow() as uow:
        (case_id,) = uow.cases.case_ids_for(PersonRef("sandbox", "carol"))
    case = clients["ana"].get(f"/cases/{case_id}")
    assert case.status_code == 200 and "h" * 300 in case.text
