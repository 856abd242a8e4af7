"""Who may use the desk, and how far: admin accounts, API tokens and their roles."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from conduct_desk.domain.emails import EmailKind
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.policy import Action


class Role(StrEnum):
    """Observer reads; moderator takes every step up to a suspension; admin does everything."""

    OBSERVER = "observer"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"unknown role {text!r}: use observer, moderator or admin"
            ) from None

    def at_most(self, other: Role) -> Role:
        """The lower of the two roles (a token never does more than its account)."""
        return self if other.includes(self) else other

    def includes(self, other: Role) -> bool:
        """True when this role may do everything ``other`` may (admin ⊇ moderator ⊇ observer)."""
        return _RANK[self] >= _RANK[other]

    @property
    def may_act(self) -> bool:
        return self.includes(Role.MODERATOR)

    @property
    def may_reassign(self) -> bool:
        """Hand over a case someone else holds (when they are away): admins only."""
        return self.includes(Role.ADMIN)

    def may_take(self, action: Action) -> bool:
        """The one rule for every entry point: moderators act up to a suspension; a ban needs
        an admin."""
        return self.includes(Role.ADMIN if action is Action.BAN else Role.MODERATOR)


_RANK = {Role.OBSERVER: 0, Role.MODERATOR: 1, Role.ADMIN: 2}

MAX_NAME = 200


def normalize_name(name: str, what: str = "the admin name") -> str:
    """An account (or token) name as the desk stores and compares it: surrounding spaces
    gone, Unicode NFKC (so full-width and other compatibility spellings fold together), one
    word, no control, zero-width or bidi characters. Compare the result with
    :func:`name_key`, which ignores case. Every entry point reads names through here."""
    name = unicodedata.normalize("NFKC", name).strip()
    if not name:
        raise InvalidInput(f"{what} is empty; give a name such as ana")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise InvalidInput(f"{what} contains an invisible or control character; type it again "
                           "with letters, digits and punctuation only")
    if len(name) > MAX_NAME or any(ch.isspace() for ch in name):
        raise InvalidInput(f"{what} must be one word of at most {MAX_NAME} characters, e.g. ana")
    return name


def name_key(name: str) -> str:
    """The form two names are compared in: normalised as :func:`normalize_name` does (without
    refusing anything), then case-folded; "Ana", " ana" and "ａｎａ" are one name."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).strip().casefold())


@dataclass(frozen=True)
class Account:
    """A person who signs in to the web desk. ``identities`` are their platform accounts
    (e.g. ``slack:U123``): with the name, they decide recusal. ``email`` and ``email_kinds``:
    where and about what the desk emails them while they are on duty."""

    name: str
    role: Role
    password_hash: str
    created_at: datetime
    identities: tuple[str, ...] = ()
    disabled: bool = False
    id: int | None = None
    email: str | None = None
    email_kinds: frozenset[EmailKind] = frozenset()
    time_zone: str = "UTC"  # an IANA name; the pages show times in it (UTC on hover)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.identities)


class InviteKind(StrEnum):
    """``setup`` makes the first admin while there is none; ``invite`` is an admin's invitation."""

    SETUP = "setup"
    INVITE = "invite"


class InviteState(StrEnum):
    OPEN = "open"
    USED = "used"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Invite:
    """A one-time link to make an account: only the token's SHA-256 is stored. It works once,
    until ``expires_at``, unless revoked. ``name``: the name chosen by the inviter, or None
    when the invited person chooses their own."""

    kind: InviteKind
    role: Role
    token_hash: str
    created_at: datetime
    expires_at: datetime
    created_by: str  # the inviting admin's name, or "desk" for a setup link
    name: str | None = None
    used_at: datetime | None = None
    used_by: str | None = None  # the name of the account it made
    revoked: bool = False
    id: int | None = None

    def state(self, now: datetime) -> InviteState:
        if self.used_at is not None:
            return InviteState.USED
        if self.revoked:
            return InviteState.REVOKED
        return InviteState.EXPIRED if self.expires_at <= now else InviteState.OPEN


@dataclass(frozen=True)
class ApiToken:
    """A bearer token for ``/api/v1``; only its SHA-256 is stored."""

    name: str
    role: Role
    token_hash: str
    created_at: datetime
    revoked: bool = False
    # the account it acts for; None: a role-only token made before tokens had accounts,
    # whose own name is its only identity
    account_id: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser. The cookie holds a random id; only its SHA-256 (``id_hash``) is
    stored, so the database cannot be used to sign in. ``failed_signins`` counts the wrong
    passwords given for the account since its previous sign-in, shown once."""

    id_hash: str
    admin_id: int
    issued_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    failed_signins: int = 0
