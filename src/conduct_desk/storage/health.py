"""The figures of ``/readyz`` and ``/metrics``, each from one aggregate query."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from conduct_desk.domain.model import CaseState, StepStatus
from conduct_desk.domain.notices import NoticeStatus
from conduct_desk.domain.timers import TimerStatus
from conduct_desk.service.health import (
    BUCKETS,
    WINDOW,
    Figures,
    Histogram,
    Readiness,
    error_code,
)
from conduct_desk.storage import tables as t
from conduct_desk.storage.db import current_revision, head_revision, is_newer

OPEN_STATES = (CaseState.NEW, CaseState.TAKEN, CaseState.ACTING)
_head = functools.cache(head_revision)  # the code's migrations do not change while it runs


def seconds_between(conn: Connection, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, as SQL (SQLite keeps datetimes as text; its julian
    days are rounded to the millisecond, as their floating point is a few µs off)."""
    if conn.dialect.name == "sqlite":
        return sa.func.round((sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0, 3)
    return sa.extract("epoch", later - earlier)


class SqlHealthProbe:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def readiness(self) -> Readiness:
        head = _head()
        try:
            current = current_revision(self.engine)
        except SQLAlchemyError as exc:
            return Readiness(False, None, head,
                             (f"the database cannot be reached ({type(exc).__name__})",))
        if current != head and is_newer(current):
            return Readiness(True, current, head, notes=(
                f"the database is at {current}, newer than this code ({head}): "
                "replace this replica with the new release",))
        if current != head:
            state = "has no tables yet" if current is None else f"is at {current}"
            return Readiness(True, current, head,
                             (f"the database {state}, the code at {head}: "
                              "run `conduct db upgrade`",))
        return Readiness(True, current, head)

    def figures(self, now: datetime) -> Figures:
        with self.engine.connect() as conn:
            return Figures(
                open_cases=self._open_cases(conn),
                oldest_untaken_age=self._oldest_untaken(conn, now),
                overdue=self._overdue(conn, now),
                time_to_take=self._histogram(conn, t.cases.c.taken_at, now),
                time_to_first_step=self._histogram(conn, t.cases.c.first_step_at, now),
                steps=self._steps(conn),
                platform_failures=self._failures(conn),
                timer_lag=self._timer_lag(conn, now),
                notices=self._notices(conn),
            )

    @staticmethod
    def _open_cases(conn: Connection) -> dict[str, int]:
        c = t.cases.c
        rows = conn.execute(sa.select(c.state, sa.func.count()).where(c.is_open)
                            .group_by(c.state))
        counts = {str(s): 0 for s in OPEN_STATES}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    @staticmethod
    def _oldest_untaken(conn: Connection, now: datetime) -> float:
        c = t.cases.c
        oldest = conn.execute(sa.select(c.opened_at).where(c.is_open, c.taken_by.is_(None))
                              .order_by(c.opened_at).limit(1)).scalar()
        return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0

    @staticmethod
    def _overdue(conn: Connection, now: datetime) -> int:
        c = t.cases.c
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.cases)
                                .where(c.is_open, t.case_due < now)).scalar_one())

    @staticmethod
    def _histogram(conn: Connection, at: Any, now: datetime) -> Histogram:
        secs = seconds_between(conn, at, t.cases.c.opened_at)
        columns = [sa.func.count(), sa.func.sum(secs)]
        columns += [sa.func.sum(sa.case((secs <= bound, 1), else_=0)) for bound in BUCKETS]
        row = conn.execute(sa.select(*columns).where(at.is_not(None), at >= now - WINDOW)).one()
        count = int(row[0])
        return Histogram(tuple((b, int(n or 0)) for b, n in zip(BUCKETS, row[2:], strict=True)),
                         count, max(0.0, float(row[1] or 0.0)))

    @staticmethod
    def _steps(conn: Connection) -> dict[tuple[str, str], int]:
        s = t.steps.c
        rows = conn.execute(sa.select(s.rung, s.status, sa.func.count())
                            .group_by(s.rung, s.status))
        return {(r[0], r[1]): int(r[2]) for r in rows}

    @staticmethod
    def _failures(conn: Connection) -> dict[tuple[str, str], int]:
        s, c = t.steps.c, t.cases.c
        rows = conn.execute(
            sa.select(c.subject_platform, s.detail, sa.func.count())
            .select_from(t.steps.join(t.cases, t.cases.c.id == s.case_id))
            .where(s.status == str(StepStatus.FAILED))
            .group_by(c.subject_platform, s.detail))
        out: Counter[tuple[str, str]] = Counter()
        for platform, detail, n in rows:
            out[(platform, error_code(detail))] += int(n)
        return dict(out)

    @staticmethod
    def _timer_lag(conn: Connection, now: datetime) -> float:
        m = t.timers.c
        due = conn.execute(sa.select(m.due_at).where(m.status == str(TimerStatus.PENDING),
                                                     m.due_at <= now)
                           .order_by(m.due_at).limit(1)).scalar()
        return max(0.0, (now - due).total_seconds()) if due is not None else 0.0

    @staticmethod
    def _notices(conn: Connection) -> dict[str, int]:
        n = t.notices.c
        wanted = (str(NoticeStatus.PENDING), str(NoticeStatus.FAILED))
        rows = conn.execute(sa.select(n.status, sa.func.count()).where(n.status.in_(wanted))
                            .group_by(n.status))
        counts = dict.fromkeys(wanted, 0)
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts
