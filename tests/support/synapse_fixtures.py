"""pytest fixtures for a real Synapse homeserver.

Import the fixture into a ``conftest.py``::

    from tests.support.synapse_fixtures import synapse  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.synapse import SynapseServer, ensure_synapse_venv


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
