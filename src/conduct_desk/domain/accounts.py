"""Who may use the desk, and how far: admin accounts, API tokens and their roles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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


@dataclass(frozen=True)
class Account:
    """A person who signs in to the web desk. ``identities`` are their platform accounts
    (e.g. ``slack:U123``): with the name, they decide recusal."""

    name: str
    role: Role
    password_hash: str
    created_at: datetime
    identities: tuple[str, ...] = ()
    disabled: bool = False
    id: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.identities)


@dataclass(frozen=True)
class ApiToken:
    """A bearer token for ``/api/v1``; only its SHA-256 is stored."""

    name: str
    role: Role
    token_hash: str
    created_at: datetime
    revoked: bool = False
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
