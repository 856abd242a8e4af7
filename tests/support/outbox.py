"""The outbox after a crash: a notice the platform took but the desk never recorded as sent."""

from __future__ import annotations

import sqlalchemy as sa

from conduct_desk.bootstrap import App
from conduct_desk.domain.notices import NoticeStatus
from conduct_desk.domain.timers import Timer, TimerKind
from conduct_desk.service import commands
from conduct_desk.storage import tables


def notice_ids(app: App, *texts: str) -> list[int]:
    """The ids of the notices with these texts, each recorded sent."""
    n = tables.notices.c
    with app.engine.connect() as conn:
        rows = conn.execute(sa.select(n.id, n.status).where(n.text.in_(texts))).all()
    assert len(rows) == len(texts) and {s for _, s in rows} == {str(NoticeStatus.SENT)}, rows
    return [i for i, _ in rows]


def as_after_a_kill(app: App, ids: list[int]) -> None:
    """What a worker killed between the platform's answer and the record leaves: the notices
    pending, their timers due."""
    n = tables.notices.c
    with app.engine.begin() as conn:
        conn.execute(sa.update(tables.notices).where(n.id.in_(ids)).values(
            status=str(NoticeStatus.PENDING), sent_at=None, due_at=None))
    with app.uow() as uow:
        uow.timers.schedule_all([Timer(TimerKind.DELIVER_NOTICE, app.desk.clock.now(), None, i)
                                 for i in ids])
        uow.commit()


def try_again_as_after_a_kill(app: App, ids: list[int]) -> None:
    """:func:`as_after_a_kill`, then a worker running those timers: each notice is tried
    once more and recorded sent."""
    as_after_a_kill(app, ids)
    app.bus.handle(commands.RunDueTimers(worker="after-the-kill"))
    n = tables.notices.c
    with app.engine.connect() as conn:
        statuses = set(conn.execute(sa.select(n.status).where(n.id.in_(ids))).scalars())
    assert statuses == {str(NoticeStatus.SENT)}, statuses
