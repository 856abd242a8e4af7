"""The words that were said and the reporter's own account are kept apart.

Only the words said (fetched from the platform, or pasted into the field that says it may be
shown) are ever quoted to the subject; the reporter's account reaches the admins only. The
admin sees where a quote came from.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support.accounts import add_admins
from tests.support.web import advance, csrf_of, sign_in, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage.db import create_engine

SAM = PersonRef("sandbox", "sam")
ACCOUNT = "sam called my talk proposal garbage in front of everyone"
SAID = "this proposal is garbage, like its author"


@pytest.fixture(autouse=True)
def _admins(app: App) -> None:
    add_admins(app, "ana")  # the desk acts only for admins it knows


def _seen_by(sandbox: SandboxPlatform, person: PersonRef) -> str:
    return "\n".join(c.text or "" for c in sandbox.calls
                     if c.person == person or c.method == "post_reply")


def _remind_and_warn(app: App, case_id: int) -> None:
    app.bus.handle(commands.TakeStep(case_id, "remind", "ana"))
    app.bus.handle(commands.TakeStep(case_id, "warn", "ana", reason="clearer"))


def test_the_web_forms_account_is_never_quoted_to_the_subject(
        app: App, web: FastAPI, visitor: TestClient, clock: FakeClock,
        sandbox: SandboxPlatform) -> None:
    page = visitor.get("/report").text
    assert "never shown to the person" in page and "may quote this to the person" in page
    advance(clock, 10)
    r = visitor.post("/report", data={"csrf": csrf_of(page), "stamp": stamp_of(page),
                                      "subject": "sam", "what": ACCOUNT, "reporter": "riley"})
    assert r.status_code == 303, r.text
    _remind_and_warn(app, 1)
    seen = _seen_by(sandbox, SAM)
    assert "talk proposal" not in seen and "> " not in seen
    subject_page = visitor.get(f"/s/{_subject_token(app)}").text
    assert "talk proposal" not in subject_page
    admin_page = sign_in(web, "ana").get("/cases/1").text
    assert ACCOUNT in admin_page and "The reporter's account (admins only" in admin_page


def test_words_pasted_in_their_field_are_quoted_and_the_admin_sees_from_where(
        app: App, web: FastAPI, visitor: TestClient, clock: FakeClock,
        sandbox: SandboxPlatform) -> None:
    page = visitor.get("/report").text
    advance(clock, 10)
    visitor.post("/report", data={"csrf": csrf_of(page), "stamp": stamp_of(page),
                                  "subject": "sam", "what": ACCOUNT, "said": SAID})
    ana = sign_in(web, "ana")
    compose = ana.get("/cases/1?step=remind").text
    assert "pasted by the reporter" in compose and SAID in compose
    message = re.search(r'<textarea id="step-text"[^>]*>(.*?)</textarea>', compose, re.S)
    assert message and SAID in message.group(1) and "talk proposal" not in message.group(1)
    admin_page = ana.get("/cases/1").text
    assert "The words said (pasted by the reporter" in admin_page and ACCOUNT in admin_page
    _remind_and_warn(app, 1)
    seen = _seen_by(sandbox, SAM)
    assert f"> {SAID}" in seen and "talk proposal" not in seen


def test_the_api_keeps_message_text_as_the_account_and_quotes_only_words_said(
        app: App, web: FastAPI, sandbox: SandboxPlatform) -> None:
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    old = api.post("/api/v1/reports", json={"subject": "sam", "message_text": ACCOUNT})
    assert old.status_code == 201, old.text
    assert api.get("/api/v1/cases/1/preview?step=remind").json()["quote_from"] is None
    case = api.get("/api/v1/cases/1").json()
    assert case["reports"][0]["account"] == ACCOUNT and case["reports"][0]["message_text"] is None
    new = api.post("/api/v1/reports", json={"subject": "lee", "account": ACCOUNT,
                                            "words_said": SAID})
    preview = api.get(f"/api/v1/cases/{new.json()['case_id']}/preview?step=remind").json()
    assert preview["quote_from"] == "pasted by the reporter" and SAID in preview["text"]
    assert "talk proposal" not in preview["text"]
    api.post("/api/v1/cases/1/steps", json={"step": "remind"})
    assert "talk proposal" not in _seen_by(sandbox, SAM)


def test_a_fetched_message_is_quoted_as_fetched(app: App, sandbox: SandboxPlatform) -> None:
    sandbox.add_message("#general", "m1", SAID, SAM)
    app.bus.handle(commands.FileReport(subject=SAM, reporter=PersonRef("sandbox", "riley"),
                                       source=Source.CLI, channel="#general", message_id="m1",
                                       account=ACCOUNT))
    from conduct_desk.service import views
    composed = views.preview_step(app.uow(), app.desk, 1, "remind", "ana")
    assert composed.quote_from == "fetched from the sandbox" and SAID in composed.text
    assert "talk proposal" not in composed.text


def test_migration_0007_turns_old_web_and_api_texts_into_accounts(tmp_path: object) -> None:
    from pathlib import Path

    from alembic import command

    from conduct_desk.storage.db import alembic_config
    path = Path(str(tmp_path)) / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    cfg = alembic_config(engine)
    command.upgrade(cfg, "0006")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO cases (id, subject_platform, subject_id, opened_at, state, is_open, "
            "flagrant, hurt, report_count) "
            "VALUES (1, 'sandbox', 'sam', '2026-01-01 00:00:00.000000', 'new', 1, 0, 0, 4)")
        for i, source in enumerate(("web", "api", "slack", "matrix"), start=1):
            conn.exec_driver_sql(
                "INSERT INTO reports (id, case_id, subject_platform, subject_id, anonymous, "
                "filed_at, source, message_text, harmed, flagrant) VALUES "
                f"({i}, 1, 'sandbox', 'sam', 1, '2026-01-01 00:00:00.000000', '{source}', "
                f"'text {source}', '[]', 0)")
    command.upgrade(cfg, "0007")
    with engine.connect() as conn:
        rows = {r.source: (r.message_text, r.said_from, r.account) for r in conn.execute(
            sa.text("SELECT source, message_text, said_from, account FROM reports"))}
    engine.dispose()
    assert rows == {"web": (None, None, "text web"), "api": (None, None, "text api"),
                    "slack": ("text slack", "fetched", None),
                    "matrix": ("text matrix", "fetched", None)}


def _subject_token(app: App) -> str:
    with app.uow() as uow:
        case = uow.cases.get(1)
    assert case.subject_token is not None
    return case.subject_token
