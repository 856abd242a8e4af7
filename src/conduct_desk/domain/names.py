"""Finding a person's name in a text the way people actually write it.

Used to keep reporters' names out of everything the subject of a case can read. A name is
found case-insensitively, after Unicode normalisation (NFKC, accents dropped, look-alike
letters from other scripts read as Latin, zero-width and bidi characters removed), as whole
words, and also when its letters are spaced out ("r i l e y", "r.i.l.e.y"). The subject's own
names are masked first, so a reporter ``kq7`` is not "found" inside the subject ``kq7-zz9``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Letters from Cyrillic, Greek and other scripts that look like Latin ones (lower case: the
# text is case-folded first). Not every confusable in Unicode: the ones used to spell Latin names.
_LOOKALIKES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ɡ": "g", "ү": "y", "ս": "u", "օ": "o",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j", "ζ": "z",
    # Latin letters that are not a base letter plus a mark
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l", "ß": "ss", "æ": "ae", "œ": "oe",
})


def normalize(text: str) -> str:
    """Lower-case Latin skeleton of ``text``: NFKC, case-folded, marks and invisible
    characters (zero-width, bidi controls: Unicode category Cf) removed, look-alikes mapped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                   if unicodedata.category(ch) not in ("Mn", "Me", "Cf"))
    return text.translate(_LOOKALIKES)


def words(text: str) -> tuple[str, ...]:
    """The normalised words of a text: runs of letters and digits."""
    out: list[str] = []
    current: list[str] = []
    for ch in normalize(text):
        if ch.isalnum():
            current.append(ch)
        elif current:
            out.append("".join(current))
            current = []
    if current:
        out.append("".join(current))
    return tuple(out)


@dataclass(frozen=True)
class Named:
    """One name of a person, e.g. a display name, with a label for the admin (never sent)."""

    name: str
    words: tuple[str, ...]

    @classmethod
    def of(cls, name: str) -> Named:
        return cls(name, words(name))


def names_of(values: Iterable[str]) -> tuple[Named, ...]:
    """The distinct, non-empty names among ``values`` (user ids, display names...)."""
    seen: dict[tuple[str, ...], Named] = {}
    for value in values:
        n = Named.of(value)
        if len("".join(n.words)) >= 2 and n.words not in seen:
            seen[n.words] = n
    return tuple(seen.values())


def _find(seq: tuple[str | None, ...], name: tuple[str, ...]) -> list[int]:
    n = len(name)
    return [i for i in range(len(seq) - n + 1) if seq[i:i + n] == name]


def _spelled_out(seq: list[str | None]) -> list[tuple[int, int]]:
    """Runs of two or more one-letter words ("r i l e y"): (start, end) positions."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, w in enumerate([*seq, None]):
        single = w is not None and len(w) == 1
        if single and start is None:
            start = i
        elif not single and start is not None:
            if i - start >= 2:
                runs.append((start, i))
            start = None
    return runs


def find_name(text: str, names: Iterable[Named], *, mask: Iterable[Named] = ()) -> Named | None:
    """The first of ``names`` that ``text`` contains as whole words, or None.

    The ``mask`` names (the subject's own) are blanked out first, longest first; a name that
    is also one of the masked names is not looked for (it cannot be told apart)."""
    seq: list[str | None] = list(words(text))
    masked = sorted(mask, key=lambda m: -len(m.words))
    for m in masked:
        for i in _find(tuple(seq), m.words):
            seq[i:i + len(m.words)] = [None] * len(m.words)
    # letters spaced out are read as one word too, so "r i l e y" is found like "riley"
    runs = _spelled_out(seq)
    joined = ["".join(w or "" for w in seq[a:b]) for a, b in runs]
    mask_words = {m.words for m in masked}
    for named in names:
        if not named.words or named.words in mask_words:
            continue
        if _find(tuple(seq), named.words):
            return named
        flat = "".join(named.words)
        for run in joined:
            if run == flat or (len(flat) >= 3 and flat in run):
                return named
    return None
