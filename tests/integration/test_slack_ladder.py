"""Every rung of the guide's ladder through Slack's buttons and modals, with and without SCIM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.support.slack_harness import (
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

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import CaseState, StepStatus
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


@pytest.fixture
def manual(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock, scim=False) as h:
        yield h


def _status(h: Harness, case_id: int) -> list[tuple[str, StepStatus]]:
    return [(s.rung, s.status) for s in h.case(case_id).steps]


def _card(h: Harness, case_id: int) -> str:
    ts = h.cursor(f"slack:card:{case_id}")
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == ts)
    return card.text + json.dumps(card.blocks)


def test_the_whole_ladder_with_scim(h: Harness) -> None:
    case_id = h.report(harmed=(OTHER,))
    # take
    h.press("case_take", str(case_id))
    assert h.case(case_id).taken_by == f"slack:{ADMIN}"
    assert h.fake.calls_to("chat.update"), "the card is updated in place"
    assert "Take the case" not in _card(h, case_id)

    # remind: a thread reply under the message, quoting it
    assert h.step(case_id, "remind") == (200, {})
    reply = h.fake.calls_to("chat.postMessage")[-1].params
    assert reply["channel"] == TALK and reply["thread_ts"] == h.message_ts
    assert f"> {SAID}" in reply["text"] and "Code of Conduct" in reply["text"]

    # suggest: the admin edits the text in the modal before it goes
    edited = "Sam, please make that point without the jab at where people come from."
    h.step(case_id, "suggest", text=edited)
    reply = h.fake.calls_to("chat.postMessage")[-1].params
    assert reply["thread_ts"] == h.message_ts and reply["text"] == edited

    # remove: a DM first, then conversations.kick
    h.step(case_id, "remove")
    (kick,) = h.fake.calls_to("conversations.kick")
    assert kick.params == {"channel": TALK, "user": SUBJECT}
    assert SUBJECT not in h.fake.channel_members(TALK)

    # warn: a DM with the re-read button, pressed by the subject
    h.step(case_id, "warn")
    warning = h.fake.messages(h.fake.dm_channel_id(SUBJECT))[-1]
    assert "formal warning" in warning.text
    button = warning.blocks[-1]["elements"][0]
    assert button["action_id"] == "subject_reread" and button["value"] == str(case_id)
    h.press("subject_reread", str(case_id), SUBJECT, channel=warning.channel,
            message={"ts": warning.ts, "text": warning.text})
    assert [n.kind for n in h.case(case_id).notes] == ["reread"]
    updated = next(m for m in h.fake.messages(warning.channel) if m.ts == warning.ts)
    assert "Thank you" in json.dumps(updated.blocks)  # the button's message says it is done
    assert "Thank you for reading it again" in h.dm_texts(SUBJECT)[-1]

    # suspend: SCIM deactivates; the desk's timer reactivates and welcomes back
    h.step(case_id, "suspend", duration="12h")
    (patch,) = h.fake.calls_to("scim.v2.Users.patch")
    assert patch.params["id"] == SUBJECT
    assert patch.params["Operations"] == [{"op": "replace", "path": "active", "value": False}]
    assert patch.token == "xoxp-test-scim-token"
    user = h.fake.get_user(SUBJECT)
    assert user is not None and user.deleted
    h.run_timers(timedelta(hours=12, minutes=1))
    user = h.fake.get_user(SUBJECT)
    assert user is not None and not user.deleted
    assert h.fake.calls_to("scim.v2.Users.patch")[-1].params["Operations"][0]["value"] is True
    assert "Welcome back" in h.dm_texts(SUBJECT)[-1]

    # ban: a moderator may not; the admin consults the hurt first
    h.press("case_step", f"{case_id}:ban", MOD)
    assert "needs the admin role" in h.fake.ephemerals()[-1].text
    refused = h.command(f"step {case_id} ban")
    assert refused.startswith(f"Not done: case {case_id}: the policy asks to consult")
    assert f"`/coc consult {case_id} @person what they said`" in refused
    assert "recorded" in h.command(f"consult {case_id} <@{OTHER}> wants them gone")
    h.step(case_id, "ban")
    assert h.fake.calls_to("scim.v2.Users.patch")[-1].params["Operations"][0]["value"] is False

    assert _status(h, case_id) == [
        ("remind", StepStatus.DONE), ("suggest", StepStatus.DONE), ("remove", StepStatus.DONE),
        ("warn", StepStatus.DONE), ("suspend", StepStatus.DONE), ("restore", StepStatus.DONE),
        ("ban", StepStatus.DONE)]
    card = _card(h, case_id)
    assert "ban" in card and "*done*" in card

    # the subject never learns who reported, in anything the app sent them
    for text in h.said_to(SUBJECT):
        assert REPORTER not in text and "rae" not in text.lower()

    assert "resolved" in h.command(f"resolve {case_id} steps-taken")
    assert h.case(case_id).state is CaseState.RESOLVED
    assert "update on your report" in h.dm_texts(REPORTER)[-1]
    assert "reopen" in _card(h, case_id)


def test_without_scim_suspend_and_ban_are_manual_tasks_reminded_until_done(manual: Harness) -> None:
    h = manual
    case_id = h.report()
    for rung in ("remind", "suggest", "remove", "warn"):
        h.step(case_id, rung)
    h.step(case_id, "suspend")
    (suspend,) = [s for s in h.case(case_id).steps if s.rung == "suspend"]
    assert suspend.status is StepStatus.MANUAL
    assert not h.fake.calls_to("scim.v2.Users.patch")
    assert "Deactivate account" in (suspend.detail or "") and SUBJECT in (suspend.detail or "")
    assert "SCIM" in (suspend.detail or "")
    # shown on the card, with a button to mark it done, and told in the card's thread
    card_ts = h.cursor(f"slack:card:{case_id}")
    card = _card(h, case_id)
    assert "Deactivate account" in card and f'"{case_id}:{suspend.id}"' in card
    told = [m for m in h.fake.messages(ADMINS) if m.thread_ts == card_ts]
    assert any("needs you" in m.text for m in told)
    # reminded while not done
    policy = h.app.desk.policy
    h.run_timers(policy.deadlines.escalate_after + timedelta(minutes=1))
    reminders = [m for m in h.fake.messages(ADMINS) if "still waiting" in m.text]
    assert len(reminders) == 1 and reminders[0].thread_ts == card_ts
    h.run_timers(policy.deadlines.escalate_after + timedelta(minutes=1))
    assert len([m for m in h.fake.messages(ADMINS) if "still waiting" in m.text]) == 2
    # an observer cannot mark it done; a moderator can't either on the admin's case; the admin can
    h.press("case_done", f"{case_id}:{suspend.id}", OBSERVER)
    assert "observers" in h.fake.ephemerals()[-1].text
    h.press("case_done", f"{case_id}:{suspend.id}")
    assert h.case(case_id).step(suspend.id or 0).status is StepStatus.MANUAL_DONE
    h.run_timers(policy.deadlines.escalate_after + timedelta(minutes=1))
    assert len([m for m in h.fake.messages(ADMINS) if "still waiting" in m.text]) == 2
    # the end of the suspension: restoring is a manual task too, with its own instructions
    h.run_timers(timedelta(days=1))
    restore = h.case(case_id).steps[-1]
    assert restore.rung == "restore" and restore.status is StepStatus.MANUAL
    assert "Activate account" in (restore.detail or "")


def test_without_scim_ban_instructions(manual: Harness) -> None:
    h = manual
    case_id = h.report(flagrant=True)
    h.command(f"consult {case_id} none the person hurt asked not to be contacted")
    h.step(case_id, "ban")
    ban = h.case(case_id).steps[-1]
    assert ban.status is StepStatus.MANUAL and "Do not reactivate" in (ban.detail or "")


def test_roles(h: Harness) -> None:
    case_id = h.report()
    assert "only the desk's admins" in h.command(f"take {case_id}", STRANGER)
    assert "observers" in h.command(f"take {case_id}", OBSERVER)
    assert f"Case {case_id}" in h.command(f"show {case_id}", OBSERVER)
    assert "yours" in h.command(f"take {case_id}", MOD)
    assert "already taken" in h.command(f"take {case_id}", ADMIN)


def test_handover(h: Harness) -> None:
    case_id = h.report()
    assert "yours" in h.command(f"take {case_id}", MOD)
    assert f"`/coc handover {case_id} @person`" in h.command(f"handover {case_id}", MOD)
    assert "has the observer role" in h.command(f"handover {case_id} <@{OBSERVER}>", MOD)
    refused = h.command(f"handover {case_id} <@{STRANGER}>", MOD)
    assert "stan is not one of the desk's admins" in refused and "CONDUCT_SLACK_ADMINS" in refused
    assert f"Case {case_id} is ada's now" in h.command(f"handover {case_id} <@{ADMIN}>", MOD)
    assert h.case(case_id).taken_by == f"slack:{ADMIN}"
    assert "only they" in h.command(f"handover {case_id} <@{MOD}>", MOD)  # a moderator
    assert f"Case {case_id} is mo's now" in h.command(f"handover {case_id} <@{MOD}>", ADMIN)
    card = next(m for m in h.fake.messages(ADMINS) if m.ts == h.cursor(f"slack:card:{case_id}"))
    assert f"Taken by <@{MOD}>" in json.dumps(card.blocks)


def test_step_modal_errors_stay_in_the_modal(h: Harness) -> None:
    case_id = h.report()
    # not the recommended step, no reason: the modal says why and nothing is recorded
    status, answer = h.step(case_id, "warn")
    assert answer["response_action"] == "errors" and "recommends remind" in answer["errors"]["reason"]
    assert h.case(case_id).steps == []
    # a hand-written text naming the reporter is refused
    for text in ("Rae asked me to tell you to stop", f"<@{REPORTER}> asked me to say: stop"):
        status, answer = h.step(case_id, "remind", text=text)
        assert answer["response_action"] == "errors" and "names someone" in answer["errors"]["text"]
    # a suspension outside the policy's bounds
    status, answer = h.step(case_id, "suspend", duration="30d", reason="serious")
    assert answer["response_action"] == "errors" and "duration" in answer["errors"]
    assert h.case(case_id).steps == []
    # with a reason it goes
    assert h.step(case_id, "warn", reason="second time this week") == (200, {})
    assert _status(h, case_id) == [("warn", StepStatus.DONE)]


def test_coc_commands(h: Harness) -> None:
    case_id = h.report()
    assert "/coc report" in h.command("help")
    assert "/coc report" in h.command("")
    assert "'twelve' is not a case number; `/coc take 12`" in h.command("take twelve")
    assert "yours" in h.command(f"take {case_id}")
    assert "window that opened" in h.command(f"step {case_id} remind")
    assert h.fake.calls_to("views.open")[-1].params["view"]
    assert "no steps yet" in h.command(f"resolve {case_id} steps-taken")
    assert "resolved" in h.command(f"resolve {case_id} no-action they apologized in the thread")
    assert "reopened" in h.command(f"reopen {case_id}")
    assert "unknown command" in h.command(f"frobnicate {case_id}")
    assert "no case" in h.command("show 999").lower() or "999" in h.command("show 999")


def test_a_moderator_cannot_resolve_or_reopen_an_admins_case(h: Harness) -> None:
    case_id = h.report()
    assert "yours" in h.command(f"take {case_id}")  # the admin's
    refused = h.command(f"resolve {case_id} apologized", user=MOD)
    assert "only they, or an admin with the admin role, can resolve it" in refused
    assert h.case(case_id).is_open
    assert "resolved" in h.command(f"resolve {case_id} apologized in the thread")
    assert "only they, or an admin" in h.command(f"reopen {case_id}", user=MOD)
