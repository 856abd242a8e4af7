"""What a platform delivers again is handled once: a Matrix sync round replayed by the replica
that took the listener over, and a Synapse report read by two replicas at once."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from tests.conftest import count_rows
from tests.unit.test_matrix_transport import (
    ANA,
    LOBBY,
    MANAGEMENT,
    RILEY,
    SAM,
    FakeChat,
    FakePlatform,
    _config,
    _event,
    _react,
    _sync,
    _text,
)

from conduct_desk.bootstrap import App
from conduct_desk.domain.errors import AlreadyFiled
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.matrix import MatrixTransport
from conduct_desk.service import commands
from conduct_desk.service.chat.deliveries import Deliveries
from conduct_desk.service.chat.inputs import Reaction
from conduct_desk.storage import tables


def replica(app: App) -> MatrixTransport:
    """A replica's Matrix listener: fakes for the homeserver and the desk, the real database
    for what was taken in."""
    transport = MatrixTransport(FakePlatform(_config()))  # type: ignore[arg-type]
    transport.chat = FakeChat()  # type: ignore[assignment]
    transport.deliveries = Deliveries(app.uow, app.desk.clock, "matrix:@desk:example.org:event:")
    return transport


def test_a_sync_round_replayed_after_a_takeover_is_handled_once(app: App) -> None:
    """The holder handled a round and died before saving its read position: the replica
    that takes over syncs from the old position and gets the same events again."""
    round_ = [_event(ANA, "m.room.message", _text("!coc take 1"), "$cmd"),
              _event(RILEY, "m.reaction", _react("🕊️"), "$nudge")]
    dead, heir = replica(app), replica(app)
    assert len(_sync(dead, MANAGEMENT, round_[0])) == 1
    assert len(_sync(dead, LOBBY, round_[1])) == 1
    assert _sync(heir, MANAGEMENT, round_[0]) == []
    assert _sync(heir, LOBBY, round_[1]) == []
    newer = _event(ANA, "m.room.message", _text("!coc list"), "$later")
    assert len(_sync(heir, MANAGEMENT, newer)) == 1  # what is new is still handled


def test_a_report_reaction_cut_short_by_a_crash_is_filed_when_replayed(app: App) -> None:
    """A report reaction is claimed in the transaction that files its report, not before:
    the holder died after reading it and before filing, so the heir files it (once)."""
    flag = _event(RILEY, "m.reaction", _react("🚩"), "$flag")
    dead, heir = replica(app), replica(app)
    (taken,) = _sync(dead, LOBBY, flag)  # read, never filed: the replica died here
    assert isinstance(taken, Reaction) and taken.mark is not None
    (again,) = _sync(heir, LOBBY, flag)
    assert again.mark is not None and again.mark[0] == taken.mark[0]
    filing = commands.FileReport(subject=PersonRef("matrix", SAM),
                                 reporter=PersonRef("matrix", RILEY), source=Source.MATRIX,
                                 channel=LOBBY, message_id="$said", mark=again.mark)
    app.bus.handle(filing)
    with pytest.raises(AlreadyFiled):  # a later replay files nothing more
        app.bus.handle(filing)


def test_a_synapse_report_read_twice_is_filed_once(app: App, engine: Engine) -> None:
    report = commands.FileReport(subject=PersonRef("matrix", SAM),
                                 reporter=PersonRef("matrix", RILEY), source=Source.MATRIX,
                                 channel=LOBBY, message_id="$said", note="this hurt",
                                 mark=("matrix:@desk:example.org:event_reports:7", "filed"))
    app.bus.handle(report)
    with pytest.raises(AlreadyFiled):  # e.g. a replica that polled at the same moment
        app.bus.handle(report)
    assert count_rows(engine, tables.cases) == 1 and count_rows(engine, tables.reports) == 1
