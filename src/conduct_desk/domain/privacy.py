"""Retention and erasure: which texts go when, what stays for safety, and how a person erased
is still recognised by the ladder when they come back.

A removed text is replaced by a marker that says why it is gone, so a page shows "removed
after 180 days (retention policy)" rather than an empty field. Markers start with ``[removed``
so storage can tell a removed text from one still to remove.

An erased subject's id becomes a pseudonym: ``erased:`` and an HMAC-SHA256 of their key under
a salt the desk keeps. The same person always gets the same pseudonym, so the ladder still
counts a ban when they come back under the same id, while the id itself is gone from the
database. It is a pseudonym, not anonymity: whoever holds the database and guesses the id can
check the guess.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from conduct_desk.domain.people import PersonRef

MARKER_PREFIX = "[removed"
ERASED_PREFIX = "erased:"


class TextKind(StrEnum):
    """The three kinds of text the policy's [retention] keeps for a set time."""

    REPORT_TEXTS = "report_texts"
    NOTES = "notes"
    MESSAGES = "messages"


# how counts read: "3 report texts", "1 note"
_NOUNS = {TextKind.REPORT_TEXTS: ("report text", "report texts"),
          TextKind.NOTES: ("note", "notes"), TextKind.MESSAGES: ("message", "messages")}


def retention_marker(days: int) -> str:
    return f"[removed after {days} days (retention policy)]"


ERASURE_MARKER = "[removed: erased at the person's request]"


def is_marker(text: str | None) -> bool:
    return text is not None and text.startswith(MARKER_PREFIX)


def pseudonym(salt: bytes, person: PersonRef) -> PersonRef:
    """The stable stand-in for an erased person's id, on the same platform."""
    if person.user_id.startswith(ERASED_PREFIX):
        return person
    digest = hmac.new(salt, person.key.encode(), hashlib.sha256).hexdigest()[:24]
    return PersonRef(person.platform, ERASED_PREFIX + digest)


def counted(counts: Counter[TextKind]) -> str:
    """'3 report texts, 1 note' (kinds in a fixed order, none when empty)."""
    parts = []
    for kind in TextKind:
        n = counts.get(kind, 0)
        if n:
            one, many = _NOUNS[kind]
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


@dataclass
class Erasure:
    """What erasing a person did: each thing removed (counted), each thing kept and why."""

    person: PersonRef
    pseudonym: PersonRef
    removed: Counter[str] = field(default_factory=Counter)
    kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        removed = ", ".join(f"{n} {what}" for what, n in self.removed.items() if n)
        out = [f"removed: {removed or 'nothing more (already removed)'}"]
        out += [f"kept: {why}" for why in self.kept]
        return out
