"""The reporter-name guard covers every text that reaches the subject, through every door,
and the refusal names the field to change without the subject ever seeing the name."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support.accounts import add_admins
from tests.support.chat import chat_desk
from tests.support.web import sign_in

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import ConfidentialityError
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands

SAM, RILEY, AL = (PersonRef("sandbox", n) for n in ("sam", "U024RILEY", "al"))


@pytest.fixture(autouse=True)
def _admins(app: App) -> None:
    add_admins(app, "ana")  # the desk acts only for admins it knows


def _file(app: App, sandbox: SandboxPlatform, reporter: PersonRef = RILEY,
          channel: str = "#general") -> int:
    sandbox.names[RILEY] = ("Riley Quinn", "rq")
    sandbox.add_message(channel, "m1", "nobody asked you", SAM)
    return int(app.bus.handle(commands.FileReport(
        subject=SAM, reporter=reporter, source=Source.CLI, channel=channel,
        message_id="m1")).case_id)


def _sent_to_sam(sandbox: SandboxPlatform) -> list[str]:
    return [c.text or "" for c in sandbox.calls if c.person == SAM or c.method == "post_reply"]


def test_the_suggestion_is_guarded_by_display_name(app: App, sandbox: SandboxPlatform) -> None:
    case_id = _file(app, sandbox)
    with pytest.raises(ConfidentialityError) as caught:
        app.bus.handle(commands.TakeStep(case_id, "suggest", "ana", reason="r",
                                         suggestion="say sorry to R і l e y  Q u i n n"))
    assert caught.value.field == "suggestion"
    assert _sent_to_sam(sandbox) == []


def test_two_letter_names_in_the_admins_text(app: App, sandbox: SandboxPlatform) -> None:
    case_id = _file(app, sandbox, reporter=AL)
    with pytest.raises(ConfidentialityError) as caught:
        app.bus.handle(commands.TakeStep(case_id, "remind", "ana", text="al told us. Stop."))
    assert caught.value.field == "text"


def test_a_policy_text_that_would_name_a_reporter_says_which_key(
        app: App, sandbox: SandboxPlatform) -> None:
    case_id = _file(app, sandbox, channel="#riley-quinn-and-friends")
    with pytest.raises(ConfidentialityError) as caught:
        app.bus.handle(commands.TakeStep(case_id, "remind", "ana"))
    assert caught.value.field == "ladder.remind"
    assert _sent_to_sam(sandbox) == []


def test_each_door_names_the_field_in_its_own_words(app: App, web: FastAPI,
                                                     sandbox: SandboxPlatform) -> None:
    case_id = _file(app, sandbox)
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    r = api.post(f"/api/v1/cases/{case_id}/steps",
                 json={"step": "suggest", "reason": "r", "suggestion": "ask riley quinn"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "suggestion"
    page = sign_in(web, "ana").get(f"/cases/{case_id}?step=suggest&suggestion=ask+rq").text
    assert "change the suggestion field" in page
    assert _sent_to_sam(sandbox) == []


def test_typing_a_name_does_not_tell_an_admin_who_reported_anonymously(
        app: App, web: FastAPI, sandbox: SandboxPlatform) -> None:
    """The guard as an oracle: the refusal names the field, not the match, and each refusal
    (step or preview) is in the audit log for the other admins — with no name and no text."""
    sandbox.names[RILEY] = ("Riley Quinn", "rq")
    sandbox.add_message("#general", "m1", "nobody asked you", SAM)
    case_id = int(app.bus.handle(commands.FileReport(
        subject=SAM, reporter=RILEY, anonymous=True, source=Source.CLI, channel="#general",
        message_id="m1")).case_id)
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin", account="ana")
    api = TestClient(web, headers={"Authorization": f"Bearer {raw}"})
    r = api.post(f"/api/v1/cases/{case_id}/steps",
                 json={"step": "remind", "reason": "r", "text": "Riley Quinn saw that. Stop."})
    assert r.status_code == 422 and r.json()["error"]["field"] == "text"
    r2 = api.get(f"/api/v1/cases/{case_id}/preview",
                 params={"step": "suggest", "suggestion": "ask rq"})
    assert r2.status_code == 422 and r2.json()["error"]["field"] == "suggestion"
    for answer in (r.text, r2.text):
        assert "someone involved" in answer
        assert "riley" not in answer.lower() and "rq" not in answer.lower().split("'")
        assert "reported or was hurt" not in answer
    entries = [e for e in api.get("/api/v1/audit", params={"case_id": case_id}).json()["entries"]
               if e["kind"] == "text.refused"]
    assert [(e["actor"], e["case_id"], e["detail"]["field"]) for e in entries] == [
        ("ana", case_id, "text"), ("ana", case_id, "suggestion")]
    for e in entries:
        assert "riley" not in str(e).lower() and "Stop" not in str(e)
    assert _sent_to_sam(sandbox) == []



def test_the_chat_reply_names_the_option_to_change(app: App, sandbox: SandboxPlatform) -> None:
    case_id = _file(app, sandbox)
    chat = chat_desk(app, sandbox, "ana=ana:admin")
    answer = chat.coc("ana", f"step {case_id} suggest --reason r --suggestion ask rq", room=None)
    assert answer.startswith("Not done:") and answer.endswith("(change --suggestion)"), answer
    assert _sent_to_sam(sandbox) == []
