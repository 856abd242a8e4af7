"""One view of a person (issue 11, item 3): where they stand now on the person page, the
other open cases about them on each case page, and no further step recommended for someone
already banned — on the web, the API and the command line's view."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support.web import csrf_of, file_case, sign_in

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import accounts, commands
from conduct_desk.service.clock import FakeClock


def _api(app: App, web: FastAPI) -> TestClient:
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    return TestClient(web, headers={"Authorization": f"Bearer {raw}"})


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_each_case_names_the_other_open_cases_about_the_same_person(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    one = file_case(app, subject="sam", message_id="m1")
    two = file_case(app, subject="sam", message_id="m2")
    other = file_case(app, subject="lee", message_id="m3")
    ana = clients["ana"]
    page = _text(ana.get(f"/cases/{one}").text)
    assert "Other open cases about sandbox:sam" in page and f"Case {two}:" in page
    assert f"Case {other}:" not in page
    assert f"Case {one}:" in _text(ana.get(f"/cases/{two}").text)
    assert "Other open cases" not in _text(ana.get(f"/cases/{other}").text)
    assert _api(app, web).get(f"/api/v1/cases/{one}").json()["other_open_cases"] == [two]


def test_someone_already_banned_gets_no_further_step_recommended(
        app: App, web: FastAPI, clients: dict[str, TestClient]) -> None:
    one = file_case(app, subject="sam", message_id="m1", flagrant=True)
    app.bus.handle(commands.Consult(one, "ana", "jo asks for a ban", PersonRef.parse("jo")))
    app.bus.handle(commands.TakeStep(one, "ban", "ana"))
    two = file_case(app, subject="sam", message_id="m2", flagrant=True)
    ana = clients["ana"]
    page = _text(ana.get(f"/cases/{two}").text)
    assert "Recommended next" not in page
    assert (f"Already banned (in case {one}): no further step is recommended for sandbox:sam"
            in page)
    assert "banned since" in page
    assert _api(app, web).get(f"/api/v1/cases/{two}").json()["recommendation"] is None
    # a further step needs a reason, and the form says which field
    csrf = csrf_of(ana.get(f"/cases/{two}").text)
    r = ana.post(f"/cases/{two}/steps", data={"csrf": csrf, "step": "warn"})
    assert r.status_code in (400, 409, 422), r.status_code
    assert "already banned" in r.text and 'id="reason"' in r.text
    assert "--reason" not in r.text
    r = ana.post(f"/cases/{two}/steps", data={"csrf": csrf, "step": "warn",
                                              "reason": "a message for the record"})
    assert r.status_code == 303, r.text


def test_the_person_page_says_where_they_stand_now(
        app: App, web: FastAPI, clock: FakeClock, clients: dict[str, TestClient]) -> None:
    warned = file_case(app, subject="sam", message_id="m1")
    app.bus.handle(commands.TakeStep(warned, "warn", "ana", reason="first a warning"))
    removed = file_case(app, subject="sam", message_id="m2")
    app.bus.handle(commands.TakeStep(removed, "remove", "ana", reason="for this channel"))
    suspended = file_case(app, subject="sam", message_id="m3")
    app.bus.handle(commands.TakeStep(suspended, "suspend", "ana", duration="24h"))
    ana = clients["ana"]
    page = _text(ana.get("/people/sandbox:sam").text)
    assert "Where sandbox:sam stands now" in page
    assert re.search(rf"suspended until \d\d \w+ \d{{4}}, \d\d:\d\d UTC \(case {suspended}\)",
                     page), page
    assert f"removed from #general just now (case {removed})" in page
    assert (f"warned just now (case {warned}); has not confirmed re-reading the Code of "
            "Conduct") in page
    assert f"case {warned}" in page and "Open cases:" in page

    app.bus.handle(commands.ConfirmReread(warned, PersonRef.parse("sam")))
    clock.advance(timedelta(hours=25))  # the suspension is over by itself
    page = _text(sign_in(web, "ana").get("/people/sandbox:sam").text)  # a new day's session
    assert "suspended until" not in page
    assert f"warned 1 day ago (case {warned}); confirmed re-reading the Code of Conduct" in page
    standing = _api(app, web).get("/api/v1/people/sandbox:sam").json()["standing"]
    assert standing["suspended"] is None and standing["warned"][0]["case_id"] == warned


def test_nobody_in_force_is_said_plainly(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app, subject="lee", message_id="m1")
    page = _text(clients["ana"].get("/people/sandbox:lee").text)
    assert "No step is in force" in page and "Open cases: case 1 (new)" in page


def test_the_subject_page_says_what_is_true_now(app: App, web: FastAPI, clock: FakeClock) -> None:
    suspended = file_case(app, subject="sam", message_id="m1")
    app.bus.handle(commands.TakeStep(suspended, "suspend", "ana", duration="24h",
                                     reason="a day away"))
    visitor = TestClient(web)
    with app.uow() as uow:
        token = uow.cases.get(suspended).subject_token
    page = _text(visitor.get(f"/s/{token}").text)
    assert "Your account is suspended" in page and "given back by itself" in page
    assert "I have re-read the Code of Conduct" in page and "closed" not in page

    banned = file_case(app, subject="sam", message_id="m2", flagrant=True)
    app.bus.handle(commands.Consult(banned, "ana", "jo asks for a ban", PersonRef.parse("jo")))
    app.bus.handle(commands.TakeStep(banned, "ban", "ana"))
    with app.uow() as uow:
        token = uow.cases.get(banned).subject_token
    page = _text(visitor.get(f"/s/{token}").text)
    assert "Your account is closed" in page and "ask them to look again" in page
    assert "I have re-read" not in page and "suspended" not in page
    assert "Send my appeal" in page


def test_a_case_page_lists_the_latest_earlier_steps_and_counts_them_all(
        app: App, clients: dict[str, TestClient]) -> None:
    earlier = []
    for n in range(12):
        case_id = file_case(app, subject="sam", message_id=f"m{n}")
        app.bus.handle(commands.TakeStep(case_id, "remind" if n % 3 else "warn", "ana",
                                         reason="for the test's history"))
        app.bus.handle(commands.ResolveCase(case_id, "ana", "steps-taken"))
        earlier.append(case_id)
    now = file_case(app, subject="sam", message_id="m-now")
    page = _text(clients["ana"].get(f"/cases/{now}").text)
    history = page.split("Earlier steps about sandbox:sam")[1].split("Timeline")[0]
    assert "12 earlier steps in 12 cases: 8 remind, 4 warn. The latest 10:" in history
    listed = [int(n) for n in re.findall(r"in case (\d+),", history)]
    assert listed == earlier[2:]  # the latest ten, oldest first
    assert "Everything about sandbox:sam" in history
    person = _text(clients["ana"].get("/people/sandbox:sam").text)
    assert all(f"case {c}" in person.lower() for c in earlier)  # the person page has all
