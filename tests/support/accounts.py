"""Admin accounts for tests that act on cases: the desk accepts only admins it knows."""

from __future__ import annotations

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Account, Role

NOT_A_HASH = "no password: this account only acts in tests"


def add_admins(app: App, *names: str, role: Role = Role.ADMIN) -> None:
    """Accounts that act but cannot sign in (no password hash), made without argon2's cost."""
    uow = app.uow()
    with uow:
        for name in names:
            if uow.accounts.admin_by_name(name) is not None:
                continue
            uow.accounts.add_admin(Account(name=name, role=role, password_hash=NOT_A_HASH,
                                           created_at=app.desk.clock.now()))
        uow.commit()
