"""People as the platforms know them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from conduct_desk.domain.errors import InvalidInput

# control (Cc), format (Cf: bidi marks, zero-width spaces and joiners), line and paragraph
# separators, unassigned and private-use code points: none belongs in an id, and bidi and
# zero-width ones make two different ids look the same
_REFUSED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"})
MAX_ID_LENGTH = 300  # a Matrix id, the longest, has at most 255


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
        found = cls.typed(text)
        if found is None and ":" in text and not text.startswith("@"):
            raise InvalidInput(
                f"the person {text!r} is not an id the desk can read: write the platform and "
                "the user on either side of the colon, e.g. slack:U123, or a user id alone, "
                "e.g. alice")
        person = found or cls(default_platform, text)
        if len(person.user_id) > MAX_ID_LENGTH:
            raise InvalidInput(f"a person's id has at most {MAX_ID_LENGTH} characters; this "
                               f"one has {len(person.user_id)}: give the id, e.g. slack:U123")
        return person

    @classmethod
    def from_key(cls, key: str) -> PersonRef:
        """A person as the desk stored them (``platform:user``), read back as it is: it was
        checked when it was written, and what was stored before a check came must still
        read."""
        platform, sep, user = key.partition(":")
        return cls(platform, user) if sep else cls("sandbox", key)  # as parse() would

    @classmethod
    def typed(cls, text: str) -> PersonRef | None:
        """The person when ``text`` names their platform (``slack:U123``), else None; a
        Matrix id (``@ana:example.org``) names no platform."""
        platform, sep, user = text.strip().partition(":")
        platform, user = platform.strip(), user.strip()
        if sep and platform.isidentifier() and user and not platform.startswith("@"):
            return cls(platform.lower(), user)
        return None

    def matches(self, name: str) -> bool:
        """True when ``name`` is this person's key or bare user id (used for recusal)."""
        n = name.strip().lower()
        return n in (self.key.lower(), self.user_id.lower(), self.user_id.lstrip("@").lower())
