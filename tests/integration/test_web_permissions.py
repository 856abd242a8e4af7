"""Who may see and do what: visitors, observers, moderators, admins, recused admins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.web import csrf_of, file_case

from conduct_desk.bootstrap import App
from conduct_desk.service import accounts, commands
from conduct_desk.storage import tables

ADMIN_PAGES = ["/queue", "/cases/1", "/cases/1?step=remind", "/people/sandbox:sam", "/audit",
               "/stats"]
PUBLIC_PAGES = ["/", "/report", "/signin", "/static/htmx.min.js", "/static/desk.css"]
CASE_FORMS = [
    ("/cases/1/take", {}),
    ("/cases/1/hand-over", {"to": "ana"}),
    ("/cases/1/steps", {"step": "remind"}),
    ("/cases/1/consult", {"person": "sandbox:jo", "summary": "jo agrees"}),
    ("/cases/1/resolve", {"outcome": "apologized"}),
    ("/cases/1/reopen", {}),
    ("/cases/1/steps/1/done", {}),
    ("/cases/1/steps/1/lift", {}),
]


def _written(engine: object) -> tuple[int, ...]:
    return tuple(count_rows(engine, t) for t in (tables.steps, tables.consultations,  # type: ignore[arg-type]
                                                 tables.audit, tables.notes))


@pytest.mark.parametrize("path", ADMIN_PAGES + ["/settings"])
def test_a_visitor_is_sent_to_sign_in(app: App, visitor: TestClient, path: str) -> None:
    file_case(app)
    r = visitor.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/signin?why=required")


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_a_visitor_sees_the_public_pages(visitor: TestClient, path: str) -> None:
    assert visitor.get(path).status_code == 200


@pytest.mark.parametrize(("path", "data"), CASE_FORMS)
def test_a_visitor_cannot_act(app: App, engine: object, visitor: TestClient, path: str,
                              data: dict[str, str]) -> None:
    file_case(app)
    before = _written(engine)
    csrf = csrf_of(visitor.get("/report").text)
    r = visitor.post(path, data={**data, "csrf": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert _written(engine) == before


@pytest.mark.parametrize("role", ["obs", "mo", "ana"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_every_role_reads_every_page(app: App, clients: dict[str, TestClient], role: str,
                                     path: str) -> None:
    file_case(app)
    assert clients[role].get(path).status_code == 200


@pytest.mark.parametrize(("path", "data"), CASE_FORMS)
def test_an_observer_cannot_act(app: App, engine: object, clients: dict[str, TestClient],
                                path: str, data: dict[str, str]) -> None:
    file_case(app)
    obs = clients["obs"]
    csrf = csrf_of(obs.get("/queue").text)
    before = _written(engine)
    r = obs.post(path, data={**data, "csrf": csrf})
    assert r.status_code == 403
    assert "observer" in r.text
    assert _written(engine) == before


def test_an_observer_sees_no_buttons(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)
    page = clients["obs"].get("/cases/1").text
    assert "Take this case" not in page and "/cases/1/steps" not in page
    assert clients["obs"].get("/cases/1/compose?step=remind").status_code == 403


@pytest.mark.parametrize("role", ["obs", "mo"])
def test_only_admins_see_the_desks_settings(clients: dict[str, TestClient], role: str) -> None:
    """Every account sets its own time zone; the accounts, invitations and tokens are the
    admins'."""
    page = clients[role].get("/settings")
    assert page.status_code == 200 and "Your time zone" in page.text
    assert "Accounts" not in page.text and "Invitations" not in page.text
    assert "API tokens" in clients["ana"].get("/settings").text


def test_a_moderator_takes_steps_but_not_a_ban(app: App, engine: object,
                                               clients: dict[str, TestClient]) -> None:
    file_case(app)
    mo = clients["mo"]
    csrf = csrf_of(mo.get("/cases/1").text)
    assert "Ban (admins only)" in mo.get("/cases/1").text
    r = mo.post("/cases/1/steps", data={"csrf": csrf, "step": "remind"})
    assert r.status_code == 303
    mo.post("/cases/1/consult", data={"csrf": csrf, "person": "sandbox:jo",
                                      "summary": "jo would like a ban"})
    before = _written(engine)
    r = mo.post("/cases/1/steps", data={"csrf": csrf, "step": "ban", "reason": "flagrant"})
    assert r.status_code == 403 and "admin role" in r.text
    assert _written(engine) == before


@pytest.mark.parametrize("who", ["riley", "jo-admin"])
@pytest.mark.parametrize("path", ["/cases/1", "/cases/1?step=remind", "/cases/1/compose?step=remind"])
def test_a_recused_admin_cannot_open_the_case(app: App, clients: dict[str, TestClient], who: str,
                                              path: str) -> None:
    file_case(app)  # riley reported it; jo was hurt
    app.bus.handle(commands.ConfirmHurt(1, "ana", "sandbox:jo"))  # naming alone recuses nobody
    r = clients[who].get(path)
    assert r.status_code == 403
    assert "step aside" in r.text
    assert "shouldn&#39;t be writing code" not in r.text


@pytest.mark.parametrize(("path", "data"), CASE_FORMS)
def test_a_recused_admin_cannot_act(app: App, engine: object, clients: dict[str, TestClient],
                                    path: str, data: dict[str, str]) -> None:
    file_case(app)
    riley = clients["riley"]
    csrf = csrf_of(riley.get("/queue").text)
    before = _written(engine)
    assert riley.post(path, data={**data, "csrf": csrf}).status_code == 403
    assert _written(engine) == before


def test_the_audit_log_hides_cases_the_viewer_is_in(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)  # riley reported sam
    file_case(app, subject="riley", reporter="kim", hurt=())  # a case about riley
    page = clients["riley"].get("/audit").text
    assert "kim" not in page  # riley never learns who reported them
    assert "kim" in clients["ana"].get("/audit").text


@pytest.mark.parametrize("subject", ["sandbox:jo", "slack:riley", "riley"])
def test_an_admin_does_not_see_cases_about_themself(app: App, clients: dict[str, TestClient],
                                                    subject: str) -> None:
    about_sam = file_case(app)
    about_them = file_case(app, subject=subject, reporter="kim", hurt=())
    them = "jo-admin" if subject == "sandbox:jo" else "riley"
    queue = clients[them].get("/queue").text
    assert f'href="/cases/{about_sam}"' in queue and f'href="/cases/{about_them}"' not in queue
    assert f'href="/cases/{about_them}"' in clients["ana"].get("/queue").text
    page = clients[them].get(f"/people/{subject}").text
    assert "This is you" in page and f"/cases/{about_them}" not in page
    assert f"/cases/{about_them}" in clients["ana"].get(f"/people/{subject}").text


def test_the_first_start_says_where_the_setup_link_is(app: App) -> None:
    """A newcomer is told where the one-time setup link is, never a command to type."""
    from conduct_desk.web.app import create_app

    client = TestClient(create_app(app))
    assert not accounts.has_admins(app.uow())
    page = client.get("/signin").text
    assert "one-time setup link where it was started" in page
    assert "conduct" not in page.replace("Conduct Desk", "").replace("Code of Conduct", "")
