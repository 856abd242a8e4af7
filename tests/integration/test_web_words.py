"""Issue 11, items 1 and 5: no outcome by accident, and web words on the web.

Every form, fed wrong input, answers in the web's words (the field to change, a button that
fixes it), never with a command-line flag or command; the resolve form preselects nothing;
"apologized" with no step taken asks where the apology was made, on every entry point; the
reporter is told only what the admins recorded."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import count_rows
from tests.support.chat import chat_desk
from tests.support.web import csrf_of, file_case, for_people
from typer.testing import CliRunner

from conduct_desk import cli
from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts
from conduct_desk.storage import tables

CLI_WORDS = re.compile(r"--[a-z]|conduct (case|admin)\b")
WHERE = "where the apology was made"


def _cli_words(html: str) -> list[str]:
    return [m.group(0) for m in CLI_WORDS.finditer(for_people(html))]


def _outcome(app: App, case_id: int = 1) -> str | None:
    with app.uow() as uow:
        outcome = uow.cases.get(case_id).outcome
    return None if outcome is None else str(outcome)


# -- item 1: no outcome by accident ---------------------------------------------------------------

def test_the_resolve_form_preselects_no_outcome(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)
    page = clients["ana"].get("/cases/1").text
    form = page.split('action="/cases/1/resolve"')[1].split("</form>")[0]
    selected = re.findall(r'<option value="([^"]*)"\s*selected', form)
    assert selected == [""], "only the empty choice is selected"
    assert "say where the apology was made" in form


@pytest.mark.parametrize("outcome", ["", "   "])
def test_resolving_without_an_outcome_is_refused_and_records_nothing(
        app: App, engine: object, clients: dict[str, TestClient], outcome: str) -> None:
    file_case(app)
    ana = clients["ana"]
    before = count_rows(engine, tables.audit)  # type: ignore[arg-type]
    r = ana.post("/cases/1/resolve", data={"csrf": csrf_of(ana.get("/cases/1").text),
                                           "outcome": outcome, "reason": "kept"})
    assert r.status_code == 422
    assert 'id="outcome-error"' in r.text and "Outcome list" in r.text
    assert 'aria-describedby="outcome-error"' in r.text
    assert 'value="kept"' in r.text  # what was typed is kept
    assert _outcome(app) is None and "Resolve the case" in r.text
    assert count_rows(engine, tables.audit) == before  # type: ignore[arg-type]


def test_apologized_without_a_step_asks_where_on_the_web(
        app: App, engine: object, clients: dict[str, TestClient]) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    before = count_rows(engine, tables.audit)  # type: ignore[arg-type]
    r = ana.post("/cases/1/resolve", data={"csrf": csrf, "outcome": "apologized", "reason": " "})
    assert r.status_code == 422
    assert WHERE in r.text and "Reason field" in r.text
    assert 'aria-describedby="reason-error"' in r.text
    assert not _cli_words(r.text)
    assert _outcome(app) is None
    assert count_rows(engine, tables.audit) == before  # type: ignore[arg-type]
    r = ana.post("/cases/1/resolve", data={"csrf": csrf, "outcome": "apologized",
                                           "reason": "in #general, to everyone"})
    assert r.status_code == 303
    assert _outcome(app) == "apologized"


def test_apologized_without_a_step_asks_where_in_the_api(app: App, web: FastAPI) -> None:
    file_case(app)
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    boss = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    r = boss.post("/api/v1/cases/1/resolve", json={"outcome": "apologized"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_input" and error["field"] == "reason"
    assert WHERE in error["message"] and "--" not in error["message"]
    assert error["fix"]["verb"] == "resolve" and error["fix"]["case_id"] == 1
    assert _outcome(app) is None
    r = boss.post("/api/v1/cases/1/resolve", json={"outcome": "apologized",
                                                  "reason": "to jo, by DM"})
    assert r.status_code == 200, r.text
    assert _outcome(app) == "apologized"


def test_apologized_without_a_step_asks_where_on_the_command_line(
        app: App, web: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    file_case(app)
    monkeypatch.setattr(cli, "_app", lambda: app)
    args = ["case", "resolve", "1", "--admin", "ana", "--outcome", "apologized"]
    r = CliRunner().invoke(cli.app, args)
    assert r.exit_code == 2 and f"--reason saying {WHERE}" in r.output
    assert _outcome(app) is None
    r = CliRunner().invoke(cli.app, [*args, "--reason", "in the thread"])
    assert r.exit_code == 0, r.output
    assert _outcome(app) == "apologized"


def test_apologized_without_a_step_asks_where_in_chat(app: App, sandbox: SandboxPlatform) -> None:
    chat = chat_desk(app, sandbox, "ana=ana:admin")
    case_id = file_case(app)
    said = chat.coc("ana", f"resolve {case_id} apologized", room=None)
    assert WHERE in said and "resolve" in said and "--reason" not in said
    assert _outcome(app, case_id) is None
    assert "resolved" in chat.coc("ana", f"resolve {case_id} apologized in the thread", room=None)
    assert _outcome(app, case_id) == "apologized"


def test_after_a_step_apologized_needs_no_note(app: App, clients: dict[str, TestClient]) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    assert ana.post("/cases/1/steps", data={"csrf": csrf, "step": "remind"}).status_code == 303
    r = ana.post("/cases/1/resolve", data={"csrf": csrf, "outcome": "apologized"})
    assert r.status_code == 303
    assert _outcome(app) == "apologized"


def test_the_reporter_is_told_what_was_recorded(app: App, sandbox: SandboxPlatform,
                                                clients: dict[str, TestClient]) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    assert ana.post("/cases/1/resolve", data={
        "csrf": csrf, "outcome": "apologized", "reason": "in #general, to everyone"}
    ).status_code == 303
    told = [c.text or "" for c in sandbox.to(PersonRef.parse("riley"))]
    [notice] = [t for t in told if "update on your report" in t]
    assert "the admins recorded that the person apologized (in #general, to everyone)" in notice
    assert "changed how they act" not in notice


# -- item 5: web words on the web ----------------------------------------------------------------

ODD = st.sampled_from(["", " ", "nobody", "sandbox:sam", "sandbox:jo", "12", "0", "-5", "x" * 2001,
                       "forgiven", "apologized", "no-action", "duplicate", "steps-taken", "remind",
                       "warn", "suspend", "ban", "999d", "0h", "1h", "soon", "true", "maybe",
                       "ana", "riley", "mo", "1970-01-01", "not a date"])
WORDS = st.one_of(ODD, st.text(alphabet=st.characters(blacklist_characters="-\x00",
                                                     blacklist_categories=("Cs",)),
                               max_size=30))
FORMS = {  # path -> the fields it takes
    "/cases/1/take": (),
    "/cases/1/hand-over": ("to",),
    "/cases/1/steps": ("step", "text", "original", "duration", "suggestion", "reason"),
    "/cases/1/consult": ("summary", "person", "not_possible"),
    "/cases/1/resolve": ("outcome", "reason"),
    "/cases/1/reopen": (),
    "/cases/1/confirm-hurt": ("person",),
    "/cases/1/steps/1/done": (),
    "/cases/1/steps/1/lift": (),
    "/cases/2/take": (),
    "/settings/accounts/obs/role": ("role",),
    "/settings/accounts/obs/disable": (),
    "/settings/accounts/nobody/enable": (),
    "/settings/tokens/nothing/revoke": (),
    "/settings/time-zone": ("time_zone",),
    "/settings/invites": ("role", "name"),
    "/settings/invites/1/revoke": (),
    "/invite/nothing": ("name", "password", "again"),
    "/setup/nothing": ("name", "password", "again"),
    "/report": ("subject", "what", "said", "link", "reporter", "anonymous", "hurt", "note"),
}
STEP_NAMES = st.sampled_from(["remind", "suggest", "remove", "warn", "suspend", "ban"])


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_web_answer_speaks_the_command_line(app: App, engine: object,
                                               clients: dict[str, TestClient],
                                               data: st.DataObject) -> None:
    if count_rows(engine, tables.cases) == 0:  # type: ignore[arg-type]
        file_case(app)
        file_case(app, subject="ana", reporter="jo", hurt=())  # ana is involved: recused
    who = data.draw(st.sampled_from(["ana", "mo", "riley"]), label="who")
    client = clients[who]
    csrf = csrf_of(client.get("/queue").text)
    path = data.draw(st.sampled_from(sorted(FORMS)), label="path")
    form = {"csrf": csrf}
    for name in FORMS[path]:
        if data.draw(st.booleans(), label=f"send {name}"):
            form[name] = data.draw(STEP_NAMES if name == "step" else WORDS, label=name)
    r = client.post(path, data=form)
    pages = [r]
    if r.status_code == 303:
        pages.append(client.get(r.headers["location"]))
    for page in pages:
        if "text/html" in page.headers.get("content-type", ""):
            assert not _cli_words(page.text), (path, form, _cli_words(page.text))
    audit = data.draw(st.fixed_dictionaries(dict.fromkeys(("actor", "case", "since", "until"),
                                                          WORDS)), label="audit")
    page = client.get("/audit", params=audit)
    assert not _cli_words(page.text), (audit, _cli_words(page.text))


@pytest.mark.parametrize(("hint_at", "fix"), [("reopen", 'action="/cases/1/reopen"')])
def test_an_error_offers_the_button_that_fixes_it(app: App, clients: dict[str, TestClient],
                                                  hint_at: str, fix: str) -> None:
    file_case(app)
    ana = clients["ana"]
    csrf = csrf_of(ana.get("/cases/1").text)
    assert ana.post("/cases/1/resolve", data={"csrf": csrf, "outcome": "no-action",
                                              "reason": "a film quote"}).status_code == 303
    r = ana.post("/cases/1/steps", data={"csrf": csrf, "step": "remind"})
    assert r.status_code == 409
    assert "reopen" in r.text and fix in r.text and "Reopen case 1" in r.text
    assert not _cli_words(r.text)


def test_a_missing_case_points_at_the_queue(clients: dict[str, TestClient]) -> None:
    r = clients["ana"].get("/cases/99")
    assert r.status_code == 404
    assert "there is no case 99; the open cases are in the queue" in r.text
    assert 'href="/queue">Open the queue' in r.text and not _cli_words(r.text)


@pytest.mark.parametrize("case_id", ["99", str(2**63 - 1), str(2**63)])
def test_a_missing_case_says_where_the_open_ones_are_on_the_api(
        app: App, web: FastAPI, case_id: str) -> None:
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    for r in (api.get(f"/api/v1/cases/{case_id}"), api.post(f"/api/v1/cases/{case_id}/take")):
        assert r.status_code in (404, 422), r.text
        message = r.json()["error"]["message"]
        if r.status_code == 404:  # a whole sentence, with where to look
            assert message == (f"there is no case {case_id}; the open cases are listed by "
                               "GET /api/v1/cases"), message
        else:  # a number no case can have: said as such
            assert "case" in message, message


def test_a_body_the_api_cannot_read_says_what_to_send(app: App, web: FastAPI) -> None:
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}",
                                   "Content-Type": "application/json"})
    for body, said in ((b'{bad json', "is not valid JSON"),
                       ('{"subject":"caf\xe9"}'.encode("latin-1"), "UTF-8")):
        r = api.post("/api/v1/reports", content=body)
        assert r.status_code in (400, 422), r.text
        message = r.json()["error"]["message"]
        assert said in message and "send one JSON object" in message, message
    assert count_rows(app.engine, tables.reports) == 0


@pytest.mark.parametrize("case", ["¹", "١٢", "12x"])
def test_an_audit_case_that_is_no_number_says_how_to_write_one(
        clients: dict[str, TestClient], case: str) -> None:
    page = clients["ana"].get("/audit", params={"case": case})
    assert page.status_code == 422 and "write it like 12" in page.text
