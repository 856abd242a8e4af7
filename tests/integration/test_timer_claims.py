"""Claiming due timers: earliest first across pending and abandoned ones, each claim once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from conduct_desk.domain.timers import Timer, TimerKind, TimerStatus
from conduct_desk.storage.uow import SqlUnitOfWork

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def schedule(engine: Engine, *due: datetime) -> list[int]:
    with SqlUnitOfWork(engine) as uow:
        ids = [uow.timers.schedule(Timer(TimerKind.NOOP, at)) for at in due]
        uow.commit()
    return ids


def claim(engine: Engine, worker: str, limit: int, now: datetime = NOW) -> list[int]:
    with SqlUnitOfWork(engine) as uow:
        timers = uow.timers.claim_due(now, limit, worker, lease=LEASE)
        uow.commit()
    assert all(t.status is TimerStatus.RUNNING for t in timers)
    return [t.id for t in timers if t.id is not None]


def test_claims_the_earliest_due_and_skips_future_ones(engine: Engine) -> None:
    ids = schedule(engine, NOW - timedelta(minutes=1), NOW - timedelta(minutes=3), NOW,
                   NOW + timedelta(seconds=1), NOW - timedelta(minutes=3))
    assert claim(engine, "a", 2) == [ids[1], ids[4]]
    assert claim(engine, "b", 10) == [ids[0], ids[2]]
    assert claim(engine, "c", 10) == []


def test_an_abandoned_timer_is_claimed_again_in_due_order(engine: Engine) -> None:
    first, second = schedule(engine, NOW - timedelta(hours=1), NOW - timedelta(minutes=30))
    assert claim(engine, "dies", 1) == [first]
    later = schedule(engine, NOW - timedelta(minutes=40))[0]
    assert claim(engine, "other", 1) == [later]  # the first is still within its lease
    after = NOW + LEASE + timedelta(seconds=1)
    assert claim(engine, "other", 1, after) == [first]  # abandoned, and due before the rest
    # the other claim has lapsed as well: stale and pending come in due order together
    assert claim(engine, "other", 5, after) == [later, second]


def test_finished_timers_are_not_claimed(engine: Engine) -> None:
    ids = schedule(engine, NOW - timedelta(minutes=2), NOW - timedelta(minutes=1))
    assert claim(engine, "a", 1) == [ids[0]]
    with SqlUnitOfWork(engine) as uow:
        uow.timers.finish([ids[0]], TimerStatus.DONE)
        uow.commit()
    later = NOW + LEASE * 2
    assert claim(engine, "b", 5, later) == [ids[1]]
    assert claim(engine, "b", 5, later + LEASE * 2) == [ids[1]]  # b's claim lapsed too


def test_concurrent_claims_never_overlap(engine: Engine) -> None:
    ids = schedule(engine, *(NOW - timedelta(seconds=i) for i in range(30)))
    with SqlUnitOfWork(engine) as one:
        got_one = [t.id for t in one.timers.claim_due(NOW, 10, "one", lease=LEASE)]
        if engine.dialect.name == "postgresql":  # SQLite allows one writer at a time anyway
            with SqlUnitOfWork(engine) as two:
                got_two = [t.id for t in two.timers.claim_due(NOW, 10, "two", lease=LEASE)]
                two.commit()
            assert len(got_two) == 10 and not set(got_one) & set(got_two)
        one.commit()
    assert len(got_one) == 10 and set(got_one) <= set(ids)


def test_cancelling_steps_timers_by_their_cases_cancels_those_only(engine: Engine) -> None:
    deliver, noop = TimerKind.DELIVER_NOTICE, TimerKind.NOOP
    with SqlUnitOfWork(engine) as uow:
        ids = [uow.timers.schedule(Timer(kind, NOW, case_id, step_id)) for kind, case_id, step_id
               in ((deliver, 1, 10), (deliver, 1, 11), (deliver, 2, 12), (deliver, None, 13),
                   (noop, 1, 10))]
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        # the case index finds them; a step of another case, or of none, is left alone
        assert uow.timers.cancel_steps(deliver, [10, 12, 13], [1, 1]) == 1
        assert uow.timers.cancel_steps(deliver, [12, 13], [2, None]) == 2  # a case unknown: all
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert sorted(t.id for t in uow.timers.pending() if t.id is not None) == [ids[1], ids[4]]
