"""The desk end to end through the bus, on SQLite and (with CONDUCT_TEST_POSTGRES) PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from tests.conftest import count_rows
from tests.support.accounts import add_admins
from tests.support.web import sign_in

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import (
    ConfidentialityError,
    ConsultationNeeded,
    IllegalTransition,
    InvalidInput,
    NotFound,
    Recused,
)
from conduct_desk.domain.model import CaseState, Source, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands as c
from conduct_desk.service import views
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import Capability
from conduct_desk.storage import tables


@pytest.fixture(autouse=True)
def _admins(app: App) -> None:
    """The admins these tests name: the desk acts only for admins it knows."""
    add_admins(app, "ana", "bo", "cy")

SAM, RILEY, JO = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley"), PersonRef("sandbox", "jo")


def file(app: App, sandbox: SandboxPlatform, **kw: object) -> int:
    sandbox.add_message("#general", "m1", "People like you shouldn't be writing code.", SAM)
    args: dict[str, object] = {"subject": SAM, "reporter": RILEY, "source": Source.CLI,
                                   "channel": "#general", "message_id": "m1", "harmed": (JO,)}
    args.update(kw)
    return int(app.bus.handle(c.FileReport(**args)).case_id)  # type: ignore[arg-type]


def detail(app: App, case_id: int) -> views.CaseDetail:
    return views.case_detail(app.uow(), app.desk, case_id)


def test_report_opens_a_case_and_thanks_the_reporter_asking_nothing(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    d = detail(app, case_id)
    assert d.case.state is CaseState.NEW
    assert d.case.reports[0].message_text == "People like you shouldn't be writing code."  # fetched
    thanks = sandbox.to(RILEY)
    assert len(thanks) == 1 and f"case {case_id}" in (thanks[0].text or "")
    assert "?" not in (thanks[0].text or "")
    assert any(call.method == "notify_admins" for call in sandbox.calls)


def test_reports_of_the_same_message_join_one_case(app: App, sandbox: SandboxPlatform) -> None:
    first = file(app, sandbox)
    second = file(app, sandbox, reporter=JO, harmed=())
    anonymous = file(app, sandbox, reporter=None, anonymous=True, harmed=())
    assert first == second == anonymous
    d = detail(app, first)
    assert len(d.case.reports) == 3
    assert [views.reporter_label(d.case, i) for i in range(3)] == ["sandbox:riley", "sandbox:jo", "anonymous"]
    other = file(app, sandbox, message_id="m2")
    assert other != first


def test_the_whole_guide_ladder(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = file(app, sandbox)
    app.bus.handle(c.TakeCase(case_id, "ana"))
    for rung in ("remind", "suggest", "remove", "warn"):
        assert detail(app, case_id).recommendation.rung.name == rung  # type: ignore[union-attr]
        step_id = app.bus.handle(c.TakeStep(case_id, rung, "ana"))
        assert detail(app, case_id).case.step(step_id).status is StepStatus.DONE
        clock.advance(timedelta(hours=1))
    replies = [call for call in sandbox.calls if call.method == "post_reply"]
    assert "I'm ana, one of the admins" in (replies[0].text or "")
    assert "> People like you shouldn't be writing code." in (replies[0].text or "")
    assert "https://example.org/code-of-conduct" in (replies[0].text or "")
    # the DM goes before the removal
    methods = [call.method for call in sandbox.calls]
    removal = methods.index("remove_from_channel")
    assert methods[removal - 1] == "send_dm" and sandbox.calls[removal - 1].person == SAM
    assert SAM not in sandbox.channel_members["#general"]

    step_id = app.bus.handle(c.TakeStep(case_id, "suspend", "ana", duration="12h"))
    assert SAM in sandbox.suspended
    assert "12 hours" in (sandbox.to(SAM)[-1].text or "")
    clock.advance(timedelta(hours=11))
    app.bus.handle(c.RunDueTimers("w1"))
    assert SAM in sandbox.suspended  # not yet
    clock.advance(timedelta(hours=1, minutes=1))
    assert app.bus.handle(c.RunDueTimers("w1")) >= 1
    assert SAM not in sandbox.suspended
    assert sandbox.to(SAM)[-1].text.startswith("Welcome back, sam")  # type: ignore[union-attr]
    assert detail(app, case_id).case.step(step_id).restored_at is not None
    assert app.bus.handle(c.RunDueTimers("w1")) == 0  # restored once

    with pytest.raises(ConsultationNeeded, match="consult"):
        app.bus.handle(c.TakeStep(case_id, "ban", "ana"))
    app.bus.handle(c.Consult(case_id, "ana", "Jo supports a ban.", JO))
    app.bus.handle(c.TakeStep(case_id, "ban", "ana"))
    assert SAM in sandbox.banned
    app.bus.handle(c.ResolveCase(case_id, "ana", "steps-taken"))
    outcome = sandbox.to(RILEY)[-1].text or ""
    assert "warned" in outcome and "banned" in outcome
    assert detail(app, case_id).case.state is CaseState.RESOLVED


def test_choosing_another_step_needs_a_reason_which_is_recorded(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    with pytest.raises(InvalidInput, match="the desk recommends remind"):
        app.bus.handle(c.TakeStep(case_id, "warn", "ana"))
    step_id = app.bus.handle(c.TakeStep(case_id, "warn", "ana", reason="third time this week"))
    s = detail(app, case_id).case.step(step_id)
    assert s.recommended == "remind" and s.reason == "third time this week"
    assert any("instead of remind: third time this week" in e.summary for e in detail(app, case_id).timeline)


@pytest.mark.parametrize(("duration", "message"), [
    ("30h", "from 12h to 1d in this policy; 1d6h is outside"),
    ("1 day", "malformed --duration '1 day'"),
])
def test_bad_durations_record_nothing(app: App, sandbox: SandboxPlatform, engine: sa.Engine,
                                      duration: str, message: str) -> None:
    case_id = file(app, sandbox)
    before = count_rows(engine, tables.steps)
    with pytest.raises(InvalidInput, match=message):
        app.bus.handle(c.TakeStep(case_id, "suspend", "ana", duration=duration, reason="urgent"))
    assert count_rows(engine, tables.steps) == before
    with pytest.raises(InvalidInput, match="applies only to a suspension"):
        app.bus.handle(c.TakeStep(case_id, "remind", "ana", duration="12h"))


def test_unknown_case_and_step(app: App, sandbox: SandboxPlatform) -> None:
    with pytest.raises(NotFound, match="there is no case 99"):
        app.bus.handle(c.TakeCase(99, "ana"))
    case_id = file(app, sandbox)
    with pytest.raises(Exception, match="no step 'kick' in the guide ladder: use one of remind"):
        app.bus.handle(c.TakeStep(case_id, "kick", "ana"))


def test_recused_admin_cannot_take_act_or_see(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    add_admins(app, "riley", "jo", "sam", role=Role.MODERATOR)
    app.bus.handle(c.ConfirmHurt(case_id, "ana", "jo"))  # named as hurt, confirmed by ana
    for admin in ("riley", "jo", "sam"):
        with pytest.raises(Recused):
            app.bus.handle(c.TakeCase(case_id, admin))
        with pytest.raises(Recused):
            views.case_detail(app.uow(), app.desk, case_id, viewer=admin)


def test_hand_written_text_may_not_name_the_reporter(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    with pytest.raises(ConfidentialityError, match="names someone involved"):
        app.bus.handle(c.TakeStep(case_id, "remind", "ana", text="Riley told us what you said."))
    app.bus.handle(c.TakeStep(case_id, "remind", "ana", text="Please keep it kind here."))
    assert sandbox.calls[-1].text == "Please keep it kind here."


def test_failed_step_is_kept_and_retried(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = file(app, sandbox)
    sandbox.fail_next("post_reply", "rate limited", retry_after=timedelta(seconds=30), times=2)
    step_id = app.bus.handle(c.TakeStep(case_id, "remind", "ana"))
    s = detail(app, case_id).case.step(step_id)
    assert s.status is StepStatus.FAILED and s.detail == "rate limited" and s.attempts == 1
    clock.advance(timedelta(seconds=61))
    app.bus.handle(c.RunDueTimers("w"))
    assert detail(app, case_id).case.step(step_id).attempts == 2
    clock.advance(timedelta(minutes=3))
    app.bus.handle(c.RunDueTimers("w"))
    s = detail(app, case_id).case.step(step_id)
    assert s.status is StepStatus.DONE and s.attempts == 3


def test_a_step_the_platform_cannot_do_becomes_a_manual_task(app: App, sandbox: SandboxPlatform) -> None:
    sandbox.capabilities = frozenset(Capability) - {Capability.SUSPEND, Capability.RESTORE}
    case_id = file(app, sandbox)
    step_id = app.bus.handle(c.TakeStep(case_id, "suspend", "ana", reason="repeat offender"))
    s = detail(app, case_id).case.step(step_id)
    assert s.status is StepStatus.MANUAL
    assert "by hand" in (s.detail or "") and "message sent first" in (s.detail or "")
    assert any("needs you" in (call.text or "") for call in sandbox.calls if call.method == "notify_admins")
    app.bus.handle(c.MarkManualDone(case_id, step_id, "ana"))
    assert detail(app, case_id).case.step(step_id).status is StepStatus.MANUAL_DONE
    with pytest.raises(IllegalTransition):
        app.bus.handle(c.MarkManualDone(case_id, step_id, "ana"))


def test_ban_cancels_a_pending_restore(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = file(app, sandbox, flagrant=True)
    app.bus.handle(c.TakeStep(case_id, "suspend", "ana", reason="interim measure"))
    app.bus.handle(c.Consult(case_id, "ana", "nobody reachable tonight", None))
    app.bus.handle(c.TakeStep(case_id, "ban", "ana"))
    clock.advance(timedelta(days=2))
    app.bus.handle(c.RunDueTimers("w"))
    assert [call.method for call in sandbox.calls].count("restore") == 0
    assert SAM in sandbox.banned


def test_lifting_a_suspension_early_restores_once(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = file(app, sandbox)
    step_id = app.bus.handle(c.TakeStep(case_id, "suspend", "ana", reason="interim"))
    app.bus.handle(c.LiftSuspension(case_id, step_id, "ana"))
    assert SAM not in sandbox.suspended
    clock.advance(timedelta(days=2))
    app.bus.handle(c.RunDueTimers("w"))
    assert [call.method for call in sandbox.calls].count("restore") == 1
    with pytest.raises(IllegalTransition, match="not a running suspension"):
        app.bus.handle(c.LiftSuspension(case_id, step_id, "ana"))


def test_deadlines_remind_then_page_backups(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = file(app, sandbox)
    clock.advance(timedelta(hours=2, minutes=1))
    app.bus.handle(c.RunDueTimers("w"))
    texts = [call.text or "" for call in sandbox.calls if call.method == "notify_admins"]
    assert any(f"Case {case_id}" in t and "no admin has taken it" in t for t in texts)
    assert views.queue(app.uow(), clock.now())[0].deadline.value == "overdue"
    clock.advance(timedelta(hours=1))
    app.bus.handle(c.RunDueTimers("w"))
    texts = [call.text or "" for call in sandbox.calls if call.method == "notify_admins"]
    assert any("backup admins" in t for t in texts)
    clock.advance(timedelta(hours=3))
    app.bus.handle(c.RunDueTimers("w"))
    texts = [call.text or "" for call in sandbox.calls if call.method == "notify_admins"]
    assert any("has no step yet" in t for t in texts)


def test_taking_the_case_stops_the_reminders(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = file(app, sandbox)
    app.bus.handle(c.TakeCase(case_id, "ana"))
    app.bus.handle(c.TakeStep(case_id, "remind", "ana"))
    before = len(sandbox.calls)
    clock.advance(timedelta(days=1))
    app.bus.handle(c.RunDueTimers("w"))
    assert sandbox.calls[before:] == []


def test_queue_orders_flagrant_then_hurt_then_deadline(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    plain = file(app, sandbox, message_id="a", harmed=(), reporter=None, anonymous=True)
    clock.advance(timedelta(minutes=5))
    hurt = file(app, sandbox, message_id="b")
    clock.advance(timedelta(minutes=5))
    flagrant = file(app, sandbox, message_id="c", flagrant=True, harmed=(), reporter=None)
    assert [i.summary.id for i in views.queue(app.uow(), clock.now())] == [flagrant, hurt, plain]


def test_resolve_and_reopen(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    with pytest.raises(InvalidInput, match="unknown outcome 'done': use one of apologized"):
        app.bus.handle(c.ResolveCase(case_id, "ana", "done"))
    app.bus.handle(c.ResolveCase(case_id, "ana", "no-action", "it was a quote from a film"))
    assert "it was a quote from a film" in (sandbox.to(RILEY)[-1].text or "")
    # a new report of the same message opens a new case once the first is resolved
    newer = file(app, sandbox)
    assert newer != case_id
    with pytest.raises(IllegalTransition, match=f"case {newer} about the same message is open"):
        app.bus.handle(c.ReopenCase(case_id, "bo"))
    app.bus.handle(c.ResolveCase(newer, "bo", "duplicate", f"same as case {case_id}"))
    app.bus.handle(c.ReopenCase(case_id, "bo", may_reassign=True))  # ana's: bo is an admin
    d = detail(app, case_id)
    assert d.case.state is CaseState.TAKEN and d.case.taken_by == "bo"


def test_confirmation_and_appeal_are_recorded(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    app.bus.handle(c.ConfirmReread(case_id, SAM))
    app.bus.handle(c.Appeal(case_id, SAM, "I was quoting someone else."))
    with pytest.raises(InvalidInput, match="only the person the case is about"):
        app.bus.handle(c.Appeal(case_id, JO, "x"))
    assert [n.kind for n in detail(app, case_id).case.notes] == ["reread", "appeal"]


def test_audit_log_is_append_only(app: App, sandbox: SandboxPlatform, engine: sa.Engine) -> None:
    file(app, sandbox)
    assert count_rows(engine, tables.audit) > 0
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(tables.audit.update().values(summary="rewritten"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(tables.audit.delete())


def test_over_long_input_is_refused_and_nothing_is_written(app: App, engine: sa.Engine) -> None:
    with pytest.raises(InvalidInput, match="shorten it to 20000"):
        app.bus.handle(c.FileReport(subject=SAM, reporter=RILEY, source=Source.CLI, note="x" * 20_001))
    assert count_rows(engine, tables.cases) == 0


def test_nudge_answered_keeps_it_between_peers(app: App, sandbox: SandboxPlatform, clock: FakeClock,
                                              engine: sa.Engine) -> None:
    nid = app.bus.handle(c.Nudge(SAM, RILEY, Source.CLI, "#general", "m9", "that was mean"))
    # jo asks too: the request is kept, but the author gets one private word, not two
    assert app.bus.handle(c.Nudge(SAM, JO, Source.CLI, "#general", "m9")) != nid
    (word,) = sandbox.to(SAM)
    private = word.text or ""
    assert "> that was mean" in private and "riley" not in private.lower()
    assert app.bus.handle(c.NudgeAnswered(SAM, "#general", "m9", "edit")) == 2
    assert "edited the message" in (sandbox.to(RILEY)[-1].text or "")
    assert "edited the message" in (sandbox.to(JO)[-1].text or "")
    clock.advance(timedelta(days=2))
    app.bus.handle(c.RunDueTimers("w"))
    assert count_rows(engine, tables.cases) == 0


def test_words_alone_close_no_nudge_the_reporters_see_them_and_the_admins_get_them(
        app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    app.bus.handle(c.Nudge(SAM, RILEY, Source.CLI, "#general", "m9", "that was mean"))
    app.bus.handle(c.Nudge(SAM, JO, Source.CLI, "#general", "m9"))
    # neither "sorry" nor "pardon" answers it any more: apologies by word cannot be told apart
    # from "sorry not sorry"
    with pytest.raises(InvalidInput, match="edit or redaction"):
        app.bus.handle(c.NudgeAnswered(SAM, "#general", "m9", "apology"))
    assert app.bus.handle(c.AuthorWrote(SAM, "#general", "m9", "as I was saying")) == 0
    assert len(sandbox.to(RILEY)) == len(sandbox.to(JO)) == 0
    said = "sorry not sorry, someone had to say it"
    assert app.bus.handle(c.AuthorWrote(SAM, "#general", "m9", said)) == 2
    for reporter in (RILEY, JO):
        (shown,) = sandbox.to(reporter)
        assert said in (shown.text or "") and "enough" in (shown.text or "")
        assert "apologized" not in (shown.text or "")
    # a second apology is kept for the admins, without writing to the reporters again
    app.bus.handle(c.AuthorWrote(SAM, "#general", "m9", "Pardon me, but I stand by every word"))
    assert len(sandbox.to(RILEY)) == 1
    # jo finds it enough; riley says nothing (and does not have to)
    assert app.bus.handle(c.NudgeEnough(JO)) == 1
    assert "leave it there" in (sandbox.to(JO)[-1].text or "")
    assert app.bus.handle(c.NudgeEnough(JO)) == 0
    clock.advance(timedelta(hours=24, seconds=1))
    app.bus.handle(c.RunDueTimers("w"))
    (item,) = views.queue(app.uow(), clock.now())
    d = detail(app, item.summary.id)
    assert [r.reporter for r in d.case.reports] == [RILEY]
    (note,) = d.case.notes
    assert note.kind == "apology" and said in note.text and "stand by every word" in note.text
    assert "looks like an apology" in (d.case.reports[0].note or "")


def test_unanswered_nudge_goes_to_the_admins(app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    app.bus.handle(c.Nudge(SAM, RILEY, Source.CLI, "#general", "m9", "that was mean"))
    clock.advance(timedelta(hours=24, seconds=1))
    app.bus.handle(c.RunDueTimers("w"))
    items = views.queue(app.uow(), clock.now())
    assert len(items) == 1
    d = detail(app, items[0].summary.id)
    assert d.case.reports[0].reporter == RILEY
    assert "private word went to the author first" in (d.case.reports[0].note or "")
    assert f"case {d.case.id}" in (sandbox.to(RILEY)[-1].text or "")


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migrations_build_the_schema_the_code_uses(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), tables.metadata)
        if conn.dialect.name == "sqlite":  # its reflection leaves expression indexes out
            indexes = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'").scalars())
        else:
            indexes = {str(i["name"]) for t in ("cases", "reports")
                       for i in sa.inspect(conn).get_indexes(t)}
    # the queue's index is on expressions, which Alembic cannot compare: its name must be there;
    # so are the search's, on PostgreSQL only (migration 0022; tables.report_words)
    expressions = {"ix_cases_queue"}
    if conn.dialect.name == "postgresql":
        expressions |= {"ix_reports_words", "ix_cases_subject_lower"}
    assert expressions <= indexes
    assert [d for d in drift if not (isinstance(d, tuple) and d[0] in ("add_index", "remove_index")
                                     and d[1].name in expressions)] == []


def test_a_case_given_to_an_admin_stops_the_take_reminders(app: App, sandbox: SandboxPlatform,
                                                          clock: FakeClock) -> None:
    case_id = file(app, sandbox)
    app.bus.handle(c.HandOver(case_id, "ana", "bo"))
    notices = len([call for call in sandbox.calls if call.method == "notify_admins"])
    clock.advance(timedelta(hours=12))
    app.bus.handle(c.RunDueTimers("w"))  # the take deadline is gone; the first-step one runs
    reminders = [call for call in sandbox.calls if call.method == "notify_admins"][notices:]
    assert reminders and all("no admin has taken it" not in (call.text or "") for call in reminders)
    d = detail(app, case_id)
    assert d.case.taken_by == "bo" and d.case.state is CaseState.TAKEN
    with app.uow() as uow:
        (entry,) = [e for e in uow.audit.entries(case_id=case_id) if e.kind == "case.handed_over"]
    assert entry.actor == "ana" and "to bo" in entry.summary
    with pytest.raises(InvalidInput, match="--to is empty"):
        app.bus.handle(c.HandOver(case_id, "bo", " "))
    with pytest.raises(IllegalTransition, match="only they"):
        app.bus.handle(c.HandOver(case_id, "ana", "cy"))
    assert detail(app, case_id).case.taken_by == "bo"


def test_finding_the_open_case_of_a_message_uses_its_index_on_sqlite(tmp_path: Path) -> None:
    """Filing looks up the open case of the message before anything else: on SQLite that
    lookup must use the unique index, not walk every open case (each report would then cost
    more the more cases are open)."""
    from conduct_desk.storage import repository
    from conduct_desk.storage.db import create_engine, upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            sql = str(repository._OPEN_CASE_FOR_MESSAGE.compile(engine))
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("p", "u", "c", "m")).all()
    finally:
        engine.dispose()
    assert "ux_cases_open_message" in " ".join(str(row) for row in plan)


def test_the_apology_is_on_the_case_page_for_the_admins(
        app: App, clock: FakeClock, web: FastAPI) -> None:
    kim = PersonRef("sandbox", "kim")
    app.bus.handle(c.Nudge(SAM, kim, Source.CLI, "#general", "m9", "that was mean"))
    app.bus.handle(c.AuthorWrote(SAM, "#general", "m9", "Pardon me, but I stand by every word"))
    clock.advance(timedelta(hours=24, seconds=1))
    app.bus.handle(c.RunDueTimers("w"))
    (item,) = views.queue(app.uow(), clock.now())
    page = sign_in(web, "ana").get(f"/cases/{item.summary.id}").text
    assert "I stand by every word" in page and "looks like an apology" in page


def test_an_anonymous_asker_may_say_enough_too(app: App, sandbox: SandboxPlatform) -> None:
    # an anonymous asker's id is kept only sealed, so it is matched by opening the seal
    app.bus.handle(c.Nudge(SAM, RILEY, Source.CLI, "#general", "m9", "that was mean",
                           anonymous=True))
    assert app.bus.handle(c.AuthorWrote(SAM, "#general", "m9", "sorry about that")) == 1
    (shown,) = sandbox.to(RILEY)
    assert "sorry about that" in (shown.text or "")
    assert app.bus.handle(c.NudgeEnough(RILEY)) == 1
    assert app.bus.handle(c.NudgeEnough(JO)) == 0


# -- issue 8 -------------------------------------------------------------------------------


def test_naming_every_admin_as_hurt_does_not_lock_them_out(app: App, sandbox: SandboxPlatform) -> None:
    """A second reporter joins the open case naming every admin as hurt: they still act."""
    case_id = file(app, sandbox)
    app.bus.handle(c.FileReport(subject=SAM, reporter=PersonRef("sandbox", "mallory"),
                                source=Source.API, channel="#general", message_id="m1",
                                harmed=tuple(PersonRef("web", n) for n in ("ana", "bo", "cy"))))
    d = detail(app, case_id)
    assert [h.admin for h in d.hurt_admins] == ["ana", "bo", "cy"] and d.backup is None
    app.bus.handle(c.TakeCase(case_id, "ana"))
    app.bus.handle(c.TakeStep(case_id, "remind", "ana"))
    # bo confirms ana was hurt: ana steps aside and the case is free for bo
    app.bus.handle(c.ConfirmHurt(case_id, "bo", "web:ana"))
    with pytest.raises(Recused):
        app.bus.handle(c.TakeStep(case_id, "warn", "ana", reason="x"))
    assert detail(app, case_id).case.taken_by is None
    app.bus.handle(c.TakeCase(case_id, "bo"))
    # cy and bo step aside by choice: nobody is left, so the case goes to the backup admins
    app.bus.handle(c.Recuse(case_id, "cy"))
    assert detail(app, case_id).backup is None
    app.bus.handle(c.Recuse(case_id, "bo"))
    d = views.case_detail(app.uow(), app.desk, case_id)
    assert d.backup == () and d.stepped_aside == ("cy", "bo")  # the guide preset names none
    # the command line, the Slack card and the Matrix card say so
    from conduct_desk.cli import render_case
    from conduct_desk.platforms.slack import blocks as slack_blocks
    from conduct_desk.service.chat import render

    assert "EVERY ADMIN IS INVOLVED: this case goes to the backup admins" in render_case(d)
    _, blocks = slack_blocks.case_card(d, app.desk.policy)
    assert "Every admin is involved in this case, so it goes to the backup admins" in str(blocks)
    assert "Every admin is involved: this case goes to the backup admins" in \
        render.card_text(d, render.plain("!coc"))
    kinds = [e.kind for e in d.timeline]
    assert {"case.hurt-confirmed", "case.recused", "case.to-backup"} <= set(kinds)
    assert any("every admin of the desk is involved" in (m.text or "") for m in sandbox.calls)


def test_a_moderator_cannot_resolve_someone_elses_case(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    add_admins(app, "mo", role=Role.MODERATOR)
    app.bus.handle(c.TakeCase(case_id, "ana"))
    told = len(sandbox.to(RILEY))
    for may_reassign in (False, True):  # an entry point cannot lift a moderator's role
        with pytest.raises(IllegalTransition, match="case 1 is ana's; only they, or an admin"):
            app.bus.handle(c.ResolveCase(case_id, "mo", "apologized", may_reassign=may_reassign))
    assert len(sandbox.to(RILEY)) == told and detail(app, case_id).case.is_open
    app.bus.handle(c.ResolveCase(case_id, "bo", "apologized", "by DM to jo", may_reassign=True))
    with pytest.raises(IllegalTransition, match="only they, or an admin"):
        app.bus.handle(c.ReopenCase(case_id, "mo", may_reassign=True))
    app.bus.handle(c.ReopenCase(case_id, "ana"))  # ana held it


@pytest.mark.parametrize("command", [
    lambda: c.TakeCase(1, "nobody"),
    lambda: c.TakeStep(1, "remind", "nobody"),
    lambda: c.ResolveCase(1, "nobody", "apologized"),
    lambda: c.Consult(1, "nobody", "talked"),
    lambda: c.HandOver(1, "ana", "nobody"),
])
def test_an_admin_nobody_knows_is_refused_with_who_is_known(
        app: App, sandbox: SandboxPlatform, command: Callable[[], c.Command]) -> None:
    file(app, sandbox)
    with pytest.raises(InvalidInput) as refused:
        app.bus.handle(command())
    assert "unknown admin 'nobody'" in str(refused.value)
    assert "known: ana, bo, cy — add one with `conduct admin add NAME --role moderator`" \
        in str(refused.value)
    d = detail(app, 1)
    assert d.case.taken_by is None and d.case.is_open and not d.case.steps
    assert all(e.actor != "nobody" for e in d.timeline)


def test_names_are_matched_in_any_spelling(app: App, sandbox: SandboxPlatform) -> None:
    case_id = file(app, sandbox)
    app.bus.handle(c.TakeCase(case_id, " ＡＮＡ"))  # full-width, upper case, a leading space
    assert detail(app, case_id).case.taken_by == "ana"
