"""Platform events taken in once, whichever replica hears them and however often.

Platforms deliver again what they are not sure was heard (Slack retries an event until it is
acknowledged; a Matrix sync resumed from the last saved position repeats the events after it,
e.g. after a replica was killed mid-round and another took its listener over). Each event id
is claimed in the database before the desk acts on it: only the first claim acts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from conduct_desk.service.ports import Clock, UnitOfWork

logger = logging.getLogger(__name__)

MEMORY = timedelta(days=1)  # how long an event id is remembered against a repeat
PRUNE_EVERY = timedelta(hours=1)


class Deliveries:
    """Event ids already taken in, kept as cursors named ``prefix + event id``."""

    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock, prefix: str,
                 memory: timedelta = MEMORY) -> None:
        self._uow, self.clock, self.prefix, self.memory = uow, clock, prefix, memory
        self._pruned_at = datetime.min.replace(tzinfo=UTC)

    def mark(self, event_id: str) -> tuple[str, str]:
        """The claim of ``event_id`` for a command to make in its own transaction (a report's
        ``mark``): then the event's effect and its claim are one."""
        now = self.clock.now()
        if now - self._pruned_at >= PRUNE_EVERY:
            with self._uow() as uow:
                self._prune(uow, now)
                uow.commit()
        return f"{self.prefix}{event_id}", now.isoformat()

    def _prune(self, uow: UnitOfWork, now: datetime) -> None:
        """Ids older than the memory are let go: platforms do not deliver them again."""
        uow.cursors.forget(self.prefix, (now - self.memory).isoformat())
        self._pruned_at = now

    def first(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen (and records it); False for a repeat."""
        now = self.clock.now()
        with self._uow() as uow:
            if not uow.cursors.claim(f"{self.prefix}{event_id}", now.isoformat()):
                logger.info("event %s delivered again; already taken in", event_id)
                return False
            if now - self._pruned_at >= PRUNE_EVERY:
                self._prune(uow, now)
            uow.commit()
        return True
