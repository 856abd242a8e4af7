"""Intake keeps its promises in the report's own transaction: the reporter's thanks and the
admins' line are recorded with the report, so a process that stops right after filing loses
neither (a worker delivers them), and each is delivered once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.timers import TimerKind
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands as c
from conduct_desk.service import handlers
from conduct_desk.service import notices as outbox
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables

SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
REPORT = c.FileReport(subject=SAM, reporter=RILEY, source=Source.SLACK, channel="#general",
                      message_id="m1", message_text="hostile")


def _thanks(sandbox: SandboxPlatform) -> list[str]:
    return [call.text or "" for call in sandbox.to(RILEY)]


def _admin_lines(sandbox: SandboxPlatform) -> list[str]:
    return [call.text or "" for call in sandbox.calls if call.method == "notify_admins"]


def _notices(engine: Engine) -> list[tuple[str, str]]:
    n = tables.notices.c
    with engine.connect() as conn:
        return [(r.purpose, r.status) for r in conn.execute(sa.select(n.purpose, n.status)
                                                            .order_by(n.id))]


def test_a_process_that_stops_right_after_filing_still_thanks_the_reporter(
        app: App, engine: Engine, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    # the command's transaction commits; the process stops before the event is handled
    filed = handlers.file_report(REPORT, app.uow(), app.desk)
    assert _thanks(sandbox) == [] and _admin_lines(sandbox) == []
    assert _notices(engine) == [("acknowledgement", "pending"), ("admins", "pending")]

    clock.advance(outbox.LEASE + timedelta(seconds=1))  # another worker picks them up
    app.bus.handle(c.RunDueTimers("another-worker"))
    [thanks] = _thanks(sandbox)
    assert f"case {filed.case_id}" in thanks.lower()
    assert _admin_lines(sandbox) == [f"New case {filed.case_id} about sandbox:sam; 1 person hurt. Please take it."]
    assert _notices(engine) == [("acknowledgement", "sent"), ("admins", "sent")]

    clock.advance(outbox.LEASE * 3)
    app.bus.handle(c.RunDueTimers("another-worker"))
    assert len(_thanks(sandbox)) == 1 and len(_admin_lines(sandbox)) == 1  # once each


def test_a_report_thanks_once_and_leaves_no_safety_net_behind(
        app: App, engine: Engine, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    app.bus.handle(REPORT)
    assert len(_thanks(sandbox)) == 1 and len(_admin_lines(sandbox)) == 1
    assert _notices(engine) == [("acknowledgement", "sent"), ("admins", "sent")]
    with app.uow() as uow:
        waiting = [t for t in uow.timers.pending() if t.kind is TimerKind.DELIVER_NOTICE]
    assert waiting == []
    clock.advance(outbox.LEASE * 3)
    app.bus.handle(c.RunDueTimers("worker"))
    assert len(_thanks(sandbox)) == 1 and len(_admin_lines(sandbox)) == 1


def test_a_report_refused_while_filing_promises_nothing(
        app: App, engine: Engine, sandbox: SandboxPlatform) -> None:
    bad = c.FileReport(subject=SAM, reporter=SAM, source=Source.SLACK, channel="#general",
                       message_id="m2", message_text="hostile")
    with pytest.raises(InvalidInput):  # the reporter and the subject are the same person
        app.bus.handle(bad)
    assert _notices(engine) == [] and sandbox.calls == []


def test_a_relaxed_transaction_relaxes_only_itself(app: App, engine: Engine) -> None:
    def durability(conn: sa.Connection) -> str:
        if conn.dialect.name == "sqlite":
            return str(conn.exec_driver_sql("PRAGMA synchronous").scalar())
        return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())

    strict = "2" if engine.dialect.name == "sqlite" else "on"  # FULL; PostgreSQL's default
    relaxed = "1" if engine.dialect.name == "sqlite" else "off"  # NORMAL
    uow = app.uow()
    with uow.relaxed():
        assert durability(uow.cases.conn) == relaxed
        uow.commit()
    with uow:
        assert durability(uow.cases.conn) == strict
    with uow:  # and a failed one is undone as well
        assert durability(uow.cases.conn) == strict
    with pytest.raises(RuntimeError), uow.relaxed():
        raise RuntimeError("boom")
    with uow:
        assert durability(uow.cases.conn) == strict
