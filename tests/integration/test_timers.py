"""Durable timers: due work runs after downtime, and several workers never run one timer twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from tests.support.accounts import add_admins

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.policy import Policy
from conduct_desk.domain.timers import Timer, TimerKind, TimerStatus
from conduct_desk.service import commands as c
from conduct_desk.service import handlers
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine

from .test_desk import SAM, file


@pytest.fixture(autouse=True)
def _admins(app: App) -> None:
    """The admins these tests name: the desk acts only for admins it knows."""
    add_admins(app, "ana", "bo")


@pytest.fixture
def recorded_noops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Make NOOP timers record their ids, from any thread."""
    ran: list[int] = []
    lock = threading.Lock()

    def record(timer: Timer, uow: object, desk: object) -> None:
        assert timer.id is not None
        with lock:
            ran.append(timer.id)

    monkeypatch.setitem(handlers.TIMER_HANDLERS, TimerKind.NOOP, record)
    yield ran


def schedule_noops(app: App, count: int, clock: FakeClock) -> None:
    with app.engine.begin() as conn:
        conn.execute(tables.timers.insert(), [
            {"kind": "noop", "due_at": clock.now() - timedelta(seconds=i % 600),
             "status": "pending", "attempts": 0} for i in range(count)])


def test_worker_catches_up_after_downtime(app: App, sandbox: object, clock: FakeClock) -> None:
    case_id = file(app, sandbox)  # type: ignore[arg-type]
    app.bus.handle(c.TakeStep(case_id, "suspend", "ana", reason="interim"))
    untaken = file(app, sandbox, message_id="m2")  # type: ignore[arg-type]
    clock.advance(timedelta(days=3))  # the worker was down: every deadline has passed
    # the suspension's end, and the untaken case's take and first-step deadlines
    assert app.bus.handle(c.RunDueTimers("w", limit=100)) == 3
    assert app.bus.handle(c.RunDueTimers("w", limit=100)) == 0
    with app.uow() as uow:  # only the backup page is still to come, an hour later
        assert [(t.kind, t.case_id) for t in uow.timers.pending()] == [(TimerKind.ESCALATION, untaken)]
    assert SAM not in sandbox.suspended  # type: ignore[attr-defined]


def test_a_claimed_timer_is_not_claimed_again_until_its_lease_ends(app: App, clock: FakeClock) -> None:
    schedule_noops(app, 3, clock)
    with app.uow() as uow:
        first = uow.timers.claim_due(clock.now(), 10, "a", lease=timedelta(minutes=5))
        uow.commit()
    assert len(first) == 3
    with app.uow() as uow:
        assert uow.timers.claim_due(clock.now(), 10, "b", lease=timedelta(minutes=5)) == []
        # the first worker died: after the lease another may take over
        again = uow.timers.claim_due(clock.now() + timedelta(minutes=6), 10, "b",
                                     lease=timedelta(minutes=5))
        uow.commit()
    assert sorted(t.id for t in again) == sorted(t.id for t in first)  # type: ignore[type-var]


def test_concurrent_workers_run_each_timer_once(
    app: App, policy: Policy, clock: FakeClock, recorded_noops: list[int], db_url: str
) -> None:
    total = 3000
    schedule_noops(app, total, clock)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        engine = create_engine(db_url)
        try:
            worker = bootstrap(Settings(database_url=db_url), engine=engine, policy=policy,
                               clock=clock, platforms={})
            for _ in range(10_000):  # bounded
                if worker.bus.handle(c.RunDueTimers(name, limit=50)) == 0:
                    break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    counts = Counter(recorded_noops)
    assert len(counts) == total
    assert max(counts.values()) == 1
    with app.engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(tables.timers.c.status, sa.func.count())
                                     .group_by(tables.timers.c.status)).all())
    assert statuses == {TimerStatus.DONE.value: total}
