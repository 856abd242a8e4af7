"""Slack intake: the message shortcut and its modal, the reaction, a DM, ``/coc report``; the peer nudge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.support.slack_harness import (
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
from conduct_desk.domain.model import Source
from conduct_desk.domain.nudges import NudgeState
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def test_shortcut_opens_a_modal_where_everything_is_optional(h: Harness) -> None:
    view = h.shortcut()
    assert view["callback_id"] == "report_submit"
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert {b["block_id"] for b in inputs} == {"route", "note", "harmed", "options"}
    assert all(b["optional"] for b in inputs)
    harmed = next(b for b in inputs if b["block_id"] == "harmed")
    assert harmed["element"]["type"] == "multi_users_select"
    assert json.loads(view["private_metadata"]) == {"c": TALK, "ts": h.message_ts, "a": SUBJECT}


def test_report_from_the_modal_opens_a_case_with_a_card_and_thanks_the_reporter(h: Harness) -> None:
    case_id = h.report(note="this keeps happening", harmed=(OTHER,))
    case = h.case(case_id)
    (report,) = case.reports
    assert report.source is Source.SLACK and report.channel == TALK
    assert report.message_id == h.message_ts and report.message_text == SAID
    assert report.message_link and "/archives/C0TALK0001/p" in report.message_link
    assert report.note == "this keeps happening" and not report.anonymous
    assert [p.user_id for p in report.harmed] == [OTHER]
    # the reporter is thanked privately and asked nothing
    (thanks,) = h.dm_texts(REPORTER)
    assert f"case {case_id}" in thanks and "?" not in thanks.split(" [")[0]
    # the admins get one card, remembered by its ts
    card_ts = h.cursor(f"slack:card:{case_id}")
    assert card_ts is not None
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == card_ts)
    blocks = json.dumps(card.blocks)
    assert f"*Case {case_id}*" in blocks and SAID in blocks and "case_take" in blocks
    assert f"<@{REPORTER}>" in blocks and f"<@{OTHER}>" in blocks


def test_anonymous_report_hides_the_reporter_from_the_card(h: Harness) -> None:
    case_id = h.report(anonymous=True)
    assert h.case(case_id).reports[0].anonymous
    assert all(REPORTER not in text for text in h.admin_posts())
    assert any("anonymous" in text for text in h.admin_posts())


def test_reporting_your_own_message_is_refused_kindly(h: Harness) -> None:
    own = h.fake.add_message(TALK, "hello", user=REPORTER)
    h.interact({"type": "message_action", "callback_id": "report_message", "trigger_id": "t",
                "user": {"id": REPORTER}, "channel": {"id": TALK},
                "message": {"type": "message", "user": REPORTER, "ts": own, "text": "hello"},
                "message_ts": own})
    assert not h.fake.calls_to("views.open")
    assert "your own" in h.dm_texts(REPORTER)[0]


def test_reaction_with_the_configured_emoji_files_a_report(h: Harness) -> None:
    h.app.desk.policy = reactions_policy()  # [intake] reactions = true
    event = {"type": "reaction_added", "user": REPORTER, "reaction": "triangular_flag_on_post",
             "item_user": SUBJECT, "item": {"type": "message", "channel": TALK, "ts": h.message_ts},
             "event_ts": "1700000001.000200"}
    assert h.event(event) == 200
    case = h.case(h.latest_case_id())
    assert case.reports[0].reporter is not None and case.reports[0].reporter.user_id == REPORTER
    assert case.reports[0].message_text == SAID  # fetched with conversations.history
    assert h.fake.calls_to("conversations.history")


def test_with_the_default_policy_a_reaction_files_nothing(h: Harness) -> None:
    """A reaction shows the channel who reacted, so it is no way to report unless the policy
    turns it on: nothing is filed, nothing is fetched, nobody is written to."""
    assert not h.app.desk.policy.reactions
    event = {"type": "reaction_added", "user": REPORTER, "reaction": "triangular_flag_on_post",
             "item_user": SUBJECT, "item": {"type": "message", "channel": TALK, "ts": h.message_ts},
             "event_ts": "1700000001.000200"}
    calls = len(h.fake.calls)
    assert h.event(event) == 200
    assert len(h.fake.calls) == calls
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(_subject()) == []
        assert uow.nudges.waiting_for(_subject(), TALK, h.message_ts) == []
    assert h.dm_texts(REPORTER) == [] and h.dm_texts(SUBJECT) == []


def test_other_reactions_do_nothing(h: Harness) -> None:
    h.app.desk.policy = reactions_policy()
    event = {"type": "reaction_added", "user": REPORTER, "reaction": "tada", "item_user": SUBJECT,
             "item": {"type": "message", "channel": TALK, "ts": h.message_ts}, "event_ts": "1.2"}
    calls = len(h.fake.calls)
    assert h.event(event) == 200
    assert len(h.fake.calls) == calls
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(_subject()) == []


def test_a_dm_naming_someone_files_a_report_and_a_vague_one_explains_how(h: Harness) -> None:
    dm = h.fake.dm_channel_id(REPORTER)
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": "I don't know who to tell", "ts": "1700000002.000100"})
    assert "mention" in h.dm_texts(REPORTER)[-1]
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": f"<@{SUBJECT}> keeps making jokes about my accent", "ts": "1700000003.000100"})
    case = h.case(h.latest_case_id())
    assert case.reports[0].note and "accent" in case.reports[0].note


def test_a_dm_with_a_message_link_reports_its_author(h: Harness) -> None:
    dm = h.fake.dm_channel_id(REPORTER)
    link = f"https://x.slack.com/archives/{TALK}/p{h.message_ts.replace('.', '')}"
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": f"this one: <{link}>", "ts": "1700000004.000100"})
    case = h.case(h.latest_case_id())
    assert case.channel == TALK and case.message_id == h.message_ts
    assert case.reports[0].message_text == SAID


def test_slash_report(h: Harness) -> None:
    answer = h.command(f"report <@{SUBJECT}|sam> said something cruel in the thread", REPORTER)
    assert "nothing more you need to do" in answer
    case = h.case(h.latest_case_id())
    assert case.reports[0].note == "said something cruel in the thread"
    assert "say who" in h.command("report nobody", REPORTER)


def test_nudge_writes_to_the_author_without_naming_the_reporter(h: Harness) -> None:
    _nudge(h)
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(_subject()) == []
        (nudge,) = uow.nudges.waiting_for(_subject(), TALK, h.message_ts)
    assert nudge.state is NudgeState.WAITING
    (to_author,) = h.dm_texts(SUBJECT)
    assert "someone was hurt" in to_author and SAID in to_author
    assert REPORTER not in to_author and "rae" not in to_author.lower()
    assert "privately" in h.dm_texts(REPORTER)[-1]


def _nudge(h: Harness) -> None:
    view = h.shortcut()
    h.submit(view, {"route": {"type": "radio_buttons", "selected_option": {"value": "nudge"}}})


def test_an_edit_answers_the_nudge(h: Harness) -> None:
    _nudge(h)
    h.event(channel_message("edited", subtype="message_changed", ts="1700000009.000001",
                            message={"type": "message", "user": SUBJECT, "text": "sorry, rephrased",
                                     "ts": h.message_ts},
                            previous_message={"type": "message", "user": SUBJECT, "text": SAID,
                                              "ts": h.message_ts}))
    with h.app.uow() as uow:
        assert uow.nudges.waiting_for(_subject(), TALK, h.message_ts) == []
    assert "edited" in h.dm_texts(REPORTER)[-1]
    assert h.run_timers(timedelta(days=2)) >= 1
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(_subject()) == []


@pytest.mark.parametrize("said", ["sorry not sorry, someone had to say it",
                                  "Pardon me, but I stand by every word"])
def test_words_that_look_like_an_apology_do_not_close_the_nudge(h: Harness, said: str) -> None:
    _nudge(h)
    h.event(channel_message(said, user=SUBJECT, thread_ts=h.message_ts))
    with h.app.uow() as uow:
        (waiting,) = uow.nudges.waiting_for(_subject(), TALK, h.message_ts)
    assert waiting.state is NudgeState.WAITING
    shown = h.dm_texts(REPORTER)[-1]
    assert said in shown and "enough" in shown and "apologized" not in shown
    assert "why" not in shown.lower()  # the reporter is never asked to explain
    # the wait ends without "enough": the case opens, with what the author wrote for the admins
    h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))
    case = h.case(h.latest_case_id())
    assert [(n.kind, n.text) for n in case.notes] == [("apology", said)]
    assert any(said in post for post in h.admin_posts())
    assert not any("apologized" in text for text in h.dm_texts(REPORTER))


def test_the_reporter_may_say_an_apology_is_enough(h: Harness) -> None:
    _nudge(h)
    h.event(channel_message("I'm sorry, that was out of line", user=SUBJECT,
                            thread_ts=h.message_ts))
    assert "out of line" in h.dm_texts(REPORTER)[-1]
    dm = h.fake.dm_channel_id(REPORTER)
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": "enough", "ts": "1700000020.000100"})
    with h.app.uow() as uow:
        assert uow.nudges.waiting_for(_subject(), TALK, h.message_ts) == []
    assert "leave it there" in h.dm_texts(REPORTER)[-1]
    h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))
    with h.app.uow() as uow:
        assert uow.cases.case_ids_for(_subject()) == []


def test_a_deleted_message_answers_the_nudge(h: Harness) -> None:
    _nudge(h)
    h.event({"type": "message", "subtype": "message_deleted", "channel": TALK,
             "channel_type": "channel", "deleted_ts": h.message_ts, "ts": "1700000010.000001",
             "previous_message": {"type": "message", "user": SUBJECT, "text": SAID,
                                  "ts": h.message_ts}})
    assert "removed" in h.dm_texts(REPORTER)[-1]


def test_no_answer_in_time_opens_a_case_for_the_admins(h: Harness) -> None:
    _nudge(h)
    h.event(channel_message("anyway, as I was saying", user=SUBJECT))  # not an apology
    h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))
    case = h.case(h.latest_case_id())
    assert case.reports[0].note and "private word" in case.reports[0].note
    assert h.cursor(f"slack:card:{case.id}") is not None


def _ask_for_a_nudge(h: Harness, reporter: str, note: str | None = None,
                     harmed: tuple[str, ...] = (), anonymous: bool = False) -> None:
    view = h.shortcut(reporter)
    status, answer = h.submit(view, {
        "route": {"type": "radio_buttons", "selected_option": {"value": "nudge"}},
        "note": {"type": "plain_text_input", "value": note},
        "harmed": {"type": "multi_users_select", "selected_users": list(harmed)},
        "options": {"type": "checkboxes",
                    "selected_options": [{"value": "anonymous"}] if anonymous else []},
    }, reporter)
    assert status == 200 and answer == {}


def test_what_the_reporter_gave_with_a_nudge_reaches_the_case_if_one_opens(h: Harness) -> None:
    _ask_for_a_nudge(h, REPORTER, note="it was aimed at oli", harmed=(OTHER,), anonymous=True)
    _ask_for_a_nudge(h, OTHER)  # a second member asks too: one private word is enough
    (word,) = h.dm_texts(SUBJECT)
    assert "aimed at oli" not in word and REPORTER not in word and OTHER not in word
    h.run_timers(h.app.desk.policy.peer_wait + timedelta(minutes=1))
    first, second = h.case(h.latest_case_id()).reports
    assert first.anonymous and [p.user_id for p in first.harmed] == [OTHER]
    assert first.note and first.note.startswith("it was aimed at oli") and "private word" in first.note
    assert not second.anonymous and second.reporter is not None and second.reporter.user_id == OTHER
    assert all(REPORTER not in text for text in h.admin_posts())  # anonymous stays anonymous
    assert h.dm_texts(SUBJECT) == [word]


def _subject() -> object:
    from conduct_desk.domain.people import PersonRef

    return PersonRef("slack", SUBJECT)



def test_a_card_about_someone_who_reads_the_admin_channel_leaves_out_who_reported(h: Harness) -> None:
    h.fake.add_member(ADMINS, SUBJECT)  # the person reported is one of the admins
    case_id = h.report(note="rae here: this keeps happening", harmed=(OTHER,))
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == h.cursor(f"slack:card:{case_id}"))
    posted = json.dumps(card.blocks) + card.text
    assert REPORTER not in posted and OTHER not in posted and "rae here" not in posted
    assert "leaves out who reported" in posted and SAID in posted
    # an admin who is not involved still sees everything, privately
    shown = h.command(f"show {case_id}")  # people by name, as Slack shows them
    assert "by rae" in shown and "oli" in shown and "rae here" in shown
    assert h.command_reply(f"show {case_id}")["response_type"] == "ephemeral"
    assert h.fake.calls_to("conversations.members")


def test_when_slack_will_not_list_the_admin_channel_cards_leave_out_who_reported(h: Harness) -> None:
    h.fake.set_scopes(h.fake.scopes - {"groups:read"})
    case_id = h.report(harmed=(OTHER,))
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == h.cursor(f"slack:card:{case_id}"))
    assert REPORTER not in json.dumps(card.blocks) and "leaves out who reported" in json.dumps(card.blocks)


def test_nudge_with_a_link_in_a_dm_asks_privately(h: Harness) -> None:
    """The private way to ask for a private word, besides the shortcut: a DM to the app."""
    dm = h.fake.dm_channel_id(REPORTER)
    link = f"https://x.slack.com/archives/{TALK}/p{h.message_ts.replace('.', '')}"
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": f"nudge <{link}>", "ts": "1700000030.000100"})
    with h.app.uow() as uow:
        (waiting,) = uow.nudges.waiting_for(_subject(), TALK, h.message_ts)
        assert uow.cases.case_ids_for(_subject()) == []
    assert waiting.reporter.user_id == REPORTER
    (to_author,) = h.dm_texts(SUBJECT)
    assert SAID in to_author and REPORTER not in to_author and "rae" not in to_author.lower()
    assert "privately" in h.dm_texts(REPORTER)[-1]
    h.event({"type": "message", "channel": dm, "channel_type": "im", "user": REPORTER,
             "text": "nudge please", "ts": "1700000031.000100"})
    assert "link to the message" in h.dm_texts(REPORTER)[-1]
