"""Who may see and act on a case, in any chat: recusal, hand-over, the shared admins' room."""

from __future__ import annotations

from tests.support.chat import Chat
from tests.unit.chat.test_commands import case, report


def test_an_admin_who_reported_is_refused_privately_and_the_room_learns_nothing(chat: Chat) -> None:
    case_id = report(chat, reporter="bo")  # bo is an admin and the (named) reporter
    before = len(chat.t.said)
    chat.coc("bo", f"show {case_id}")
    new = chat.t.said[before:]
    room = [s.text for s in new if s.kind == "answer"]
    private = [s.text for s in new if s.kind == "dm" and s.to == "bo"]
    assert room == ["I've answered you privately."]
    assert private and "involved" in private[0] and "another admin handles it" in private[0]


def test_recusing_is_answered_privately_and_frees_the_case(chat: Chat) -> None:
    case_id = report(chat)
    chat.coc("bo", f"take {case_id}")
    before = len(chat.t.said)
    chat.coc("bo", f"recuse {case_id}")
    new = chat.t.said[before:]
    assert [s.text for s in new if s.kind == "answer"] == ["I've answered you privately."]
    assert any("stepped aside" in s.text for s in new if s.kind == "dm")
    assert case(chat, case_id).case.taken_by is None
    assert "Not done" in chat.coc("bo", f"take {case_id}")


def test_a_holder_involved_in_the_case_is_told_the_recuse_command_here(chat: Chat) -> None:
    case_id = report(chat)
    chat.coc("bo", f"take {case_id}")
    chat.dm("bo", "sandbox://general/m-sam also hurt me")  # bo reports too: now involved
    answer = chat.coc("bo", f"show {case_id}")
    assert f"`!coc recuse {case_id}`" in answer


def test_hand_over_by_name_or_by_person_and_only_to_someone_who_may_act(chat: Chat) -> None:
    case_id = report(chat)
    chat.coc("ana", f"take {case_id}")
    assert "bo's now" in chat.coc("ana", f"handover {case_id} bo")
    assert case(chat, case_id).case.taken_by == "bo"
    assert "ana's now" in chat.coc("bo", f"hand-over {case_id} @ana")
    refused = chat.coc("ana", f"handover {case_id} cy")  # an observer
    assert "Not done" in refused and case(chat, case_id).case.taken_by == "ana"
    unknown = chat.coc("ana", f"handover {case_id} @zed")
    assert "not one of the desk's admins" in unknown and "conduct admin" not in unknown


def test_hand_over_to_an_admin_who_reported_is_refused(chat: Chat) -> None:
    case_id = report(chat, reporter="bo")
    chat.coc("ana", f"take {case_id}")
    assert "Not done" in chat.coc("ana", f"handover {case_id} bo")
    assert case(chat, case_id).case.taken_by == "ana"


def test_confirming_an_admin_as_hurt_makes_them_step_aside(chat: Chat) -> None:
    from conduct_desk.service.chat.inputs import ReportSubmitted

    chat.desk.handle(ReportSubmitted("riley", "sam", "general", "m1", harmed=("bo",)))
    case_id = 1
    chat.coc("bo", f"take {case_id}")
    assert "confirmed as hurt" in chat.coc("ana", f"confirm-hurt {case_id} @bo")
    assert case(chat, case_id).case.taken_by is None
    assert "Not done" in chat.coc("bo", f"take {case_id}")
    assert "that is you" in chat.coc("ana", f"confirm-hurt {case_id} @ana")


def test_show_goes_privately_when_the_subject_may_read_the_admins_room(chat: Chat) -> None:
    case_id = report(chat, reporter="riley")
    before = len(chat.t.said)
    chat.coc("ana", f"show {case_id}")
    new = chat.t.said[before:]
    assert all("riley" not in s.text for s in new if s.kind == "answer")
    assert any("riley" in s.text for s in new if s.kind == "dm" and s.to == "ana")
