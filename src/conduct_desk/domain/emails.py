"""Email notices for admins: the kinds an admin may choose, and what an address must look like.

An email says only what kind of thing happened and on which case, with a link to the desk:
never a report's words nor who reported (the desk shows those behind sign-in).
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from conduct_desk.domain.errors import InvalidInput

EMAIL = "email"  # the "platform" of an email notice; its ``to`` is PersonRef(EMAIL, address)
MAX_ADDRESS = 254  # RFC 5321: the longest address a mail server accepts


class EmailKind(StrEnum):
    """What an admin may choose to be emailed about."""

    NEW_CASE = "new-case"  # a report opened a case
    REMINDER = "reminder"  # a deadline passed: nobody took the case, or no first step yet
    BACKUP = "backup"  # a backup page: the reminder went unanswered, or every admin is involved
    APPEAL = "appeal"  # the person a case is about appealed

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> EmailKind:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(f"unknown email kind {text!r}: use {', '.join(cls)}",
                               problem=f"unknown email kind {text!r}", field="kinds") from None


_LABELS = {
    EmailKind.NEW_CASE: "New cases",
    EmailKind.REMINDER: "Deadline reminders",
    EmailKind.BACKUP: "Backup pages",
    EmailKind.APPEAL: "Appeals",
}
ALL_KINDS = frozenset(EmailKind)


def check_address(text: str) -> str:
    """An email address as the desk keeps it (spaces around it gone), or InvalidInput: one
    ``@`` with something on both sides, a domain with a dot, no spaces or invisible
    characters, at most :data:`MAX_ADDRESS` characters. The mail server checks the rest."""
    address = unicodedata.normalize("NFC", text).strip()
    local, at, domain = address.rpartition("@")
    problem = None
    if not address:
        problem = "the email address is empty"
    elif len(address) > MAX_ADDRESS:
        problem = f"the email address is longer than {MAX_ADDRESS} characters"
    elif any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") or ch in "<>,;\"" for ch in address):
        problem = "the email address contains a space or a character addresses cannot have"
    elif not at or not local or "@" in local or "." not in domain.strip(".") \
            or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        problem = f"{address!r} is not an email address"
    if problem is not None:
        raise InvalidInput(f"{problem}; give one such as ana@example.org",
                           problem=f"{problem}; give one such as ana@example.org", field="email")
    return address
