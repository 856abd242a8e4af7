"""Property: whoever reports, nothing the subject can see names them.

Generated cases (reporter names, other people hurt, anonymity, flagrant, the message) are
walked through every rung of both presets; every reply in the channel and every private
message to the subject is checked for every reporter's id.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.accounts import add_admins

from conduct_desk.bootstrap import bootstrap
from conduct_desk.config import Settings, preset_text
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import parse_policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands as c
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage.db import create_engine

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=4, max_size=12).map(
    lambda s: f"rep_{s}")
words = st.lists(st.sampled_from(["you", "are", "wrong", "code", "this", "never", "again", "people"]),
                 min_size=1, max_size=8).map(" ".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reporters=st.lists(names, min_size=1, max_size=3, unique=True),
       anonymous=st.booleans(), flagrant=st.booleans(), message=words,
       preset=st.sampled_from(["guide", "contributor-covenant-2.1"]))
def test_subject_never_learns_who_reported(sqlite_template: Path, reporters: list[str], anonymous: bool,
                                           flagrant: bool, message: str, preset: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.db"
        shutil.copy(sqlite_template, path)
        engine = create_engine(f"sqlite:///{path}")
        sandbox, clock = SandboxPlatform(), FakeClock()
        policy = parse_policy(preset_text(preset), preset)
        app = bootstrap(Settings(), engine=engine, policy=policy, clock=clock,
                        platforms={"sandbox": sandbox})
        add_admins(app, "admin")
        subject = PersonRef("sandbox", "subject_person")
        people = [PersonRef("sandbox", r) for r in reporters]
        case_id = 0
        for i, reporter in enumerate(people):
            case_id = app.bus.handle(c.FileReport(
                subject=subject, reporter=reporter, anonymous=anonymous and i == 0,
                source=Source.CLI, channel="#room", message_id="m", message_text=message,
                harmed=tuple(people[:i]), flagrant=flagrant)).case_id
        app.bus.handle(c.Nudge(subject, people[0], Source.CLI, "#room", "other", message))
        for rung in policy.ladder:
            if rung.action.value == "ban":
                app.bus.handle(c.Consult(case_id, "admin", "talked", people[0]))
            app.bus.handle(c.TakeStep(case_id, rung.name, "admin", reason="walking every rung"))
            clock.advance(timedelta(days=100))
            app.bus.handle(c.RunDueTimers("w"))
        engine.dispose()
    seen_by_subject = [call.text or "" for call in sandbox.calls
                       if call.person == subject or call.method == "post_reply"]
    assert len(seen_by_subject) >= len(policy.ladder)
    for text in seen_by_subject:
        for name in reporters:
            assert name not in text
