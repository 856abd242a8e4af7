"""Rate limits kept in the database, so that every ``conduct serve`` process sharing it
counts the same attempts: a limit of five sign-ins is five, however many processes answer.

Keys (a client's address, a name typed at sign-in) are stored only as SHA-256 digests, and
each attempt is kept only for the limit's window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from conduct_desk.service.ports import UnitOfWork


class RateLimit:
    """At most ``limit`` counted attempts per key in a sliding ``window``."""

    def __init__(self, uow: Callable[[], UnitOfWork], scope: str, limit: int,
                 window: timedelta) -> None:
        self._uow, self.scope, self.limit, self.window = uow, scope, limit, window

    def _key(self, key: str) -> str:
        return hashlib.sha256(f"{self.scope}\0{key}".encode()).hexdigest()

    def blocked(self, key: str, now: datetime) -> bool:
        with self._uow() as uow:
            return uow.rate_hits.count(self.scope, self._key(key), now - self.window) >= self.limit

    def count(self, key: str, since: datetime) -> int:
        """Attempts counted for ``key`` since ``since`` (within the window)."""
        with self._uow() as uow:
            return uow.rate_hits.count(self.scope, self._key(key), since)

    def hit(self, key: str, now: datetime) -> None:
        with self._uow() as uow:
            uow.rate_hits.prune(self.scope, now - self.window)  # nothing older is needed
            uow.rate_hits.add(self.scope, self._key(key), now)
            uow.commit()

    def clear(self, key: str) -> None:
        with self._uow() as uow:
            uow.rate_hits.clear(self.scope, self._key(key))
            uow.commit()
