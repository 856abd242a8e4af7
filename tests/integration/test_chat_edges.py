"""Chat edges found by an outside tester, each through the real slack_sdk/Bolt and discord.py
against the loopback fakes: a message longer than the desk keeps, a case number no database
holds, a capitalised ``Step``, an admin by server role who loses the role, an app's message
reported, a report window that fails to file, a step on a resolved case, and signed requests
of a shape Slack never sends."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import discord_harness as dh
from tests.support import fake_discord as fd
from tests.support import slack_harness as sh
from tests.support.discord_harness import MODAL_OPENED

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import DeskError
from conduct_desk.domain.model import MAX_TEXT, CaseState
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.slack import form_body, sign
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock

LONG = "you are worthless. " * 1300  # 24,700 characters: Slack allows up to 40,000
SHORTENED = "[shortened by the desk: the message has 24,700 characters]"


@pytest.fixture
def slack(app: App, clock: FakeClock) -> Iterator[sh.Harness]:
    with sh.harness(app, clock) as h:
        yield h


@pytest.fixture
def discord(app: App, clock: FakeClock) -> Iterator[dh.Harness]:
    with dh.harness(app, clock) as h:
        yield h


def _slack_cases(h: sh.Harness, user: str = sh.SUBJECT) -> list[int]:
    with h.app.uow() as uow:
        return list(uow.cases.case_ids_for(PersonRef("slack", user)))


def _route(nudge: bool) -> dict[str, dict[str, Any]]:
    return {"route": {"type": "radio_buttons",
                      "selected_option": {"value": "nudge" if nudge else "admins"}},
            "note": {"type": "plain_text_input", "value": None},
            "options": {"type": "checkboxes", "selected_options": []}}


def _step_window(h: sh.Harness, case_id: int, rung: str) -> dict[str, Any]:
    """Press the step's button on the card; the window that opened."""
    before = len(h.fake.calls_to("views.open"))
    h.press("case_step", f"{case_id}:{rung}")
    opened = h.fake.calls_to("views.open")[before:]
    assert opened, f"no window for {rung}: {[e.text for e in h.fake.ephemerals()[-1:]]}"
    view = opened[-1].params["view"]
    return dict(json.loads(view) if isinstance(view, str) else view)


# -- 1. a long message -----------------------------------------------------------------------------
def test_slack_a_message_longer_than_the_desk_keeps_is_reported_shortened(slack: sh.Harness) -> None:
    assert len(LONG) == 24_700 > MAX_TEXT
    slack.message_ts = slack.fake.add_message(sh.TALK, LONG, user=sh.SUBJECT)
    status, answer = slack.submit(slack.shortcut(), _route(nudge=False))
    assert (status, answer) == (200, {})
    (case_id,) = _slack_cases(slack)
    (report,) = slack.case(case_id).reports
    quoted = report.message_text
    assert quoted is not None and len(quoted) <= MAX_TEXT
    assert quoted.startswith("you are worthless. ") and quoted.endswith(SHORTENED)
    (thanks,) = slack.dm_texts(sh.REPORTER)
    assert "Thank you" in thanks and f"case {case_id}" in thanks
    assert "shorten" not in thanks and "could not be filed" not in thanks


def test_slack_a_message_longer_than_the_desk_keeps_can_be_raised_privately(
        slack: sh.Harness) -> None:
    slack.message_ts = slack.fake.add_message(sh.TALK, LONG, user=sh.SUBJECT)
    status, answer = slack.submit(slack.shortcut(), _route(nudge=True))
    assert (status, answer) == (200, {})
    (told,) = slack.dm_texts(sh.REPORTER)
    assert "The desk has written to them privately" in told
    assert "shorten" not in told and "could not be sent" not in told
    assert slack.dm_texts(sh.SUBJECT), "the private word did not go out"
    with slack.app.uow() as uow:
        (waiting,) = uow.nudges.waiting_for(PersonRef("slack", sh.SUBJECT), sh.TALK, slack.message_ts)
    assert waiting.message_text is not None and len(waiting.message_text) <= MAX_TEXT
    assert waiting.message_text.endswith(SHORTENED)
    assert _slack_cases(slack) == []  # a private word first: no case yet


# -- 2. a case number no database holds ------------------------------------------------------------
@pytest.mark.parametrize("typed, number", [("show 99999999999999999999", "99999999999999999999"),
                                           ("take 9223372036854775808", "9223372036854775808")])
def test_slack_a_huge_case_number_is_a_case_that_does_not_exist(slack: sh.Harness, typed: str,
                                                                number: str) -> None:
    case_id = slack.report()
    answer = slack.command(typed)  # asserts HTTP 200 from the Slack request
    assert f"there is no case {number}" in answer
    assert "error" not in answer.lower()
    assert slack.case(case_id).taken_by is None


# -- 3. Discord: `/coc Step …` -----------------------------------------------------------------
def test_discord_a_capitalised_step_opens_the_window_first(discord: dh.Harness) -> None:
    case_id = discord.report_case(note="he said it")
    assert "yours" in discord.command(f"take {case_id}")
    seen = len(discord.said_to(dh.SUBJECT))
    typed = discord.slash(f"Step {case_id} remind")
    assert discord.answer(typed) == MODAL_OPENED
    assert typed.modal is not None
    assert discord.case(case_id).steps == []
    assert len(discord.said_to(dh.SUBJECT)) == seen, "the subject was written to unseen"
    # as with `step`: the window's text goes out once the admin sends it
    done = discord.answer(discord.fake.submit_modal(typed, dh.ADMIN, {}))
    assert "remind" in done and "done" in done
    assert [s.rung for s in discord.case(case_id).steps] == ["remind"]
    assert len(discord.said_to(dh.SUBJECT)) > seen


# -- 4. Discord: an admin by server role loses the role ------------------------------------------
def test_discord_an_admin_whose_role_is_taken_away_can_no_longer_be_handed_a_case(
        app: App, clock: FakeClock) -> None:
    with dh.harness(app, clock, admins=f"ana={dh.ADMIN}:admin, role:{dh.STAFF_ROLE}:moderator") as h:
        ex = f"discord:{dh.STRANGER}"
        h.fake.member(dh.STRANGER).roles.append(dh.STAFF_ROLE)
        case_id = h.report_case(note="he said it")
        assert "Open cases" in h.command("list", dh.STRANGER)
        assert ex in app.desk.platform_admins
        h.fake.member(dh.STRANGER).roles.remove(dh.STAFF_ROLE)
        assert "only the desk's admins" in h.command(f"take {case_id}", dh.STRANGER)
        assert ex not in app.desk.platform_admins
        assert "yours" in h.command(f"take {case_id}", dh.ADMIN)
        with pytest.raises(DeskError, match="unknown admin"):
            app.bus.handle(commands.HandOver(case_id, "ana", ex))
        assert h.case(case_id).taken_by == "ana"


# -- 5. Slack: a message an app posted --------------------------------------------------------------
def test_slack_an_apps_message_has_no_person_to_report(slack: sh.Harness) -> None:
    bot = slack.fake.bot_user_id
    ts = slack.fake.add_message(sh.TALK, "Conduct Desk is listening here.", user=bot)
    status, _ = slack.interact({
        "type": "message_action", "callback_id": "report_message", "trigger_id": "t",
        "user": {"id": sh.REPORTER}, "channel": {"id": sh.TALK, "name": "talk"},
        "message": {"type": "message", "user": bot, "bot_id": "B0DESKBOT", "app_id": "A0DESK",
                    "ts": ts, "text": "Conduct Desk is listening here."},
        "message_ts": ts})
    assert status == 200
    assert not slack.fake.calls_to("views.open")
    (told,) = slack.dm_texts(sh.REPORTER)
    assert "no person to report" in told
    assert _slack_cases(slack, bot) == []


# -- 6. Discord: a report window that fails to file -------------------------------------------------
def test_discord_a_report_that_was_not_filed_is_not_thanked_for(discord: dh.Harness) -> None:
    # the window's id names the reporter as the author: filing refuses it
    submitted = discord.fake.interaction(5, dh.REPORTER, dh.TALK, {
        "custom_id": f"report:{dh.TALK}:{discord.target.id}:{dh.REPORTER}", "components": []})
    answer = discord.answer(submitted)
    assert "The admins have it" not in answer and "Thank you" not in answer
    assert "could not be filed" in answer
    assert discord.ephemeral(submitted)
    with discord.app.uow() as uow:
        assert uow.cases.case_ids_for(PersonRef("discord", dh.REPORTER)) == []
    # a window whose id names no author files no case about nobody
    nobody = discord.fake.interaction(5, dh.REPORTER, dh.TALK, {
        "custom_id": f"report:{dh.TALK}:{discord.target.id}", "components": []})
    answer = discord.answer(nobody)
    assert "could not be filed" in answer and "names nobody" in answer
    with discord.app.uow() as uow:
        assert uow.cases.case_ids_for(PersonRef("discord", "")) == []


# -- 7. Slack: a step on a resolved case --------------------------------------------------------------
def test_slack_a_step_button_on_a_resolved_case_is_refused_at_once(slack: sh.Harness) -> None:
    case_id = slack.report(note="he said it")
    slack.command(f"take {case_id}")
    assert "resolved" in slack.command(f"resolve {case_id} no-action not needed")
    opened, shown = len(slack.fake.calls_to("views.open")), len(slack.fake.ephemerals())
    status, _ = slack.press("case_step", f"{case_id}:warn")
    assert status == 200
    assert len(slack.fake.calls_to("views.open")) == opened  # no window to fill in for nothing
    (answer,) = [e.text for e in slack.fake.ephemerals()[shown:]]
    assert f"case {case_id} is resolved" in answer and "reopen" in answer
    assert "window" not in answer
    assert slack.case(case_id).steps == []


def test_slack_a_step_window_sent_after_the_case_was_resolved_stays_open(slack: sh.Harness) -> None:
    case_id = slack.report(note="he said it")
    slack.command(f"take {case_id}")
    view = _step_window(slack, case_id, "warn")
    assert "resolved" in slack.command(f"resolve {case_id} no-action fine", sh.ADMIN)
    status, answer = slack.submit(view, {
        "text": {"type": "plain_text_input", "value": "Please be kind; I edited this."},
        "reason": {"type": "plain_text_input", "value": "because"}}, sh.ADMIN)
    assert status == 200 and answer.get("response_action") == "errors", answer
    assert any(f"case {case_id} is resolved" in e for e in answer["errors"].values())
    assert all("the step was not taken" not in t for t in slack.dm_texts(sh.ADMIN))
    case = slack.case(case_id)
    assert case.steps == [] and case.state is CaseState.RESOLVED
    assert slack.dm_texts(sh.SUBJECT) == []


# -- 8. Slack HTTP: signed requests of a shape Slack never sends ---------------------------------------
def _step_window_without_metadata() -> bytes:
    return form_body({
        "type": "view_submission", "team": {"id": "TFAKETEAM1"}, "api_app_id": "AFAKEAPP01",
        "user": {"id": sh.ADMIN}, "trigger_id": "t",
        "view": {"id": "V1", "type": "modal", "callback_id": "step_submit",
                 "state": {"values": {"text": {"value": {"type": "plain_text_input",
                                                         "value": "Please be kind."}}}}}})


MALFORMED = {
    "json list": (b"[1,2]", "application/json"),
    "json string": (b'"x"', "application/json"),
    "form payload not json": (b"payload=%7Bnot", "application/x-www-form-urlencoded"),
    "step window without metadata": (_step_window_without_metadata(),
                                     "application/x-www-form-urlencoded"),
}


@pytest.fixture
def listening(slack: sh.Harness) -> sh.Harness:
    slack.adapter.settings.http_port = 0
    slack.adapter.start()
    return slack


@pytest.mark.parametrize("shape", list(MALFORMED))
def test_slack_a_signed_request_of_an_odd_shape_is_answered_cleanly(listening: sh.Harness,
                                                                    shape: str) -> None:
    body, content_type = MALFORMED[shape]
    assert listening.adapter.http_port is not None
    conn = http.client.HTTPConnection("127.0.0.1", listening.adapter.http_port, timeout=10)
    try:  # a dropped connection raises here (RemoteDisconnected): no answer at all
        conn.request("POST", "/slack/events", body=body,
                     headers={"Content-Type": content_type, **sign(sh.SECRET, body)})
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status == 200 or 400 <= status < 500, status
    # the desk is still answering, and nothing was done
    assert listening.event({"type": "app_mention", "user": sh.REPORTER, "text": "hi",
                            "channel": sh.TALK, "ts": "1700000000.000100"}) == 200
    assert listening.dm_texts(sh.ADMIN) == [] and _slack_cases(listening) == []



# -- 5b. the desk's own account is nobody to report, however it is named ---------------------------
def test_slack_the_desk_itself_is_nobody_to_report(slack: sh.Harness) -> None:
    bot = slack.fake.bot_user_id
    said = slack.command(f"report <@{bot}> it keeps posting", sh.REPORTER)
    assert "that is the desk itself" in said and "Thank you" not in said
    slack.event({"type": "message", "channel_type": "im", "channel": "D0REPORTER",
                 "user": sh.REPORTER, "text": f"<@{bot}> said something mean", "ts": "1.5"})
    assert any("That is the desk itself" in t for t in slack.dm_texts(sh.REPORTER))
    assert _slack_cases(slack, bot) == []


def test_discord_the_desk_itself_is_nobody_to_report(discord: dh.Harness) -> None:
    bot = fd.BOT_USER_ID
    said = discord.command(f"report <@{bot}> it keeps posting", dh.REPORTER, dh.TALK)
    assert "that is the desk itself" in said and "Thank you" not in said
    with discord.app.uow() as uow:
        assert uow.cases.case_ids_for(PersonRef("discord", bot)) == []


def test_slack_a_persons_message_sent_through_an_app_is_still_theirs_to_report(
        slack: sh.Harness) -> None:
    ts = slack.fake.add_message(sh.TALK, "a mean gif", user=sh.SUBJECT)
    opened = len(slack.fake.calls_to("views.open"))
    status, _ = slack.interact({
        "type": "message_action", "callback_id": "report_message", "trigger_id": "t",
        "user": {"id": sh.REPORTER}, "channel": {"id": sh.TALK, "name": "talk"},
        "message": {"type": "message", "user": sh.SUBJECT, "bot_id": "B0GIPHY",
                    "app_id": "A0GIPHY", "ts": ts, "text": "a mean gif"},
        "message_ts": ts})
    assert status == 200
    assert len(slack.fake.calls_to("views.open")) == opened + 1  # the report window
    assert all("no person to report" not in t for t in slack.dm_texts(sh.REPORTER))
