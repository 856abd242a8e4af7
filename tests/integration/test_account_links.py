"""Accounts without the command line (issue 11, item 11) and times people can read (item 9):
the first admin from a one-time setup link, invitations by admins, each account's time zone,
and the times in texts to members. Over HTTP, as a browser sends the forms."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from tests.support.accounts import add_admins
from tests.support.web import PASSWORD, csrf_of, file_case, sign_in

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands, invites
from conduct_desk.service.clock import FakeClock
from conduct_desk.web.app import create_app

LINK = re.compile(r'value="(https?://[^"]+/invite/[^"]+)"')


@pytest.fixture
def fresh(app: App, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """A desk with no account at all, as on its first start."""
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8,
                                                            parallelism=1))
    return create_app(app)


def _join(client: TestClient, path: str, name: str = "ana", password: str = PASSWORD,
          again: str | None = None, *, csrf: bool = True) -> Response:
    page = client.get(path).text
    if 'name="csrf"' not in page:  # the link no longer works: a token from another form
        page = client.get("/report").text
    data = {"name": name, "password": password, "again": password if again is None else again}
    if csrf:
        data["csrf"] = csrf_of(page)
    return client.post(path, data=data)


def _exists(app: App, name: str) -> bool:
    with app.uow() as uow:
        return accounts.account_named(uow, name) is not None


def _kinds(app: App) -> list[str]:
    with app.uow() as uow:
        return [e.kind for e in uow.audit.entries()]


# -- the first admin ------------------------------------------------------------------------


def test_the_setup_link_makes_the_first_admin_once(app: App, fresh: FastAPI) -> None:
    raw = invites.new_setup_link(app.uow(), app.desk.clock)
    assert raw is not None
    with app.uow() as uow:  # only its hash is kept
        assert raw not in str(uow.accounts.invites(invites.InviteKind.SETUP))
    browser = TestClient(fresh, follow_redirects=False)
    page = browser.get(f"/setup/{raw}")
    assert page.status_code == 200 and "Set up the desk" in page.text
    assert "conduct admin" not in page.text

    # password rules as everywhere, pointing at the field to change; nothing made
    r = _join(browser, f"/setup/{raw}", password="short")
    assert r.status_code == 422 and "use at least 10" in r.text
    assert "(change the Password field)" in r.text
    r = _join(browser, f"/setup/{raw}", again="another long password")
    assert r.status_code == 422 and "(change the “Password again” field)" in r.text
    r = _join(browser, f"/setup/{raw}", name="two words")
    assert r.status_code == 422 and "(change the Name field)" in r.text
    r = _join(browser, f"/setup/{raw}", csrf=False)  # a forged form
    assert r.status_code == 403
    assert not accounts.has_admins(app.uow())

    r = _join(browser, f"/setup/{raw}", name="Ana")
    assert r.status_code == 303 and r.headers["location"].startswith("/queue")
    queue = browser.get("/queue")  # signed in at once
    assert queue.status_code == 200 and "Ana" in queue.text
    assert accounts.find_admin(app.uow(), "ana").role is Role.ADMIN
    assert "admin.added" in _kinds(app)

    # once only: the same link again, by anyone
    again = TestClient(fresh, follow_redirects=False)
    r = again.get(f"/setup/{raw}")
    assert r.status_code == 410 and "already been used" in r.text
    r = _join(again, f"/setup/{raw}", name="mallory")
    assert r.status_code == 410 and not _exists(app, "mallory")
    # and no new setup link while an admin exists
    assert invites.new_setup_link(app.uow(), app.desk.clock) is None


def test_a_wrong_or_expired_setup_link_makes_nothing(app: App, fresh: FastAPI,
                                                     clock: FakeClock) -> None:
    raw = invites.new_setup_link(app.uow(), app.desk.clock)
    assert raw is not None
    browser = TestClient(fresh, follow_redirects=False)
    r = browser.get(f"/setup/{raw[:-2]}xy")
    assert r.status_code == 404 and "not a link the desk made" in r.text
    assert browser.get("/setup/" + "x" * 150).status_code == 404
    invite_raw = raw  # a setup token is no invitation
    assert browser.get(f"/invite/{invite_raw}").status_code == 404

    clock.advance(invites.SETUP_LIFETIME + timedelta(minutes=1))
    r = browser.get(f"/setup/{raw}")
    assert r.status_code == 410 and "expired" in r.text and "fresh setup link" in r.text
    assert _join(browser, f"/setup/{raw}").status_code == 410
    assert not accounts.has_admins(app.uow())
    fresh_raw = invites.new_setup_link(app.uow(), app.desk.clock)  # a new one works
    assert fresh_raw is not None and _join(browser, f"/setup/{fresh_raw}").status_code == 303


# -- invitations ----------------------------------------------------------------------------


def _invite(client: TestClient, role: str = "moderator", name: str = "") -> Response:
    csrf = csrf_of(client.get("/settings").text)
    return client.post("/settings/invites", data={"csrf": csrf, "role": role, "name": name})


def test_an_admin_invites_and_the_invitee_chooses_a_password(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    r = _invite(clients["ana"], "moderator")
    assert r.status_code == 200 and "Send this link to them privately" in r.text
    link = LINK.search(r.text)
    assert link is not None
    path = link.group(1).split("testserver", 1)[1]
    assert "/invite/" in path and path not in clients["ana"].get("/settings").text  # shown once

    newcomer = TestClient(web, follow_redirects=False)
    page = newcomer.get(path)
    assert page.status_code == 200 and "ana invited you" in page.text and "moderator" in page.text
    r = _join(newcomer, path, name="kit", password="short")
    assert r.status_code == 422 and "(change the Password field)" in r.text
    r = _join(newcomer, path, name="MO")  # taken, whatever the case
    assert r.status_code == 422 and "already exists" in r.text and "(change the Name field)" in r.text
    r = _join(newcomer, path, name="kit", password="kit's own long password")
    assert r.status_code == 303
    assert newcomer.get("/queue").status_code == 200
    kit = accounts.find_admin(app.uow(), "kit")
    assert kit.role is Role.MODERATOR
    assert sign_in(web, "kit", "kit's own long password").get("/queue").status_code == 200

    r = TestClient(web, follow_redirects=False).get(path)  # single use
    assert r.status_code == 410 and "already been used" in r.text
    settings = clients["ana"].get("/settings").text
    assert "used by kit" in settings
    with app.uow() as uow:
        entries = [(e.kind, e.actor) for e in uow.audit.entries()
                   if e.kind in ("invite.created", "admin.added")]
    assert entries[-2:] == [("invite.created", "ana"), ("admin.added", "kit")]


def test_a_named_invitation_keeps_its_name(app: App, web: FastAPI,
                                           clients: dict[str, TestClient]) -> None:
    r = _invite(clients["ana"], "observer", "lou")
    link = LINK.search(r.text)
    assert link is not None
    path = link.group(1).split("testserver", 1)[1]
    r = _join(TestClient(web, follow_redirects=False), path, name="someone-else")
    assert r.status_code == 303
    assert accounts.find_admin(app.uow(), "lou").role is Role.OBSERVER
    assert not _exists(app, "someone-else")


@pytest.mark.parametrize("who", ["mo", "obs"])
def test_only_admins_invite(app: App, clients: dict[str, TestClient], who: str) -> None:
    csrf = csrf_of(clients[who].get("/settings").text)
    r = clients[who].post("/settings/invites", data={"csrf": csrf, "role": "observer"})
    assert r.status_code == 403
    assert invites.invitations(app.uow()) == []


def test_the_role_of_an_invitation_is_capped_by_the_inviter(app: App, web: FastAPI,
                                                            clients: dict[str, TestClient]) -> None:
    mo = accounts.find_admin(app.uow(), "mo")
    with pytest.raises(InvalidInput, match="only admins"):
        invites.invite(app.uow(), app.desk.clock, mo, "observer")
    r = _invite(clients["ana"], "owner")
    assert r.status_code == 422 and "unknown role" in r.text
    r = _invite(clients["ana"], "moderator", "mo")
    assert r.status_code == 422 and "(change the Name field of the invitation)" in r.text
    r = clients["ana"].post("/settings/invites", data={"role": "admin"})  # no CSRF token
    assert r.status_code == 403
    assert invites.invitations(app.uow()) == []
    # demoted since the page was loaded: refused at once
    csrf = csrf_of(clients["riley"].get("/settings").text)
    accounts.set_role(app.uow(), app.desk.clock, "riley", "moderator")
    r = clients["riley"].post("/settings/invites", data={"csrf": csrf, "role": "admin"})
    assert r.status_code == 403 and invites.invitations(app.uow()) == []


def test_a_revoked_or_expired_invitation_makes_nothing(
        app: App, web: FastAPI, clients: dict[str, TestClient], clock: FakeClock) -> None:
    ana = clients["ana"]
    revoked = LINK.search(_invite(ana, "admin").text)
    expiring = LINK.search(_invite(ana, "moderator").text)
    assert revoked is not None and expiring is not None
    first = invites.invitations(app.uow())[-1]
    csrf = csrf_of(ana.get("/settings").text)
    r = ana.post(f"/settings/invites/{first.id}/revoke", data={"csrf": csrf})
    assert r.status_code == 303 and "no longer works" in ana.get(r.headers["location"]).text
    r = ana.post(f"/settings/invites/{first.id}/revoke", data={"csrf": csrf})
    assert r.headers["location"].endswith("done=unchanged")
    newcomer = TestClient(web, follow_redirects=False)
    path = revoked.group(1).split("testserver", 1)[1]
    r = newcomer.get(path)
    assert r.status_code == 410 and "revoked" in r.text
    assert _join(newcomer, path, name="eve").status_code == 410
    assert "invite.revoked" in _kinds(app)

    clock.advance(invites.INVITE_LIFETIME + timedelta(seconds=1))
    path = expiring.group(1).split("testserver", 1)[1]
    r = newcomer.get(path)
    assert r.status_code == 410 and "expired" in r.text and "new invitation" in r.text
    assert _join(newcomer, path, name="eve").status_code == 410
    assert not _exists(app, "eve")
    ana = sign_in(web, "ana")  # a week later: her session has ended too
    csrf = csrf_of(ana.get("/settings").text)
    assert "expired" in ana.get("/settings").text
    assert ana.post("/settings/invites/99999/revoke", data={"csrf": csrf}).status_code == 404


# -- time zones ----------------------------------------------------------------------------


def test_pages_show_times_in_the_accounts_time_zone(app: App,
                                                    clients: dict[str, TestClient]) -> None:
    case_id = file_case(app)
    mo = clients["mo"]
    page = mo.get(f"/cases/{case_id}").text
    utc = re.search(r'<time datetime="([^"]+)" title="([^"]+ UTC)">([^<]+)</time>', page)
    assert utc is not None and utc.group(3) == utc.group(2)  # UTC until one is chosen

    csrf = csrf_of(mo.get("/settings").text)
    r = mo.post("/settings/time-zone", data={"csrf": csrf, "time_zone": " Asia/Tokyo "})
    assert r.status_code == 303 and "Your time zone is saved" in mo.get(r.headers["location"]).text
    page = mo.get(f"/cases/{case_id}").text
    shown = re.search(r'<time datetime="([^"]+)" title="([^"]+) UTC">([^<]+)</time>', page)
    assert shown is not None
    at = datetime.fromisoformat(shown.group(1))
    assert shown.group(2) == f"{at:%Y-%m-%d %H:%M}"  # UTC on hover
    assert shown.group(3) == f"{at + timedelta(hours=9):%Y-%m-%d %H:%M} JST"
    assert f">{at:%Y-%m-%d %H:%M} UTC</time>" in clients["ana"].get(f"/cases/{case_id}").text
    assert accounts.find_admin(app.uow(), "mo").time_zone == "Asia/Tokyo"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "+02:00"])
def test_an_unknown_time_zone_is_refused_at_its_field(app: App, clients: dict[str, TestClient],
                                                      zone: str) -> None:
    mo = clients["mo"]
    csrf = csrf_of(mo.get("/settings").text)
    r = mo.post("/settings/time-zone", data={"csrf": csrf, "time_zone": zone})
    assert r.status_code == 422
    assert "not a time zone the desk knows" in r.text and "(change the Time zone field)" in r.text
    assert accounts.find_admin(app.uow(), "mo").time_zone == "UTC"
    assert mo.post("/settings/time-zone", data={"time_zone": "Europe/Paris"}).status_code == 403


# -- texts to members ----------------------------------------------------------------------


def test_texts_to_members_give_utc_and_how_far_off(app: App, sandbox: SandboxPlatform) -> None:
    add_admins(app, "ana")
    sam, riley = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
    filed = app.bus.handle(commands.FileReport(subject=sam, reporter=riley, source=Source.CLI,
                                               channel="#general", message_id="m1"))
    thanks = next(c.text for c in sandbox.calls if c.method == "send_dm")
    assert "within 2 hours (by Tuesday 24 November 2026, 11:00 UTC)" in (thanks or "")
    app.bus.handle(commands.TakeCase(filed.case_id, "ana"))
    sandbox.calls.clear()
    app.bus.handle(commands.TakeStep(filed.case_id, "suspend", "ana", duration="24h",
                                     reason="repeated insults"))
    to_sam = next(c.text for c in sandbox.calls if c.method == "send_dm" and c.person == sam)
    assert "Wednesday 25 November 2026, 09:00 UTC (in 24 hours)" in (to_sam or ""), to_sam
