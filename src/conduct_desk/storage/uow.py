"""The SQLAlchemy unit of work: one transaction per ``with`` block, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Connection, Engine

from conduct_desk.domain.events import Event
from conduct_desk.storage.accounts import SqlAccounts
from conduct_desk.storage.privacy import SqlPersonalData
from conduct_desk.storage.repository import (
    SqlAuditLog,
    SqlCaseRepository,
    SqlCursors,
    SqlNoticeRepository,
    SqlNudgeRepository,
    SqlRateHits,
    SqlTimerRepository,
)
from conduct_desk.storage.sealing import Sealer


class SqlUnitOfWork:
    cases: SqlCaseRepository
    timers: SqlTimerRepository
    audit: SqlAuditLog
    cursors: SqlCursors
    accounts: SqlAccounts
    nudges: SqlNudgeRepository
    rate_hits: SqlRateHits
    notices: SqlNoticeRepository
    personal: SqlPersonalData

    def __init__(self, engine: Engine, sealer: Sealer | None = None) -> None:
        self.engine = engine
        self.sealer = sealer
        self._conn: Connection | None = None
        self._events: list[Event] = []

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("unit of work is already open; nested transactions are not used")
        self._conn = self.engine.connect()
        self._conn.begin()
        self.cases = SqlCaseRepository(self._conn, self.sealer)
        self.timers = SqlTimerRepository(self._conn)
        self.audit = SqlAuditLog(self._conn)
        self.cursors = SqlCursors(self._conn)
        self.accounts = SqlAccounts(self._conn)
        self.nudges = SqlNudgeRepository(self._conn, self.sealer)
        self.rate_hits = SqlRateHits(self._conn)
        self.notices = SqlNoticeRepository(self._conn, self.sealer)
        self.personal = SqlPersonalData(self._conn, self.sealer)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()
            if exc_type is not None:
                for case in self.cases.seen.values():
                    case.events.clear()

    @property
    def can_seal(self) -> bool:
        """True when an anonymous reporter's id can be kept (sealed); else none is kept."""
        return self.sealer is not None

    def commit(self) -> None:
        assert self._conn is not None
        self._conn.commit()
        for case in self.cases.seen.values():
            self._events.extend(case.events)
            case.events.clear()

    def rollback(self) -> None:
        assert self._conn is not None
        self._conn.rollback()

    def collect_new_events(self) -> Iterator[Event]:
        while self._events:
            yield self._events.pop(0)
