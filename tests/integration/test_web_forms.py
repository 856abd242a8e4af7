"""Every form: what it records, and a clear error (with nothing written) when input is wrong."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.web import PASSWORD, csrf_of, file_case

from conduct_desk.bootstrap import App
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.web.routes import queue
from conduct_desk.web.security import SESSION_COOKIE


def _steps(engine: object) -> int:
    return count_rows(engine, tables.steps)  # type: ignore[arg-type]


def test_an_admin_walks_a_case_up_every_rung(app: App, engine: object, sandbox: SandboxPlatform,
                                             clock: FakeClock,
                                             clients: dict[str, TestClient]) -> None:
    file_case(app)
    ana = clients["ana"]
    page = ana.get("/cases/1")
    csrf = csrf_of(page.text)
    assert "Recommended next: remind" in page.text
    assert ana.post("/cases/1/take", data={"csrf": csrf}).status_code == 303
    for step, extra in [("remind", {}), ("suggest", {"suggestion": "talk about the code"}),
                        ("remove", {}), ("warn", {}), ("suspend", {"duration": "12h"})]:
        compose = ana.get(f"/cases/1/compose?step={step}"
                          + "".join(f"&{k}={v}" for k, v in extra.items()))
        assert compose.status_code == 200
        text = compose.text.split('name="original" value="')[1].split('"')[0]
        r = ana.post("/cases/1/steps", data={"csrf": csrf, "step": step, "original": text,
                                             "text": text, **extra})
        assert r.status_code == 303, r.text
        clock.advance(timedelta(minutes=20))
    r = ana.post("/cases/1/steps", data={"csrf": csrf, "step": "ban", "text": "x", "original": "y"})
    assert r.status_code == 409 and "consult" in r.text
    assert ana.post("/cases/1/consult", data={"csrf": csrf, "person": "sandbox:jo",
                                              "summary": "jo asks for a ban"}).status_code == 303
    assert ana.post("/cases/1/steps", data={"csrf": csrf, "step": "ban"}).status_code == 303
    methods = [c.method for c in sandbox.calls]
    for expected in ("post_reply", "remove_from_channel", "send_dm", "suspend", "ban"):
        assert expected in methods
    page = ana.get("/cases/1").text
    for step in ("remind", "suggest", "remove", "warn", "suspend", "ban"):
        assert f"<th scope=\"row\">{step}" in page
    assert ana.post("/cases/1/resolve", data={"csrf": csrf, "outcome": "steps-taken"}
                    ).status_code == 303
    assert ana.post("/cases/1/reopen", data={"csrf": csrf}).status_code == 303


def test_an_edited_text_is_sent_as_edited(app: App, sandbox: SandboxPlatform,
                                          clients: dict[str, TestClient]) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    r = ana.post("/cases/1/steps", data={"csrf": csrf, "step": "remind", "original": "old",
                                         "text": "Sam, please keep it about the code."})
    assert r.status_code == 303
    assert sandbox.calls[-1].text == "Sam, please keep it about the code."


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"step": "remind", "text": "x" * 20_001, "original": "y"}, 422, "shorten it"),
    ({"step": "warn"}, 422, "say why (change the “Why this step” field)"),
    ({"step": "shout"}, 422, "no step &#39;shout&#39;"),
    ({"step": "suspend", "duration": "ten", "reason": "r"}, 422, "duration"),
    ({"step": "suspend", "duration": "9d", "reason": "r"}, 422, "outside"),
    ({"step": "remind", "text": "   ", "original": "y"}, 422, "empty"),
    ({"step": "remind", "text": "riley saw you", "original": "y"}, 422, "report"),
    ({}, 422, "step"),
])
def test_a_bad_step_says_why_and_records_nothing(app: App, engine: object,
                                                 clients: dict[str, TestClient],
                                                 data: dict[str, str], status: int,
                                                 message: str) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    r = ana.post("/cases/1/steps", data={"csrf": csrf, **data})
    assert r.status_code == status, r.text
    assert message in r.text
    assert _steps(engine) == 0
    if "text" in data and data["text"].strip() and len(data["text"]) < 100:
        assert data["text"] in r.text  # what was typed is kept


@pytest.mark.parametrize(("data", "message"), [
    ({"outcome": "no-action"}, "why no action"),
    ({"outcome": "duplicate"}, "which case"),
    ({"outcome": "forgiven"}, "unknown outcome"),
    ({"outcome": "steps-taken"}, "no steps yet"),
    ({"outcome": "apologized", "reason": "r" * 2001}, "shorten"),
])
def test_a_bad_resolve_says_why(app: App, clients: dict[str, TestClient], data: dict[str, str],
                                message: str) -> None:
    file_case(app)
    ana = clients["ana"]
    r = ana.post("/cases/1/resolve", data={"csrf": csrf_of(ana.get("/cases/1").text), **data})
    assert r.status_code in (409, 422)
    assert message in r.text
    assert "Resolve the case" in r.text  # still open


@pytest.mark.parametrize(("data", "message"), [
    ({"summary": "talked"}, "name the person"),
    ({"person": "sandbox:jo", "not_possible": "true", "summary": "x"}, "name the person"),
    ({"person": "sandbox:jo", "summary": ""}, "summary is empty"),
    ({"person": "sandbox:sam", "summary": "x"}, "not with the subject"),
    ({"person": "sandbox:jo", "summary": "x" * 20_001}, "shorten"),
    ({"person": "sandbox:jo", "not_possible": "maybe", "summary": "x"}, "not_possible"),
])
def test_a_bad_consultation_says_why(app: App, engine: object, clients: dict[str, TestClient],
                                     data: dict[str, str], message: str) -> None:
    file_case(app)
    ana = clients["ana"]
    r = ana.post("/cases/1/consult", data={"csrf": csrf_of(ana.get("/cases/1").text), **data})
    assert r.status_code == 422
    assert message in r.text
    assert count_rows(engine, tables.consultations) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/cases/1/take", "/cases/1/steps", "/cases/1/consult",
                                  "/cases/1/resolve", "/cases/1/reopen", "/signout"])
@pytest.mark.parametrize("token", [None, "forged"])
def test_a_form_without_its_csrf_token_is_refused(app: App, engine: object,
                                                  clients: dict[str, TestClient], path: str,
                                                  token: str | None) -> None:
    file_case(app)
    before = count_rows(engine, tables.audit)  # type: ignore[arg-type]
    data = {"step": "remind", "outcome": "apologized", "summary": "x", "person": "sandbox:jo"}
    if token:
        data["csrf"] = token
    r = clients["ana"].post(path, data=data)
    assert r.status_code == 403
    assert "send it again" in r.text
    assert count_rows(engine, tables.audit) == before  # type: ignore[arg-type]


def test_an_expired_session_signs_out_and_writes_nothing(app: App, engine: object,
                                                         clock: FakeClock,
                                                         clients: dict[str, TestClient]) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    clock.advance(timedelta(hours=13))
    r = ana.get("/queue")
    assert r.status_code == 303 and "why=expired" in r.headers["location"]
    r = ana.post("/cases/1/take", data={"csrf": csrf})
    assert r.status_code == 303 and "why=expired" in r.headers["location"]
    assert "session ended" in ana.get(r.headers["location"]).text
    assert _steps(engine) == 0
    with app.uow() as uow:
        assert uow.cases.get(1).taken_by is None


def test_a_tampered_session_is_refused(clients: dict[str, TestClient]) -> None:
    ana = clients["ana"]
    cookie = ana.cookies[SESSION_COOKIE]
    ana.cookies.set(SESSION_COOKIE, cookie[:-2] + "xx")
    r = ana.get("/queue")
    assert r.status_code == 303 and "why=invalid" in r.headers["location"]


def test_sign_in_errors(visitor: TestClient) -> None:
    csrf = csrf_of(visitor.get("/signin").text)
    r = visitor.post("/signin", data={"csrf": csrf, "name": "ana", "password": "wrong one!"})
    assert r.status_code == 401 and "do not match" in r.text
    assert visitor.post("/signin", data={"name": "ana", "password": "x"}).status_code == 403
    r = visitor.post("/signin", data={"csrf": csrf, "name": "n" * 201, "password": "x"})
    assert r.status_code == 422
    r = visitor.post("/signin", data={"csrf": csrf, "name": "ana", "password": PASSWORD})
    assert r.status_code == 303  # a typo costs nothing


def test_processes_sharing_the_database_share_the_sign_in_back_off(
        app: App, engine: object, clock: FakeClock, web: object) -> None:
    from conduct_desk.bootstrap import bootstrap
    from conduct_desk.config import Settings
    from conduct_desk.web.app import create_app

    other = bootstrap(Settings(database_url=app.settings.database_url), engine=app.engine,
                      policy=app.desk.policy, clock=clock)
    processes = [TestClient(web), TestClient(create_app(other))]  # type: ignore[arg-type]
    for attempt in range(3):  # the attempts go to one process, then the other
        client = processes[attempt % 2]
        csrf = csrf_of(client.get("/signin").text)
        r = client.post("/signin", data={"csrf": csrf, "name": "Ana", "password": "wrong one!"})
        assert r.status_code == 401
    for client in processes:
        csrf = csrf_of(client.get("/signin").text)
        r = client.post("/signin", data={"csrf": csrf, "name": "ana",
                                         "password": "a long enough password"})
        assert r.status_code == 429
    # what is kept says neither who tried nor from where
    with app.engine.connect() as conn:  # type: ignore[attr-defined]
        kept = [tuple(row) for row in conn.execute(tables.rate_hits.select())]
    assert len(kept) == 9 and not any("ana" in str(row) or "testclient" in str(row)
                                      for row in kept)
    clock.advance(timedelta(seconds=2))
    csrf = csrf_of(processes[1].get("/signin").text)
    r = processes[1].post("/signin", data={"csrf": csrf, "name": "ana", "password": PASSWORD})
    assert r.status_code == 200 and "3 sign-in attempts" in r.text  # after the redirect


def test_session_cookie_flags(clients: dict[str, TestClient], visitor: TestClient) -> None:
    csrf = csrf_of(visitor.get("/signin").text)
    r = visitor.post("/signin", data={"csrf": csrf, "name": "mo",
                                      "password": "a long enough password"})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_the_queue_is_ordered_by_urgency(app: App, clock: FakeClock,
                                         clients: dict[str, TestClient]) -> None:
    file_case(app, subject="a1", reporter=None, hurt=())
    clock.advance(timedelta(minutes=10))
    file_case(app, subject="b2", reporter="kim", hurt=())
    file_case(app, subject="c3", reporter=None, hurt=(), flagrant=True)
    clock.advance(timedelta(hours=3))
    page = clients["obs"].get("/queue").text
    order = [page.index(f"sandbox:{s}") for s in ("c3", "b2", "a1")]
    assert order == sorted(order)
    assert "overdue" in page


def test_the_queue_pages_through_every_open_case(app: App, clock: FakeClock,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 clients: dict[str, TestClient]) -> None:
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    for name in ("a1", "b2", "c3", "d4", "e5"):  # the oldest is the nearest deadline: a1 first
        file_case(app, subject=name, reporter=None, hurt=())
        clock.advance(timedelta(minutes=1))
    obs = clients["obs"]
    seen = []
    pages = [obs.get("/queue").text]
    while 'rel="next"' in pages[-1]:
        seen += re.findall(r'href="/cases/(\d+)"', pages[-1])
        pages.append(obs.get(re.findall(r'href="(/queue\?page=\d+)" rel="next"', pages[-1])[0]).text)
    seen += re.findall(r'href="/cases/(\d+)"', pages[-1])
    assert seen == ["1", "2", "3", "4", "5"]
    assert len(pages) == 3
    assert "Cases 1–2 of 5 (page 1 of 3)" in pages[0] and 'rel="prev"' not in pages[0]
    assert 'href="/queue?page=1" rel="prev"' in pages[1] and "Next 1<" in pages[1]
    assert "Case 5 of 5 (page 3 of 3)" in pages[2] and 'rel="next"' not in pages[2]
    past = obs.get("/queue?page=9")
    assert past.status_code == 200 and "past the end of the queue" in past.text
    assert 'href="/queue?page=3"' in past.text
    assert obs.get("/queue?page=0").status_code == 422
    assert obs.get("/queue?page=x").status_code == 422


def test_a_short_queue_has_no_pager(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)
    page = clients["obs"].get("/queue").text
    assert "Case 1<" in page and "Queue pages" not in page and "1 to 1 of 1" in page


def test_bad_case_ids(clients: dict[str, TestClient]) -> None:
    assert clients["ana"].get("/cases/abc").status_code == 422
    r = clients["ana"].get("/cases/999")
    assert r.status_code == 404 and "no case 999" in r.text


def test_audit_filters(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)
    file_case(app, subject="lee", reporter="kim", hurt=())
    ana = clients["ana"]
    assert "lee" not in ana.get("/audit?case=1").text
    assert "report by sandbox:kim" in ana.get("/audit?actor=sandbox:kim").text
    assert "Nothing matches" in ana.get("/audit?since=2030-01-01").text
    assert "report by" in ana.get("/audit?since=2026-11-24&until=2026-11-24").text
    r = ana.get("/audit?since=yesterday")
    assert r.status_code == 422 and "not a date" in r.text
    assert ana.get("/audit?case=x1").status_code == 422
    assert ana.get("/audit?actor=" + "a" * 301).status_code == 422


def test_stats_and_person_pages(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    ana.post("/cases/1/steps", data={"csrf": csrf, "step": "remind"})
    stats = ana.get("/stats").text
    assert stats.count("<svg") == 4 and '<th scope="row">remind</th><td>1</td>' in stats
    person = ana.get("/people/sandbox:sam").text
    assert "Case 1" in person and "remind" in person
    assert ana.get("/stats?days=0").status_code == 422


def test_the_holder_hands_a_case_over_and_an_admin_can_reassign(
        app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)  # riley reported it, jo was hurt: riley cannot take it over
    mo, ana = clients["mo"], clients["ana"]
    page = mo.get("/cases/1").text
    assert "Give this case to" in page
    offered = re.findall(r"<option>([^<]+)</option>", page)
    # active, may act, not visibly involved (obs only reads); jo-admin was only named as hurt
    assert offered == ["ana", "jo-admin", "mo"]
    csrf = csrf_of(page)
    r = mo.post("/cases/1/hand-over", data={"csrf": csrf, "to": "riley"})
    assert r.status_code == 422 and "Choose an admin from the list" in r.text
    assert mo.post("/cases/1/hand-over", data={"csrf": csrf, "to": "mo"}).status_code == 303
    assert "taken by mo" in mo.get("/cases/1").text
    # ana (admin role) may take it from mo, who is away; mo can give it back, obs never sees it
    assert "Hand this case over to" in ana.get("/cases/1").text
    assert "Hand this case over to" not in clients["obs"].get("/cases/1").text
    r = ana.post("/cases/1/hand-over", data={"csrf": csrf_of(ana.get("/cases/1").text),
                                             "to": "ana"})
    assert r.status_code == 303 and "handed over" in ana.get(r.headers["location"]).text
    assert "Hand this case over to" not in mo.get("/cases/1").text  # a moderator, not the holder
    r = mo.post("/cases/1/hand-over", data={"csrf": csrf, "to": "mo"})
    assert r.status_code == 409 and "only they, or an admin with the admin role" in r.text
    assert "taken by ana" in mo.get("/cases/1").text
