"""The raw figures of a transparency report, each from one aggregate query over a period."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from conduct_desk.domain.model import COUNTING, DECISION_NOTES, NoteKind
from conduct_desk.domain.transparency import Figures, Period
from conduct_desk.storage import tables as t
from conduct_desk.storage.health import seconds_between


class SqlTransparency:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def figures(self, period: Period, now: datetime) -> Figures:
        """What happened in ``period``; deadlines still running at ``now`` are not missed."""
        c = t.cases.c
        opened = sa.and_(c.opened_at >= period.start, c.opened_at < period.end)
        with self.engine.connect() as conn:
            return Figures(
                reports=self._count(conn, t.reports, sa.and_(
                    t.reports.c.filed_at >= period.start, t.reports.c.filed_at < period.end)),
                cases_opened=self._count(conn, t.cases, opened),
                outcomes=self._by(conn, c.outcome, t.cases, sa.and_(
                    c.resolved_at >= period.start, c.resolved_at < period.end,
                    c.outcome.is_not(None))),
                steps=self._by(conn, t.steps.c.rung, t.steps, sa.and_(
                    t.steps.c.recorded_at >= period.start, t.steps.c.recorded_at < period.end,
                    t.steps.c.status.in_([str(s) for s in COUNTING]))),
                to_take=self._spans(conn, c.taken_at, period),
                to_first_step=self._spans(conn, c.first_step_at, period),
                appeals=self._appeals(conn, period),
                missed_take=self._missed(conn, opened, c.taken_at, c.take_due_at, now),
                missed_first_step=self._missed(conn, opened, c.first_step_at, c.step_due_at, now),
            )

    @staticmethod
    def _count(conn: Connection, table: sa.Table, where: Any) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where))
                   .scalar_one())

    @staticmethod
    def _by(conn: Connection, column: Any, table: sa.Table, where: Any) -> dict[str, int]:
        rows = conn.execute(sa.select(column, sa.func.count()).select_from(table).where(where)
                            .group_by(column))
        return {str(k): int(n) for k, n in rows}

    @staticmethod
    def _spans(conn: Connection, at: Any, period: Period) -> list[float]:
        secs = seconds_between(conn, at, t.cases.c.opened_at)
        rows = conn.execute(sa.select(secs).where(at >= period.start, at < period.end))
        return [max(0.0, float(s)) for (s,) in rows if s is not None]

    @staticmethod
    def _appeals(conn: Connection, period: Period) -> dict[str, int]:
        """Appeals decided in the period, by decision; and those made in it still waiting."""
        n, c = t.notes.c, t.cases.c
        decisions = {str(k): str(k).removeprefix("appeal-") for k in DECISION_NOTES.values()}
        rows = conn.execute(sa.select(n.kind, sa.func.count()).where(
            n.kind.in_(sorted(decisions)), n.at >= period.start, n.at < period.end)
            .group_by(n.kind))
        out = dict.fromkeys(decisions.values(), 0)
        out.update({decisions[k]: int(v) for k, v in rows})
        waiting = sa.select(n.case_id).where(n.kind == str(NoteKind.APPEAL), n.at >= period.start,
                                             n.at < period.end)
        out["not decided yet"] = int(conn.execute(
            sa.select(sa.func.count()).select_from(t.cases)
            .where(c.appeal_due_at.is_not(None), c.id.in_(waiting))).scalar_one())
        return out

    @staticmethod
    def _missed(conn: Connection, opened: Any, done_at: Any, due_at: Any, now: datetime) -> int:
        late = sa.or_(done_at > due_at, sa.and_(done_at.is_(None), due_at < now))
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.cases)
                                .where(opened, due_at.is_not(None), late)).scalar_one())
