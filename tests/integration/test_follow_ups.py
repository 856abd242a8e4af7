"""Confidential follow-ups over HTTP: the admins ask a reporter (optional to answer), the
reporter answers on their status page; admins and the subject write to each other on the
subject's page; nothing of the reporter reaches the subject; observers cannot send."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.web import csrf_of, file_case

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts
from conduct_desk.storage import tables

KIM, SAM = PersonRef("sandbox", "kim"), PersonRef("sandbox", "sam")
QUESTION = "Did anyone else see it happen?"
ANSWER = "Yes: it was in the evening call, kim_private_detail."


def _tokens(app: App, case_id: int) -> tuple[int, str, str]:
    """The first report's id and status token, and the subject's token."""
    with app.uow() as uow:
        case = uow.cases.get(case_id)
    report = case.reports[0]
    assert report.id is not None and report.status_token and case.subject_token
    return report.id, report.status_token, case.subject_token


def _post(client: TestClient, page_url: str, url: str, **data: object) -> object:
    csrf = csrf_of(client.get(page_url).text)
    return client.post(url, data={"csrf": csrf, **data})


def test_ask_answer_on_the_status_page_and_read_it_on_the_case(
        app: App, sandbox: SandboxPlatform, visitor: TestClient,
        clients: dict[str, TestClient]) -> None:
    case_id = file_case(app, reporter="kim")
    report_id, status_token, _ = _tokens(app, case_id)
    ana = clients["ana"]
    r = _post(ana, f"/cases/{case_id}", f"/cases/{case_id}/ask", report=report_id,
              text=QUESTION)
    assert r.status_code == 303  # type: ignore[attr-defined]
    # by DM, since kim reported from a chat-like source, and marked optional
    [dm] = [c.text for c in sandbox.to(KIM) if c.text and QUESTION in c.text]
    assert "You don't have to answer" in dm
    status = visitor.get(f"/r/{status_token}").text
    assert "Questions from the admins" in status and QUESTION in status
    assert "You don't have to answer" in status
    csrf = csrf_of(status)
    question_id = int(re.search(r'name="question" value="(\d+)"', status).group(1))  # type: ignore[union-attr]
    r = visitor.post(f"/r/{status_token}/answer",  # an empty answer: said at the field
                     data={"csrf": csrf, "question": question_id, "text": "  "})
    assert r.status_code == 422 and 'id="answer-error-' in r.text and "your answer" in r.text
    r = visitor.post(f"/r/{status_token}/answer",
                     data={"csrf": csrf, "question": question_id, "text": ANSWER})
    assert r.status_code == 303
    status = visitor.get(r.headers["location"]).text
    assert "You answered" in status and ANSWER in status
    case = ana.get(f"/cases/{case_id}").text
    assert "sandbox:kim answered" in case and ANSWER in case and "seen" in case
    # on the timeline, without the texts (the audit log shows who wrote to whom, not what)
    audit = ana.get(f"/audit?case={case_id}").text
    assert "asked sandbox:kim a question" in audit and "answered ana" in audit
    assert QUESTION not in audit and ANSWER not in audit
    # a question of another report is not this reporter's to answer
    r = visitor.post(f"/r/{status_token}/answer",
                     data={"csrf": csrf, "question": question_id + 100, "text": "x"})
    assert r.status_code == 422 and "not one the admins asked" in r.text


def test_an_anonymous_reporter_stays_anonymous_to_admins(
        app: App, sandbox: SandboxPlatform, visitor: TestClient,
        clients: dict[str, TestClient]) -> None:
    case_id = file_case(app, reporter="kim", hurt=(), anonymous=True, message_id="m1")
    report_id, status_token, _ = _tokens(app, case_id)
    ana = clients["ana"]
    page = ana.get(f"/cases/{case_id}").text
    assert "kim" not in page and "Report 1, by the reporter (anonymous)" in page
    _post(ana, f"/cases/{case_id}", f"/cases/{case_id}/ask", report=report_id, text=QUESTION)
    assert any(QUESTION in (c.text or "") for c in sandbox.to(KIM))  # relayed, sealed
    status = visitor.get(f"/r/{status_token}").text
    question_id = int(re.search(r'name="question" value="(\d+)"', status).group(1))  # type: ignore[union-attr]
    visitor.post(f"/r/{status_token}/answer", data={"csrf": csrf_of(status),
                                                     "question": question_id,
                                                     "text": "It was in the evening call."})
    for url in (f"/cases/{case_id}", f"/audit?case={case_id}", "/queue"):
        text = ana.get(url).text
        assert "kim" not in text, url
    case = ana.get(f"/cases/{case_id}").text
    assert "the reporter (anonymous) answered" in case
    raw = accounts.create_token(app.uow(), app.desk.clock, "prog", "admin")
    api = TestClient(ana.app, headers={"Authorization": f"Bearer {raw}"})
    body = api.get(f"/api/v1/cases/{case_id}").text + api.get("/api/v1/audit").text
    assert "kim" not in body, re.findall(".{100}kim.{40}", body)
    assert "the reporter (anonymous)" in body


def test_admins_and_the_subject_write_to_each_other(
        app: App, sandbox: SandboxPlatform, visitor: TestClient,
        clients: dict[str, TestClient]) -> None:
    case_id = file_case(app)
    _, status_token, subject_token = _tokens(app, case_id)
    ana = clients["ana"]
    r = _post(ana, f"/cases/{case_id}", f"/cases/{case_id}/write",
              text="Could you tell us how you saw it?")
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert any("Could you tell us how you saw it?" in (c.text or "") for c in sandbox.to(SAM))
    page = visitor.get(f"/s/{subject_token}").text
    assert "The admins wrote" in page and "Could you tell us how you saw it?" in page
    r = visitor.post(f"/s/{subject_token}/write", data={"csrf": csrf_of(page),
                                                        "text": "I was out of line; sorry."})
    assert r.status_code == 303
    assert "I was out of line; sorry." in visitor.get(r.headers["location"]).text
    case = ana.get(f"/cases/{case_id}").text
    assert "the person it is about wrote" in case and "I was out of line; sorry." in case
    # the subject's words are not on the reporter's page, nor the admins' to the subject
    status = visitor.get(f"/r/{status_token}").text
    assert "out of line" not in status and "how you saw it" not in status


def test_a_message_naming_the_reporter_is_refused_at_the_field(
        app: App, engine: object, sandbox: SandboxPlatform, visitor: TestClient,
        clients: dict[str, TestClient]) -> None:
    case_id = file_case(app)  # riley reported, jo was hurt
    _, _, subject_token = _tokens(app, case_id)
    before = len(sandbox.to(SAM))
    for name in ("riley", "jo"):
        r = _post(clients["ana"], f"/cases/{case_id}", f"/cases/{case_id}/write",
                  text=f"You upset {name} a lot.")
        assert r.status_code == 422  # type: ignore[attr-defined]
        html = r.text  # type: ignore[attr-defined]
        assert 'id="write-error"' in html and "names someone involved" in html
        assert "(change the message box)" in html and f"You upset {name} a lot." in html
    assert count_rows(engine, tables.messages) == 0  # type: ignore[arg-type]
    assert len(sandbox.to(SAM)) == before
    assert "upset" not in visitor.get(f"/s/{subject_token}").text
    audit = clients["ana"].get(f"/audit?case={case_id}").text
    assert "names someone involved" in audit and "upset" not in audit


@pytest.mark.parametrize("url", ["ask", "write"])
def test_observers_cannot_send(app: App, web: FastAPI, clients: dict[str, TestClient],
                               url: str) -> None:
    case_id = file_case(app)
    report_id, _, _ = _tokens(app, case_id)
    obs = clients["obs"]
    page = obs.get(f"/cases/{case_id}").text
    assert "Ask the reporter" not in page and "Send to the person" not in page
    r = obs.post(f"/cases/{case_id}/{url}", data={"csrf": csrf_of(page), "report": report_id,
                                                   "text": "hello"})
    assert r.status_code == 403
    raw = accounts.create_token(app.uow(), app.desk.clock, "reader", "observer")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    r = api.post(f"/api/v1/cases/{case_id}/messages",
                 json={"to": "reporter", "report": report_id, "text": "hello"})
    assert r.status_code == 403
    with app.uow() as uow:
        assert uow.messages.for_case(case_id) == []


def test_the_api_asks_and_writes(app: App, web: FastAPI, sandbox: SandboxPlatform) -> None:
    case_id = file_case(app)
    report_id, _, _ = _tokens(app, case_id)
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    r = api.post(f"/api/v1/cases/{case_id}/messages",
                 json={"to": "reporter", "report": report_id, "text": QUESTION})
    assert r.status_code == 201, r.text
    assert r.json()["message"]["said"] == "token:boss asked sandbox:riley"
    r = api.post(f"/api/v1/cases/{case_id}/messages", json={"to": "subject",
                                                             "text": "riley saw it"})
    assert r.status_code == 422 and "names someone involved" in r.json()["error"]["message"]
    r = api.post(f"/api/v1/cases/{case_id}/messages", json={"to": "reporter", "text": "x"})
    assert r.status_code == 422 and "report" in r.json()["error"]["message"]
    r = api.post(f"/api/v1/cases/{case_id}/messages",
                 json={"to": "reporter", "report": report_id + 50, "text": "x"})
    assert r.status_code == 422 and "no report" in r.json()["error"]["message"]
