"""Nothing confidential in the logs: a full run, every record captured at every level.

Reports come in every way (the web form, the API, the CLI, Slack over HTTP: the shortcut,
a DM, a forged request, a signed request nothing handles) with sentinel report texts, notes
and reporter ids. No record at INFO or above, from the desk or a library it configures
(Slack's Bolt logs a refused request's whole body at INFO), may contain one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote, quote_plus

import pytest
from fastapi.testclient import TestClient
from slack_bolt import BoltRequest
from tests.support.slack_harness import (
    REPORTER,
    SUBJECT,
    TALK,
    Harness,
    event_body,
    harness,
)
from tests.support.web import advance, csrf_of, stamp_of
from typer.testing import CliRunner

from conduct_desk import cli
from conduct_desk.bootstrap import App
from conduct_desk.platforms.slack import form_body
from conduct_desk.service import accounts
from conduct_desk.service.clock import FakeClock

TEXTS = {"web-text": "Qz7 the web form account of what happened",
         "web-note": "Qz7 web note about my talk proposal",
         "api-text": "Qz7 said over the API",
         "api-note": "Qz7 api note",
         "cli-text": "Qz7 typed at the command line",
         "cli-note": "Qz7 cli note",
         "slack-said": "Qz7 what was said in the channel",
         "slack-note": "Qz7 note in the Slack modal",
         "slack-dm": "Qz7 keeps mocking my accent",
         "forged": "Qz7 body of a forged request",
         "unhandled": "Qz7 value of a button nobody handles"}
REPORTER_IDS = ("rptr-web-Qz7", "rptr-cli-Qz7", REPORTER)
# as written, and as they travel: form-encoded (Slack's interactivity bodies), JSON-escaped
SENTINELS = tuple({v for s in (*TEXTS.values(), *REPORTER_IDS)
                   for v in (s, quote_plus(s), quote(s), json.dumps(s)[1:-1])})


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # before anything is built: libraries copy the root level
    yield caplog


def _web_report(visitor: TestClient, clock: FakeClock) -> None:
    page = visitor.get("/report").text
    advance(clock, 10)
    r = visitor.post("/report", data={"csrf": csrf_of(page), "stamp": stamp_of(page),
                                      "subject": "sam", "what": TEXTS["web-text"],
                                      "note": TEXTS["web-note"], "reporter": "rptr-web-Qz7"})
    assert r.status_code == 303, r.text


def _api_report(app: App, visitor: TestClient) -> None:
    raw = accounts.create_token(app.uow(), app.desk.clock, "boss", "admin")
    r = visitor.post("/api/v1/reports", headers={"Authorization": f"Bearer {raw}"},
                     json={"subject": "sam", "message_text": TEXTS["api-text"],
                           "note": TEXTS["api-note"], "channel": "#general", "message_id": "m1"})
    assert r.status_code == 201, r.text


def _cli_report(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCT_DATABASE_URL", str(app.engine.url.render_as_string(
        hide_password=False)))
    result = CliRunner().invoke(cli.app, [
        "report", "--subject", "sam", "--reporter", "rptr-cli-Qz7", "--text", TEXTS["cli-text"],
        "--note", TEXTS["cli-note"]])
    assert result.exit_code == 0, result.output


def _slack_story(h: Harness) -> None:
    h.message_ts = h.fake.add_message(TALK, TEXTS["slack-said"], user=SUBJECT)
    h.report(note=TEXTS["slack-note"])  # the shortcut and its modal
    dm = h.fake.dm_channel_id(REPORTER)
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": f"<@{SUBJECT}> {TEXTS['slack-dm']}", "ts": "1700000003.000100"})
    # a forged request (wrong secret) and an unsigned one, both carrying report text
    forged = form_body({"type": "view_submission", "user": {"id": REPORTER},
                        "view": {"callback_id": "report_submit", "private_metadata": "{}",
                                 "state": {"values": {"note": {"value": {
                                     "value": TEXTS["forged"]}}}}}})
    assert h.send(forged, "application/x-www-form-urlencoded", secret="not-the-secret")[0] == 401
    status, _, _ = h.transport.handle_http(forged, {"Content-Type":
                                                  "application/x-www-form-urlencoded"})
    assert status in (400, 401)
    # and straight into Bolt, as any request that reaches it unsigned would be
    h.transport.bolt.dispatch(BoltRequest(body=forged.decode(), headers={
        "content-type": "application/x-www-form-urlencoded", "x-slack-signature": "v0=00",
        "x-slack-request-timestamp": "1700000000"}))
    event = event_body({"type": "message", "channel": TALK, "user": REPORTER,
                        "text": TEXTS["forged"], "ts": "1.2"}, "EvFORGED01")
    assert h.send(event, "application/json", secret="not-the-secret")[0] == 401
    # a signed interaction nothing handles (Bolt logs those with their body too)
    h.press("someone_elses_button", TEXTS["unhandled"], REPORTER)
    # the peer step, with what the author writes back
    view = h.shortcut()
    h.submit(view, {"route": {"type": "radio_buttons", "selected_option": {"value": "nudge"}},
                    "note": {"type": "plain_text_input", "value": TEXTS["slack-note"]}})
    h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))


def test_a_full_run_logs_no_report_text_note_or_reporter_id_at_info_or_above(
        app: App, clock: FakeClock, visitor: TestClient, logs: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _web_report(visitor, clock)
    _api_report(app, visitor)
    _cli_report(app, monkeypatch)
    with harness(app, clock) as h:
        _slack_story(h)
    records = logs.records
    assert records, "nothing was logged at all: the capture is not working"
    leaks = []
    for record in records:
        if record.levelno < logging.INFO:
            continue
        text = record.getMessage() + (logs.handler.formatter or logging.Formatter()).formatException(
            record.exc_info) if record.exc_info else record.getMessage()
        leaks += [(record.name, record.levelname, s) for s in SENTINELS if s in text]
    assert leaks == [], json.dumps(leaks, indent=1)
    # and the capture saw everything: Bolt did log the forged body, at DEBUG
    assert any(quote_plus(TEXTS["forged"]) in r.getMessage() for r in records)

