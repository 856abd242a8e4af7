from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from tests.support.matrix_world import World
from tests.support.synapse import SynapseServer
from tests.support.synapse_fixtures import synapse  # noqa: F401
from tests.support.web import people  # noqa: F401


@pytest.fixture
def world(synapse: SynapseServer, engine: Engine) -> Iterator[World]:  # noqa: F811
    """Fresh users and rooms on the session's Synapse; the bots it started are stopped after.

    It asks for ``engine`` so that it is torn down first: the bots write to that database
    until they stop, and a bot still running after the engine is disposed would open new
    connections that nobody closes.
    """
    w = World.build(synapse)
    yield w
    w.stop()
