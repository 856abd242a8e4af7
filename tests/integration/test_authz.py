"""Issue 8, attacked from outside through the web desk and the API: naming admins as hurt,
who may resolve, self-demotion by another spelling, and an anonymous reporter among admins."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from tests.support.accounts import add_admins
from tests.support.chat import chat_desk
from tests.support.names import spellings
from tests.support.web import ACCOUNTS, PASSWORD, csrf_of, file_case, sign_in

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands, views


def _token(app: App, web: FastAPI, name: str, role: str, account: str | None = None) -> TestClient:
    raw = accounts.create_token(app.uow(), app.desk.clock, name, role, account)
    return TestClient(web, headers={"Authorization": f"Bearer {raw}"})


def test_an_observer_token_naming_every_admin_as_hurt_locks_nobody_out(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    file_case(app)  # an open case about sam's message
    observer = _token(app, web, "watcher", "observer", account="obs")  # files as obs
    every_admin = [f"sandbox:{name}" for name in ACCOUNTS]
    r = observer.post("/api/v1/reports", json={
        "subject": "sam", "channel": "#general",
        "message_id": "m-sam-riley", "hurt": every_admin})
    assert r.status_code == 201 and r.json()["case_id"] == 1  # it joined the open case
    ana = clients["ana"]
    page = ana.get("/cases/1").text
    assert "Named as hurt, and admins of this desk" in page and "Confirm mo was hurt" in page
    assert ana.post("/cases/1/take", data={"csrf": csrf_of(page)}).status_code == 303
    r = ana.post("/cases/1/steps", data={"csrf": csrf_of(page), "step": "remind"})
    assert r.status_code == 303, r.text
    api_case = _token(app, web, "boss", "admin").get("/api/v1/cases/1").json()
    assert {h["admin"] for h in api_case["hurt_admins"]} >= {"ana", "mo", "jo-admin"}
    # another admin confirms mo was hurt: from then on mo steps aside
    r = ana.post("/cases/1/confirm-hurt", data={"csrf": csrf_of(page), "person": "sandbox:mo"})
    assert r.status_code == 303
    assert clients["mo"].get("/cases/1").status_code == 403


@pytest.mark.parametrize("route", ["web", "api"])
def test_a_moderator_cannot_resolve_an_admins_case(
        app: App, web: FastAPI, clients: dict[str, TestClient], route: str) -> None:
    file_case(app)
    app.bus.handle(commands.TakeCase(1, "ana"))
    told = len(app.desk.platforms["sandbox"].calls)  # type: ignore[attr-defined]
    if route == "web":
        mo = clients["mo"]
        r = mo.post("/cases/1/resolve", data={"csrf": csrf_of(mo.get("/cases/1").text),
                                              "outcome": "apologized"})
        reopen_refused = None
    else:
        mod = _token(app, web, "mod", "moderator")
        r = mod.post("/api/v1/cases/1/resolve", json={"outcome": "apologized"})
        reopen_refused = mod
    assert r.status_code == 409 and "only they, or an admin with the admin role" in r.text
    case = views.case_detail(app.uow(), app.desk, 1).case
    assert case.is_open and case.outcome is None
    assert len(app.desk.platforms["sandbox"].calls) == told  # type: ignore[attr-defined]
    app.bus.handle(commands.ResolveCase(1, "ana", "apologized", "in the thread"))
    if reopen_refused is not None:
        r = reopen_refused.post("/api/v1/cases/1/reopen")
        assert r.status_code == 409


@pytest.mark.parametrize("spelling", [" ana", "ANA", "ａｎａ", "Ana "])
def test_no_admin_demotes_or_disables_themselves_by_another_spelling(
        app: App, clients: dict[str, TestClient], spelling: str) -> None:
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/settings").text)
    r = ana.post(f"/settings/accounts/{spelling}/role", data={"csrf": csrf, "role": "observer"})
    assert r.status_code == 422 and "your own account" in r.text
    r = ana.post(f"/settings/accounts/{spelling}/disable", data={"csrf": csrf})
    assert r.status_code == 422 and "your own account" in r.text
    me = next(a for a in accounts.account_list(app.uow()) if a.name == "ana")
    assert me.role.value == "admin" and not me.disabled


def test_an_anonymous_reporter_looks_like_any_other_admin_in_a_hand_over(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    file_case(app, reporter="riley", anonymous=True, hurt=())  # riley is an admin, too
    ana = clients["ana"]
    page = ana.get("/cases/1").text
    offered = re.findall(r"<option>([^<]+)</option>", page)
    assert offered == ["ana", "jo-admin", "mo", "riley"]  # every active admin who may act
    assert page.count("riley") == 1  # only as an option, like everyone else
    r = ana.post("/cases/1/hand-over", data={"csrf": csrf_of(page), "to": "riley"})
    assert r.status_code == 303  # as for anyone: no refusal that would say why
    assert "taken by riley" in ana.get("/cases/1").text
    # riley alone is told, privately, to step aside, and can
    riley = clients["riley"]
    mine = riley.get("/cases/1")
    assert mine.status_code == 403 and "Step aside from case 1" in mine.text
    r = riley.post("/cases/1/recuse", data={"csrf": csrf_of(mine.text)})
    assert r.status_code == 303
    page = ana.get("/cases/1").text
    assert "not taken yet" in page and "Stepped aside: riley." in page
    timeline = [e.summary for e in views.case_detail(app.uow(), app.desk, 1).timeline]
    assert "ana handed the case to riley" in timeline and "riley stepped aside; the case is " \
        "free for another admin" in timeline
    assert not any("report" in s and "riley" in s for s in timeline)
    # a name not on the list gets one message that says nothing about why
    r = ana.post("/cases/1/hand-over", data={"csrf": csrf_of(page), "to": "nobody"})
    assert r.status_code == 422 and "Choose an admin from the list" in r.text


def test_an_involved_admin_is_not_listed_only_when_every_admin_can_see_why(
        app: App, clients: dict[str, TestClient]) -> None:
    file_case(app, reporter="riley", hurt=())  # riley reported it by name
    offered = re.findall(r"<option>([^<]+)</option>", clients["ana"].get("/cases/1").text)
    assert "riley" not in offered and "riley" in clients["ana"].get("/cases/1").text


def test_sign_in_by_another_spelling_is_the_same_account(web: FastAPI) -> None:
    sign_in(web, " ANA", PASSWORD)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spelling=spellings())
def test_generated_spellings_never_reach_ones_own_account(app: App, spelling: str) -> None:
    if not accounts.account_list(app.uow()):
        add_admins(app, "ana", "bo")
    for change in (lambda: accounts.set_role(app.uow(), app.desk.clock, spelling, "observer",
                                             "ana", by_account="ana"),
                   lambda: accounts.set_disabled(app.uow(), app.desk.clock, spelling, True,
                                                 "ana", by_account="ana")):
        with pytest.raises(InvalidInput, match="cannot .* your own account"):
            change()
    me = next(a for a in accounts.account_list(app.uow()) if a.name == "ana")
    assert me.role.value == "admin" and not me.disabled


def test_chat_resolve_and_reopen_respect_the_holder(app: App, sandbox: SandboxPlatform) -> None:
    """A chat command passes the chat admin's role: a moderator cannot close an admin's case."""
    chat = chat_desk(app, sandbox, "ana=ana:admin, mo=mo moderator")
    case_id = file_case(app)
    assert "yours" in chat.coc("ana", f"take {case_id}", room=None)
    assert "only they, or an admin with the admin role" in chat.coc(
        "mo", f"resolve {case_id} apologized", room=None)
    assert "resolved" in chat.coc("ana", f"resolve {case_id} apologized in the thread", room=None)
    assert "only they, or an admin" in chat.coc("mo", f"reopen {case_id}", room=None)


@pytest.mark.parametrize("spelling", ["ANA", " ana", "ａｎａ"])
def test_a_second_account_by_another_spelling_is_refused(web: FastAPI, app: App,
                                                         spelling: str) -> None:
    with pytest.raises(InvalidInput, match="an account named ana already exists"):
        accounts.add_admin(app.uow(), app.desk.clock, spelling, "admin", PASSWORD)
    with pytest.raises(InvalidInput, match="invisible or control character"):
        accounts.add_admin(app.uow(), app.desk.clock, "an\u200ba", "admin", PASSWORD)
    assert [a.name for a in accounts.account_list(app.uow())].count("ana") == 1
