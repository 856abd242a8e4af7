"""The members' report form, the reporter's status link and the subject's private link."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.web import advance, csrf_of, file_case, for_people, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables

GOOD = {"subject": "sam", "what": "Called my code garbage written by a garbage person."}


def _form(visitor: TestClient, clock: FakeClock) -> dict[str, str]:
    page = visitor.get("/report").text
    advance(clock, 10)
    return {"csrf": csrf_of(page), "stamp": stamp_of(page)}


def test_an_anonymous_report_and_its_status_link(app: App, clock: FakeClock,
                                                 visitor: TestClient,
                                                 clients: dict[str, TestClient]) -> None:
    data = {**_form(visitor, clock), **GOOD, "reporter": "riley", "anonymous": "true",
            "hurt": "jo, slack:U9", "note": "it keeps happening"}
    r = visitor.post("/report", data=data)
    assert r.status_code == 303
    status_url = r.headers["location"]
    page = visitor.get(status_url).text
    assert "Thank you" in page and "Waiting for an admin" in page
    # nothing about the subject (in what the page says: its link's token is random)
    assert "sam" not in for_people(page).replace(status_url.rstrip("/").rsplit("/", 1)[-1], "")
    case = clients["ana"].get("/cases/1").text
    # anonymous from admins too: riley, an admin, is offered in the hand-over list as every
    # admin is, and appears nowhere else
    assert "anonymous" in case and case.count("riley") == 1 and "<option>riley</option>" in case
    assert "sandbox:jo" in case and "slack:U9" in case
    csrf = csrf_of(case)
    clients["ana"].post("/cases/1/steps", data={"csrf": csrf, "step": "remind"})
    clients["ana"].post("/cases/1/resolve", data={"csrf": csrf, "outcome": "steps-taken"})
    page = visitor.get(status_url.split("?")[0]).text
    assert "reminded" in page and "steps taken" in page and "Done" in page
    assert "garbage" not in page


@pytest.mark.parametrize(("change", "message"), [
    ({"subject": ""}, "who it is about"),
    ({"what": "  "}, "what happened"),
    ({"what": "x" * 20_001}, "shorten it"),
    ({"subject": "s" * 301}, "at most 300"),
    ({"reporter": "sam"}, "same person"),
    ({"link": "javascript:alert(1)"}, "https://"),
    ({"hurt": ",".join(f"p{i}" for i in range(21))}, "at most 20"),
    ({"note": "n" * 20_001}, "shorten it"),
    ({"website": "http://spam.example"}, "looked automated"),
    ({"stamp": "forged"}, "looked automated"),
    ({"anonymous": "perhaps"}, "anonymous"),
])
def test_a_bad_report_says_why_and_files_nothing(app: App, engine: object, clock: FakeClock,
                                                 visitor: TestClient, change: dict[str, str],
                                                 message: str) -> None:
    data = {**_form(visitor, clock), **GOOD, **change}
    r = visitor.post("/report", data=data)
    assert r.status_code == 422, r.text
    assert message in r.text
    assert count_rows(engine, tables.reports) == 0  # type: ignore[arg-type]
    if change.get("what", "").strip() and len(change["what"]) < 100:
        assert change["what"] in r.text


def test_a_report_sent_too_fast_or_too_late(app: App, engine: object, clock: FakeClock,
                                            visitor: TestClient) -> None:
    page = visitor.get("/report").text
    data = {"csrf": csrf_of(page), "stamp": stamp_of(page), **GOOD}
    assert "looked automated" in visitor.post("/report", data=data).text  # at once: a robot
    advance(clock, 7 * 3600)
    assert "open a long time" in visitor.post("/report", data=data).text
    assert count_rows(engine, tables.reports) == 0  # type: ignore[arg-type]
    assert visitor.post("/report", data={**GOOD, "stamp": data["stamp"]}).status_code == 403


def test_reports_are_rate_limited_per_client(app: App, engine: object, clock: FakeClock,
                                             visitor: TestClient) -> None:
    for i in range(10):
        r = visitor.post("/report", data={**_form(visitor, clock), "subject": f"s{i}",
                                          "what": "not ok"})
        assert r.status_code == 303
    r = visitor.post("/report", data={**_form(visitor, clock), **GOOD})
    assert r.status_code == 429 and "try again later" in r.text
    assert count_rows(engine, tables.reports) == 10  # type: ignore[arg-type]


def test_unknown_links(visitor: TestClient) -> None:
    for path in ("/r/nope", "/s/nope", "/r/" + "x" * 200):
        r = visitor.get(path)
        assert r.status_code == 404 and "copied whole" in r.text


def _warned(app: App) -> str:
    file_case(app)
    app.bus.handle(commands.TakeStep(1, "warn", "ana", reason="it was harsh"))
    with app.uow() as uow:
        token = uow.cases.get(1).subject_token
    assert token
    return token


def test_the_subject_confirms_and_appeals(app: App, visitor: TestClient,
                                          clients: dict[str, TestClient]) -> None:
    token = _warned(app)
    page = visitor.get(f"/s/{token}").text
    assert "formal warning" in page
    # never who reported (in what the page says: its link's random token may hold "jo")
    said = for_people(page).replace(token, "").replace("join", "")
    assert "riley" not in said and "jo" not in said
    csrf = csrf_of(page)
    assert visitor.post(f"/s/{token}/confirm", data={"csrf": csrf}).status_code == 303
    assert "You confirmed re-reading" in visitor.get(f"/s/{token}").text
    r = visitor.post(f"/s/{token}/appeal", data={"csrf": csrf, "text": "I was quoting a film."})
    assert r.status_code == 303
    assert "Your appeal is with the admins" in visitor.get(r.headers["location"]).text
    case = clients["ana"].get("/cases/1").text
    assert "I was quoting a film." in case and "Confirmed re-reading" in case


@pytest.mark.parametrize(("text", "message"), [("  ", "appeal is empty"),
                                               ("x" * 20_001, "shorten it")])
def test_a_bad_appeal_says_why(app: App, engine: object, visitor: TestClient, text: str,
                               message: str) -> None:
    token = _warned(app)
    csrf = csrf_of(visitor.get(f"/s/{token}").text)
    r = visitor.post(f"/s/{token}/appeal", data={"csrf": csrf, "text": text})
    assert r.status_code == 422 and message in r.text
    assert count_rows(engine, tables.notes) == 0  # type: ignore[arg-type]


def test_subject_forms_need_csrf(app: App, engine: object, visitor: TestClient) -> None:
    token = _warned(app)
    assert visitor.post(f"/s/{token}/confirm").status_code == 403
    assert visitor.post(f"/s/{token}/appeal", data={"text": "hi"}).status_code == 403
    assert count_rows(engine, tables.notes) == 0  # type: ignore[arg-type]


def test_the_links_do_not_cross(app: App, visitor: TestClient) -> None:
    token = _warned(app)
    with app.uow() as uow:
        status_token = uow.cases.get(1).reports[0].status_token
    assert visitor.get(f"/r/{token}").status_code == 404  # the subject's link is not a status
    assert visitor.get(f"/s/{status_token}").status_code == 404
