"""Admin accounts, API tokens and shared secrets, over SQLAlchemy Core."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from conduct_desk.domain.accounts import Account, ApiToken, Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.storage import tables as w


def _account(r: RowMapping) -> Account:
    return Account(name=r["name"], role=Role(r["role"]), password_hash=r["password_hash"],
                   created_at=r["created_at"], identities=tuple(r["identities"]),
                   disabled=r["disabled"], id=r["id"])


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_admin(self, account: Account) -> int:
        if self.admin_by_name(account.name) is not None:
            raise InvalidInput(f"there is already an admin named {account.name}; pick another name")
        return int(self.conn.execute(w.admins.insert().values(
            name=account.name, role=str(account.role), password_hash=account.password_hash,
            identities=list(account.identities), created_at=account.created_at,
            disabled=account.disabled,
        ).returning(w.admins.c.id)).scalar_one())

    def _one(self, where: Any) -> Account | None:
        row = self.conn.execute(sa.select(w.admins).where(where)).mappings().first()
        return _account(row) if row is not None else None

    def admin_by_name(self, name: str) -> Account | None:
        return self._one(w.admins.c.name == name)

    def admin_by_id(self, admin_id: int) -> Account | None:
        return self._one(w.admins.c.id == admin_id)

    def admins(self) -> list[Account]:
        rows = self.conn.execute(sa.select(w.admins).order_by(w.admins.c.name)).mappings()
        return [_account(r) for r in rows]

    def set_password(self, name: str, password_hash: str) -> None:
        self.conn.execute(w.admins.update().where(w.admins.c.name == name)
                          .values(password_hash=password_hash))

    def add_token(self, token: ApiToken) -> int:
        exists = self.conn.execute(sa.select(w.api_tokens.c.id)
                                   .where(w.api_tokens.c.name == token.name)).first()
        if exists is not None:
            raise InvalidInput(f"there is already a token named {token.name}; pick another --name")
        return int(self.conn.execute(w.api_tokens.insert().values(
            name=token.name, role=str(token.role), token_hash=token.token_hash,
            created_at=token.created_at, revoked=token.revoked,
        ).returning(w.api_tokens.c.id)).scalar_one())

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        r = self.conn.execute(sa.select(w.api_tokens)
                              .where(w.api_tokens.c.token_hash == token_hash)).mappings().first()
        if r is None:
            return None
        return ApiToken(name=r["name"], role=Role(r["role"]), token_hash=r["token_hash"],
                        created_at=r["created_at"], revoked=r["revoked"], id=r["id"])

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
