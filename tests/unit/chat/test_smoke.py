from __future__ import annotations

from tests.support.chat import Chat

from conduct_desk.domain.people import PersonRef

SAM = PersonRef("sandbox", "sam")


def test_a_report_by_direct_message_becomes_a_case_with_a_card(chat: Chat) -> None:
    chat.sandbox.add_message("general", "m1", "people like you can't code", SAM)
    said = chat.dm("riley", "this hurt sandbox://general/m1")
    assert chat.t.cards, (said, chat.t.said)
    card = next(iter(chat.t.cards.values()))
    assert "About sam" in card.text
    assert not any("could not" in s for s in said)
    listing = chat.coc("ana", "list")
    assert "sam" in listing
    assert "yours" in chat.coc("ana", "take 1")
    out = chat.coc("ana", "step 1 warn --reason she was told before")
    assert "step 1 (warn)" in out, out
    out = chat.coc("ana", "resolve 1 steps-taken")
    assert "resolved" in out, out
