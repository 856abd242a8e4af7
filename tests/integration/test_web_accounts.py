"""Account and token changes made from the CLI, as the web desk and the API see them."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from tests.conftest import count_rows
from tests.support.web import PASSWORD, csrf_of, sign_in, try_sign_in

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput, NotFound
from conduct_desk.service import accounts
from conduct_desk.storage import tables

NEW_PASSWORD = "another long password"


def _sent_to_sign_in(client: TestClient) -> bool:
    r = client.get("/queue")
    return r.status_code == 303 and r.headers["location"].startswith("/signin?why=invalid")


def test_a_disabled_account_is_signed_out_and_cannot_sign_in(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    mo = clients["mo"]
    assert mo.get("/queue").status_code == 200
    assert accounts.set_disabled(app.uow(), app.desk.clock, "mo", True) is not None
    assert _sent_to_sign_in(mo)
    r = try_sign_in(TestClient(web, follow_redirects=False), "mo")
    assert r.status_code == 401 and "do not match" in r.text
    assert clients["ana"].get("/queue").status_code == 200  # nobody else is signed out

    assert accounts.set_disabled(app.uow(), app.desk.clock, "mo", False) is not None
    assert sign_in(web, "mo").get("/queue").status_code == 200


def test_a_new_password_ends_the_old_sessions(app: App, web: FastAPI,
                                              clients: dict[str, TestClient]) -> None:
    mo = clients["mo"]
    accounts.set_password(app.uow(), app.desk.clock, "mo", NEW_PASSWORD)
    assert _sent_to_sign_in(mo)
    assert try_sign_in(TestClient(web, follow_redirects=False), "mo", PASSWORD).status_code == 401
    assert sign_in(web, "mo", NEW_PASSWORD).get("/queue").status_code == 200
    assert clients["ana"].get("/queue").status_code == 200


def test_a_role_change_applies_at_the_next_request(app: App,
                                                   clients: dict[str, TestClient]) -> None:
    def sees_accounts(who: str) -> bool:
        return "/settings/accounts/" in clients[who].get("/settings").text

    assert not sees_accounts("obs")
    accounts.set_role(app.uow(), app.desk.clock, "obs", "admin")
    assert sees_accounts("obs")
    accounts.set_role(app.uow(), app.desk.clock, "ana", "observer")
    assert not sees_accounts("ana")


def test_a_revoked_token_gets_401(app: App, web: FastAPI) -> None:
    raw = accounts.create_token(app.uow(), app.desk.clock, "ci-bot", "observer")
    other = accounts.create_token(app.uow(), app.desk.clock, "other", "observer")
    bot = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    assert bot.get("/api/v1/cases").status_code == 200
    assert accounts.revoke_token(app.uow(), app.desk.clock, "ci-bot") is not None
    r = bot.get("/api/v1/cases")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert TestClient(web, headers={"Authorization": f"Bearer {other}"}
                      ).get("/api/v1/cases").status_code == 200
    assert accounts.revoke_token(app.uow(), app.desk.clock, "ci-bot") is None  # already
    assert [(t.name, t.revoked) for t in accounts.token_list(app.uow())] == [
        ("ci-bot", True), ("other", False)]


def _accounts_and_audit(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as conn:
        admins = conn.execute(tables.admins.select().order_by(tables.admins.c.id)).all()
    return (admins, count_rows(engine, tables.audit))


def test_the_last_active_admin_stays(app: App, engine: Engine, web: FastAPI) -> None:
    clock = app.desk.clock
    accounts.set_disabled(app.uow(), clock, "riley", True)  # "ana" and "jo-admin" remain
    accounts.set_role(app.uow(), clock, "jo-admin", "moderator")
    before = _accounts_and_audit(engine)
    with pytest.raises(InvalidInput, match="ana is the last active admin; add another admin"):
        accounts.set_disabled(app.uow(), clock, "ana", True)
    with pytest.raises(InvalidInput, match="ana is the last active admin"):
        accounts.set_role(app.uow(), clock, "ana", "moderator")
    with pytest.raises(NotFound, match="no account named nobody; see `conduct admin list`"):
        accounts.set_role(app.uow(), clock, "nobody", "admin")
    with pytest.raises(NotFound, match="no API token named nope; see `conduct token list`"):
        accounts.revoke_token(app.uow(), clock, "nope")
    assert _accounts_and_audit(engine) == before

    # a disabled admin does not count, but enabling one makes room to demote the other
    accounts.set_disabled(app.uow(), clock, "riley", False)
    assert accounts.set_role(app.uow(), clock, "ana", "moderator") is not None
    roles = {a.name: (a.role, a.disabled) for a in accounts.account_list(app.uow())}
    assert roles["ana"] == (Role.MODERATOR, False) and roles["riley"] == (Role.ADMIN, False)


def test_every_change_is_audited_without_secrets(app: App, engine: Engine, web: FastAPI) -> None:
    clock = app.desk.clock
    raw = accounts.create_token(app.uow(), clock, "ci-bot", "observer")
    accounts.set_password(app.uow(), clock, "mo", NEW_PASSWORD)
    accounts.set_disabled(app.uow(), clock, "mo", True)
    assert accounts.set_disabled(app.uow(), clock, "mo", True) is None  # nothing to do, no entry
    accounts.set_disabled(app.uow(), clock, "mo", False)
    accounts.set_role(app.uow(), clock, "mo", "admin")
    accounts.revoke_token(app.uow(), clock, "ci-bot")
    with app.uow() as uow:
        entries = uow.audit.entries(actor="cli", limit=100)
    changes = [(e.kind, e.summary) for e in entries if not e.kind.endswith((".added", ".created"))]
    assert sorted(changes) == sorted([
        ("admin.password", "web account mo: password changed"),
        ("admin.disabled", "web account mo disabled"),
        ("admin.enabled", "web account mo enabled"),
        ("admin.role", "web account mo: role moderator -> admin"),
        ("token.revoked", "API token ci-bot revoked"),
    ])
    with engine.connect() as conn:
        written = str(conn.execute(tables.audit.select()).all())
    assert NEW_PASSWORD not in written and raw not in written
    assert accounts.token_hash(raw) not in written and "argon2" not in written


def test_an_admin_manages_accounts_and_tokens_on_the_settings_page(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    raw = accounts.create_token(app.uow(), app.desk.clock, "ci-bot", "observer")
    bot = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    ana, mo = clients["ana"], clients["mo"]
    page = ana.get("/settings").text
    assert "ci-bot" in page and raw not in page and "(you)" in page
    csrf = csrf_of(page)

    r = ana.post("/settings/accounts/mo/disable", data={"csrf": csrf})
    assert r.status_code == 303 and "is disabled" in ana.get(r.headers["location"]).text
    assert _sent_to_sign_in(mo)
    r = ana.post("/settings/accounts/obs/role", data={"csrf": csrf, "role": "moderator"})
    assert r.status_code == 303
    assert accounts.find_admin(app.uow(), "obs").role is Role.MODERATOR
    assert bot.get("/api/v1/cases").status_code == 200
    assert ana.post("/settings/tokens/ci-bot/revoke", data={"csrf": csrf}).status_code == 303
    assert bot.get("/api/v1/cases").status_code == 401
    with app.uow() as uow:
        changes = {(e.kind, e.actor) for e in uow.audit.entries()
                   if e.kind in ("admin.disabled", "admin.role", "token.revoked")}
    assert changes == {("admin.disabled", "ana"), ("admin.role", "ana"), ("token.revoked", "ana")}

    # mistakes: a clear message on the page, nothing changed
    r = ana.post("/settings/accounts/ana/disable", data={"csrf": csrf})
    assert r.status_code == 422 and "your own account" in r.text
    r = ana.post("/settings/accounts/obs/role", data={"csrf": csrf, "role": "owner"})
    assert r.status_code == 422 and "unknown role" in r.text
    r = ana.post("/settings/accounts/nobody/disable", data={"csrf": csrf})
    assert r.status_code == 404 and "no account named nobody" in r.text
    assert ana.post("/settings/accounts/mo/enable", data={}).status_code == 403  # no CSRF token
    assert accounts.find_admin(app.uow(), "mo").disabled
    # only admins reach it
    assert "/settings/accounts/" not in clients["obs"].get("/settings").text
    r = clients["riley"].post("/settings/accounts/ana/role",
                              data={"csrf": csrf_of(clients["riley"].get("/settings").text),
                                    "role": "observer"})
    assert r.status_code == 303  # riley is an admin too; ana is no longer the only one
    assert accounts.find_admin(app.uow(), "ana").role is Role.OBSERVER
    assert "/settings/accounts/" not in ana.get("/settings").text


@pytest.mark.parametrize("who", ["mo", "obs"])
def test_only_admins_change_accounts_and_tokens(app: App, clients: dict[str, TestClient],
                                                who: str) -> None:
    accounts.create_token(app.uow(), app.desk.clock, "ci-bot", "observer")
    client = clients[who]
    csrf = csrf_of(client.get("/queue").text)
    for path, data in (("/settings/accounts/ana/disable", {}),
                       ("/settings/accounts/ana/role", {"role": "observer"}),
                       ("/settings/tokens/ci-bot/revoke", {})):
        assert client.post(path, data={**data, "csrf": csrf}).status_code == 403
    assert not accounts.find_admin(app.uow(), "ana").disabled
    assert not accounts.token_list(app.uow())[0].revoked
