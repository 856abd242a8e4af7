"""Every rung of the guide's ladder through Discord's card buttons, modals and ``/coc``,
checking each call the desk makes and each text people read (as Slack's ladder story does)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from tests.support.discord_harness import (
    ADMIN,
    ADMINS,
    MOD,
    OBSERVER,
    OTHER,
    REPORTER,
    SAID,
    STRANGER,
    SUBJECT,
    TALK,
    Harness,
    harness,
)
from tests.support.fake_discord import VIEW_CHANNEL, component_labels, message_text

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import CaseState, StepStatus
from conduct_desk.service.clock import FakeClock

POST = "POST /channels/{channel_id}/messages"
EDIT = "PATCH /channels/{channel_id}/messages/{message_id}"
OPEN_DM = "POST /users/@me/channels"
OVERWRITE = "PUT /channels/{channel_id}/permissions/{overwrite_id}"
LIFT = "DELETE /channels/{channel_id}/permissions/{overwrite_id}"
MEMBER = "PATCH /guilds/{guild_id}/members/{user_id}"
BAN = "PUT /guilds/{guild_id}/bans/{user_id}"


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def _status(h: Harness, case_id: int) -> list[tuple[str, StepStatus]]:
    return [(s.rung, s.status) for s in h.case(case_id).steps]


def _posts_since(h: Harness, mark: int) -> list[tuple[str, str]]:
    """(route, channel or user) of what the desk did since ``mark`` calls, writes only."""
    done = []
    for call in h.fake.calls[mark:]:
        if call.method == "GET" or call.route.startswith(("POST /interactions", "PATCH /webhooks")):
            continue
        if call.route == POST:
            channel = call.param("channel_id")
            dm = h.fake.channel(channel)
            done.append((call.route, f"dm:{dm.recipient}" if dm.is_dm else channel))
        elif "{user_id}" in call.route:
            done.append((call.route, call.param("user_id")))
        elif "{overwrite_id}" in call.route:
            done.append((call.route, call.param("overwrite_id")))
        else:
            done.append((call.route, ""))
    return done


def test_the_whole_ladder(h: Harness) -> None:
    h.report(harmed=(OTHER,))
    case_id = h.latest_case_id()
    card_id = h.card_id(case_id)
    assert "Take the case" in component_labels(h.card(case_id).components)

    # take: the answer is private; the card is updated in place
    taken = h.press(f"case:take:{case_id}")
    assert "yours" in h.answer(taken) and h.ephemeral(taken)
    assert h.case(case_id).taken_by == f"discord:{ADMIN}"
    assert any(c.param("message_id") == card_id for c in h.fake.calls_to(EDIT))
    assert h.card_id(case_id) == card_id
    assert "Take the case" not in component_labels(h.card(case_id).components)

    # remind: a reply to the message, quoting it, with the Code of Conduct
    mark = len(h.fake.calls)
    pressed = h.press(f"case:step:{case_id}:remind")
    assert h.answer(pressed) == "(a modal opened)"
    shown = h.modal_field(pressed, "text")["value"]
    assert SAID in shown and "Code of Conduct" in shown
    h.answer(h.fake.submit_modal(pressed))
    reply = h.fake.calls_to(POST)[-1]
    assert reply.param("channel_id") == TALK
    assert str(reply.json["message_reference"]["message_id"]) == h.target.id
    assert reply.json["content"] == shown  # exactly the text the admin saw
    assert reply.json["allowed_mentions"] == {"parse": []}
    assert (POST, TALK) in _posts_since(h, mark)

    # suggest: the admin edits the text in the modal before it goes
    edited = "Sam, please make that point without the jab at where people come from."
    h.step(case_id, "suggest", text=edited)
    reply = h.fake.calls_to(POST)[-1]
    assert reply.param("channel_id") == TALK and reply.json["content"] == edited
    assert str(reply.json["message_reference"]["message_id"]) == h.target.id

    # remove: the DM first, then an overwrite that hides #talk from the subject alone
    mark = len(h.fake.calls)
    h.step(case_id, "remove")
    writes = _posts_since(h, mark)
    dm_at = writes.index((POST, f"dm:{SUBJECT}"))
    assert writes.index((OVERWRITE, SUBJECT)) > dm_at
    (overwrite,) = h.fake.calls_to(OVERWRITE)
    assert overwrite.param("channel_id") == TALK and overwrite.json["type"] == 1
    assert int(overwrite.json["deny"]) & VIEW_CHANNEL and overwrite.reason
    assert not h.fake.can_view(SUBJECT, TALK) and h.fake.can_view(REPORTER, TALK)

    # warn: a DM with the re-read button, pressed by the subject in their DM
    h.step(case_id, "warn")
    warning = h.fake.dms_to(SUBJECT)[-1]
    assert "warning" in warning.content.lower() and "Code of Conduct" in warning.content
    assert component_labels(warning.components) == ["I've re-read it"]
    reread = h.fake.click(SUBJECT, warning.id, f"reread:{case_id}")
    h.fake.wait_for(lambda: "Thank you" in h.fake.message(warning.id).content or None, 15, "the thanks")
    assert [n.kind for n in h.case(case_id).notes] == ["reread"]
    assert h.fake.message(warning.id).components == []  # the button is gone once pressed
    assert reread.responses[0]["type"] == 6

    # suspend: a DM, then Discord's timeout; the desk's own timer ends it and welcomes back
    mark = len(h.fake.calls)
    h.step(case_id, "suspend", duration="12h")
    writes = _posts_since(h, mark)
    assert writes.index((MEMBER, SUBJECT)) > writes.index((POST, f"dm:{SUBJECT}"))
    (timeout,) = h.fake.calls_to(MEMBER)
    until = h.clock.now() + timedelta(hours=12)
    assert timeout.json == {"communication_disabled_until": until.isoformat()} and timeout.reason
    assert h.fake.member(SUBJECT).communication_disabled_until == until.isoformat()
    assert "12 hours" in h.dm_texts(SUBJECT)[-1]
    h.run_timers(timedelta(hours=12, minutes=1))
    assert h.fake.calls_to(MEMBER)[-1].json == {"communication_disabled_until": None}
    assert h.fake.member(SUBJECT).communication_disabled_until is None
    assert "Welcome back" in h.dm_texts(SUBJECT)[-1]
    # the removal is lifted with the restore
    assert [c.param("overwrite_id") for c in h.fake.calls_to(LIFT)] == [SUBJECT]
    assert h.fake.can_view(SUBJECT, TALK)

    # ban: a moderator may not; the admin consults the hurt first
    refused = h.press(f"case:step:{case_id}:ban", MOD)
    assert "needs the admin role" in h.answer(refused) and h.ephemeral(refused)
    not_yet = h.command(f"step {case_id} ban")
    assert not_yet.startswith(f"Not done: case {case_id}: the policy asks to consult")
    assert f"/coc consult {case_id} @person" in not_yet
    assert "recorded" in h.command(f"consult {case_id} <@{OTHER}> wants them gone")
    # the policy's window: a day of their messages goes with the ban
    h.app.desk.policy = replace(h.app.desk.policy, ban_delete_messages=timedelta(days=1))
    mark = len(h.fake.calls)
    h.step(case_id, "ban")
    writes = _posts_since(h, mark)
    assert writes.index((BAN, SUBJECT)) > writes.index((POST, f"dm:{SUBJECT}"))
    (ban,) = h.fake.calls_to(BAN)
    assert ban.reason and "Conduct Desk" in ban.reason
    assert set(ban.params) == {"delete_message_seconds"}
    assert int(ban.params["delete_message_seconds"]) == 24 * 3600
    assert SUBJECT in h.fake.bans()

    assert _status(h, case_id) == [
        ("remind", StepStatus.DONE),
        ("suggest", StepStatus.DONE),
        ("remove", StepStatus.DONE),
        ("warn", StepStatus.DONE),
        ("suspend", StepStatus.DONE),
        ("restore", StepStatus.DONE),
        ("ban", StepStatus.DONE),
    ]
    card = h.card_text(case_id)
    assert "ban" in card and "**done**" in card

    # what the subject read, in order: each step's DM says what happened and what comes next
    removal, warning_, reread_, suspension, welcome, banned = h.dm_texts(SUBJECT)
    assert "removed you from that channel" in removal and "#talk" in removal
    assert "formal warning" in warning_ and f"> {SAID}" in warning_ and "press the button" in warning_
    assert "✅ Thank you" in warning_  # the warning, updated in place once the button was pressed
    assert "Thank you for reading it again" in reread_
    assert "12 hours" in suspension and "21:00 UTC" in suspension and "by itself" in suspension
    assert "Welcome back" in welcome and "suspension has ended" in welcome
    assert "permanently" in banned and "Code of Conduct" in banned
    assert all("https://example.org/code-of-conduct" in t for t in (removal, warning_, banned))

    # the subject never learns who reported, in anything the bot sent where they could read it
    for text in h.said_to(SUBJECT):
        assert REPORTER not in text and "rae" not in text.lower() and OTHER not in text

    assert "resolved" in h.command(f"resolve {case_id} steps-taken")
    assert h.case(case_id).state is CaseState.RESOLVED
    update = h.dm_texts(REPORTER)[-1]
    assert "update on your report" in update and "banned" in update and "?" not in update
    assert component_labels(h.card(case_id).components) == []  # nothing left to press


def test_every_command_answer_is_private(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    for text in ("help", f"show {case_id}", "list", f"take {case_id}"):
        asked = h.slash(text)
        assert h.answer(asked) and h.ephemeral(asked), text
    # nothing the commands answered was posted where others read it
    assert all(f"Case {case_id}" not in t or "Reports" in t for t in h.admin_posts())


def test_roles(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    assert "only the desk's admins" in h.command(f"take {case_id}", STRANGER)
    assert "observers" in h.command(f"take {case_id}", OBSERVER)
    assert f"Case {case_id}" in h.command(f"show {case_id}", OBSERVER)
    assert "yours" in h.command(f"take {case_id}", MOD)
    assert "already taken" in h.command(f"take {case_id}", ADMIN)


def test_admins_by_server_role(app: App, clock: FakeClock) -> None:
    from tests.support.discord_harness import STAFF_ROLE

    with harness(app, clock, admins=f"{ADMIN}:admin,role:{STAFF_ROLE}:moderator") as h:
        h.report()
        case_id = h.latest_case_id()
        # MOD is not listed by id: the staff role makes them a moderator as they act
        assert "yours" in h.command(f"take {case_id}", MOD)
        assert "only the desk's admins" in h.command(f"show {case_id}", STRANGER)


def test_step_modal_errors_are_said_and_nothing_is_recorded(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    # not the recommended step, no reason: the desk says why and takes nothing
    answer = h.step(case_id, "warn")
    assert "recommends remind" in answer and "Reason" in answer
    assert h.case(case_id).steps == []
    # a hand-written text naming the reporter is refused
    for text in ("Rae asked me to tell you to stop", f"<@{REPORTER}> asked me to say: stop"):
        assert "names someone" in h.step(case_id, "remind", text=text)
    assert h.case(case_id).steps == []
    assert not [c for c in h.fake.calls_to(POST) if c.param("channel_id") == TALK]
    # with a reason it goes
    h.step(case_id, "warn", reason="second time this week")
    assert _status(h, case_id) == [("warn", StepStatus.DONE)]


def test_coc_step_opens_the_modal_first(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    asked = h.slash(f"step {case_id} remind")
    assert h.answer(asked) == "(a modal opened)"
    assert [r["type"] for r in asked.responses] == [9]  # the modal, first, no deferral before it
    h.answer(h.fake.submit_modal(asked))
    assert _status(h, case_id) == [("remind", StepStatus.DONE)]


def test_the_card_is_posted_again_when_someone_deleted_it(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    first = h.card_id(case_id)
    h.fake.delete_message(first)
    h.command(f"take {case_id}")
    h.fake.wait_for(lambda: h.card_id(case_id) != first or None, 15, "a new card")
    assert message_text(h.card(case_id)).startswith(f"Case {case_id}")
    assert h.card(case_id).channel_id == ADMINS


def test_lift_ends_a_timeout_early_and_lets_them_back_into_the_channel(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    h.command(f"take {case_id}")
    h.step(case_id, "remove", reason="it got heated")
    h.step(case_id, "suspend", reason="and went on")
    assert not h.fake.can_view(SUBJECT, TALK)
    assert h.fake.member(SUBJECT).communication_disabled_until is not None
    (suspend,) = [s for s in h.case(case_id).steps if s.rung == "suspend"]
    answer = h.command(f"lift {case_id} {suspend.id}")
    assert answer and not answer.startswith("Not done"), answer
    assert h.fake.calls_to(MEMBER)[-1].json == {"communication_disabled_until": None}
    assert h.fake.member(SUBJECT).communication_disabled_until is None
    assert h.fake.can_view(SUBJECT, TALK)
    assert "Welcome back" in h.dm_texts(SUBJECT)[-1]
    # the desk's own timer, later, does not do it twice
    calls = len(h.fake.calls_to(MEMBER))
    h.run_timers(timedelta(days=2))
    assert len(h.fake.calls_to(MEMBER)) == calls


def test_lift_of_a_removal_lets_them_back_into_that_channel_once(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    h.command(f"take {case_id}")
    h.step(case_id, "remove", reason="it got heated")
    assert not h.fake.can_view(SUBJECT, TALK)
    (remove,) = [s for s in h.case(case_id).steps if s.rung == "remove"]
    answer = h.command(f"lift {case_id} {remove.id}")
    assert answer.startswith(f"Case {case_id}: removal lifted"), answer
    assert [c.param("overwrite_id") for c in h.fake.calls_to(LIFT)] == [SUBJECT]
    assert h.fake.can_view(SUBJECT, TALK)
    again = h.command(f"lift {case_id} {remove.id}")
    assert again.startswith("Not done") and len(h.fake.calls_to(LIFT)) == 1


def test_a_manual_task_is_marked_done_from_the_card(h: Harness) -> None:
    from tests.support.discord_harness import ELDERS_ROLE

    h.fake.member(SUBJECT).roles.append(ELDERS_ROLE)  # above the bot: Discord refuses the timeout
    h.report()
    case_id = h.latest_case_id()
    h.command(f"take {case_id}")
    h.step(case_id, "suspend", reason="serious")
    (suspend,) = h.case(case_id).steps
    assert suspend.status is StepStatus.MANUAL
    assert "Mark suspend done" in component_labels(h.card(case_id).components)
    refused = h.press(f"case:done:{case_id}:{suspend.id}", OBSERVER)
    assert "observers" in h.answer(refused) and h.ephemeral(refused)
    done = h.press(f"case:done:{case_id}:{suspend.id}")
    assert h.answer(done) and h.ephemeral(done)
    assert h.case(case_id).step(suspend.id or 0).status is StepStatus.MANUAL_DONE
    h.fake.wait_for(
        lambda: "Mark suspend done" not in component_labels(h.card(case_id).components) or None,
        15,
        "the card without the button",
    )
