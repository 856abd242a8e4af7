"""Who may act on Discord, attacked from outside: members who are not the desk's admins, an
observer, someone whose admin role was taken away, button presses forged by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.discord_harness import (
    ADMIN,
    ADMINS,
    MOD,
    OBSERVER,
    REPORTER,
    STAFF_ROLE,
    STRANGER,
    SUBJECT,
    Harness,
    harness,
)
from tests.support.fake_discord import VIEW_CHANNEL, FakeOverwrite

from conduct_desk.bootstrap import App
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        # a member who can read the admins' channel without being one of the desk's admins
        h.fake.channel(ADMINS).overwrites[STRANGER] = FakeOverwrite(STRANGER, 1, allow=VIEW_CHANNEL)
        yield h


def _nothing_happened(h: Harness, case_id: int) -> None:
    case = h.case(case_id)
    assert case.steps == [] and case.taken_by is None


@pytest.mark.parametrize("custom_id", ["case:take:{id}", "case:step:{id}:remind", "case:step:{id}:ban"])
def test_a_member_who_is_not_an_admin_cannot_press_the_cards_buttons(h: Harness, custom_id: str) -> None:
    h.report()
    case_id = h.latest_case_id()
    pressed = h.press(custom_id.format(id=case_id), STRANGER)
    answer = h.answer(pressed)
    assert "only the desk's admins" in answer and h.ephemeral(pressed)
    assert pressed.modal is None
    _nothing_happened(h, case_id)


def test_an_observer_reads_but_does_not_act(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    assert f"Case {case_id}" in h.command(f"show {case_id}", OBSERVER)
    pressed = h.press(f"case:step:{case_id}:remind", OBSERVER)
    assert "observers" in h.answer(pressed) and pressed.modal is None
    _nothing_happened(h, case_id)


def test_forged_presses_and_submissions_take_nothing(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    # a button that is on no message the desk posted, pressed from #talk by a member
    forged = h.fake.interaction(
        3, STRANGER, h.target.channel_id, {"custom_id": f"case:step:{case_id}:ban", "component_type": 2}
    )
    h.answer(forged)
    # a step window's submission nobody opened, with a text naming the reporter
    submitted = h.fake.interaction(
        5,
        STRANGER,
        ADMINS,
        {
            "custom_id": f"step:{case_id}:remind:",
            "components": [
                {
                    "type": 18,
                    "id": 1,
                    "component": {"type": 4, "id": 2, "custom_id": "text", "value": "rae reported you"},
                }
            ],
        },
    )
    assert "only the desk's admins" in h.answer(submitted)
    _nothing_happened(h, case_id)
    assert all("rae" not in t for t in h.said_to(SUBJECT))


def test_an_admin_by_role_stops_being_one_when_the_role_is_taken_away(app: App, clock: FakeClock) -> None:
    with harness(app, clock, admins=f"{ADMIN}:admin,role:{STAFF_ROLE}:moderator") as h:
        h.report()
        case_id = h.latest_case_id()
        assert f"Case {case_id}" in h.command(f"show {case_id}", MOD)
        h.fake.member(MOD).roles.remove(STAFF_ROLE)
        refused = h.command(f"take {case_id}", MOD)
        assert "only the desk's admins" in refused
        assert h.case(case_id).taken_by is None


def test_the_reporter_cannot_use_the_desks_commands_on_their_case(h: Harness) -> None:
    h.report()
    case_id = h.latest_case_id()
    for text in (f"take {case_id}", f"step {case_id} ban", f"resolve {case_id} done"):
        assert "only the desk's admins" in h.command(text, REPORTER), text
    _nothing_happened(h, case_id)
