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
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from conduct_desk.domain.errors import InvalidInput, NotMigrated, StorageUnavailable

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
        unavailable = storage_error(exc, engine.url)
        if unavailable is not None:
            raise unavailable from None
        raise NotMigrated(
            f"cannot open the database {engine.url.render_as_string(hide_password=True)} "
            f"({' '.join(str(exc.orig).split())}); check CONDUCT_DATABASE_URL"
        ) from None
    head = head_revision()
    if current != head:
        state = "has no tables yet" if current is None else f"is at {current}, the code at {head}"
        raise NotMigrated(
            f"the database {engine.url.render_as_string(hide_password=True)} {state}; "
            "run `conduct db upgrade` first"
        )


# what PostgreSQL (psycopg) says when the server went away, restarts or cannot be reached
_GONE = ("connection", "server closed", "terminating", "shutting down", "starting up",
         "could not connect", "no route", "timeout expired", "ssl syscall", "eof detected")


# a server that answers but refuses: a setting to fix, not a moment to wait
_REFUSED = ("authentication", "does not exist", "permission denied", "no password")


def storage_error(exc: BaseException, url: sa.URL) -> StorageUnavailable | None:
    """A database failure no retry inside this request can cure, in words that say what to do;
    None for any other error (a bug: it stays a bug). Nothing of the transaction is kept: the
    unit of work rolled it back (SQLite and PostgreSQL both keep a transaction whole). The
    message names the file or server for whoever runs the desk; ``problem``, for a web page
    anyone may see, names neither."""
    if not isinstance(exc, (OperationalError, InterfaceError)) and not (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return None
    text = str(getattr(exc, "orig", None) or exc).lower()
    later = "nothing was saved; please try again later"
    if url.get_backend_name() == "sqlite":
        path = url.database or "the database file"
        if "disk is full" in text or "disk i/o error" in text:
            return StorageUnavailable(
                f"the disk holding {path} is full (or failing); nothing was saved. Free some space "
                "there, then try again", problem=f"the desk's storage is full: {later}")
        if "readonly" in text or "read-only" in text:
            return StorageUnavailable(
                f"the database file {path} (or its folder) is read-only; nothing was saved. Make "
                "it writable for the user running the desk, then try again",
                problem=f"the desk cannot save anything right now: {later}")
        if "unable to open" in text:
            return StorageUnavailable(
                f"cannot open the database file {path}; check that its folder exists and is "
                "writable, or CONDUCT_DATABASE_URL",
                problem=f"the desk cannot reach its storage: {later}")
        if "locked" in text:
            return StorageUnavailable(
                "the database is busy (locked by another process); nothing was saved. Try again "
                "in a moment", problem=f"the desk is busy: {later}", transient=True)
        return None
    if not (isinstance(exc, DBAPIError) and exc.connection_invalidated) and not any(
            words in text for words in _GONE) or any(words in text for words in _REFUSED):
        return None
    return StorageUnavailable(
        f"the database {url.render_as_string(hide_password=True)} cannot be reached right now; "
        "nothing was saved. Try again in a moment",
        problem=f"the desk cannot reach its database right now: {later}", transient=True)
