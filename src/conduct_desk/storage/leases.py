"""Leases in the database (:class:`~conduct_desk.service.leases.Leases`).

Every change is one conditional UPDATE (or the first INSERT), so two replicas racing for the
same lease cannot both win: PostgreSQL re-checks the condition on the row it waited for, and
SQLite writes one transaction at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from conduct_desk.service.leases import Lease
from conduct_desk.storage import tables as t

_c = t.leases.c


class SqlLeases:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> Lease | None:
        expires = now + ttl
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(_c.holder, _c.epoch, _c.expires_at)
                               .where(_c.name == name)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(t.leases.insert().values(
                            name=name, holder=holder, epoch=1, acquired_at=now,
                            expires_at=expires))
                except IntegrityError:  # another replica took it first
                    return None
                return Lease(name, holder, 1, expires)
            if row.holder == holder:
                epoch = int(row.epoch)
                changed = conn.execute(t.leases.update().where(
                    _c.name == name, _c.holder == holder, _c.epoch == epoch,
                ).values(expires_at=expires)).rowcount
            else:
                epoch = int(row.epoch) + 1
                changed = conn.execute(t.leases.update().where(
                    _c.name == name, _c.epoch == row.epoch, _c.expires_at <= now,
                ).values(holder=holder, epoch=epoch, acquired_at=now,
                         expires_at=expires)).rowcount
            return Lease(name, holder, epoch, expires) if changed == 1 else None

    def renew(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
        expires = now + ttl
        with self.engine.begin() as conn:
            changed = conn.execute(t.leases.update().where(
                _c.name == lease.name, _c.holder == lease.holder, _c.epoch == lease.epoch,
            ).values(expires_at=expires)).rowcount
        return Lease(lease.name, lease.holder, lease.epoch, expires) if changed == 1 else None

    def release(self, lease: Lease, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.leases.update().where(
                _c.name == lease.name, _c.holder == lease.holder, _c.epoch == lease.epoch,
                _c.expires_at > now,
            ).values(expires_at=now))

    def current(self, name: str) -> Lease | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_c.holder, _c.epoch, _c.expires_at)
                               .where(_c.name == name)).first()
        if row is None:
            return None
        return Lease(name, str(row.holder), int(row.epoch), row.expires_at)
