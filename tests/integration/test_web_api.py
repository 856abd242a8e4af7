"""``/api/v1``: tokens and roles, every endpoint, and one error shape for every mistake."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.web import file_case

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Role
from conduct_desk.service import accounts, commands
from conduct_desk.service.roster import PlatformAdmin
from conduct_desk.storage import tables


@pytest.fixture
def api(app: App, web: FastAPI) -> dict[str, TestClient]:
    out = {}
    for name, role in (("reader", "observer"), ("mod", "moderator"), ("boss", "admin"),
                       ("riley", "admin")):
        raw = accounts.create_token(app.uow(), app.desk.clock, name, role)
        out[name] = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    out["none"] = TestClient(web)
    return out


def _error(r: Any, status: int, code: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code
    return str(body["error"]["message"])


def test_the_whole_api(app: App, api: dict[str, TestClient]) -> None:
    boss = api["boss"]
    r = boss.post("/api/v1/reports", json={"subject": "sam", "reporter": "kim",
                                            "message_text": "go away", "hurt": ["jo"],
                                            "channel": "#general", "message_id": "m1"})
    assert r.status_code == 201 and r.json()["case_id"] == 1
    assert r.json()["status_url"].startswith("/r/")
    assert [c["id"] for c in boss.get("/api/v1/cases").json()["cases"]] == [1]
    assert boss.get("/api/v1/cases?state=resolved").json()["cases"] == []
    assert boss.get("/api/v1/cases/1").json()["recommendation"]["step"] == "remind"
    assert "Hi sam" in boss.get("/api/v1/cases/1/preview?step=remind").json()["text"]
    assert boss.post("/api/v1/cases/1/take").json()["taken_by"] == "token:boss"
    for step in ("remind", "suggest", "remove", "warn"):
        body: dict[str, Any] = {"step": step}
        if step == "suggest":
            body["suggestion"] = "keep it kind"
        r = boss.post("/api/v1/cases/1/steps", json=body)
        assert r.status_code == 201 and r.json()["step"]["status"] == "done", r.text
    assert boss.post("/api/v1/cases/1/steps", json={"step": "suspend", "duration": "12h"}
                     ).status_code == 201
    _error(boss.post("/api/v1/cases/1/steps", json={"step": "ban"}), 409, "consultation_needed")
    r = boss.post("/api/v1/cases/1/consultations", json={"person": "jo", "summary": "ok to ban"})
    assert r.status_code == 201
    assert boss.post("/api/v1/cases/1/steps", json={"step": "ban"}).status_code == 201
    assert boss.post("/api/v1/cases/1/resolve", json={"outcome": "steps-taken"}
                     ).json()["state"] == "resolved"
    assert boss.post("/api/v1/cases/1/reopen").json()["state"] == "acting"
    person = boss.get("/api/v1/people/sandbox:sam").json()
    assert person["person"] == "sandbox:sam" and len(person["steps"]) == 6
    entries = boss.get("/api/v1/audit?case_id=1").json()["entries"]
    assert entries[0]["kind"] == "report.filed"
    assert boss.get("/api/v1/audit?actor=token:boss&since=2026-01-01T00:00:00Z").json()["entries"]
    schema = api["none"].get("/api/v1/openapi.json").json()
    assert "/api/v1/cases/{case_id}/steps" in schema["paths"]


def test_hand_over(app: App, api: dict[str, TestClient]) -> None:
    file_case(app)  # riley reported it
    mod, boss = api["mod"], api["boss"]
    assert mod.post("/api/v1/cases/1/take").json()["taken_by"] == "token:mod"
    _error(boss.post("/api/v1/cases/1/hand-over", json={"to": "riley"}), 403, "recused")
    # jo-admin's account is jo on the platform, who was hurt (as an admin confirmed)
    app.bus.handle(commands.ConfirmHurt(1, "ana", "sandbox:jo"))
    _error(boss.post("/api/v1/cases/1/hand-over", json={"to": "jo-admin"}), 403, "recused")
    _error(mod.post("/api/v1/cases/1/hand-over", json={"to": ""}), 422)
    r = boss.post("/api/v1/cases/1/hand-over", json={"to": "nobody"})
    assert "'nobody' is not one of the desk's admins; known: ana, " in _error(r, 422)
    assert r.json()["error"]["field"] == "to"  # the field to change, not a flag
    # a Slack admin (CONDUCT_SLACK_ADMINS) is someone the desk knows
    app.desk.platform_admins["slack:U0ADMIN001"] = PlatformAdmin("slack:U0ADMIN001", Role.ADMIN)
    r = boss.post("/api/v1/cases/1/hand-over", json={"to": "slack:U0ADMIN001"})  # mod is away
    assert r.status_code == 200 and r.json()["taken_by"] == "slack:U0ADMIN001"
    _error(mod.post("/api/v1/cases/1/hand-over", json={"to": "token:mod"}), 409,
           "illegal_transition")  # a moderator cannot take it back from its holder
    _error(api["reader"].post("/api/v1/cases/1/hand-over", json={"to": "ana"}), 403, "forbidden")
    assert "/api/v1/cases/{case_id}/hand-over" in api["none"].get("/api/v1/openapi.json").json()[
        "paths"]


def test_roles_and_tokens(app: App, engine: object, api: dict[str, TestClient]) -> None:
    file_case(app)  # riley reported it
    _error(api["none"].get("/api/v1/cases"), 401, "unauthorized")
    bad = TestClient(api["none"].app, headers={"Authorization": "Bearer cdt_nope"})
    _error(bad.get("/api/v1/cases"), 401)
    reader = api["reader"]
    assert reader.get("/api/v1/cases/1").status_code == 200
    before = count_rows(engine, tables.audit)  # type: ignore[arg-type]
    for path, body in (("/api/v1/cases/1/take", None), ("/api/v1/cases/1/steps", {"step": "remind"}),
                       ("/api/v1/cases/1/consultations", {"summary": "x", "person": "jo"}),
                       ("/api/v1/cases/1/resolve", {"outcome": "apologized"}),
                       ("/api/v1/cases/1/reopen", None)):
        _error(reader.post(path, json=body), 403, "forbidden")
    assert count_rows(engine, tables.audit) == before  # type: ignore[arg-type]
    assert api["reader"].post("/api/v1/reports", json={"subject": "lee"}).status_code == 201
    _error(api["mod"].post("/api/v1/cases/1/steps", json={"step": "ban", "reason": "x"}), 403)
    _error(api["riley"].get("/api/v1/cases/1"), 403, "recused")
    _error(api["riley"].post("/api/v1/cases/1/take"), 403, "recused")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/reports", {"subject": 42}, "subject"),
    ("/api/v1/reports", {"subject": ""}, "subject"),
    ("/api/v1/reports", {}, "subject"),
    ("/api/v1/reports", {"subject": "s" * 301}, "subject"),
    ("/api/v1/reports", {"subject": "sam", "anonymous": "yes"}, "anonymous"),
    ("/api/v1/reports", {"subject": "sam", "hurt": "jo"}, "hurt"),
    ("/api/v1/reports", {"subject": "sam", "hurt": [f"p{i}" for i in range(21)]}, "hurt"),
    ("/api/v1/reports", {"subject": "sam", "note": "n" * 20_001}, "note"),
    ("/api/v1/reports", {"subject": "sam", "message_link": "l" * 2001}, "message_link"),
    ("/api/v1/reports", {"subject": "sam", "flagrant": 1}, "flagrant"),
    ("/api/v1/reports", {"subject": "sam", "colour": "red"}, "colour"),
    ("/api/v1/cases/1/steps", {"step": 3}, "step"),
    ("/api/v1/cases/1/steps", {"step": "remind", "text": "t" * 20_001}, "text"),
    ("/api/v1/cases/1/steps", {"step": "suspend", "duration": ["24h"]}, "duration"),
    ("/api/v1/cases/1/consultations", {"summary": ""}, "summary"),
    ("/api/v1/cases/1/consultations", {"summary": "x", "not_possible": "no"}, "not_possible"),
    ("/api/v1/cases/1/resolve", {"outcome": None}, "outcome"),
    ("/api/v1/cases/1/resolve", {"outcome": "apologized", "reason": "r" * 2001}, "reason"),
])
def test_a_wrong_field_gets_one_error_shape(app: App, engine: object, api: dict[str, TestClient],
                                            path: str, body: dict[str, Any], field: str) -> None:
    file_case(app)
    before = count_rows(engine, tables.audit)  # type: ignore[arg-type]
    message = _error(api["boss"].post(path, json=body), 422, "invalid_input")
    assert field in message
    assert count_rows(engine, tables.audit) == before  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("get", "/api/v1/cases/abc", None, 422, "invalid_input"),
    ("get", "/api/v1/cases/99", None, 404, "not_found"),
    ("get", "/api/v1/cases?state=lost", None, 422, "invalid_input"),
    ("get", "/api/v1/cases?limit=0", None, 422, "invalid_input"),
    ("get", "/api/v1/cases/1/preview?step=shout", None, 422, "invalid_policy_step"),
    ("post", "/api/v1/cases/1/steps", {"step": "warn"}, 422, "invalid_input"),
    ("post", "/api/v1/cases/1/steps", {"step": "suspend", "duration": "1y", "reason": "x"}, 422,
     "invalid_input"),
    ("post", "/api/v1/cases/1/resolve", {"outcome": "steps-taken"}, 409, "illegal_transition"),
    ("post", "/api/v1/cases/1/reopen", None, 409, "illegal_transition"),
    ("post", "/api/v1/cases/1/consultations", {"summary": "x"}, 422, "invalid_input"),
    ("get", "/api/v1/audit?since=2026-01-01T00:00:00", None, 422, "invalid_input"),
    ("get", "/api/v1/audit?since=soon", None, 422, "invalid_input"),
    ("get", "/api/v1/people/" + "p" * 301, None, 422, "invalid_input"),
    ("get", "/api/v1/nowhere", None, 404, "not_found"),
    ("delete", "/api/v1/cases/1", None, 405, "method_not_allowed"),
])
def test_mistakes_get_clear_errors(app: App, api: dict[str, TestClient], method: str, path: str,
                                   body: Any, status: int, code: str) -> None:
    file_case(app)
    client = api["boss"]
    r = client.request(method, path, json=body) if body is not None else client.request(method, path)
    assert _error(r, status, code)


def test_malformed_json(app: App, api: dict[str, TestClient]) -> None:
    r = api["boss"].post("/api/v1/reports", content=b"{not json",
                         headers={"content-type": "application/json"})
    _error(r, 422, "invalid_input")
