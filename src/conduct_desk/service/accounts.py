"""Admin accounts and API tokens: creating them, and checking a password or a token.

Passwords are hashed with argon2; tokens are random and only their SHA-256 is stored,
so neither can be read back from the database.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from conduct_desk.domain.accounts import Account, ApiToken, Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.handlers import audit
from conduct_desk.service.ports import Clock, UnitOfWork

MIN_PASSWORD = 10
MAX_PASSWORD = 1000
TOKEN_PREFIX = "cdt_"
_hasher = PasswordHasher()
# verified against when the name is unknown, so both paths take about as long
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def check_name(name: str, what: str = "the admin name") -> str:
    name = name.strip()
    if not name:
        raise InvalidInput(f"{what} is empty; give a name such as ana")
    if len(name) > 200 or any(ch.isspace() for ch in name):
        raise InvalidInput(f"{what} must be one word of at most 200 characters, e.g. ana")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password has {len(password)} characters; use at least {MIN_PASSWORD}")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password is longer than {MAX_PASSWORD} characters; shorten it")
    return password


def add_admin(uow: UnitOfWork, clock: Clock, name: str, role: str, password: str,
              identities: tuple[str, ...] = ()) -> Account:
    """Create a web account. ``identities`` are the admin's platform accounts, for recusal."""
    name = check_name(name)
    parsed_role = Role.parse(role)
    check_password(password)
    ids = tuple(dict.fromkeys(PersonRef.parse(i).key if ":" in i else i.strip()
                              for i in identities if i.strip()))
    now = clock.now()
    account = Account(name=name, role=parsed_role, password_hash=_hasher.hash(password),
                      created_at=now, identities=ids)
    with uow:
        admin_id = uow.accounts.add_admin(account)
        audit(uow, now, "cli", "admin.added", f"web account {name} added ({parsed_role})")
        uow.commit()
    return replace(account, id=admin_id)


def authenticate(uow: UnitOfWork, name: str, password: str) -> Account | None:
    """The account when the password is right and the account is active, else None."""
    if len(password) > MAX_PASSWORD or len(name) > 200:
        return None
    with uow:
        account = uow.accounts.admin_by_name(name.strip())
    try:
        _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled:
        return None
    return account


def has_admins(uow: UnitOfWork) -> bool:
    with uow:
        return bool(uow.accounts.admins())


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(uow: UnitOfWork, clock: Clock, name: str, role: str) -> str:
    """Make an API token and return it; it is shown once and only its hash is kept."""
    name = check_name(name, "the token name")
    parsed_role = Role.parse(role)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    with uow:
        uow.accounts.add_token(ApiToken(name=name, role=parsed_role, token_hash=token_hash(raw),
                                        created_at=now))
        audit(uow, now, "cli", "token.created", f"API token {name} created ({parsed_role})")
        uow.commit()
    return raw


def token_for(uow: UnitOfWork, raw: str) -> ApiToken | None:
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    with uow:
        token = uow.accounts.token_by_hash(token_hash(raw))
    return token if token is not None and not token.revoked else None


def signing_secret(uow: UnitOfWork) -> str:
    """The key that signs session cookies, shared by every process on the same database."""
    with uow:
        value = uow.accounts.secret("session-key", secrets.token_urlsafe(48))
        uow.commit()
    return value


def account_by_id(uow: UnitOfWork, admin_id: int) -> Account | None:
    with uow:
        return uow.accounts.admin_by_id(admin_id)


def account_list(uow: UnitOfWork) -> list[Account]:
    with uow:
        return uow.accounts.admins()
