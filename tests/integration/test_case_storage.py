"""A case about a message is opened by one statement that first makes sure no case about the
message is open: it stores what ``add`` stores, and writes nothing when one is open."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from conduct_desk.domain.errors import Conflict
from conduct_desk.domain.model import Case, CaseState, Report, Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.storage import tables
from conduct_desk.storage.uow import SqlUnitOfWork

NOW = datetime(2026, 12, 3, 11, 0, 0, 123456, tzinfo=UTC)
SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")


def case_about(message_id: str, token: str, subject: PersonRef = SAM) -> Case:
    case = Case(subject=subject, opened_at=NOW, channel="#general", message_id=message_id,
                subject_token=token, take_due_at=NOW + timedelta(hours=1),
                step_due_at=NOW + timedelta(days=1))
    case.add_report(Report(subject=subject, reporter=RILEY, filed_at=NOW, source=Source.SLACK,
                           channel="#general", message_id=message_id, flagrant=True,
                           harmed=(RILEY,), status_token=f"r-{token}"))
    return case


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(tables.cases)
                                              .order_by(tables.cases.c.id)).mappings()]


def test_a_case_opened_unless_one_is_open_is_stored_as_add_stores_it(engine: Engine) -> None:
    with SqlUnitOfWork(engine) as uow:
        uow.cases.add(case_about("m1", "t1"))
        assert uow.cases.add_unless_open(case_about("m2", "t2"))
        uow.commit()
    first, second = rows(engine)
    differ = {"id", "message_id", "subject_token"}
    assert {k: v for k, v in first.items() if k not in differ} == \
        {k: v for k, v in second.items() if k not in differ}
    assert (second["message_id"], second["subject_token"]) == ("m2", "t2")
    assert second["opened_at"] == NOW and second["flagrant"] is True and second["is_open"] is True
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.cases.get(int(second["id"]))
    assert [r.status_token for r in loaded.reports] == ["r-t2"]


def test_no_case_is_opened_while_one_about_the_message_is_open(engine: Engine) -> None:
    with SqlUnitOfWork(engine) as uow:
        assert uow.cases.add_unless_open(case_about("m1", "t1"))
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert not uow.cases.add_unless_open(case_about("m1", "t2"))  # nothing written
        # another person's message of the same id: a case of its own
        assert uow.cases.add_unless_open(case_about("m1", "t3", subject=RILEY))
        uow.commit()
    assert [(r["subject_id"], r["subject_token"]) for r in rows(engine)] == [
        ("sam", "t1"), ("riley", "t3")]
    with SqlUnitOfWork(engine) as uow:  # once it is resolved, the next report opens a new one
        open_one = uow.cases.open_case_for_message(SAM, "#general", "m1")
        assert open_one is not None
        open_one.state, open_one.resolved_at = CaseState.RESOLVED, NOW
        uow.cases.save(open_one)
        assert uow.cases.add_unless_open(case_about("m1", "t4"))
        uow.commit()
    assert [r["subject_token"] for r in rows(engine)] == ["t1", "t3", "t4"]


def test_two_reports_opening_a_case_at_once_make_one_case(engine: Engine) -> None:
    outcome: list[object] = []
    with SqlUnitOfWork(engine) as first:
        assert first.cases.add_unless_open(case_about("m1", "t1"))

        def second() -> None:  # waits for the first (PostgreSQL: on the open-message index;
            # SQLite: for the one writer), then refuses or finds the case open
            try:
                with SqlUnitOfWork(engine) as uow:
                    outcome.append(uow.cases.add_unless_open(case_about("m1", "t2")))
                    uow.commit()
            except Conflict as exc:
                outcome.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # held by the first's uncommitted case
        first.commit()
    thread.join(30)
    # refused (file_report then tries again and joins it), or, had the second begun after the
    # commit, nothing written: never a second case
    assert len(outcome) == 1 and (outcome[0] is False or isinstance(outcome[0], Conflict))
    assert [r["subject_token"] for r in rows(engine)] == ["t1"]
