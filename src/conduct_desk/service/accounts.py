"""Admin accounts and API tokens: creating and changing them, checking a password or a token.

Passwords are hashed with argon2; tokens are random and only their SHA-256 is stored,
so neither can be read back from the database.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from conduct_desk.domain.accounts import Account, ApiToken, Role, WebSession, normalize_name
from conduct_desk.domain.emails import EmailKind, check_address
from conduct_desk.domain.errors import InvalidInput, NotFound
from conduct_desk.domain.model import Case
from conduct_desk.domain.people import PersonRef
from conduct_desk.service.handlers import audit
from conduct_desk.service.ports import Clock, UnitOfWork
from conduct_desk.service.roster import named

MIN_PASSWORD = 10
MAX_PASSWORD = 1000
TOKEN_PREFIX = "cdt_"
_hasher = PasswordHasher()
# verified against when the name is unknown, so both paths take about as long
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def check_name(name: str, what: str = "the admin name") -> str:
    """A name read at the boundary: see :func:`normalize_name`."""
    return normalize_name(name, what)


_NOT_IN_NEW_NAMES = "/\\:?#%"


def new_name(name: str, what: str = "the admin name") -> str:
    """A name for a new account: as :func:`check_name`, and none of ``/ \\ : ? # %``, which
    would make it read as a platform account (``slack:U123``) or break the desk's addresses."""
    name = check_name(name, what)
    odd = next((ch for ch in name if ch in _NOT_IN_NEW_NAMES), None)
    if odd is not None:
        raise InvalidInput(f"{what} may not contain {odd!r}; use letters, digits, dots, dashes "
                           "or underscores, e.g. ana or ana.b")
    return name


def account_named(uow: UnitOfWork, name: str) -> Account | None:
    """The account called ``name`` in any spelling; call inside a unit of work."""
    return named(uow.accounts.admins(), name)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password has {len(password)} characters; use at least {MIN_PASSWORD}",
                           field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password is longer than {MAX_PASSWORD} characters; shorten it",
                           field="password")
    return password


def hash_password(password: str) -> str:
    """The argon2 hash of a password that passed :func:`check_password` (slow: call it
    outside a transaction)."""
    return _hasher.hash(check_password(password))


@functools.cache
def time_zones() -> frozenset[str]:
    """Every IANA time zone name this machine knows (e.g. ``Europe/Paris``)."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def check_time_zone(zone: str) -> str:
    """An IANA time zone name as the desk stores it, or InvalidInput naming the field."""
    zone = zone.strip()
    if zone not in time_zones():
        shown = zone if len(zone) <= 60 else zone[:60] + "…"
        raise InvalidInput(f"{shown!r} is not a time zone the desk knows; choose one such as "
                           "Europe/Paris, America/New_York or UTC", field="time_zone")
    return zone


def set_time_zone(uow: UnitOfWork, clock: Clock, name: str, zone: str) -> Account | None:
    """Set the time zone an account's pages show times in. None when it already was."""
    zone = check_time_zone(zone)
    return _change_admin(uow, clock, name, lambda a: replace(a, time_zone=zone), name)


def add_admin(uow: UnitOfWork, clock: Clock, name: str, role: str, password: str,
              identities: tuple[str, ...] = ()) -> Account:
    """Create a web account. ``identities`` are the admin's platform accounts, for recusal."""
    name = new_name(name)
    parsed_role = Role.parse(role)
    check_password(password)
    # a platform id (slack:U123) is kept as read; a bare one (ana) as typed: either is checked
    read = [(i, PersonRef.parse(i)) for i in identities if i.strip()]
    ids = tuple(dict.fromkeys(ref.key if ":" in i else ref.user_id for i, ref in read))
    now = clock.now()
    account = Account(name=name, role=parsed_role, password_hash=_hasher.hash(password),
                      created_at=now, identities=ids)
    with uow:
        existing = account_named(uow, name)
        if existing is not None:
            raise InvalidInput(f"an account named {existing.name} already exists (names ignore "
                               "case); choose another name")
        for other in uow.accounts.admins():
            shared = sorted(set(other.identities) & set(ids))
            if shared:  # else two accounts would act for one chat account
                raise InvalidInput(f"{shared[0]} is {other.name}'s already; a platform account "
                                   "belongs to one desk account (--identity)")
        admin_id = uow.accounts.add_admin(account)
        audit(uow, now, "cli", "admin.added", f"web account {name} added ({parsed_role})")
        uow.commit()
    return replace(account, id=admin_id)


def find_admin(uow: UnitOfWork, name: str) -> Account:
    """The account called ``name``, or NotFound; lets the CLI fail before asking for a password."""
    name = check_name(name)
    with uow:
        account = account_named(uow, name)
    if account is None:
        raise _no_account(name)
    return account


def set_password(uow: UnitOfWork, clock: Clock, name: str, password: str,
                 actor: str = "cli") -> Account | None:
    """Give an account a new password; its sessions are deleted, so they end at once."""
    check_password(password)
    password_hash = _hasher.hash(password)  # slow: before the transaction, not inside it
    return _change_admin(uow, clock, name, lambda a: replace(a, password_hash=password_hash), actor)


def set_disabled(uow: UnitOfWork, clock: Clock, name: str, disabled: bool,
                 actor: str = "cli", *, by_account: str | None = None) -> Account | None:
    """Disable an account (it cannot sign in; its sessions are deleted), or
    enable it again. None when it already was so. ``by_account``: the signed-in admin doing
    it, who cannot disable themselves."""
    return _change_admin(uow, clock, name, lambda a: replace(a, disabled=disabled), actor,
                         not_self="disable" if disabled else None, by_account=by_account)


def set_role(uow: UnitOfWork, clock: Clock, name: str, role: str,
             actor: str = "cli", *, by_account: str | None = None) -> Account | None:
    """Change an account's role; it applies from the account's next request. None when the
    account already has that role. ``by_account`` cannot change their own role."""
    parsed = Role.parse(role)
    return _change_admin(uow, clock, name, lambda a: replace(a, role=parsed), actor,
                         not_self="change the role of", by_account=by_account)


def set_email(uow: UnitOfWork, clock: Clock, name: str, address: str | None,
              kinds: Iterable[EmailKind], actor: str = "cli") -> Account | None:
    """Where the desk emails an account and about what (:class:`EmailKind`); an empty
    ``address`` stops every email. None when nothing changed. The address is checked here,
    for every entry point; choosing kinds with no address is refused (field ``email``)."""
    chosen = frozenset(kinds)
    email = check_address(address) if address and address.strip() else None
    if email is None and chosen:
        raise InvalidInput("give an email address for the emails chosen, or choose none",
                           problem="give an email address for the emails you chose, or untick "
                                   "them", field="email")
    return _change_admin(uow, clock, name, lambda a: replace(a, email=email, email_kinds=chosen),
                         actor)


def email_summary(account: Account) -> str:
    """What an account is emailed about, in words: "new cases, appeals" or "nothing"."""
    kinds = [k.label.lower() for k in EmailKind if k in account.email_kinds]
    return ", ".join(kinds) if account.email and kinds else "nothing"


def _active_admin(account: Account) -> bool:
    return account.role is Role.ADMIN and not account.disabled


def _no_account(name: str) -> NotFound:
    return NotFound(f"no account named {name}; see `conduct admin list`",
                    problem=f"no account named {name}")


def _change_admin(uow: UnitOfWork, clock: Clock, name: str,
                  change: Callable[[Account], Account], actor: str, *,
                  not_self: str | None = None, by_account: str | None = None) -> Account | None:
    """The one path for changing an account: refuses to leave the desk without an active
    admin, writes the row, and audits each change. None when nothing changed."""
    name = check_name(name)
    now = clock.now()
    with uow:
        # every row locked: two changes at once cannot both remove the last two admins
        everyone = uow.accounts.admins(lock=True)
        before = named(everyone, name)
        if before is None:
            raise _no_account(name)
        # the names compared after normalising, so " ana", "ANA" or "ａｎａ" are ana too
        if not_self and by_account is not None and named([before], by_account) is not None:
            raise InvalidInput(f"you cannot {not_self} your own account; ask another admin")
        after = change(before)
        if after == before:
            return None
        if _active_admin(before) and not _active_admin(after) \
                and not any(_active_admin(a) for a in everyone if a.id != before.id):
            raise InvalidInput(f"{name} is the last active admin; add another admin first "
                               "(`conduct admin add NAME --role admin`)",
                               problem=f"{name} is the last active admin; give another "
                                       "account the admin role first")
        uow.accounts.save_admin(after)
        if after.disabled or after.password_hash != before.password_hash:
            uow.accounts.delete_sessions(admin_id=after.id)  # signed out everywhere, at once
        for kind, summary in _changes(before, after):
            audit(uow, now, actor, kind, summary)
        uow.commit()
    return after


def _changes(before: Account, after: Account) -> Iterator[tuple[str, str]]:
    """Audit kind and summary for each change; never the password or its hash."""
    what = f"web account {after.name}"
    if after.password_hash != before.password_hash:
        yield "admin.password", f"{what}: password changed"
    if after.disabled != before.disabled:
        state = "disabled" if after.disabled else "enabled"
        yield f"admin.{state}", f"{what} {state}"
    if after.role != before.role:
        yield "admin.role", f"{what}: role {before.role} -> {after.role}"
    if (after.email, after.email_kinds) != (before.email, before.email_kinds):
        # the address itself stays on the account: the audit log says what changed
        address = "a new address" if after.email and after.email != before.email else (
            "no address" if not after.email else "the same address")
        yield "admin.email", f"{what}: emailed about {email_summary(after)} ({address})"
    if after.time_zone != before.time_zone:
        yield "admin.time_zone", f"{what}: time zone {after.time_zone}"


def authenticate(uow: UnitOfWork, name: str, password: str) -> Account | None:
    """The account when the password is right and the account is active, else None."""
    if len(password) > MAX_PASSWORD or len(name) > 200:
        return None
    with uow:
        account = account_named(uow, name)
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


def create_token(uow: UnitOfWork, clock: Clock, name: str, role: str | None,
                 account: str | None = None) -> str:
    """Make an API token and return it; it is shown once and only its hash is kept.

    With ``account`` the token acts for that account: its name and platform identities
    (recusal, "not about the viewer"), and a role at most the account's (the account's role
    when ``role`` is None). Without one it is a role-only token whose own name is its only
    identity, as tokens made before accounts were."""
    name = new_name(name, "the token name")
    now = clock.now()
    with uow:
        owner = None
        if account is not None:
            owner = uow.accounts.admin_by_name(check_name(account, "--account"))
            if owner is None:
                raise _no_account(account.strip())
            if owner.disabled:
                raise InvalidInput(f"account {owner.name} is disabled; enable it first "
                                   f"(`conduct admin enable {owner.name}`)")
        if role is None:
            if owner is None:
                raise InvalidInput("give --account NAME (the token acts for that account) "
                                   "or --role")
            parsed_role = owner.role
        else:
            parsed_role = Role.parse(role)
        if owner is not None and not owner.role.includes(parsed_role):
            raise InvalidInput(f"a token of {owner.name} can have at most their role "
                               f"({owner.role}); use --role {owner.role} or lower")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        uow.accounts.add_token(ApiToken(name=name, role=parsed_role, token_hash=token_hash(raw),
                                        created_at=now,
                                        account_id=owner.id if owner is not None else None))
        whose = f" for {owner.name}" if owner is not None else ""
        audit(uow, now, "cli", "token.created", f"API token {name}{whose} created ({parsed_role})")
        uow.commit()
    return raw


@dataclass(frozen=True)
class TokenHolder:
    """Who an API call acts as: the token's account, or (a role-only token made before tokens
    had accounts) the token itself, whose name is then its only identity."""

    name: str  # recorded as the actor
    role: Role
    aliases: tuple[str, ...]  # the account's platform identities (or the token's bare name)
    account: Account | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the holder goes by: cases about any of them are not theirs to see."""
        return (self.name, *self.aliases)


def token_for(uow: UnitOfWork, raw: str) -> TokenHolder | None:
    """Who a raw token acts as; None when it is unknown, revoked, or its account is disabled."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    with uow:
        token = uow.accounts.token_by_hash(token_hash(raw))
        if token is None or token.revoked:
            return None
        if token.account_id is None:
            return TokenHolder(f"token:{token.name}", token.role, (token.name,))
        account = uow.accounts.admin_by_id(token.account_id)
    if account is None or account.disabled:
        return None
    return TokenHolder(account.name, token.role.at_most(account.role), account.identities,
                       account)


def revoke_token(uow: UnitOfWork, clock: Clock, name: str,
                 actor: str = "cli") -> ApiToken | None:
    """Revoke a token: the API answers it with 401 from now on. None when it already was."""
    name = check_name(name, "the token name")
    now = clock.now()
    with uow:
        token = uow.accounts.token_by_name(name)
        if token is None:
            raise NotFound(f"no API token named {name}; see `conduct token list`",
                           problem=f"no API token named {name}")
        if token.revoked:
            return None
        revoked = replace(token, revoked=True)
        uow.accounts.save_token(revoked)
        audit(uow, now, actor, "token.revoked", f"API token {name} revoked")
        uow.commit()
    return revoked


def token_list(uow: UnitOfWork) -> list[ApiToken]:
    with uow:
        return uow.accounts.tokens()


def signing_secret(uow: UnitOfWork) -> str:
    """The key that signs session cookies, shared by every process on the same database."""
    with uow:
        value = uow.accounts.secret("session-key", secrets.token_urlsafe(48))
        uow.commit()
    return value


def account_by_id(uow: UnitOfWork, admin_id: int) -> Account | None:
    with uow:
        return uow.accounts.admin_by_id(admin_id)


def takers(uow: UnitOfWork, case: Case | int) -> list[str]:
    """The web accounts a case (or case id) can be handed over to: active, allowed to act,
    not its holder already, and not involved in it as every admin can see
    (subject, named reporter, confirmed hurt, stepped aside). An anonymous reporter stays on
    the list, like any other admin: leaving them out would show who reported (see
    :meth:`Case.hand_over`)."""
    with uow:
        everyone = uow.accounts.admins()
        if isinstance(case, int):
            case = uow.cases.get(case)
    return [a.name for a in everyone
            if not a.disabled and a.role.may_act and a.name != case.taken_by
            and not any(case.visibly_involves(n) for n in (a.name, *a.identities))]


def account_list(uow: UnitOfWork) -> list[Account]:
    with uow:
        return uow.accounts.admins()


# -- web sessions --------------------------------------------------------------------------

SESSION_SEEN_EVERY = timedelta(minutes=1)  # last_seen is written at most this often


def session_hash(raw: str) -> str:
    return hashlib.sha256(b"session:" + raw.encode()).hexdigest()


def start_session(uow: UnitOfWork, account: Account, now: datetime, lifetime: timedelta,
                  failed_signins: int = 0) -> str:
    """Open a session for ``account`` and return the random id for its cookie (only the id's
    SHA-256 is stored). Expired sessions of every account are swept on the way."""
    assert account.id is not None
    raw = secrets.token_urlsafe(32)
    with uow:
        uow.accounts.delete_sessions(expired_before=now)
        uow.accounts.add_session(WebSession(
            id_hash=session_hash(raw), admin_id=account.id, issued_at=now, last_seen_at=now,
            expires_at=now + lifetime, failed_signins=failed_signins))
        uow.commit()
    return raw


def session_account(uow: UnitOfWork, raw: str, now: datetime
                    ) -> tuple[WebSession, Account] | str:
    """The live session with this cookie and its account, or why not: ``invalid``
    (unknown, ended, or the account is disabled) or ``expired``."""
    if not raw or len(raw) > 200:
        return "invalid"
    with uow.reading():  # every page asks: one query, no transaction
        found = uow.accounts.session_and_account(session_hash(raw))
    if found is None:
        return "invalid"
    session, account = found
    if session.expires_at <= now:  # swept at the next sign-in of anyone
        return "expired"
    if account is None or account.disabled:
        return "invalid"
    if now - session.last_seen_at >= SESSION_SEEN_EVERY:
        with uow:
            uow.accounts.save_session(replace(session, last_seen_at=now))
            uow.commit()
    return session, account


def take_signin_notice(uow: UnitOfWork, session: WebSession) -> None:
    """The failed sign-ins notice has been shown: do not show it again."""
    with uow:
        uow.accounts.save_session(replace(session, failed_signins=0))
        uow.commit()


def end_session(uow: UnitOfWork, raw: str) -> None:
    with uow:
        uow.accounts.delete_sessions(id_hash=session_hash(raw))
        uow.commit()
