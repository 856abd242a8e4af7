"""Under `conduct serve` intake's notices are tried on the deliverer's thread, after the caller
has its answer: each is still delivered once, and none is lost when the process stops first
(the outbox's timers deliver it) or the thread cannot reach the database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from conduct_desk.bootstrap import App, bootstrap, start_deliverer, stop_deliverer
from conduct_desk.domain.errors import StorageUnavailable
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.timers import TimerKind
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands as c
from conduct_desk.service import notices as outbox
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.deliverer import Deliverer
from conduct_desk.service.ports import Effect, UnitOfWork
from conduct_desk.storage import tables

SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
WAIT = 30.0  # seconds a test waits for the thread at most (it takes milliseconds)


def report(n: int) -> c.FileReport:
    return c.FileReport(subject=SAM, reporter=RILEY, source=Source.SLACK, channel="#general",
                        message_id=f"m{n}", message_text="hostile")


def thanks(sandbox: SandboxPlatform) -> int:
    return len(sandbox.to(RILEY))


def admin_lines(sandbox: SandboxPlatform) -> int:
    return sum(call.method == "notify_admins" for call in sandbox.calls)


def statuses(engine: Engine) -> list[str]:
    n = tables.notices.c
    with engine.connect() as conn:
        return list(conn.execute(sa.select(n.status).order_by(n.id)).scalars())


def safety_nets(app: App) -> int:
    with app.uow() as uow:
        return sum(t.kind is TimerKind.DELIVER_NOTICE for t in uow.timers.pending())


class GatedSandbox(SandboxPlatform):
    """A sandbox whose private messages wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def send_dm(self, person: PersonRef, text: str, key: str | None = None,
                again: bool = False) -> Effect:
        assert self.gate.wait(WAIT)
        return super().send_dm(person, text, key=key, again=again)


@pytest.fixture
def gated(engine: Engine, clock: FakeClock, app: App) -> tuple[App, GatedSandbox]:
    sandbox = GatedSandbox()
    served = bootstrap(app.settings, engine=engine, policy=app.desk.policy, clock=clock,
                       platforms={"sandbox": sandbox})
    return served, sandbox


def test_under_serve_the_answer_comes_first_and_the_thanks_once(
        gated: tuple[App, GatedSandbox], engine: Engine, clock: FakeClock) -> None:
    app, sandbox = gated
    deliverer = start_deliverer(app)
    try:
        filed = app.bus.handle(report(1))  # answered while the platform still holds the DM
        assert filed.opened_case and thanks(sandbox) == 0
        assert statuses(engine) == ["pending", "pending"]  # kept with the report
        sandbox.gate.set()
        assert deliverer.wait_idle(WAIT)
        assert thanks(sandbox) == 1 and admin_lines(sandbox) == 1
        assert statuses(engine) == ["sent", "sent"] and safety_nets(app) == 0
        clock.advance(outbox.LEASE * 3)  # the safety nets are gone: nothing is sent again
        app.bus.handle(c.RunDueTimers("worker"))
        assert thanks(sandbox) == 1 and admin_lines(sandbox) == 1
    finally:
        sandbox.gate.set()
        stop_deliverer(app)


def test_a_process_killed_before_its_deliverer_got_to_the_thanks_still_thanks_once(
        app: App, engine: Engine, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    # a deliverer whose thread never runs: its queue is lost, as in a process killed now
    app.desk.deliverer = Deliverer(app.uow, app.desk)
    for n in range(3):
        app.bus.handle(report(n))
    assert thanks(sandbox) == 0 and statuses(engine) == ["pending"] * 6

    # another process on the same database: its timer worker delivers them, once
    after = bootstrap(app.settings, engine=engine, policy=app.desk.policy, clock=clock,
                      platforms={"sandbox": sandbox})
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    after.bus.handle(c.RunDueTimers("after-the-kill"))
    assert thanks(sandbox) == 3 and admin_lines(sandbox) == 3
    assert statuses(engine) == ["sent"] * 6
    clock.advance(outbox.LEASE * 3)
    after.bus.handle(c.RunDueTimers("after-the-kill"))
    assert thanks(sandbox) == 3 and admin_lines(sandbox) == 3


def test_a_notice_that_waited_half_a_lease_is_left_to_its_timer(
        app: App, engine: Engine, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    deliverer = Deliverer(app.uow, app.desk)
    app.desk.deliverer = deliverer
    app.bus.handle(report(1))
    clock.advance(outbox.LEASE / 2)  # a long queue: a worker may take them any moment now
    deliverer.start()
    try:
        assert deliverer.wait_idle(WAIT)
        assert thanks(sandbox) == 0 and statuses(engine) == ["pending", "pending"]
        clock.advance(outbox.LEASE / 2 + timedelta(seconds=1))
        app.bus.handle(c.RunDueTimers("worker"))
        assert thanks(sandbox) == 1 and admin_lines(sandbox) == 1
    finally:
        assert deliverer.stop(WAIT)


def test_a_deliverer_that_cannot_reach_the_database_loses_nothing_and_goes_on(
        app: App, engine: Engine, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    down = [True]

    def uow_factory() -> UnitOfWork:
        if down.pop() if down else False:
            raise StorageUnavailable("the database is away")
        return app.uow()

    deliverer = Deliverer(uow_factory, app.desk).start()
    app.desk.deliverer = deliverer
    try:
        app.bus.handle(report(1))
        assert deliverer.wait_idle(WAIT)
        assert thanks(sandbox) == 0  # not tried: kept for the timer
        app.bus.handle(report(2))  # the thread goes on
        assert deliverer.wait_idle(WAIT)
        assert thanks(sandbox) == 1
        clock.advance(outbox.LEASE + timedelta(seconds=1))
        app.bus.handle(c.RunDueTimers("worker"))
        assert thanks(sandbox) == 2 and admin_lines(sandbox) == 2
        assert statuses(engine) == ["sent"] * 4 and safety_nets(app) == 0
    finally:
        assert deliverer.stop(WAIT)


def test_stopping_tries_what_is_queued_and_later_reports_are_thanked_at_once(
        gated: tuple[App, GatedSandbox], engine: Engine) -> None:
    app, sandbox = gated
    start_deliverer(app)
    for n in range(5):
        app.bus.handle(report(n))
    sandbox.gate.set()
    stop_deliverer(app)
    assert thanks(sandbox) == 5 and admin_lines(sandbox) == 5
    assert app.deliverer is None and app.desk.deliverer is None
    app.bus.handle(report(6))  # no deliverer: thanked before the answer, as before
    assert thanks(sandbox) == 6 and statuses(engine) == ["sent"] * 12


def test_notices_waiting_together_are_recorded_in_one_transaction(
        app: App, engine: Engine, sandbox: SandboxPlatform) -> None:
    opened: list[UnitOfWork] = []

    def uow_factory() -> UnitOfWork:
        opened.append(app.uow())
        return opened[-1]

    deliverer = Deliverer(uow_factory, app.desk)
    app.desk.deliverer = deliverer
    for n in range(4):  # a burst, queued before the thread gets to it
        app.bus.handle(report(n))
    deliverer.start()
    try:
        assert deliverer.wait_idle(WAIT)
        assert thanks(sandbox) == 4 and admin_lines(sandbox) == 4
        assert statuses(engine) == ["sent"] * 8 and safety_nets(app) == 0
        assert len(opened) == 1
    finally:
        assert deliverer.stop(WAIT)
