"""The Discord transport's contract: Discord's gateway events and interactions become the chat
desk's inputs, and the chat desk's outputs become the REST calls Discord documents. Behaviour
is the chat layer's (tests/unit/chat); here only the translation is checked, through the fake."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from tests.support.discord_harness import (
    ADMIN,
    ADMINS,
    OTHER,
    REPORTER,
    SAID,
    SUBJECT,
    TALK,
    Harness,
    harness,
    reactions_policy,
)
from tests.support.fake_discord import INTENT_GUILD_MESSAGES

from conduct_desk.bootstrap import App
from conduct_desk.service import views
from conduct_desk.service.chat.inputs import (
    CardPressed,
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


class Inputs:
    """What the transport hands the chat desk (which still acts on it), from any thread."""

    def __init__(self) -> None:
        self.seen: list[ChatInput] = []
        self._changed = threading.Condition()

    def add(self, item: ChatInput) -> None:
        with self._changed:
            self.seen.append(item)
            self._changed.notify_all()

    def wait(self, count: int, timeout: float = 15.0) -> list[ChatInput]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.seen) >= count, timeout):
                raise AssertionError(f"expected {count} inputs, got {self.seen}")
            return list(self.seen)

    def clear(self) -> None:
        with self._changed:
            self.seen.clear()


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


@pytest.fixture
def inputs(h: Harness, monkeypatch: pytest.MonkeyPatch) -> Inputs:
    seen = Inputs()
    handle = h.adapter.chat.handle

    def record(item: ChatInput) -> str | None:
        seen.add(item)
        return handle(item)

    monkeypatch.setattr(h.adapter.chat, "handle", record)
    return seen


def test_the_report_emoji_is_a_reaction_input_with_the_author(h: Harness, inputs: Inputs) -> None:
    h.app.desk.policy = reactions_policy()
    h.fake.react(h.target.id, REPORTER, "🚩")
    (got,) = inputs.wait(1)
    assert replace(got, mark=None) == Reaction(REPORTER, TALK, h.target.id, ReactionKind.REPORT,
                                               SUBJECT)
    # claimed with the report it files: heard again from a resumed session, it files nothing
    assert isinstance(got, Reaction) and got.mark is not None \
        and got.mark[0].endswith(f"{TALK}:{h.target.id}:{REPORTER}")


def test_a_direct_message_is_a_direct_message_input(h: Harness, inputs: Inputs) -> None:
    h.fake.send_dm(REPORTER, "hello there")
    assert inputs.wait(1)[0] == DirectMessage(REPORTER, "hello there")
    h.fake.wait_for(lambda: h.fake.dms_to(REPORTER) or None)  # its answer, echoed back: no input
    h.fake.send_dm(OTHER, "and me")
    assert inputs.wait(2) == [DirectMessage(REPORTER, "hello there"), DirectMessage(OTHER, "and me")]


def test_edits_and_deletions_under_a_private_word(h: Harness, inputs: Inputs) -> None:
    h.report(nudge=True)
    (submitted,) = inputs.wait(1)
    assert isinstance(submitted, ReportSubmitted) and submitted.nudge
    assert (submitted.reporter, submitted.subject, submitted.channel, submitted.message_id) == (
        REPORTER,
        SUBJECT,
        TALK,
        h.target.id,
    )
    assert submitted.message_text == SAID  # from the interaction: no Message Content intent needed
    assert h.adapter.chat.watches(TALK, h.target.id)
    inputs.clear()
    # a link preview arriving changes no words (no edited_timestamp): nothing; then a real edit
    with h.fake._lock:
        unfurled = h.fake._message_json(h.target)
    h.fake.dispatch("MESSAGE_UPDATE", unfurled, intent=INTENT_GUILD_MESSAGES)
    h.fake.edit_message(h.target.id, "rephrased")
    assert inputs.wait(1) == [MessageEdited(SUBJECT, TALK, h.target.id)]
    h.fake.wait_for(lambda: not h.adapter.chat.watches(TALK, h.target.id), 15, "the answer")
    # nobody's message is watched now: a deletion is skipped before the desk
    h.fake.delete_message(h.target.id)
    h.dm_desk(OTHER, "hello?")
    assert [i for i in inputs.seen if not isinstance(i, DirectMessage)] == [
        MessageEdited(SUBJECT, TALK, h.target.id)
    ]


def test_a_deleted_message_under_a_private_word(h: Harness, inputs: Inputs) -> None:
    h.report(nudge=True)
    inputs.wait(1)
    inputs.clear()
    h.fake.delete_message(h.target.id)
    assert inputs.wait(1) == [MessageDeleted(TALK, h.target.id)]


def test_the_report_modal_is_a_report_input(h: Harness, inputs: Inputs) -> None:
    h.report(note="it keeps happening", harmed=(OTHER,), anonymous=True, flagrant=True)
    (report,) = inputs.wait(1)
    assert isinstance(report, ReportSubmitted)
    assert (report.note, report.harmed, report.anonymous, report.flagrant, report.nudge) == (
        "it keeps happening",
        (OTHER,),
        True,
        True,
        False,
    )
    assert report.message_link == f"https://discord.com/channels/{h.fake.guild_id}/{TALK}/{h.target.id}"


def test_coc_and_buttons_are_commands_answered_privately(h: Harness, inputs: Inputs) -> None:
    h.report()
    case_id = h.latest_case_id()
    inputs.clear()
    asked = h.slash(f"take {case_id}")
    assert "yours" in h.answer(asked) and h.ephemeral(asked)
    (typed,) = inputs.wait(1)
    assert isinstance(typed, CommandTyped) and typed.room is None
    assert (typed.user, typed.text) == (ADMIN, f"take {case_id}")
    inputs.clear()
    pressed = h.press(f"case:step:{case_id}:remind")
    assert h.answer(pressed) == "(a modal opened)"
    (button,) = inputs.wait(1)
    assert isinstance(button, CardPressed) and button.trigger
    assert (button.user, button.action, button.case_id, button.arg) == (ADMIN, "step", case_id, "remind")


def test_outputs_become_rest_calls(h: Harness) -> None:
    t = h.adapter.transport
    assert t.mention(SUBJECT) == f"<@{SUBJECT}>"
    assert t.person_word(f"<@{SUBJECT}>") == SUBJECT and t.person_word(f"<@!{SUBJECT}>") == SUBJECT
    assert t.person_word(SUBJECT) == SUBJECT and t.person_word("@sam") is None
    assert t.people_in(f"<@{SUBJECT}> and <@!{OTHER}>") == [SUBJECT, OTHER]
    link = f"see https://discord.com/channels/{h.fake.guild_id}/{TALK}/{h.target.id} please"
    assert t.message_in(link) == MessageRef(TALK, h.target.id)
    elsewhere = t.message_in(f"https://discord.com/channels/1234567890123456789/{TALK}/{h.target.id}")
    assert elsewhere is not None and t.looks_after(elsewhere.channel) is None
    assert t.person_name(SUBJECT) == "Sam Example" and t.channel_name(TALK) == "#talk"
    assert t.person_name("399999999999999999") is None  # Unknown Member
    assert t.dm(REPORTER, "hello").status is EffectStatus.DONE
    assert h.dm_texts(REPORTER)[-1].startswith("hello")
    # the admins' channel: listed admins and members whose roles let them in read it
    assert t.reads_admin_room(ADMIN) and not t.reads_admin_room(SUBJECT)
    # a card: posted, then edited in place; a long rate limit is an effect with Discord's wait
    h.report()
    case_id = h.latest_case_id()
    detail = views.case_detail(h.app.uow(), h.app.desk, case_id)
    posted = t.post_card(Card(detail, "plain", False, None))
    assert isinstance(posted, Posted)
    assert h.fake.calls_to("POST /channels/{channel_id}/messages")[-1].param("channel_id") == ADMINS
    again = t.post_card(Card(detail, "plain", False, posted.ref))
    assert again == posted
    assert (
        h.fake.calls_to("PATCH /channels/{channel_id}/messages/{message_id}")[-1].param("message_id")
        == posted.ref
    )
    h.fake.rate_limit_next("PATCH /channels/{channel_id}/messages/{message_id}", 45.0)
    refused = t.post_card(Card(detail, "plain", False, posted.ref))
    assert not isinstance(refused, Posted) and refused.retryable
    assert refused.retry_after is not None and refused.retry_after >= timedelta(seconds=44)


def test_a_step_window_that_cannot_open_takes_nothing(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    assert (
        h.adapter.transport.open_step_form("no-such-trigger", case_id, "remind", "text", "remind", None)
        is False
    )
    h.fake.fail_next("POST /interactions/{interaction_id}/{interaction_token}/callback", 10062)
    pressed = h.press(f"case:step:{case_id}:remind")
    h.fake.wait_for_calls("POST /interactions/{interaction_id}/{interaction_token}/callback")
    h.dm_desk(OTHER, "hello?")  # the desk has moved on
    assert h.case(case_id).steps == []
    assert pressed.modal is None
