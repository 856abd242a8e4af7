"""Issue 8, items 3, 4 and 10, attacked from outside.

- An anonymous reporter reaches nobody: the raw database rows hold no id of theirs (it is
  sealed), no admin answer (API, web page, CLI, Slack card, Matrix ``show``, audit) names them,
  and still their own notices reach them.
- A token belongs to an account: a token held by the subject sees nothing of their cases; a
  disabled account's token stops working; a token never does more than its account.
- Who reported is who was signed in: a token's report is its account's, ``reporter`` is for
  moderators and admins filing on someone's behalf, and the public form messages nobody.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from tests.support.web import csrf_of, stamp_of
from typer.testing import CliRunner

from conduct_desk import cli
from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.errors import SecretKeyError
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.platforms.slack import blocks as slack_blocks
from conduct_desk.service import accounts, commands, views
from conduct_desk.service.chat import render
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.web.app import create_app

QUIET = PersonRef("sandbox", "U0QUIETANON")  # the anonymous reporter, on the platform
NUDGER = PersonRef("sandbox", "U0NUDGERANON")


def _token(app: App, account: str, role: str | None = None) -> str:
    return accounts.create_token(app.uow(), app.desk.clock, f"{account}-t", role, account=account)


def _bearer(web: FastAPI, raw: str) -> TestClient:
    return TestClient(web, headers={"Authorization": f"Bearer {raw}"})


def _raw_rows(engine: Engine) -> str:
    """Every value of every row of every table, as one text, read with plain SQL."""
    out = []
    with engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            for row in conn.execute(sa.text(f"SELECT * FROM {table.name}")):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def _anonymous_case(app: App, web: FastAPI, sandbox: SandboxPlatform, *,
                    own_account: bool = True) -> TestClient:
    """sam is reported anonymously by QUIET, who names themself as hurt; the thanks fails with
    an error that names them. With ``own_account`` QUIET is quinn's platform account and quinn
    files it with their own token; else moderator mo files it on QUIET's behalf.
    Returns a token client of another admin, ana."""
    body: dict[str, Any] = {"subject": "sam", "anonymous": True, "message_text": "go away",
                            "hurt": [QUIET.key, "jo"], "channel": "#general", "message_id": "m1"}
    if own_account:
        accounts.add_admin(app.uow(), app.desk.clock, "quinn", "moderator",
                           "a long enough password", (QUIET.key,))
        filer = _bearer(web, _token(app, "quinn"))
    else:
        filer, body["reporter"] = _bearer(web, _token(app, "mo")), QUIET.key
    sandbox.fail_next("send_dm", f"cannot open a DM with {QUIET.user_id}")
    r = filer.post("/api/v1/reports", json=body)
    assert r.status_code == 201, r.text
    return _bearer(web, _token(app, "ana"))


def test_the_database_never_holds_an_anonymous_reporters_id_and_notices_still_reach_them(
        app: App, web: FastAPI, engine: Engine, sandbox: SandboxPlatform,
        clock: FakeClock, policy: Policy) -> None:
    _anonymous_case(app, web, sandbox, own_account=False)
    app.bus.handle(commands.Nudge(subject=PersonRef("sandbox", "kim"), reporter=NUDGER,
                                  source=Source.CLI, channel="#random", message_id="m9",
                                  harmed=(NUDGER,), anonymous=True))
    rows = _raw_rows(engine)
    assert QUIET.user_id not in rows and NUDGER.user_id not in rows
    assert sandbox.to(QUIET), "the thanks was attempted"
    # a fresh process (the same key) opens the sealed id to tell them the outcome
    again = bootstrap(Settings(database_url=str(engine.url), secret_key=app.settings.secret_key),
                      engine=engine, policy=policy, clock=clock, platforms={"sandbox": sandbox})
    sandbox.calls.clear()
    again.bus.handle(commands.TakeCase(1, "ana"))
    again.bus.handle(commands.ResolveCase(1, "ana", "no-action", "we talked to them"))
    told = sandbox.to(QUIET)
    assert len(told) == 1 and "case 1" in (told[0].text or "")
    # the nudge's reporter is reached too, when the author answers
    again.bus.handle(commands.NudgeAnswered(PersonRef("sandbox", "kim"), "#random", "m9",
                                            "edit"))
    assert sandbox.to(NUDGER)
    assert QUIET.user_id not in _raw_rows(engine)


def test_no_admin_answer_names_an_anonymous_reporter(
        app: App, web: FastAPI, sandbox: SandboxPlatform, clients: dict[str, TestClient]) -> None:
    ana = _anonymous_case(app, web, sandbox)
    secret = (QUIET.user_id, "quinn")
    answers: dict[str, str] = {
        "api case": ana.get("/api/v1/cases/1").text,
        "api list": ana.get("/api/v1/cases?state=all").text,
        "api audit": ana.get("/api/v1/audit?case_id=1").text,
    }
    web_pages = {
        "web case": clients["ana"].get("/cases/1").text,
        "web audit": clients["ana"].get("/audit").text,
    }
    detail = views.case_detail(app.uow(), app.desk, 1, "ana")
    with app.uow() as uow:
        entries = uow.audit.entries(case_id=1)
    answers.update({
        "cli show": cli.render_case(detail),
        "cli audit": json.dumps(views.jsonable(entries)),
        "slack card": json.dumps(slack_blocks.case_card(detail, app.desk.policy)[1]),
        "chat show": render.show_text(detail, render.plain("!coc")),
    })
    for where, text in answers.items():
        for name in secret:
            assert name not in text, f"{where} names the anonymous reporter ({name})"
    for where, text in web_pages.items():  # the web desk lists accounts (e.g. hand-over)
        assert QUIET.user_id not in text, f"{where} shows the anonymous reporter's id"
    # asking about them by id shows no case: the echo of the id asked for is all there is
    assert ana.get(f"/api/v1/people/{QUIET.key}").json()["cases"] == []
    assert "anonymous" in answers["api case"]
    assert json.loads(answers["api case"])["hurt"] == ["sandbox:jo"]


def test_without_a_key_the_report_is_filed_keeping_no_id_and_the_desk_says_so(
        engine: Engine, clock: FakeClock, policy: Policy, sandbox: SandboxPlatform) -> None:
    settings = Settings(database_url=str(engine.url), base_url="https://desk.example")
    app = bootstrap(settings, engine=engine, policy=policy, clock=clock,
                    platforms={"sandbox": sandbox})
    filed = app.bus.handle(commands.FileReport(subject=PersonRef("sandbox", "sam"),
                                               reporter=QUIET, source=Source.CLI, anonymous=True))
    assert filed.case_id == 1
    assert QUIET.user_id not in _raw_rows(engine)
    thanks = sandbox.to(QUIET)[0].text or ""
    assert "only message" in thanks and f"/r/{filed.status_token}" in thanks
    app.bus.handle(commands.Nudge(subject=PersonRef("sandbox", "kim"), reporter=NUDGER,
                                  source=Source.CLI, channel="#random", message_id="m9",
                                  anonymous=True))
    app.bus.handle(commands.NudgeAnswered(PersonRef("sandbox", "kim"), "#random", "m9", "edit"))
    assert NUDGER.user_id not in _raw_rows(engine)
    create_app(app)  # nothing sealed yet: the desk starts


def test_sealed_ids_without_the_key_or_with_another_key_stop_the_desk_with_the_fix(
        app: App, engine: Engine, clock: FakeClock, policy: Policy) -> None:
    app.bus.handle(commands.FileReport(subject=PersonRef("sandbox", "sam"), reporter=QUIET,
                                       source=Source.CLI, anonymous=True))
    keyless = bootstrap(Settings(database_url=str(engine.url)), engine=engine, policy=policy,
                        clock=clock)
    with pytest.raises(SecretKeyError, match="CONDUCT_SECRET_KEY_FILE=") as missing:
        create_app(keyless)
    assert "conduct secret-key" in str(missing.value)
    other = CliRunner().invoke(cli.app, ["secret-key"])
    assert other.exit_code == 0
    wrong = bootstrap(Settings(database_url=str(engine.url),
                               secret_key=SecretStr(other.output.strip())),
                      engine=engine, policy=policy, clock=clock)
    with pytest.raises(SecretKeyError, match="not the key"):
        wrong.check_secret_key()
    with pytest.raises(SecretKeyError, match="not a key"):
        bootstrap(Settings(database_url=str(engine.url), secret_key=SecretStr("hunter2")),
                  engine=engine, policy=policy, clock=clock)


# -- item 4: a token belongs to an account ----------------------------------------------------


def test_a_token_held_by_the_subject_sees_nothing_of_the_cases_about_them(
        app: App, web: FastAPI) -> None:
    # jo-admin is sandbox:jo on the platform; the case is about jo
    app.bus.handle(commands.FileReport(subject=PersonRef("sandbox", "jo"),
                                       reporter=PersonRef("sandbox", "kim"), source=Source.CLI,
                                       message_text="x", harmed=(PersonRef("sandbox", "lee"),)))
    jo = _bearer(web, _token(app, "jo-admin"))
    assert jo.get("/api/v1/cases").json()["cases"] == []
    assert jo.get("/api/v1/cases?state=all").json()["cases"] == []
    assert jo.get("/api/v1/cases/1").status_code == 403
    assert jo.get("/api/v1/cases/1/preview?step=remind").status_code == 403
    person = jo.get("/api/v1/people/sandbox:jo").json()
    assert person["cases"] == [] and person["steps"] == [] and person["hidden"]
    assert jo.get("/api/v1/audit?case_id=1").json()["entries"] == []
    assert "kim" not in jo.get("/api/v1/audit").text
    ana = _bearer(web, _token(app, "ana"))
    assert [c["id"] for c in ana.get("/api/v1/cases").json()["cases"]] == [1]


def test_a_disabled_accounts_token_stops_and_a_token_never_outranks_its_account(
        app: App, web: FastAPI) -> None:
    app.bus.handle(commands.FileReport(subject=PersonRef("sandbox", "sam"), reporter=None,
                                       source=Source.CLI))
    mo = _bearer(web, _token(app, "mo"))
    assert mo.get("/api/v1/cases").status_code == 200
    with pytest.raises(Exception, match="at most their role"):
        _token(app, "mo", "admin")
    accounts.set_role(app.uow(), app.desk.clock, "mo", "observer")
    r = mo.post("/api/v1/cases/1/take")
    assert r.status_code == 403, "a demoted account's token is demoted too"
    accounts.set_disabled(app.uow(), app.desk.clock, "mo", True)
    r = mo.get("/api/v1/cases")
    assert r.status_code == 401 and "disabled" in r.json()["error"]["message"]


def test_the_cli_makes_a_token_for_an_account(app: App, web: FastAPI,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_app", lambda: app)
    r = CliRunner().invoke(cli.app, ["token", "create", "--account", "obs"])
    assert r.exit_code == 0, r.output
    raw = r.output.splitlines()[0]
    me = _bearer(web, raw)
    assert me.get("/api/v1/cases").status_code == 200
    assert me.post("/api/v1/cases/1/take").status_code == 403  # obs is an observer
    r = CliRunner().invoke(cli.app, ["token", "create", "--account", "nobody"])
    assert r.exit_code == 2 and "no account named nobody" in r.output


# -- item 10: who reported is who was signed in ------------------------------------------------


def _reports(app: App) -> list[Any]:
    with app.uow() as uow:
        return uow.cases.get(1).reports


def test_a_tokens_report_is_its_accounts_and_reporter_is_only_on_behalf(
        app: App, web: FastAPI, sandbox: SandboxPlatform) -> None:
    obs = _bearer(web, _token(app, "obs"))
    r = obs.post("/api/v1/reports", json={"subject": "sam", "reporter": "sandbox:U1"})
    assert r.status_code == 403
    assert "leave out reporter" in r.json()["error"]["message"]
    assert obs.post("/api/v1/reports", json={"subject": "sam"}).status_code == 201
    assert _reports(app)[0].reporter == PersonRef("web", "obs")
    jo = _bearer(web, _token(app, "jo-admin"))  # sandbox:jo on the subject's platform
    assert jo.post("/api/v1/reports", json={"subject": "sam", "channel": "#g",
                                            "message_id": "m2"}).status_code == 201
    with app.uow() as uow:
        assert uow.cases.get(2).reports[0].reporter == PersonRef("sandbox", "jo")
    ana = _bearer(web, _token(app, "ana"))
    r = ana.post("/api/v1/reports", json={"subject": "sam", "reporter": "sandbox:U1",
                                          "channel": "#g", "message_id": "m3"})
    assert r.status_code == 201
    audit = ana.get("/api/v1/audit?case_id=3").json()["entries"]
    assert "filed by ana on behalf of sandbox:U1" in audit[0]["summary"]
    assert audit[0]["actor"] == "ana"


def test_the_public_form_messages_no_id_typed_into_it(
        app: App, visitor: TestClient, sandbox: SandboxPlatform, clock: FakeClock,
        web: FastAPI) -> None:
    page = visitor.get("/report").text
    assert "status link" in page
    clock.advance(timedelta(seconds=30))
    r = visitor.post("/report", data={
        "csrf": csrf_of(page), "stamp": stamp_of(page), "subject": "sam",
        "what": "it was rude", "reporter": "sandbox:victim"})
    assert r.status_code == 303, r.text
    assert "how you follow it" in visitor.get(r.headers["location"]).text
    assert sandbox.to(PersonRef("sandbox", "victim")) == []
    ana = _bearer(web, _token(app, "ana"))
    assert ana.post("/api/v1/cases/1/take").status_code == 200
    ana.post("/api/v1/cases/1/resolve", json={"outcome": "no-action", "reason": "fine"})
    assert sandbox.to(PersonRef("sandbox", "victim")) == []



def test_the_upgrade_seals_the_ids_of_earlier_anonymous_reports(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, policy: Policy) -> None:
    from conduct_desk.storage.db import create_engine, upgrade
    from conduct_desk.storage.sealing import new_key

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0006")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO cases (subject_platform, subject_id, state, opened_at, flagrant, hurt, "
            "report_count, is_open) VALUES ('sandbox', 'sam', 'new', '2026-01-01 00:00:00', 0, "
            "1, 1, 1)")
        conn.exec_driver_sql(
            "INSERT INTO reports (case_id, subject_platform, subject_id, reporter_platform, "
            "reporter_id, anonymous, filed_at, source, harmed, flagrant) VALUES (1, 'sandbox', "
            "'sam', 'sandbox', 'U0OLDANON', 1, '2026-01-01 00:00:00', 'cli', "
            "'[\"sandbox:U0OLDANON\"]', 0)")
    monkeypatch.delenv("CONDUCT_SECRET_KEY", raising=False)
    monkeypatch.delenv("CONDUCT_SECRET_KEY_FILE", raising=False)
    with pytest.raises(SecretKeyError, match="conduct db upgrade"):
        upgrade(engine)
    key_file = tmp_path / "key"
    key_file.write_text(new_key() + "\n")
    monkeypatch.setenv("CONDUCT_SECRET_KEY_FILE", str(key_file))
    upgrade(engine)
    assert "U0OLDANON" not in _raw_rows(engine)
    app = bootstrap(Settings(database_url=str(engine.url)), engine=engine, policy=policy,
                    clock=clock)
    with app.uow() as uow:
        assert uow.cases.get(1).reporters == (PersonRef("sandbox", "U0OLDANON"),)
    # it named itself hurt, as the desk allowed before: still not shown to admins
    shown = json.dumps(views.jsonable(views.case_json(views.case_detail(app.uow(), app.desk, 1))))
    assert "U0OLDANON" not in shown
    engine.dispose()


def test_token_list_says_whose_each_token_is(app: App, web: FastAPI,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_app", lambda: app)
    _token(app, "obs")
    accounts.create_token(app.uow(), app.desk.clock, "old-ci", "observer")
    out = CliRunner().invoke(cli.app, ["token", "list", "--json"]).output
    assert {t["name"]: t["account"] for t in json.loads(out)} == {"obs-t": "obs", "old-ci": None}
