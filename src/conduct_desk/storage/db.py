"""Engines and migrations. SQLite gets WAL, a busy timeout and write-locking transactions."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from conduct_desk.domain.errors import InvalidInput, NotMigrated

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; a bare ``postgresql://`` uses psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(
            f"CONDUCT_DATABASE_URL {url!r} is not a database URL; use e.g. sqlite:///conduct.db "
            "or postgresql://user@127.0.0.1:5432/conduct"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **kwargs)


def _sqlite_pragmas(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed report survives a power cut (NORMAL could lose the last ones)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # a reading unit of work: each statement reads on its own, taking no lock
        # take the write lock up front: no deadlock when a read turns into a write
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; safe to run again."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def check_migrated(engine: Engine) -> None:
    """Refuse to run on a schema older than the code, with the command that fixes it."""
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise NotMigrated(
            f"cannot open the database {engine.url.render_as_string(hide_password=True)} "
            f"({exc.orig}); check CONDUCT_DATABASE_URL"
        ) from None
    head = head_revision()
    if current != head:
        state = "has no tables yet" if current is None else f"is at {current}, the code at {head}"
        raise NotMigrated(
            f"the database {engine.url.render_as_string(hide_password=True)} {state}; "
            "run `conduct db upgrade` first"
        )
