"""Erased people's pseudonyms and the markers removed texts leave (domain/privacy.py)."""

from __future__ import annotations

from collections import Counter

from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.privacy import (
    TextKind,
    counted,
    is_marker,
    pseudonym,
    retention_marker,
)

SAM = PersonRef("slack", "U024BE7LH")


def test_a_pseudonym_is_stable_per_salt_and_hides_the_id() -> None:
    one = pseudonym(b"salt one", SAM)
    assert one == pseudonym(b"salt one", SAM) and one.platform == "slack"
    assert one.user_id.startswith("erased:") and "U024BE7LH" not in one.user_id
    assert one != pseudonym(b"salt two", SAM)
    assert one != pseudonym(b"salt one", PersonRef("slack", "U024BE7LI"))
    assert pseudonym(b"salt one", one) == one  # erasing twice changes nothing


def test_markers_and_counts_read_as_people_write() -> None:
    marker = retention_marker(180)
    assert marker == "[removed after 180 days (retention policy)]" and is_marker(marker)
    assert not is_marker("removed after a while") and not is_marker(None)
    assert counted(Counter({TextKind.NOTES: 1, TextKind.REPORT_TEXTS: 3})) == \
        "3 report texts, 1 note"
    assert counted(Counter()) == ""
