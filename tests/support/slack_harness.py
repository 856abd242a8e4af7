"""Drive the Slack adapter the way Slack does: signed HTTP bodies into its request handler.

A :class:`Harness` wires the desk (the ``app`` fixture: SQLite, and PostgreSQL when asked)
to a :class:`FakeSlack` workspace on loopback, and builds the payloads Slack documents for
events, message shortcuts, view submissions, block actions and slash commands.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.support.fake_slack import FakeSlack

from conduct_desk.bootstrap import App
from conduct_desk.config import preset_text
from conduct_desk.domain.model import Case
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.platforms.slack import (
    SlackAdapter,
    SlackSettings,
    SlackTransport,
    configure,
    form_body,
    sign,
)
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock

SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-bot-token"
SCIM_TOKEN = "xoxp-test-scim-token"
SUBJECT, REPORTER, OTHER = "U0SUBJECT1", "U0REPORTR1", "U0OTHERHR1"
ADMIN, MOD, OBSERVER, STRANGER = "U0ADMIN001", "U0MODER001", "U0OBSERV01", "U0STRANGE1"
TALK, ADMINS = "C0TALK0001", "C0ADMINS01"
SAID = "nobody wants your opinion, go back to where you came from"
_ids = itertools.count(1)
MANIFEST = Path(__file__).parents[2] / "src/conduct_desk/platforms/slack/manifest.yaml"


def reactions_policy() -> Policy:
    """The guide preset with reaction intake turned on (it is off by default)."""
    text = preset_text("guide")
    assert "\nreactions = false" in text
    return parse_policy(text.replace("\nreactions = false", "\nreactions = true"), "guide+reactions")


def manifest_bot_scopes() -> set[str]:
    """The bot scopes the app manifest asks for (read without a YAML library)."""
    text = MANIFEST.read_text("utf-8")
    block = text.split("    bot:\n", 1)[1].split("settings:", 1)[0]
    return set(re.findall(r"^\s+- ([a-z:.]+)", block, re.MULTILINE))


@dataclass
class Harness:
    fake: FakeSlack
    app: App
    adapter: SlackAdapter
    clock: FakeClock
    message_ts: str = ""
    responses: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)

    @property
    def transport(self) -> SlackTransport:
        return self.adapter.transport

    # -- transport -------------------------------------------------------------------------
    def send(self, body: bytes, content_type: str, *, headers: dict[str, str] | None = None,
             secret: str = SECRET, timestamp: int | None = None) -> tuple[int, dict[str, str], bytes]:
        all_headers = {"Content-Type": content_type, **sign(secret, body, timestamp), **(headers or {})}
        answer = self.transport.handle_http(body, all_headers)
        self.responses.append(answer)
        return answer

    def event(self, event: dict[str, Any], *, event_id: str | None = None,
              retry: int | None = None) -> int:
        body = event_body(event, event_id or f"Ev{next(_ids):08d}")
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} \
            if retry else None
        status, _, _ = self.send(body, "application/json", headers=headers)
        return status

    def interact(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        payload.setdefault("team", {"id": self.fake.team_id, "domain": self.fake.team_domain})
        payload.setdefault("api_app_id", self.fake.app_id)
        status, _, body = self.send(form_body(payload), "application/x-www-form-urlencoded")
        return status, json.loads(body) if body.strip() else {}

    def command(self, text: str, user: str = ADMIN) -> str:
        return str(self.command_reply(text, user)["text"])

    def command_reply(self, text: str, user: str = ADMIN) -> dict[str, Any]:
        """The whole answer to ``/coc text`` (``text``, ``blocks``, ``response_type``)."""
        body = urlencode({"token": "legacy", "team_id": self.fake.team_id, "channel_id": ADMINS,
                          "user_id": user, "command": "/coc", "text": text,
                          "trigger_id": f"trig.{next(_ids)}",
                          "response_url": "https://hooks.slack.invalid/commands/1"}).encode()
        status, _, answer = self.send(body, "application/x-www-form-urlencoded")
        assert status == 200, answer
        text = answer.decode()
        return dict(json.loads(text)) if text.startswith("{") else {"text": text}

    # -- what people do ----------------------------------------------------------------------
    def shortcut(self, reporter: str = REPORTER, ts: str | None = None) -> dict[str, Any]:
        """Press "Report to admins" on the message; return the modal that opened."""
        ts = ts or self.message_ts
        before = len(self.fake.calls_to("views.open"))
        status, _ = self.interact({
            "type": "message_action", "callback_id": "report_message", "trigger_id": "trig.1",
            "user": {"id": reporter}, "channel": {"id": TALK, "name": "talk"},
            "message": {"type": "message", "user": SUBJECT, "ts": ts, "text": SAID},
            "message_ts": ts, "response_url": "https://hooks.slack.invalid/actions/1"})
        assert status == 200
        opened = self.fake.calls_to("views.open")[before:]
        assert opened, "the report modal did not open"
        view = opened[-1].params["view"]
        return json.loads(view) if isinstance(view, str) else dict(view)

    def submit(self, view: dict[str, Any], values: dict[str, dict[str, Any]],
               user: str = REPORTER) -> tuple[int, dict[str, Any]]:
        state = {block: {"value": value} for block, value in values.items()}
        return self.interact({
            "type": "view_submission", "user": {"id": user}, "trigger_id": "trig.2",
            "view": {"id": f"V{next(_ids):08d}", "type": "modal",
                     "callback_id": view["callback_id"],
                     "private_metadata": view.get("private_metadata", ""),
                     "state": {"values": state}}})

    def report(self, *, reporter: str = REPORTER, note: str | None = None, anonymous: bool = False,
               harmed: tuple[str, ...] = (), nudge: bool = False, flagrant: bool = False) -> int:
        """The whole reporter's path; returns the case id."""
        view = self.shortcut(reporter)
        options = [{"value": v} for v, on in (("anonymous", anonymous), ("flagrant", flagrant)) if on]
        status, answer = self.submit(view, {
            "route": {"type": "radio_buttons",
                      "selected_option": {"value": "nudge" if nudge else "admins"}},
            "note": {"type": "plain_text_input", "value": note},
            "harmed": {"type": "multi_users_select", "selected_users": list(harmed)},
            "options": {"type": "checkboxes", "selected_options": options},
        }, reporter)
        assert status == 200 and answer == {}, answer
        return self.latest_case_id()

    def press(self, action_id: str, value: str, user: str = ADMIN, *,
              channel: str = ADMINS, message: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        message = message or {"ts": "1.000001", "text": "card"}
        return self.interact({
            "type": "block_actions", "user": {"id": user}, "trigger_id": f"trig.{next(_ids)}",
            "channel": {"id": channel}, "message": message,
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b",
                         "value": value, "action_ts": "1.1"}]})

    def step(self, case_id: int, rung: str, user: str = ADMIN, *, text: str | None = None,
             duration: str | None = None, reason: str | None = None) -> tuple[int, dict[str, Any]]:
        """Press the step's button on the card, then submit its modal (edited or not)."""
        before = len(self.fake.calls_to("views.open"))
        self.press("case_step", f"{case_id}:{rung}", user)
        opened = self.fake.calls_to("views.open")[before:]
        assert opened, f"no modal for {rung}: {self.fake.ephemerals()[-1:]}"
        view = opened[-1].params["view"]
        view = json.loads(view) if isinstance(view, str) else view
        preview = next(b for b in view["blocks"] if b.get("block_id") == "text")
        values: dict[str, dict[str, Any]] = {
            "text": {"type": "plain_text_input",
                     "value": text if text is not None else preview["element"]["initial_value"]},
            "reason": {"type": "plain_text_input", "value": reason}}
        if any(b.get("block_id") == "duration" for b in view["blocks"]):
            initial = next(b for b in view["blocks"] if b.get("block_id") == "duration")
            values["duration"] = {"type": "plain_text_input",
                                  "value": duration or initial["element"]["initial_value"]}
        return self.submit(view, values, user)

    # -- reading the outcome -------------------------------------------------------------------
    def latest_case_id(self) -> int:
        with self.app.uow() as uow:
            ids = uow.cases.case_ids_for(_person(SUBJECT))
        assert ids, "no case was opened"
        return max(ids)

    def case(self, case_id: int) -> Case:
        with self.app.uow() as uow:
            return uow.cases.get(case_id)

    def cursor(self, name: str) -> str | None:
        with self.app.uow() as uow:
            return uow.cursors.get(name)

    def run_timers(self, advance: timedelta = timedelta()) -> int:
        self.clock.advance(advance)
        return int(self.app.bus.handle(commands.RunDueTimers(worker="test")))

    def dm_texts(self, user: str) -> list[str]:
        """Everything the app posted in its DM with ``user`` (blocks' texts included)."""
        channel = self.fake.dm_channel_id(user)
        return [_all_text(m) for m in self.fake.messages(channel)]

    def said_to(self, user: str) -> list[str]:
        """Everything ``user`` could read from the app: DMs, thread replies in public channels."""
        public = [_all_text(m) for m in self.fake.messages(TALK) if m.user == self.fake.bot_user_id]
        return self.dm_texts(user) + public

    def admin_posts(self) -> list[str]:
        return [_all_text(m) for m in self.fake.messages(ADMINS)]


def _all_text(message: Any) -> str:
    return message.text + " " + json.dumps(message.blocks or [])


def _person(user: str) -> Any:
    from conduct_desk.domain.people import PersonRef

    return PersonRef("slack", user)


def event_body(event: dict[str, Any], event_id: str) -> bytes:
    return json.dumps({
        "token": "legacy", "team_id": "TFAKETEAM1", "api_app_id": "AFAKEAPP01", "event": event,
        "type": "event_callback", "event_id": event_id, "event_time": 1_700_000_000,
        "authorizations": [{"team_id": "TFAKETEAM1", "user_id": "UFAKEBOT01", "is_bot": True}],
    }).encode()


def channel_message(text: str, user: str = "U0SOMEONE1", ts: str = "1700000000.000100",
                    channel: str = TALK, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
            "event_ts": ts, "channel_type": "channel", **extra}


@contextmanager
def harness(app: App, clock: FakeClock, *, scim: bool = True,
            admins: str = f"{ADMIN}:admin,{MOD}:moderator,{OBSERVER}:observer") -> Iterator[Harness]:
    # the workspace grants exactly what the manifest asks for: a missing scope fails the tests
    with FakeSlack(tokens={BOT_TOKEN}, scim_tokens={SCIM_TOKEN},
                   scopes=manifest_bot_scopes()) as fake:
        for user, name in ((SUBJECT, "sam"), (REPORTER, "rae"), (OTHER, "oli"), (ADMIN, "ada"),
                           (MOD, "mo"), (OBSERVER, "obi"), (STRANGER, "stan")):
            fake.add_user(user, name, real_name=name.capitalize() + " Example")
        fake.add_channel(TALK, "talk", members=[SUBJECT, REPORTER, OTHER])
        fake.add_channel(ADMINS, "admins", members=[ADMIN, MOD, OBSERVER], is_private=True)
        settings = SlackSettings(
            bot_token=BOT_TOKEN, signing_secret=SECRET, admin_channel=ADMINS, admins=admins,
            api_url=fake.base_url, scim_url=fake.scim_base_url,
            scim_token=SCIM_TOKEN if scim else None, process_before_response=True)
        adapter = configure(app, settings)
        assert adapter is not None
        app.desk.platforms["slack"] = adapter.platform
        app.adapters.append(adapter)
        h = Harness(fake, app, adapter, clock)
        h.message_ts = fake.add_message(TALK, SAID, user=SUBJECT)
        try:
            yield h
        finally:
            adapter.stop()
