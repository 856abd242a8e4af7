"""The SQLAlchemy unit of work: one transaction per ``with`` block, rolled back unless committed."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Connection, Engine

from conduct_desk.domain.events import Event
from conduct_desk.storage.accounts import SqlAccounts
from conduct_desk.storage.db import storage_error
from conduct_desk.storage.people import SqlPeople
from conduct_desk.storage.privacy import SqlPersonalData
from conduct_desk.storage.repository import (
    SqlAuditLog,
    SqlCaseRepository,
    SqlCursors,
    SqlMessageRepository,
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
    messages: SqlMessageRepository
    people: SqlPeople
    personal: SqlPersonalData

    def __init__(self, engine: Engine, sealer: Sealer | None = None) -> None:
        self.engine = engine
        self.sealer = sealer
        self._conn: Connection | None = None
        self._events: list[Event] = []
        self._relaxed = False  # the next ``with`` block's commit need not be synced
        self._unsynced = False  # this SQLite connection is set not to sync: reset on exit
        self._reading = False  # the next ``with`` block only reads: no transaction

    def __enter__(self) -> Self:
        if self._conn is not None:
            raise RuntimeError("unit of work is already open; nested transactions are not used")
        relaxed, self._relaxed = self._relaxed, False
        reading, self._reading = self._reading, False
        try:
            self._conn = self.engine.connect()
            if reading:  # each statement on its own (see db.py: no BEGIN IMMEDIATE on SQLite)
                self._conn.execution_options(isolation_level="AUTOCOMMIT")
            sqlite = self._conn.dialect.name == "sqlite"
            self._unsynced = relaxed and sqlite
            if self._unsynced:
                # WAL with NORMAL: the commit is not synced; a power cut may undo it, never
                # corrupt it. A connection setting, changed outside a transaction only (reset
                # on exit).
                self._conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA synchronous=NORMAL")
            if not reading:
                self._conn.begin()
            if relaxed and not sqlite:  # this transaction only
                self._conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        except Exception as exc:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._raise_storage(exc)
            raise
        self.people = SqlPeople(self._conn)
        self.cases = SqlCaseRepository(self._conn, self.sealer, self.people)
        self.timers = SqlTimerRepository(self._conn)
        self.audit = SqlAuditLog(self._conn)
        self.cursors = SqlCursors(self._conn)
        self.accounts = SqlAccounts(self._conn)
        self.nudges = SqlNudgeRepository(self._conn, self.sealer)
        self.rate_hits = SqlRateHits(self._conn)
        self.notices = SqlNoticeRepository(self._conn, self.sealer)
        self.messages = SqlMessageRepository(self._conn, self.sealer)
        self.personal = SqlPersonalData(self._conn, self.sealer)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            if conn.in_transaction():
                conn.rollback()
            if self._unsynced:  # a connection setting: back to the default, on the driver's
                # connection (outside a transaction: no BEGIN IMMEDIATE)
                self._unsynced = False
                conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA synchronous=FULL")
        except Exception as rollback_failed:  # the connection is gone: nothing was kept
            if exc is None:
                self._raise_storage(rollback_failed)
                raise
        finally:
            conn.close()
            if exc_type is not None:
                for case in self.cases.seen.values():
                    case.events.clear()
        if exc is not None:
            self._raise_storage(exc)

    def _raise_storage(self, exc: BaseException) -> None:
        """A dropped connection, a full disk or a read-only file becomes one clear
        :class:`StorageUnavailable` for every entry point to show (a 503 on the web)."""
        error = storage_error(exc, self.engine.url)
        if error is not None:
            raise error from exc

    @property
    def can_seal(self) -> bool:
        """True when an anonymous reporter's id can be kept (sealed); else none is kept."""
        return self.sealer is not None

    def commit(self) -> None:
        assert self._conn is not None
        if self._conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            raise RuntimeError("a reading unit of work writes nothing")
        self._conn.commit()
        for case in self.cases.seen.values():
            self._events.extend(case.events)
            case.events.clear()

    def relaxed(self) -> Self:
        self._relaxed = True
        return self

    def reading(self) -> Self:
        self._reading = True
        return self

    def rollback(self) -> None:
        assert self._conn is not None
        self._conn.rollback()

    def collect_new_events(self) -> Iterator[Event]:
        while self._events:
            yield self._events.pop(0)
