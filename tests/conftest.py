"""Fixtures shared by every tier.

``db_url`` runs a test on SQLite and, when ``CONDUCT_TEST_POSTGRES`` is set, on PostgreSQL
too (a fresh database per session, emptied between tests). ``app`` is the whole desk wired
with a fake clock and the sandbox platform.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings, preset_text
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine, upgrade

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
# seals anonymous reporters' ids, as a production desk's CONDUCT_SECRET_KEY does
SECRET_KEY = Fernet.generate_key().decode()


def postgres_admin_url() -> str | None:
    value = os.environ.get("CONDUCT_TEST_POSTGRES", "").strip()
    if not value or value.lower() in ("0", "false", "no"):
        return None
    return value if "://" in value else DEFAULT_PG


BACKENDS = ["sqlite"] + (["postgresql"] if postgres_admin_url() else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection closing folds the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.fail("PostgreSQL asked for without CONDUCT_TEST_POSTGRES")
    name = f"conduct_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()  # no idle connection is kept for the whole session (it reopens at the end)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite always, PostgreSQL when CONDUCT_TEST_POSTGRES is set."""
    if request.param == "sqlite":
        path = tmp_path / "conduct.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in reversed(tables.metadata.sorted_tables))
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox() -> SandboxPlatform:
    return SandboxPlatform()


@pytest.fixture
def policy() -> Policy:
    return parse_policy(preset_text("guide"), "preset guide")


@pytest.fixture
def app(engine: Engine, clock: FakeClock, sandbox: SandboxPlatform, policy: Policy) -> App:
    return bootstrap(Settings(database_url=str(engine.url), secret_key=SecretStr(SECRET_KEY)), engine=engine,
                     policy=policy, clock=clock, platforms={"sandbox": sandbox})


def count_rows(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
