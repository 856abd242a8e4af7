"""Admin accounts, API tokens and shared secrets, over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from conduct_desk.domain.accounts import (
    Account,
    ApiToken,
    Invite,
    InviteKind,
    Role,
    WebSession,
)
from conduct_desk.domain.emails import ALL_KINDS, EmailKind
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.storage import tables as w

T = TypeVar("T")
_a, _s = w.admins.c, w.web_sessions.c
_SESSION_AND_ACCOUNT = sa.select(
    _s.id_hash, _s.admin_id, _s.issued_at, _s.last_seen_at, _s.expires_at, _s.failed_signins,
    _a.name, _a.role, _a.password_hash, _a.created_at.label("admin_created"), _a.identities,
    _a.disabled, _a.time_zone, _a.email, _a.email_kinds,
).outerjoin(w.admins, _a.id == _s.admin_id).where(_s.id_hash == sa.bindparam("id_hash"))


def _account(r: Mapping[Any, Any]) -> Account:
    return Account(name=r["name"], role=Role(r["role"]), password_hash=r["password_hash"],
                   created_at=r["created_at"], identities=tuple(r["identities"]),
                   disabled=r["disabled"], id=r["id"], time_zone=r["time_zone"],
                   email=r["email"],
                   email_kinds=frozenset(EmailKind(k) for k in r["email_kinds"]
                                         if k in ALL_KINDS))


def _invite(r: RowMapping) -> Invite:
    return Invite(kind=InviteKind(r["kind"]), role=Role(r["role"]), token_hash=r["token_hash"],
                  created_at=r["created_at"], expires_at=r["expires_at"],
                  created_by=r["created_by"], name=r["name"], used_at=r["used_at"],
                  used_by=r["used_by"], revoked=r["revoked"], id=r["id"])


def _token(r: RowMapping) -> ApiToken:
    return ApiToken(name=r["name"], role=Role(r["role"]), token_hash=r["token_hash"],
                    created_at=r["created_at"], revoked=r["revoked"],
                    account_id=r["account_id"], id=r["id"])


def _session(r: RowMapping) -> WebSession:
    return WebSession(id_hash=r["id_hash"], admin_id=r["admin_id"], issued_at=r["issued_at"],
                      last_seen_at=r["last_seen_at"], expires_at=r["expires_at"],
                      failed_signins=r["failed_signins"])


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _first(self, table: sa.Table, where: Any, build: Callable[[RowMapping], T]) -> T | None:
        row = self.conn.execute(sa.select(table).where(where)).mappings().first()
        return build(row) if row is not None else None

    def add_admin(self, account: Account) -> int:
        if self.admin_by_name(account.name) is not None:
            raise InvalidInput(f"there is already an admin named {account.name}; pick another name")
        return int(self.conn.execute(w.admins.insert().values(
            name=account.name, role=str(account.role), password_hash=account.password_hash,
            identities=list(account.identities), created_at=account.created_at,
            disabled=account.disabled, email=account.email,
            email_kinds=sorted(account.email_kinds),
            time_zone=account.time_zone,
        ).returning(w.admins.c.id)).scalar_one())

    def admin_by_name(self, name: str) -> Account | None:
        return self._first(w.admins, w.admins.c.name == name, _account)

    def admin_by_id(self, admin_id: int) -> Account | None:
        return self._first(w.admins, w.admins.c.id == admin_id, _account)

    def admins(self, *, lock: bool = False) -> list[Account]:
        """Every account by name; ``lock`` holds their rows until the transaction ends."""
        query = sa.select(w.admins).order_by(w.admins.c.name)
        if lock:  # SQLite already writes one transaction at a time and ignores FOR UPDATE
            query = query.with_for_update()
        return [_account(r) for r in self.conn.execute(query).mappings()]

    def save_admin(self, account: Account) -> None:
        """Write what can change about an account: role, password hash, identities, disabled,
        time zone, email address and the kinds of email chosen."""
        self.conn.execute(w.admins.update().where(w.admins.c.id == account.id).values(
            role=str(account.role), password_hash=account.password_hash,
            identities=list(account.identities), disabled=account.disabled,
            time_zone=account.time_zone, email=account.email,
            email_kinds=sorted(account.email_kinds)))

    def add_invite(self, invite: Invite) -> int:
        return int(self.conn.execute(w.account_invites.insert().values(
            kind=str(invite.kind), role=str(invite.role), token_hash=invite.token_hash,
            name=invite.name, created_by=invite.created_by, created_at=invite.created_at,
            expires_at=invite.expires_at, used_at=invite.used_at, used_by=invite.used_by,
            revoked=invite.revoked,
        ).returning(w.account_invites.c.id)).scalar_one())

    def invite_by_hash(self, token_hash: str, *, lock: bool = False) -> Invite | None:
        query = sa.select(w.account_invites).where(w.account_invites.c.token_hash == token_hash)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return _invite(row) if row is not None else None

    def invite_by_id(self, invite_id: int) -> Invite | None:
        return self._first(w.account_invites, w.account_invites.c.id == invite_id, _invite)

    def invites(self, kind: InviteKind) -> list[Invite]:
        """Every link of ``kind``, newest first."""
        i = w.account_invites.c
        rows = self.conn.execute(sa.select(w.account_invites).where(i.kind == str(kind))
                                 .order_by(i.created_at.desc(), i.id.desc())).mappings()
        return [_invite(r) for r in rows]

    def save_invite(self, invite: Invite) -> None:
        """Write what can change about a link: used (when, by whom) or revoked."""
        self.conn.execute(w.account_invites.update().where(
            w.account_invites.c.id == invite.id).values(
            used_at=invite.used_at, used_by=invite.used_by, revoked=invite.revoked))

    def add_token(self, token: ApiToken) -> int:
        if self.token_by_name(token.name) is not None:
            raise InvalidInput(f"there is already a token named {token.name}; pick another --name")
        return int(self.conn.execute(w.api_tokens.insert().values(
            name=token.name, role=str(token.role), token_hash=token.token_hash,
            created_at=token.created_at, revoked=token.revoked, account_id=token.account_id,
        ).returning(w.api_tokens.c.id)).scalar_one())

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        return self._first(w.api_tokens, w.api_tokens.c.token_hash == token_hash, _token)

    def token_by_name(self, name: str) -> ApiToken | None:
        return self._first(w.api_tokens, w.api_tokens.c.name == name, _token)

    def tokens(self) -> list[ApiToken]:
        rows = self.conn.execute(sa.select(w.api_tokens).order_by(w.api_tokens.c.name)).mappings()
        return [_token(r) for r in rows]

    def save_token(self, token: ApiToken) -> None:
        """Write what can change about a token: its role and whether it is revoked."""
        self.conn.execute(w.api_tokens.update().where(w.api_tokens.c.id == token.id).values(
            role=str(token.role), revoked=token.revoked))

    def secret(self, name: str, make: str) -> str:
        """The shared value called ``name``; stores ``make`` when there is none yet."""
        query = sa.select(w.web_secrets.c.value).where(w.web_secrets.c.name == name)
        value = self.conn.execute(query).scalar()
        if value is None:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(w.web_secrets.insert().values(name=name, value=make))
            except IntegrityError:  # another process stored one first: use theirs
                pass
            value = self.conn.execute(query).scalar_one()
        return str(value)

    def add_session(self, session: WebSession) -> None:
        self.conn.execute(w.web_sessions.insert().values(
            id_hash=session.id_hash, admin_id=session.admin_id, issued_at=session.issued_at,
            last_seen_at=session.last_seen_at, expires_at=session.expires_at,
            failed_signins=session.failed_signins))

    def session_by_hash(self, id_hash: str) -> WebSession | None:
        return self._first(w.web_sessions, w.web_sessions.c.id_hash == id_hash, _session)

    def session_and_account(self, id_hash: str) -> tuple[WebSession, Account | None] | None:
        """A session and its account in one query (every page asks for both)."""
        row = self.conn.execute(_SESSION_AND_ACCOUNT, {"id_hash": id_hash}).first()
        if row is None:
            return None
        session = _session(row._mapping)
        if row.name is None:
            return session, None
        # the account as _account reads it (every field: a page shows times in its zone)
        return session, _account({**row._mapping, "created_at": row.admin_created,
                                  "id": session.admin_id})

    def save_session(self, session: WebSession) -> None:
        """Write what changes while a session lives: when it was last seen, the notice."""
        self.conn.execute(w.web_sessions.update().where(
            w.web_sessions.c.id_hash == session.id_hash).values(
            last_seen_at=session.last_seen_at, failed_signins=session.failed_signins))

    def delete_sessions(self, *, id_hash: str | None = None, admin_id: int | None = None,
                        expired_before: datetime | None = None) -> int:
        """Delete one session, every session of an account, or those expired before a time."""
        s = w.web_sessions.c
        where = s.id_hash == id_hash if id_hash is not None else \
            s.admin_id == admin_id if admin_id is not None else s.expires_at < expired_before
        return int(self.conn.execute(w.web_sessions.delete().where(where)).rowcount or 0)
