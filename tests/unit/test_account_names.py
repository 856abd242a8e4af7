"""Account names are read once, at the boundary: any spelling of a name is that name."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support.names import spellings

from conduct_desk.domain.accounts import name_key, normalize_name
from conduct_desk.domain.errors import InvalidInput


@given(spellings())
def test_every_spelling_of_a_name_is_that_name(spelling: str) -> None:
    assert name_key(spelling) == name_key("ana")
    assert name_key(normalize_name(spelling)) == "ana"


@given(spellings(), st.sampled_from(["\u200b", "\u200d", "\u202e", "\u2066", "\x00", "\x1b",
                                     "\ufeff", "\u00ad"]), st.integers(0, 3))
def test_invisible_and_control_characters_are_refused(spelling: str, bad: str, at: int) -> None:
    word = spelling.strip()
    with pytest.raises(InvalidInput, match="invisible or control character"):
        normalize_name(word[:at] + bad + word[at:])


@given(st.text(min_size=1, max_size=40))
def test_a_normalised_name_is_stable(text: str) -> None:
    try:
        name = normalize_name(text)
    except InvalidInput:
        return
    assert normalize_name(name) == name and unicodedata.is_normalized("NFKC", name)
    assert not any(ch.isspace() for ch in name)
