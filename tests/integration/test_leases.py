"""Listener leases: one replica runs each listener; a dead holder's lease is taken over once it
runs out, and a replica that lost its lease stops that listener at its next renewal (the
epoch fences it). On SQLite and, with CONDUCT_TEST_POSTGRES, on PostgreSQL; a fake clock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import DeskError
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.leases import (
    RENEW_EVERY,
    TTL,
    Leaseholder,
    LeaseKeeper,
    Listener,
    ListenersElsewhere,
)
from conduct_desk.storage.leases import SqlLeases
from conduct_desk.web.app import create_app

NAME = "listener:matrix"


class Recorded:
    """A listener that records whether it runs."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0
        self.fail: Exception | None = None

    def start(self) -> None:
        if self.fail is not None:
            raise self.fail
        self.running = True
        self.starts += 1

    def stop(self) -> None:
        self.running = False


def replica(engine: Engine, clock: FakeClock, holder: str,
            gone: set[str] | None = None) -> tuple[LeaseKeeper, Recorded]:
    listener = Recorded()
    keeper = LeaseKeeper(SqlLeases(engine), clock, holder,
                         Listener(NAME, listener.start, listener.stop),
                         gone=(lambda h: h in gone) if gone is not None else None)
    return keeper, listener


def test_the_first_replica_takes_the_lease_and_the_second_waits(engine: Engine,
                                                                clock: FakeClock) -> None:
    a, la = replica(engine, clock, "a")
    b, lb = replica(engine, clock, "b")
    held = a.tick()
    assert held is not None and held.epoch == 1 and la.running
    assert b.tick() is None and not lb.running
    for _ in range(20):  # a keeps renewing: b never gets it
        clock.advance(RENEW_EVERY)
        assert a.tick() is not None and b.tick() is None
    assert la.running and not lb.running and la.starts == 1


def test_a_dead_holders_lease_is_taken_over_once_it_runs_out(engine: Engine,
                                                             clock: FakeClock) -> None:
    a, la = replica(engine, clock, "a")
    b, lb = replica(engine, clock, "b")
    a.tick()
    # a is killed: it renews no more
    clock.advance(TTL - timedelta(seconds=1))
    assert b.tick() is None and not lb.running
    clock.advance(timedelta(seconds=1))
    taken = b.tick()
    assert taken is not None and taken.epoch == 2 and lb.running
    assert a.held is None  # a's own view: its time ran out


def test_a_replica_that_lost_its_lease_stops_its_listener_at_the_next_renewal(
        engine: Engine, clock: FakeClock) -> None:
    a, la = replica(engine, clock, "a")
    b, lb = replica(engine, clock, "b")
    a.tick()
    clock.advance(TTL)  # a was paused longer than the lease lives
    b.tick()
    assert la.running and lb.running  # until a wakes up…
    assert a.tick() is None  # …its renewal at the old epoch is refused: fenced
    assert not la.running and lb.running
    assert a.tick() is None and not la.running  # and it does not take it back


def test_a_late_renewal_nobody_overtook_keeps_the_lease(engine: Engine,
                                                        clock: FakeClock) -> None:
    a, la = replica(engine, clock, "a")
    first = a.tick()
    clock.advance(TTL * 2)  # e.g. a slow start; no other replica took the lease meanwhile
    renewed = a.tick()
    assert renewed is not None and first is not None and renewed.epoch == first.epoch
    assert la.running and la.starts == 1


def test_a_renewal_that_fails_stops_the_listener(engine: Engine, clock: FakeClock) -> None:
    a, la = replica(engine, clock, "a")
    a.tick()

    def broken(*_: object) -> None:
        raise OSError("the database went away")

    a.leases.renew = broken  # type: ignore[method-assign]
    assert a.tick() is None and not la.running


def test_release_lets_another_replica_take_over_at_once(engine: Engine,
                                                        clock: FakeClock) -> None:
    a, la = replica(engine, clock, "a")
    b, lb = replica(engine, clock, "b")
    a.tick()
    a.release()
    assert not la.running
    taken = b.tick()
    assert taken is not None and taken.epoch == 2 and lb.running


def test_a_holder_known_to_have_died_is_taken_over_at_once(engine: Engine,
                                                           clock: FakeClock) -> None:
    a, _ = replica(engine, clock, "a")
    a.tick()
    b, lb = replica(engine, clock, "b", gone={"a"})
    assert b.tick() is not None and lb.running


def test_two_replicas_racing_for_a_free_lease_one_wins(engine: Engine, clock: FakeClock) -> None:
    replicas = [replica(engine, clock, f"r{i}") for i in range(4)]
    barrier = threading.Barrier(len(replicas))
    results: list[object] = []

    def race(keeper: LeaseKeeper) -> None:
        barrier.wait()
        results.append(keeper.tick())

    threads = [threading.Thread(target=race, args=(k,)) for k, _ in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert sum(listener.running for _, listener in replicas) == 1


def test_a_listener_that_cannot_start_lets_the_lease_go(engine: Engine, clock: FakeClock) -> None:
    a, la = replica(engine, clock, "a")
    la.fail = DeskError("the homeserver refused the token")
    with pytest.raises(DeskError):
        a.tick()
    b, lb = replica(engine, clock, "b")
    assert b.tick() is not None and lb.running


def test_on_a_single_process_database_a_second_serve_is_refused_in_one_line(
        engine: Engine, clock: FakeClock) -> None:
    a, la = replica(engine, clock, "host/ns/1/aa")
    b, lb = replica(engine, clock, "host/ns/2/bb")
    Leaseholder([a], single_process=True).first_round()
    with pytest.raises(ListenersElsewhere) as refused:
        Leaseholder([b], single_process=True).first_round()
    said = str(refused.value)
    assert "\n" not in said and "matrix listener already runs" in said
    assert "host/ns/1/aa" in said and "PostgreSQL" in said and "stop that one" in said
    assert la.running and not lb.running


def test_readyz_lists_the_leases_this_replica_holds(app: App, engine: Engine,
                                                   clock: FakeClock) -> None:
    mine, listener = replica(engine, clock, "this")
    theirs, _ = replica(engine, clock, "other")
    other = LeaseKeeper(SqlLeases(engine), clock, "this", Listener(
        "listener:slack", listener.start, listener.stop))
    theirs_slack = LeaseKeeper(SqlLeases(engine), clock, "other", Listener(
        "listener:slack", listener.start, listener.stop))
    theirs_slack.tick()  # the other replica listens to Slack
    app.leaseholder = Leaseholder([mine, other])
    app.leaseholder.first_round()
    client = TestClient(create_app(app))
    leases = client.get("/readyz").json()["leases"]
    assert leases == [{"name": NAME, "epoch": 1,
                       "expires_at": (clock.now() + TTL).isoformat()}]
    clock.advance(TTL)  # not renewed in time: this replica no longer counts on it
    assert client.get("/readyz").json()["leases"] == []
    assert theirs.tick() is not None
