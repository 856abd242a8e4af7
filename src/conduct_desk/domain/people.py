"""People as the platforms know them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from conduct_desk.domain.errors import InvalidInput

# control (Cc), format (Cf: bidi marks, zero-width spaces and joiners), line and paragraph
# separators, unassigned and private-use code points: none belongs in an id, and bidi and
# zero-width ones make two different ids look the same
_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"})


@dataclass(frozen=True, order=True)
class PersonRef:
    """One account on one platform, e.g. ``slack:U024BE7LH`` or ``matrix:@ana:example.org``."""

    platform: str
    user_id: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, text: str, default_platform: str = "sandbox") -> PersonRef:
        """Read ``platform:user`` or a bare ``user`` (on ``default_platform``)."""
        text = text.strip()
        if not text:
            raise InvalidInput("a person cannot be empty: give a user id such as alice or slack:U123")
        bad = next((ch for ch in text if unicodedata.category(ch) in _REFUSED), None)
        if bad is not None:
            raise InvalidInput(
                f"the person {text.encode('ascii', 'backslashreplace').decode()!r} contains an "
                f"invisible or control character (U+{ord(bad):04X}); type the id again "
                "without it, e.g. slack:U123")
        return cls.typed(text) or cls(default_platform, text)

    @classmethod
    def typed(cls, text: str) -> PersonRef | None:
        """The person when ``text`` names their platform (``slack:U123``), else None; a
        Matrix id (``@ana:example.org``) names no platform."""
        platform, sep, user = text.strip().partition(":")
        if sep and platform.isidentifier() and user and not platform.startswith("@"):
            return cls(platform.lower(), user)
        return None

    def matches(self, name: str) -> bool:
        """True when ``name`` is this person's key or bare user id (used for recusal)."""
        n = name.strip().lower()
        return n in (self.key.lower(), self.user_id.lower(), self.user_id.lstrip("@").lower())
