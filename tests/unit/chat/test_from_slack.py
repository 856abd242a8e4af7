"""Chat behaviour that Slack's suite used to test alone, now the chat desk's for every
platform: admin lists, roles, hand-over, show, listening, the step form."""

from __future__ import annotations

import re

import pytest
from tests.support.chat import Chat

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.chat.inputs import CardPressed, ReportSubmitted
from conduct_desk.service.chat.roster import parse_admins

SAM = PersonRef("sandbox", "sam")
SLACK_ID = re.compile(r"[UW][A-Z0-9]+")


def _case(chat: Chat, harmed: tuple[str, ...] = ()) -> int:
    chat.sandbox.add_message("general", "m1", "people like you can't code", SAM)
    chat.desk.handle(ReportSubmitted("riley", "sam", "general", "m1", note="again",
                                     harmed=harmed))
    with chat.app.uow() as uow:
        (case_id,) = uow.cases.case_ids_for(SAM)
    return case_id


def test_admin_lists_read_as_slack_wrote_them() -> None:
    admins = parse_admins("slack", "U1:admin, U2=observer U3", "CONDUCT_SLACK_ADMINS", SLACK_ID)
    assert {u: a.role for u, a in admins.items()} == {
        "U1": Role.ADMIN, "U2": Role.OBSERVER, "U3": Role.MODERATOR}  # moderator by default
    assert admins["U1"].name == "slack:U1"  # what cases record when no name is given
    with pytest.raises(InvalidInput, match="role 'owner' for U1; use admin, moderator or observer"):
        parse_admins("slack", "U1:owner", "CONDUCT_SLACK_ADMINS", SLACK_ID)
    with pytest.raises(InvalidInput, match="is not a slack user id"):
        parse_admins("slack", "ana", "CONDUCT_SLACK_ADMINS", SLACK_ID)


def test_roles_read_act_and_ban(chat: Chat) -> None:
    case_id = _case(chat)
    assert "only the desk's admins" in chat.coc("stranger", f"take {case_id}")
    assert "observers can read cases but not change them" in chat.coc("cy", f"take {case_id}")
    assert f"Case {case_id}" in chat.coc("cy", f"show {case_id}")
    chat.coc("ana", f"consult {case_id} none nobody to ask")
    assert "a ban needs the admin role" in chat.coc("bo", f"step {case_id} ban --reason x")
    assert "yours" in chat.coc("bo", f"take {case_id}")
    assert "already taken" in chat.coc("ana", f"take {case_id}")


def test_a_hand_over_names_an_admin_in_chat_words(chat: Chat) -> None:
    chat.t.names.update({"stan": "Stan"})
    case_id = _case(chat)
    chat.coc("bo", f"take {case_id}")
    assert f"`!coc handover {case_id} @person`" in chat.coc("bo", f"handover {case_id}")
    refused = chat.coc("bo", f"handover {case_id} @stan")
    assert "Stan is not one of the desk's admins" in refused
    assert "CONDUCT_CHAT_ADMINS" in refused and "--to" not in refused and "conduct " not in refused
    assert "has the observer role" in chat.coc("bo", f"handover {case_id} @cy")
    # the listed name is what cases record, and what the answer says
    assert f"Case {case_id} is ana's now" in chat.coc("bo", f"handover {case_id} @ana")


def test_show_names_the_people_hurt_to_consult(chat: Chat) -> None:
    chat.t.names.update({"oli": "Oli", "riley": "Riley"})
    case_id = _case(chat, harmed=("oli",))
    shown = chat.coc("ana", f"show {case_id}", room=None)
    assert "by Riley" in shown and "Hurt: Riley, Oli" in shown


def test_the_desk_says_it_listens_in_the_admins_room(chat: Chat) -> None:
    chat.desk.listening()
    (said,) = [c.text for c in chat.sandbox.calls if c.method == "notify_admins"]
    assert "listening" in said and "`!coc help`" in said and "`!coc list`" in said


def test_a_step_button_opens_the_form_when_the_platform_has_one(chat: Chat) -> None:
    chat.t.forms = True
    case_id = _case(chat)
    answer = chat.desk.handle(CardPressed("ana", "step", case_id, "remind", trigger="t1"))
    assert answer and "window that opened" in answer
    (form,) = [s for s in chat.t.said if s.kind == "form"]
    assert form.to == "t1" and "Code of Conduct" in form.text
    with chat.app.uow() as uow:
        assert uow.cases.get(case_id).steps == []  # nothing happens until the form is sent
