"""The chat suite: the chat desk's behaviour, once, on the in-memory transport.

Storage is SQLite in memory (no file, no server): the behaviour under test is the chat
layer's; the storage suites cover SQLite files and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.pool import StaticPool
from tests.conftest import SECRET_KEY
from tests.support.chat import Chat, chat_desk

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage.db import upgrade


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool,
                              connect_args={"check_same_thread": False})
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine: sa.Engine, clock: FakeClock, sandbox: SandboxPlatform, policy: Policy) -> App:
    return bootstrap(Settings(database_url="sqlite://", secret_key=SecretStr(SECRET_KEY)),
                     engine=engine, policy=policy, clock=clock, platforms={"sandbox": sandbox})


@pytest.fixture
def chat(app: App, sandbox: SandboxPlatform) -> Chat:
    return chat_desk(app, sandbox)
