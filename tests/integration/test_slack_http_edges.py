"""Slack's HTTP listener at its edges, over a real socket: every request gets an answer at once.

Requests Slack would never send (no timestamp, a malformed one, a negative or huge
Content-Length) are refused with a 4xx straight away, and a correctly signed request for
something the app does not handle is acknowledged with a 2xx, so Slack never counts the app
as failing.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from tests.support.slack_harness import SECRET, Harness, event_body, harness

from conduct_desk.bootstrap import App
from conduct_desk.platforms.slack import form_body, sign
from conduct_desk.service.clock import FakeClock

PATH = "/slack/events"


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        h.adapter.settings.http_port = 0
        h.adapter.start()
        yield h


def _raw(h: Harness, head: str, body: bytes = b"") -> int:
    """Send raw bytes; the status of the answer (the socket gives up after 5 s: a hang fails)."""
    assert h.adapter.http_port is not None
    with socket.create_connection(("127.0.0.1", h.adapter.http_port), timeout=5) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            assert chunk, "the listener closed the connection without an answer"
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def _post(headers: dict[str, str], length: str | None) -> str:
    lines = [f"POST {PATH} HTTP/1.1", "Host: desk"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return "\n".join(lines) + "\n"


def _signed_json(body: bytes, **drop: bool) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **sign(SECRET, body)}
    return {k: v for k, v in headers.items() if not drop.get(k.replace("-", "_").lower())}


BODY = event_body({"type": "app_mention", "user": "U0SOMEONE1", "text": "hi", "channel": "C1",
                   "ts": "1700000000.000100"}, "EvEDGE0001")


def test_a_request_without_the_timestamp_header_is_refused_at_once(h: Harness) -> None:
    headers = _signed_json(BODY, x_slack_request_timestamp=True)
    assert _raw(h, _post(headers, str(len(BODY))), BODY) == 401
    form = form_body({"type": "block_actions", "user": {"id": "U1"}, "actions": []})
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Slack-Signature": sign(SECRET, form)["X-Slack-Signature"]}
    assert _raw(h, _post(headers, str(len(form))), form) == 401


@pytest.mark.parametrize("stamp", ["soon", "-5", "1e9", "１７００００００００", "9" * 40])
def test_a_malformed_timestamp_is_refused_at_once(h: Harness, stamp: str) -> None:
    headers = {**_signed_json(BODY), "X-Slack-Request-Timestamp": stamp}
    assert _raw(h, _post(headers, str(len(BODY))), BODY) in (400, 401)


@pytest.mark.parametrize("length", ["-1", "-100000", "abc", str(50 * 1024 * 1024), "99" * 20])
def test_a_negative_or_oversized_content_length_is_refused_at_once(h: Harness, length: str) -> None:
    assert _raw(h, _post(_signed_json(BODY), length), BODY) == 400


def test_a_signed_event_the_app_does_not_handle_is_acknowledged(h: Harness) -> None:
    headers = _signed_json(BODY)
    assert _raw(h, _post(headers, str(len(BODY))), BODY) == 200


def test_a_signed_interaction_the_app_does_not_handle_is_acknowledged(h: Harness) -> None:
    for payload in ({"type": "block_actions", "user": {"id": "U0SOMEONE1"}, "trigger_id": "t",
                     "actions": [{"type": "button", "action_id": "someone_elses_button",
                                  "block_id": "b", "value": "1", "action_ts": "1.1"}]},
                    {"type": "shortcut", "callback_id": "not_ours", "trigger_id": "t",
                     "user": {"id": "U0SOMEONE1"}},
                    {"type": "view_closed", "user": {"id": "U0SOMEONE1"},
                     "view": {"id": "V1", "callback_id": "not_ours"}}):
        payload = {"team": {"id": "TFAKETEAM1"}, "api_app_id": "AFAKEAPP01", **payload}
        body = form_body(payload)
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}
        assert _raw(h, _post(headers, str(len(body))), body) == 200, payload["type"]


def test_a_forged_or_stale_request_is_still_refused(h: Harness) -> None:
    headers = {"Content-Type": "application/json", **sign("not-the-secret", BODY)}
    assert _raw(h, _post(headers, str(len(BODY))), BODY) == 401
    headers = {"Content-Type": "application/json",
               **sign(SECRET, BODY, timestamp=int(time.time()) - 600)}
    assert _raw(h, _post(headers, str(len(BODY))), BODY) == 401
    assert json.loads(BODY)["event_id"] == "EvEDGE0001"
