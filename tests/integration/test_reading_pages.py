"""Pages that only read open no transaction: on SQLite the queue and a case page are served
while a report is being filed (they take no write lock), and such a read may not write."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.support.web import file_case

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import views
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage.db import create_engine


@pytest.fixture
def sqlite_app(sqlite_template: Any, tmp_path: Any, clock: FakeClock,
               policy: Policy) -> Any:
    """An app on its own SQLite file (this is about SQLite's write lock) that gives up
    waiting for a lock after 0.2 s instead of 30."""
    path = tmp_path / "reading.db"
    path.write_bytes(sqlite_template.read_bytes())
    engine = create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def impatient(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    app = bootstrap(Settings(database_url=str(engine.url)), engine=engine, policy=policy,
                    clock=clock, platforms={"sandbox": SandboxPlatform()})
    yield app, path
    engine.dispose()


def test_the_queue_and_a_case_page_are_read_while_a_report_is_being_filed(
        sqlite_app: tuple[App, Any], clock: FakeClock) -> None:
    app, path = sqlite_app
    case_id = file_case(app)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process is filing a report right now
    try:
        page = views.queue_page(app.uow(), clock.now(), 1, 50)
        detail = views.case_detail(app.uow(), app.desk, case_id)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert [i.summary.id for i in page.items] == [case_id] and page.total == 1
    assert detail.case.id == case_id


def test_a_reading_unit_of_work_cannot_write(app: App, engine: Engine) -> None:
    file_case(app)
    uow = app.uow()
    with pytest.raises(RuntimeError, match="writes nothing"), uow.reading():
        uow.cases.get(1)
        uow.commit()
    with uow:  # the next one is an ordinary transaction again
        uow.commit()
