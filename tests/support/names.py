"""Generated spellings of a name, as people type them (hypothesis strategies)."""

from __future__ import annotations

from hypothesis import strategies as st

SPACES = st.sampled_from([" ", "\t", "\u00a0", "\u3000", "\u2003", "\n"])


def fullwidth(ch: str) -> str:
    return chr(ord(ch) - 0x21 + 0xFF01) if "!" <= ch <= "~" else ch


@st.composite
def spellings(draw: st.DrawFn, name: str = "ana") -> str:
    """``name`` as someone might type it: any case, full-width letters, spaces around."""
    letters = [draw(st.sampled_from([c, c.upper(), fullwidth(c), fullwidth(c.upper())]))
               for c in name]
    before = "".join(draw(st.lists(SPACES, max_size=3)))
    after = "".join(draw(st.lists(SPACES, max_size=3)))
    return before + "".join(letters) + after
