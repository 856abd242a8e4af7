"""The Slack transport's contract: Slack's payloads become the chat desk's inputs, and the
chat desk's outputs become the Web API calls Slack documents. Behaviour is the chat layer's
(tests/unit/chat); here only the translation is checked, through signed requests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.support.slack_harness import (
    ADMIN,
    ADMINS,
    OTHER,
    REPORTER,
    SAID,
    SUBJECT,
    TALK,
    Harness,
    channel_message,
    harness,
    reactions_policy,
)

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.service import views
from conduct_desk.service.chat.inputs import (
    CardPressed,
    ChannelMessage,
    ChatInput,
    CommandTyped,
    DirectMessage,
    MessageDeleted,
    MessageEdited,
    Reaction,
    ReactionKind,
    ReportSubmitted,
)
from conduct_desk.service.chat.transport import Card, MessageRef, Posted
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import EffectStatus


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


@pytest.fixture
def inputs(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[ChatInput]:
    """What the transport hands the chat desk (which still acts on it)."""
    seen: list[ChatInput] = []
    handle = h.adapter.chat.handle

    def record(item: ChatInput) -> str | None:
        seen.append(item)
        return handle(item)

    monkeypatch.setattr(h.adapter.chat, "handle", record)
    return seen


def test_a_report_reaction_is_a_reaction_input(h: Harness, inputs: list[ChatInput]) -> None:
    h.app.desk.policy = reactions_policy()
    h.event({"type": "reaction_added", "user": REPORTER, "reaction": "triangular_flag_on_post",
             "item_user": SUBJECT, "item": {"type": "message", "channel": TALK,
                                            "ts": h.message_ts}, "event_ts": "1.2"})
    (reaction,) = inputs
    assert reaction == Reaction(REPORTER, TALK, h.message_ts, ReactionKind.REPORT, SUBJECT,
                                mark=reaction.mark)
    assert reaction.mark is not None and reaction.mark[0].startswith("slack:event:")


def test_a_direct_message_is_a_direct_message_input(h: Harness, inputs: list[ChatInput]) -> None:
    dm = h.fake.dm_channel_id(REPORTER)
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": "hello there", "ts": "1700000002.000100"})
    h.event({"type": "message", "channel": dm, "channel_type": "im", "bot_id": "B1",
             "user": "UFAKEBOT01", "text": "the desk's own words", "ts": "1700000002.000200"})
    assert inputs == [DirectMessage(REPORTER, "hello there")]


def test_edits_deletions_and_words_under_a_nudge(h: Harness, inputs: list[ChatInput]) -> None:
    view = h.shortcut()
    h.submit(view, {"route": {"type": "radio_buttons", "selected_option": {"value": "nudge"}}})
    assert inputs == [ReportSubmitted(REPORTER, SUBJECT, TALK, h.message_ts, nudge=True,
                                      message_text=SAID, message_link=inputs[0].message_link)]
    assert h.adapter.chat.watches(TALK, h.message_ts)
    inputs.clear()
    # an unfurl changes no text: nothing; then a real edit
    same = {"type": "message", "user": SUBJECT, "text": SAID, "ts": h.message_ts}
    h.event(channel_message("", subtype="message_changed", message=same, previous_message=same))
    h.event(channel_message("", user=SUBJECT, thread_ts=h.message_ts, ts="1700000009.000001"))
    h.event(channel_message("", subtype="message_changed",
                            message={**same, "text": "rephrased"}, previous_message=same))
    assert inputs == [ChannelMessage(SUBJECT, TALK, "1700000009.000001", ""),
                      MessageEdited(SUBJECT, TALK, h.message_ts)]
    assert not h.adapter.chat.watches(TALK, h.message_ts)  # the nudge was answered
    # nobody's message is watched now: a deletion is skipped before Bolt
    inputs.clear()
    h.event({"type": "message", "subtype": "message_deleted", "channel": TALK,
             "deleted_ts": h.message_ts, "ts": "1700000010.000001"})
    assert inputs == []


def test_a_deleted_message_under_a_nudge(h: Harness, inputs: list[ChatInput]) -> None:
    view = h.shortcut()
    h.submit(view, {"route": {"type": "radio_buttons", "selected_option": {"value": "nudge"}}})
    inputs.clear()
    h.event({"type": "message", "subtype": "message_deleted", "channel": TALK,
             "deleted_ts": h.message_ts, "ts": "1700000010.000001"})
    assert inputs == [MessageDeleted(TALK, h.message_ts)]


def test_the_report_modal_is_a_report_input(h: Harness, inputs: list[ChatInput]) -> None:
    h.report(note="it keeps happening", harmed=(OTHER,), anonymous=True, flagrant=True)
    (report,) = inputs
    assert isinstance(report, ReportSubmitted)
    assert (report.reporter, report.subject, report.channel, report.message_id) == (
        REPORTER, SUBJECT, TALK, h.message_ts)
    assert (report.note, report.harmed, report.anonymous, report.flagrant, report.nudge) == (
        "it keeps happening", (OTHER,), True, True, False)
    assert report.message_text == SAID and report.message_link
    assert "/archives/C0TALK0001/p" in report.message_link


def test_coc_and_buttons_are_commands_answered_ephemerally(h: Harness,
                                                           inputs: list[ChatInput]) -> None:
    case_id = h.report()
    inputs.clear()
    reply = h.command_reply(f"take {case_id}")
    (typed,) = inputs
    assert isinstance(typed, CommandTyped) and typed.room is None and typed.trigger
    assert (typed.user, typed.text) == (ADMIN, f"take {case_id}")
    assert reply["response_type"] == "ephemeral" and "yours" in reply["text"]
    inputs.clear()
    h.press("case_step", f"{case_id}:remind")
    (pressed,) = inputs
    assert isinstance(pressed, CardPressed) and pressed.trigger
    assert (pressed.user, pressed.action, pressed.case_id, pressed.arg) == (
        ADMIN, "step", case_id, "remind")
    opened = h.fake.calls_to("views.open")[-1].params["view"]
    modal = json.loads(opened) if isinstance(opened, str) else opened
    assert modal["callback_id"] == "step_submit"
    told = h.fake.ephemerals()[-1]
    assert told.user == ADMIN and "window that opened" in told.text


def test_outputs_become_web_api_calls(h: Harness) -> None:
    t = h.transport
    assert t.mention(SUBJECT) == f"<@{SUBJECT}>"
    assert t.person_word(f"<@{SUBJECT}|sam>") == SUBJECT and t.person_word(SUBJECT) == SUBJECT
    assert t.person_word("@sam") is None
    assert t.people_in(f"<@{SUBJECT}> and <@{OTHER}|oli>") == [SUBJECT, OTHER]
    link = f"see https://x.slack.com/archives/{TALK}/p1700000000000100 please"
    assert t.message_in(link) == MessageRef(TALK, "1700000000.000100")
    assert t.person_name(SUBJECT) == "sam" and t.channel_name(TALK) == "#talk"
    assert t.person_name("U0NOBODY99") is None  # users.info: user_not_found
    assert t.dm(REPORTER, "hello").status is EffectStatus.DONE
    assert h.dm_texts(REPORTER)[-1].startswith("hello")
    # the admin channel: listed admins and members read it; others do not
    assert t.reads_admin_room(ADMIN) and not t.reads_admin_room(SUBJECT)
    # a card: posted, then edited in place; a refusal is an effect with Slack's wait
    case_id = h.report()
    detail = views.case_detail(h.app.uow(), h.app.desk, case_id)
    posted = t.post_card(Card(detail, "plain", False, None))
    assert isinstance(posted, Posted)
    assert h.fake.calls_to("chat.postMessage")[-1].params["channel"] == ADMINS
    again = t.post_card(Card(detail, "plain", False, posted.ref))
    assert again == posted and h.fake.calls_to("chat.update")[-1].params["ts"] == posted.ref
    h.fake.fail_next("chat.update", "ratelimited", status=429, headers={"Retry-After": "7"})
    refused = t.post_card(Card(detail, "plain", False, posted.ref))
    assert not isinstance(refused, Posted) and refused.retryable
    assert refused.retry_after is not None and refused.retry_after.total_seconds() == 7


def test_a_step_window_slack_will_not_open_takes_nothing(h: Harness) -> None:
    case_id = h.report()
    h.fake.fail_next("views.open", "expired_trigger_id")
    with pytest.raises(InvalidInput, match="expired_trigger_id"):
        h.transport.open_step_form("trig.old", case_id, "remind", "text", "remind", None)
    h.fake.fail_next("views.open", "expired_trigger_id")
    h.press("case_step", f"{case_id}:remind")
    assert "did not open the step's window" in h.fake.ephemerals()[-1].text
    assert h.case(case_id).steps == []


def test_what_the_subject_writes_back_after_a_step_reaches_the_card(h: Harness) -> None:
    case_id = h.report()
    assert h.step(case_id, "warn", reason="third time") == (200, {})
    dm = h.fake.dm_channel_id(SUBJECT)
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": SUBJECT,
             "text": "Understood, it won't happen again.", "ts": "1700000040.000100"})
    assert "The admins can read what you wrote" in h.dm_texts(SUBJECT)[-1]
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == h.cursor(f"slack:card:{case_id}"))
    drawn = json.dumps(card.blocks)
    assert f"<@{SUBJECT}> replied" in drawn and "it won't happen again" in drawn
