"""One-time links that make an account, so nobody needs the command line to join the desk.

A *setup link* makes the first admin while the desk has none: ``conduct serve`` prints one
when it starts (and ``conduct setup-link`` prints a fresh one). An *invitation* is made by an
admin on the settings page, for a role up to their own. Either works once, until it expires,
and an invitation can be revoked. Only the token's SHA-256 is stored; every use is audited.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from conduct_desk.domain.accounts import Account, Invite, InviteKind, InviteState, Role
from conduct_desk.domain.errors import IllegalTransition, InvalidInput, NotFound
from conduct_desk.service import accounts
from conduct_desk.service.handlers import audit
from conduct_desk.service.ports import Clock, UnitOfWork

logger = logging.getLogger(__name__)

SETUP_LIFETIME = timedelta(hours=24)
INVITE_LIFETIME = timedelta(days=7)
SETUP_PATH = "/setup/"
INVITE_PATH = "/invite/"
MAX_TOKEN = 100


def link_hash(raw: str) -> str:
    return hashlib.sha256(b"invite:" + raw.encode()).hexdigest()


def link(base_url: str, kind: InviteKind, raw: str) -> str:
    """The full address of a link, e.g. ``https://desk.example/setup/…``."""
    path = SETUP_PATH if kind is InviteKind.SETUP else INVITE_PATH
    return base_url.rstrip("/") + path + raw


def new_setup_link(uow: UnitOfWork, clock: Clock) -> str | None:
    """A fresh setup token (the raw value: shown once), or None when an admin exists."""
    now = clock.now()
    raw = secrets.token_urlsafe(32)
    with uow:
        if any(a.role is Role.ADMIN for a in uow.accounts.admins()):
            return None
        uow.accounts.add_invite(Invite(
            kind=InviteKind.SETUP, role=Role.ADMIN, token_hash=link_hash(raw), created_at=now,
            expires_at=now + SETUP_LIFETIME, created_by="desk"))
        audit(uow, now, "desk", "setup.link", "a setup link for the first admin was made "
              f"(valid until {now + SETUP_LIFETIME:%Y-%m-%d %H:%M} UTC)")
        uow.commit()
    return raw


def invite(uow: UnitOfWork, clock: Clock, by: Account, role: str,
           name: str | None = None) -> tuple[Invite, str]:
    """An invitation made by ``by`` (an admin) for ``role``, at most their own; ``name`` is
    the invited person's name, or empty to let them choose it. Returns it and its raw token."""
    parsed = Role.parse(role)
    if by.role is not Role.ADMIN:
        raise InvalidInput("only admins can invite people to the desk", field="role")
    if not by.role.includes(parsed):
        raise InvalidInput(f"you can invite for your own role ({by.role}) or a lower one",
                           field="role")
    chosen = accounts.new_name(name, "the name") if name and name.strip() else None
    now = clock.now()
    raw = secrets.token_urlsafe(32)
    made = Invite(kind=InviteKind.INVITE, role=parsed, token_hash=link_hash(raw),
                  created_at=now, expires_at=now + INVITE_LIFETIME, created_by=by.name,
                  name=chosen)
    with uow:
        if chosen is not None and accounts.account_named(uow, chosen) is not None:
            raise InvalidInput(f"an account named {chosen} already exists; choose another name "
                               "or leave the name empty", field="name")
        made = replace(made, id=uow.accounts.add_invite(made))
        audit(uow, now, by.name, "invite.created",
              f"invitation {made.id} made for {_whom(made)} ({parsed}), valid until "
              f"{made.expires_at:%Y-%m-%d %H:%M} UTC")
        uow.commit()
    return made, raw


def _whom(invite: Invite) -> str:
    return invite.name if invite.name else "a name of their choice"


def invitations(uow: UnitOfWork) -> list[Invite]:
    with uow:
        return uow.accounts.invites(InviteKind.INVITE)


def revoke(uow: UnitOfWork, clock: Clock, invite_id: int, by: Account) -> Invite | None:
    """Revoke an open invitation: its link stops working now. None when it already was
    used, revoked or expired."""
    now = clock.now()
    with uow:
        found = uow.accounts.invite_by_id(invite_id)
        if found is None or found.kind is not InviteKind.INVITE:
            raise NotFound(f"no invitation {invite_id}", field="invite")
        if found.state(now) is not InviteState.OPEN:
            return None
        revoked = replace(found, revoked=True)
        uow.accounts.save_invite(revoked)
        audit(uow, now, by.name, "invite.revoked",
              f"invitation {invite_id} for {_whom(found)} ({found.role}) revoked")
        uow.commit()
    return revoked


GONE = {
    InviteState.USED: "This link has already been used, and each link works once.",
    InviteState.REVOKED: "This invitation was revoked by an admin.",
    InviteState.EXPIRED: "This link has expired.",
    "has-admin": "The desk has an admin now, so this setup link no longer works.",
}


@dataclass(frozen=True)
class LinkState:
    """What a link allows now: ``invite`` when it is open, else why not (a key of
    :data:`GONE`, or ``unknown``)."""

    invite: Invite | None
    why: str = ""


def look_up(uow: UnitOfWork, kind: InviteKind, raw: str, now: datetime,
            *, lock: bool = False) -> LinkState:
    """The link of ``kind`` with this raw token, if it still works; call inside a unit of
    work when ``lock``."""
    if not raw or len(raw) > MAX_TOKEN:
        return LinkState(None, "unknown")
    found = uow.accounts.invite_by_hash(link_hash(raw), lock=lock)
    if found is None or found.kind is not kind:
        return LinkState(None, "unknown")
    state = found.state(now)
    if state is not InviteState.OPEN:
        return LinkState(None, str(state))
    if kind is InviteKind.SETUP and any(a.role is Role.ADMIN
                                        for a in uow.accounts.admins(lock=lock)):
        return LinkState(None, "has-admin")
    return LinkState(found)


def check_link(uow: UnitOfWork, clock: Clock, kind: InviteKind, raw: str) -> LinkState:
    with uow:
        return look_up(uow, kind, raw, clock.now())


def _chosen_name(name: str) -> str:
    try:
        return accounts.new_name(name, "the name")
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="name") from None


def accept(uow: UnitOfWork, clock: Clock, kind: InviteKind, raw: str, name: str,
           password: str, again: str) -> Account:
    """Make the account a link promises, with the name and password its person chose, and
    use the link up. Raises when the link no longer works (nothing is made)."""
    if password != again:
        raise InvalidInput("the two passwords differ; type the same password twice",
                           field="again")
    password_hash = accounts.hash_password(password)  # slow: before the transaction
    now = clock.now()
    with uow:
        found = look_up(uow, kind, raw, now, lock=True)
        if found.invite is None:
            raise IllegalTransition(GONE.get(found.why, "This link is not valid."),
                                    field="link")
        invite = found.invite
        chosen = invite.name or _chosen_name(name)
        if accounts.account_named(uow, chosen) is not None:
            raise InvalidInput(f"an account named {chosen} already exists (names ignore case); "
                               "choose another name", field="name")
        account = Account(name=chosen, role=invite.role, password_hash=password_hash,
                          created_at=now)
        account = replace(account, id=uow.accounts.add_admin(account))
        uow.accounts.save_invite(replace(invite, used_at=now, used_by=chosen))
        if kind is InviteKind.SETUP:
            audit(uow, now, chosen, "admin.added",
                  f"web account {chosen} added ({invite.role}) from the setup link")
        else:
            audit(uow, now, chosen, "admin.added",
                  f"web account {chosen} added ({invite.role}) from invitation {invite.id} "
                  f"by {invite.created_by}")
        uow.commit()
    return account
