"""Engines and migrations. SQLite gets WAL, a busy timeout and write-locking transactions."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    InterfaceError,
    OperationalError,
)

from conduct_desk.domain.errors import InvalidInput, NotMigrated, StorageUnavailable

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; a bare ``postgresql://`` uses psycopg 3."""
    example = "use e.g. sqlite:///conduct.db or postgresql://user@127.0.0.1:5432/conduct"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        shown = re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)  # never the password (to its last @)
        raise InvalidInput(f"CONDUCT_DATABASE_URL {shown!r} is not a database URL; {example}") \
            from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInput(f"CONDUCT_DATABASE_URL {shown}: the desk keeps its data in SQLite or "
                           f"PostgreSQL only; {example}")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise InvalidInput(f"CONDUCT_DATABASE_URL {shown}: port {parsed.port} is not a port "
                           "number (1 to 65535); PostgreSQL listens on 5432 unless set otherwise")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise InvalidInput(f"CONDUCT_DATABASE_URL {shown} names no file, so nothing would be "
                           "kept; give a file path, e.g. sqlite:///conduct.db")
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


def _is_desk_database(path: Path) -> bool:
    """The file holds the desk's migrations table: read only, so no writer waits for it."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return False
    try:
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                             "name = 'alembic_version'").fetchone()
    except sqlite3.Error:  # not a database at all
        return False
    finally:
        conn.close()
    return found is not None


def backup(engine: Engine, target: Path, *, overwrite: bool = False) -> int:
    """Copy a SQLite database to ``target`` while the desk runs (SQLite's online backup:
    a consistent copy, writers wait only for each short page batch). Returns the pages
    copied. PostgreSQL has its own tool; the error says which."""
    if engine.dialect.name != "sqlite":
        raise InvalidInput(
            "`conduct db backup` copies a SQLite database; for PostgreSQL use "
            f"pg_dump, e.g. pg_dump -Fc -f conduct.dump '{engine.url.database}'")
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise InvalidInput("the database is in memory: there is nothing on disk to back up")
    if not Path(source_path).is_file():  # looked at before a connection would make it
        raise InvalidInput(f"there is no database file {source_path}: nothing to back up; "
                           "check CONDUCT_DATABASE_URL")
    if not _is_desk_database(Path(source_path)):
        raise InvalidInput(f"{source_path} is not the desk's database (it has no tables of "
                           "ours): nothing to back up; check CONDUCT_DATABASE_URL")
    target = target.expanduser()
    if target.resolve() == Path(source_path).resolve():
        raise InvalidInput(f"{target} is the database itself: give another file name")
    if target.exists() and not overwrite:
        raise InvalidInput(f"{target} already exists: give a new file name, or add --overwrite")
    if not target.parent.is_dir():
        raise InvalidInput(f"the folder {target.parent} does not exist: create it first")
    partial = target.with_name(target.name + ".partial")
    pages = 0

    def progress(_status: int, _remaining: int, total: int) -> None:
        nonlocal pages
        pages = total

    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest, pages=256, progress=progress)  # type: ignore[union-attr]
            (check,) = dest.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                raise InvalidInput(f"the copy failed SQLite's integrity check ({check}); "
                                   "the database itself was not changed")
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dest.close()
        partial.replace(target)  # a backup is there whole, or not at all
    except sqlite3.Error as exc:
        raise InvalidInput(f"cannot write the backup to {target} ({exc}); "
                           "check the disk has room and the folder is writable") from None
    finally:
        raw.close()
        partial.unlink(missing_ok=True)
    return pages


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


def is_newer(revision: str | None) -> bool:
    """The schema is at a revision this code does not know: a newer release migrated it.

    Migrations only add (tables, columns, indexes; a column is dropped only in a release after
    the one that stopped using it), so this code still runs on it: during a rolling upgrade
    the replicas not yet replaced keep serving."""
    if revision is None:
        return False
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is None
    except CommandError:
        return True


def check_migrated(engine: Engine) -> None:
    """Refuse to run on a schema older than the code, with the command that fixes it."""
    try:
        current = current_revision(engine)
    except DatabaseError as exc:  # OperationalError, or a file that is not a database
        unavailable = storage_error(exc, engine.url)
        if unavailable is not None:
            raise unavailable from None
        raise NotMigrated(
            f"cannot open the database {engine.url.render_as_string(hide_password=True)} "
            f"({' '.join(str(exc.orig).split())}); check CONDUCT_DATABASE_URL"
        ) from None
    head = head_revision()
    if current != head and is_newer(current):
        logger.warning("the database is at %s, newer than this code (%s): finish the upgrade "
                       "of every replica", current, head)
    elif current != head:
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
    text = str(getattr(exc, "orig", None) or exc).lower()
    if isinstance(exc, DatabaseError) and "file is not a database" in text:
        return StorageUnavailable(
            f"{url.database} is not a SQLite database (another kind of file); check "
            "CONDUCT_DATABASE_URL", problem="the desk cannot read its storage: nothing was saved")
    if not isinstance(exc, (OperationalError, InterfaceError)) and not (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return None
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
