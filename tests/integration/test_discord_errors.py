"""Discord's refusals: rate limits honoured with nothing dropped, a refused DM recorded and the
admins told while the rest goes on, Missing Permissions turned into a manual task that says
exactly what to change, a member who left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.support.discord_harness import (
    ADMINS,
    ELDERS_ROLE,
    SUBJECT,
    TALK,
    Harness,
    harness,
)
from tests.support.fake_discord import ADMINISTRATOR
from tests.support.outbox import notice_ids, try_again_as_after_a_kill

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import StepStatus
from conduct_desk.domain.notices import Purpose
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.discord.components import MANAGE_ROLES, PERMISSION_BITS
from conduct_desk.service import notices as outbox
from conduct_desk.service.clock import FakeClock

POST = "POST /channels/{channel_id}/messages"
MEMBER = "PATCH /guilds/{guild_id}/members/{user_id}"
OVERWRITE = "PUT /channels/{channel_id}/permissions/{overwrite_id}"
BAN = "PUT /guilds/{guild_id}/bans/{user_id}"


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def _case(h: Harness) -> int:
    h.report()
    case_id = h.latest_case_id()
    h.command(f"take {case_id}")
    return case_id


def _step(h: Harness, case_id: int, rung: str) -> tuple[StepStatus, str]:
    (step,) = [s for s in h.case(case_id).steps if s.rung == rung]
    return step.status, step.detail or ""


def _told_admins(h: Harness, case_id: int) -> list[str]:
    """What the desk said in the admins' channel under the case's card."""
    card = h.card_id(case_id)
    return [
        m.content
        for m in h.fake.bot_messages(ADMINS)
        if m.message_reference is not None and m.message_reference["message_id"] == card
    ]


# -- rate limits ---------------------------------------------------------------------------------


def test_a_429_on_the_reply_is_waited_out_and_the_reply_goes_once(h: Harness) -> None:
    case_id = _case(h)
    h.fake.rate_limit_next(POST, 0.4, bucket="replies")
    h.step(case_id, "remind")
    replies = [c for c in h.fake.calls_to(POST) if c.param("channel_id") == TALK]
    assert [c.status for c in replies] == [429, 200]
    assert replies[0].json == replies[1].json  # the same message, retried
    assert len(h.fake.bot_messages(TALK)) == 1
    assert h.fake.early_retries == []
    assert _step(h, case_id, "remind")[0] is StepStatus.DONE


def test_a_global_429_holds_every_call_and_nothing_is_lost(h: Harness) -> None:
    case_id = _case(h)
    h.fake.rate_limit_next(MEMBER, 0.4, global_=True)
    h.step(case_id, "suspend", reason="testing a global limit")
    assert [c.status for c in h.fake.calls_to(MEMBER)] == [429, 200]
    assert h.fake.early_retries == []
    assert _step(h, case_id, "suspend")[0] is StepStatus.DONE


def test_a_long_429_fails_the_step_for_now_and_the_desk_retries_after_discords_wait(
    h: Harness,
) -> None:
    case_id = _case(h)
    h.fake.rate_limit_next(POST, 120.0, bucket="replies")  # beyond what discord.py waits itself
    h.step(case_id, "remind")
    status, detail = _step(h, case_id, "remind")
    assert status is StepStatus.FAILED and "rate limit" in detail and "120s" in detail
    assert not h.fake.bot_messages(TALK)

    def replies() -> int:
        return len([c for c in h.fake.calls_to(POST) if c.param("channel_id") == TALK])

    tried = replies()
    # the desk's timer comes round while Discord's wait is not over for the bot: nothing goes out
    h.run_timers(timedelta(minutes=2, seconds=1))
    assert _step(h, case_id, "remind")[0] is StepStatus.FAILED
    assert replies() == tried and h.fake.early_retries == []
    # Discord's two minutes pass, for Discord and for the bot's memory of the wait
    h.fake.clear_rate_limits()
    h.adapter.connection.waits = type(h.adapter.connection.waits)()
    h.run_timers(timedelta(minutes=2, seconds=1))
    assert _step(h, case_id, "remind")[0] is StepStatus.DONE
    assert len(h.fake.bot_messages(TALK)) == 1
    assert h.fake.early_retries == []


# -- 50007: the person does not accept DMs -------------------------------------------------------


def test_a_refused_warning_dm_is_recorded_and_the_admins_are_told(h: Harness) -> None:
    h.fake.member(SUBJECT).dms_open = False
    case_id = _case(h)
    h.step(case_id, "warn", reason="straight to a warning")
    status, detail = _step(h, case_id, "warn")
    assert status is StepStatus.FAILED and "50007" in detail and "direct messages" in detail
    told = _told_admins(h, case_id)
    assert any("warn" in t and "direct messages" in t for t in told)


def test_a_refused_dm_before_a_removal_does_not_stop_the_removal(h: Harness) -> None:
    h.fake.member(SUBJECT).dms_open = False
    case_id = _case(h)
    h.step(case_id, "remove", reason="they kept going")
    assert _step(h, case_id, "remove")[0] is StepStatus.DONE
    assert not h.fake.can_view(SUBJECT, TALK)
    refused = [c for c in h.fake.calls_to(POST) if c.status == 403]
    assert refused and refused[0].param("channel_id") == h.fake.dm_channel_id(SUBJECT)
    told = _told_admins(h, case_id)
    assert any("does not accept direct messages" in t and "goes ahead" in t for t in told)


def test_an_injected_50007_is_recorded_on_the_step(h: Harness) -> None:
    case_id = _case(h)
    h.fake.fail_next(POST, 50007)
    h.step(case_id, "warn", reason="straight to a warning")
    status, detail = _step(h, case_id, "warn")
    assert status is StepStatus.FAILED and "direct messages" in detail


# -- 50013: Missing Permissions and the role order -------------------------------------------------


def test_a_member_above_the_bots_role_becomes_a_manual_task_naming_the_role_to_move(h: Harness) -> None:
    h.fake.member(SUBJECT).roles.append(ELDERS_ROLE)
    case_id = _case(h)
    h.step(case_id, "suspend", reason="serious")
    status, detail = _step(h, case_id, "suspend")
    assert status is StepStatus.MANUAL
    assert "drag «Conduct Desk» above «elders»" in detail
    assert h.fake.calls_to(MEMBER)[-1].status == 403
    # the card offers to mark it done, and the admins are told under the card
    assert "Mark suspend done" in h.card_text(case_id)
    assert any("needs you" in t for t in _told_admins(h, case_id))


def test_a_ban_refused_for_the_role_order_says_the_same(h: Harness) -> None:
    h.fake.member(SUBJECT).roles.append(ELDERS_ROLE)
    case_id = _case(h)
    h.command(f"consult {case_id} none nobody asked to be consulted")
    h.step(case_id, "ban", reason="flagrant")
    status, detail = _step(h, case_id, "ban")
    assert status is StepStatus.MANUAL and "above «elders»" in detail
    assert h.fake.calls_to(BAN)[-1].status == 403
    assert SUBJECT not in h.fake.bans()


def test_an_administrator_cannot_be_timed_out_and_the_task_says_why(h: Harness) -> None:
    h.fake.add_role("330000000000000009", "helpers", position=1, permissions=ADMINISTRATOR)
    h.fake.member(SUBJECT).roles.append("330000000000000009")
    case_id = _case(h)
    h.step(case_id, "suspend", reason="serious")
    status, detail = _step(h, case_id, "suspend")
    assert status is StepStatus.MANUAL and "Administrator" in detail


def test_without_manage_roles_the_removal_names_the_permission_to_turn_on(app: App, clock: FakeClock) -> None:
    with harness(app, clock, bot_permissions=PERMISSION_BITS & ~MANAGE_ROLES) as h:
        case_id = _case(h)
        h.step(case_id, "remove", reason="they kept going")
        status, detail = _step(h, case_id, "remove")
        assert status is StepStatus.MANUAL
        assert "«Conduct Desk»" in detail and "turn on" in detail
        assert h.fake.calls_to(OVERWRITE)[-1].status == 403
        assert h.fake.can_view(SUBJECT, TALK)


# -- 10007: the member left ------------------------------------------------------------------------


def test_a_member_who_left_fails_the_step_without_retrying(h: Harness) -> None:
    case_id = _case(h)
    h.fake.fail_next(MEMBER, 10007)
    h.step(case_id, "suspend", reason="serious")
    status, detail = _step(h, case_id, "suspend")
    assert status is StepStatus.FAILED and "no longer a member" in detail
    calls = len(h.fake.calls_to(MEMBER))
    h.run_timers(timedelta(hours=1))
    assert len(h.fake.calls_to(MEMBER)) == calls  # not retried: it cannot succeed


# -- a notice tried again after a kill -------------------------------------------------------------


def test_a_notice_tried_again_after_discord_took_it_posts_once(h: Harness) -> None:
    """A worker killed after Discord took a message, before the desk recorded it sent, leaves
    it to its timer: the second try carries the same enforced nonce, and Discord hands back
    the message it already posted instead of posting it again."""
    admins_line = "Case 41: a line for the admins, tried twice"
    private = "A private word, tried twice"
    outbox.send_admins(h.app.uow(), h.app.desk, "discord", admins_line)
    outbox.send_dm(h.app.uow(), h.app.desk, PersonRef("discord", SUBJECT), private,
                   purpose=Purpose.NUDGE)
    ids = notice_ids(h.app, admins_line, private)
    nonces = {c.json.get("nonce") for c in h.fake.calls_to(POST)
              if c.json.get("content") in (admins_line, private)}
    try_again_as_after_a_kill(h.app, ids)
    again = [c for c in h.fake.calls_to(POST) if c.json.get("content") in (admins_line, private)]
    assert len(again) == 4 and {c.json["nonce"] for c in again} == nonces  # tried twice each
    assert [m.content for m in h.fake.bot_messages(ADMINS)].count(admins_line) == 1
    assert [m.content for m in h.fake.dms_to(SUBJECT)].count(private) == 1
