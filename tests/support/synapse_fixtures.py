"""pytest fixtures for a real Synapse homeserver.

Import the fixture into a ``conftest.py``::

    from tests.support.synapse_fixtures import synapse  # noqa: F401

``synapse_stock`` is a second homeserver with Synapse's stock rate limits for the bot under
test; it is module-scoped, so only the module that asks for it pays its start-up.

A module whose subject is the bot's behaviour on Synapse, not storage, runs on SQLite only
(the storage suite runs on PostgreSQL too): it imports ``db_url`` from here, which stands in
for the conftest's one parametrized over both::

    from tests.support.synapse_fixtures import db_url  # noqa: F401
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.synapse import SynapseServer, ensure_synapse_venv


@pytest.fixture
def db_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated, empty SQLite database (the conftest's ``db_url``, on SQLite only)."""
    path = tmp_path / "conduct.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def synapse() -> Iterator[SynapseServer]:
    """A started Synapse shared by the whole session; the venv is built on first use."""
    venv = ensure_synapse_venv()
    server = SynapseServer(venv=venv)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def synapse_stock() -> Iterator[SynapseServer]:
    """A Synapse with its stock rate limits for users registered ``rate_limited=True`` (the
    bot); everyone else the harness registers is exempt. One per module that asks for it."""
    venv = ensure_synapse_venv()
    server = SynapseServer(venv=venv, stock_rate_limits=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()
