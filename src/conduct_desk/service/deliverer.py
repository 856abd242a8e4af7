"""Delivering intake's notices after the caller has its answer.

Filing a report keeps the reporter's thanks and the admins' line in the report's own
transaction (:func:`conduct_desk.service.notices.record_all`): from the commit on, the outbox
owns them. Under ``conduct serve`` a :class:`Deliverer` thread then tries them, so a chat
command, a web form or an API call is answered as soon as the report is safely stored.

Nothing is lost when the process stops before the thread gets to them: each notice has its
durable ``DELIVER_NOTICE`` timer, and a worker delivers it once its lease has run out, as
when a process dies in the middle of a send. A notice that waited in the queue for half a
lease or more is left to that timer, so the thread and a worker never both try it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from conduct_desk.domain.notices import Notice
from conduct_desk.service import notices as outbox
from conduct_desk.service.ports import UnitOfWork

if TYPE_CHECKING:  # handlers imports the notices module, which this one imports
    from conduct_desk.service.handlers import Desk

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # notices recorded in one transaction after their tries
# how long the thread waits for more notices before it tries what it has: under a burst of
# reports, one transaction records many, instead of one each taking the write lock (SQLite)
# and the CPU from the reports being filed
LINGER = 0.02


@dataclass(frozen=True)
class _Job:
    notices: tuple[Notice, ...]


class Deliverer:
    """One thread that tries the notices handed to it, oldest first; what it finds waiting
    together is recorded in one transaction. Thread-safe: any thread may :meth:`submit`."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], desk: Desk,
                 name: str = "conduct-deliverer", linger: float = LINGER) -> None:
        self._uow_factory = uow_factory
        self._desk = desk
        self._linger = linger
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._idle = threading.Condition()
        self._unfinished = 0  # jobs submitted and not yet tried

    def start(self) -> Self:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def submit(self, notices: Sequence[Notice]) -> None:
        """Try ``notices`` (kept by ``record_all`` and committed) soon, on this thread."""
        if not notices:
            return
        with self._idle:
            self._unfinished += 1
        self._queue.put(_Job(tuple(notices)))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every notice submitted so far has been tried and recorded; False when
        ``timeout`` seconds went by first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Try what is queued, then end the thread; False when it had not ended in
        ``timeout`` seconds (what it had not tried yet, the notices' timers deliver)."""
        if not self._thread.is_alive():
            return True
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            jobs: list[_Job] = []
            item = self._queue.get()
            until = time.monotonic() + self._linger
            size = 0
            while True:
                if item is None:
                    stopping = True
                    break
                jobs.append(item)
                size += len(item.notices)
                if size >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
            try:
                self._deliver([n for job in jobs for n in job.notices])
            finally:
                with self._idle:
                    self._unfinished -= len(jobs)
                    self._idle.notify_all()

    def _deliver(self, notices: list[Notice]) -> None:
        desk = self._desk
        now = desk.clock.now()
        late = now - desk.lease / 2
        # one not kept (an anonymous reporter, no key) has no timer: it gets its one try here
        fresh = [n for n in notices
                 if n.id is None or n.created_at is None or n.created_at > late]
        if len(fresh) < len(notices):
            logger.warning("%d notice(s) waited too long to be tried here; the timer worker "
                           "delivers them", len(notices) - len(fresh))
        if not fresh:
            return
        try:
            outbox.deliver_all(self._uow_factory(), desk, fresh)
        except Exception:  # kept pending: their timers deliver them; the thread goes on
            logger.exception("delivering %d notice(s) failed; the timer worker tries them "
                             "again", len(fresh))
