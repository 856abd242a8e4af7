"""An admin involved in a case hears so only privately on Slack, and steps aside from chat.

An anonymous reporter who is an admin must not be given away in the admin channel: every
answer about their own involvement is ephemeral (or a DM), and the channel reads nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.slack_harness import ADMIN, ADMINS, MOD, OTHER, REPORTER, Harness, harness

from conduct_desk.bootstrap import App
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def _channel_says_nothing_of(h: Harness, user: str) -> None:
    posts = "\n".join(h.admin_posts())
    assert user not in posts and "involved" not in posts and "step aside" not in posts


def test_an_anonymous_reporter_who_is_an_admin_is_refused_only_privately(h: Harness) -> None:
    case_id = h.report(reporter=MOD, anonymous=True)
    for typed in (f"take {case_id}", f"show {case_id}", f"step {case_id} remind",
                  f"resolve {case_id} no-action", f"consult {case_id} none they left"):
        reply = h.command_reply(typed, MOD)
        assert reply["response_type"] == "ephemeral", typed
        assert f"you are involved in case {case_id}" in reply["text"], (typed, reply)
    before = len(h.fake.ephemerals())
    h.press("case_take", str(case_id), MOD)
    h.press("case_step", f"{case_id}:remind", MOD)
    told = h.fake.ephemerals()[before:]
    assert [e.user for e in told] == [MOD, MOD]
    assert all("you are involved" in e.text for e in told)
    assert h.case(case_id).taken_by is None and h.case(case_id).steps == []
    _channel_says_nothing_of(h, MOD)


def test_handed_an_anonymous_report_the_admin_steps_aside_from_chat(h: Harness) -> None:
    case_id = h.report(reporter=MOD, anonymous=True)
    assert "yours" in h.command(f"take {case_id}", ADMIN)
    # refusing would tell the admin who reported; the new holder hears it privately instead
    assert f"Case {case_id} is mo's now" in h.command(f"handover {case_id} <@{MOD}>", ADMIN)
    assert f"must step aside: `/coc recuse {case_id}`" in h.command(f"step {case_id} remind", MOD)
    reply = h.command_reply(f"recuse {case_id}", MOD)
    assert reply["response_type"] == "ephemeral" and "You have stepped aside" in reply["text"]
    assert h.case(case_id).taken_by is None
    assert "already stepped aside" in h.command(f"recuse {case_id}", MOD)
    assert "involved" not in "\n".join(h.admin_posts())


def test_an_admin_named_as_hurt_recuses_or_is_confirmed_from_chat(h: Harness) -> None:
    case_id = h.report(reporter=REPORTER, harmed=(ADMIN, MOD))
    assert "/coc recuse 12" in h.command("help") and "/coc confirm-hurt 12" in h.command("help")
    assert "yours" in h.command(f"take {case_id}", MOD)  # named as hurt only: may act
    assert f"/coc confirm-hurt {case_id}" in "\n".join(h.admin_posts())  # the card says how
    answer = h.command(f"confirm-hurt {case_id} <@{MOD}>", ADMIN)
    assert answer == (f"Case {case_id}: mo is confirmed as hurt; an admin so confirmed "
                      "steps aside from it.")
    assert h.case(case_id).taken_by is None
    assert "you are involved" in h.command(f"take {case_id}", MOD)
    assert "is not named as hurt" in h.command(f"confirm-hurt {case_id} <@{OTHER}>", ADMIN)
    assert "who was hurt" in h.command(f"confirm-hurt {case_id}", ADMIN)
    assert "yourself: `/coc recuse" in h.command(f"confirm-hurt {case_id} <@{ADMIN}>", ADMIN)
    assert "You have stepped aside" in h.command(f"recuse {case_id}", ADMIN)
    assert "you are involved" in h.command(f"take {case_id}", ADMIN)
    assert ADMINS  # the card stays in the admin channel; nothing above was posted there
