"""The reporter-name guard covers every text that reaches the subject, through every door,
and the refusal names the field to change without the subject ever seeing the name."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.support.accounts import add_admins
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
