"""The outbox: every notice the desk promises is delivered, or visibly failed.

A platform that asks the desk to wait (a rate limit) gets its wait, not the policy's backoff;
the notice is kept (through a restart) and delivered once by the timer worker; a refusal for
good shows on the case page and in the API; an anonymous reporter's notice keeps no id.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from tests.support.accounts import add_admins

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.model import Source
from conduct_desk.domain.notices import MAX_ATTEMPTS, NoticeStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.domain.timers import TimerKind
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, views
from conduct_desk.service import commands as c
from conduct_desk.service import notices as outbox
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import EffectStatus
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine

SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
QUIET = PersonRef("sandbox", "U0QUIETANON")  # an anonymous reporter
SHORT = timedelta(seconds=3)  # what the platform asks for: far less than the policy's backoff


@pytest.fixture(autouse=True)
def _admins(app: App) -> None:
    add_admins(app, "ana")


def _file(app: App, reporter: PersonRef = RILEY, **kw: object) -> int:
    return int(app.bus.handle(c.FileReport(subject=SAM, reporter=reporter, source=Source.CLI,
                                           channel="#general", message_id="m1",
                                           message_text="hostile", **kw)).case_id)  # type: ignore[arg-type]


def _resolve(app: App, case_id: int) -> None:
    app.bus.handle(c.ResolveCase(case_id, "ana", "no-action", "we talked to them"))


def _outcomes(sandbox: SandboxPlatform, person: PersonRef, case_id: int) -> int:
    """How many times the platform was asked to send the person the outcome."""
    return sum(1 for call in sandbox.to(person)
               if (call.text or "").startswith(f"An update on your report (case {case_id})"))


def _notices(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(tables.notices)
                                              .order_by(tables.notices.c.id)).mappings()]


def test_a_rate_limited_outcome_waits_for_the_platform_and_is_delivered_once(
        app: App, sandbox: SandboxPlatform, clock: FakeClock, policy: Policy) -> None:
    assert SHORT < policy.retry.backoff
    case_id = _file(app)
    sandbox.rate_limit_next("send_dm", SHORT)
    _resolve(app, case_id)
    assert _outcomes(sandbox, RILEY, case_id) == 1  # tried, refused
    [state] = views.notice_states(app.uow(), app.desk, case_id, "outcome")
    assert state.status is NoticeStatus.PENDING  # not claimed sent
    assert outbox.outcome_line(app.uow(), app.desk, case_id) == (
        f"Case {case_id}: sandbox:riley will be told when Sandbox lets us (in 3 seconds).")
    with app.uow() as uow:
        told = [e.summary for e in uow.audit.entries(case_id=case_id) if e.kind == "reporter.told"]
    assert told == ["the outcome for the reporters: 1 will be told when Sandbox lets us "
                    "(in 3 seconds)"]

    clock.advance(SHORT - timedelta(seconds=1))
    app.bus.handle(c.RunDueTimers("w"))
    assert _outcomes(sandbox, RILEY, case_id) == 1  # not yet: the platform said 3 seconds
    clock.advance(timedelta(seconds=1))  # the platform's wait, far less than the backoff
    app.bus.handle(c.RunDueTimers("w"))
    assert _outcomes(sandbox, RILEY, case_id) == 2
    assert outbox.outcome_line(app.uow(), app.desk, case_id) == (
        f"Case {case_id}: sandbox:riley is told.")
    # run the worker again, and again much later: never sent twice
    app.bus.handle(c.RunDueTimers("w"))
    clock.advance(timedelta(hours=2))
    app.bus.handle(c.RunDueTimers("w"))
    app.bus.handle(c.RunDueTimers("w2"))
    assert _outcomes(sandbox, RILEY, case_id) == 2
    with app.uow() as uow:
        assert not [t for t in uow.timers.pending() if t.kind is TimerKind.DELIVER_NOTICE]
        kinds = [e.kind for e in uow.audit.entries(case_id=case_id)]
    assert "notice.sent" in kinds and "notice.failed" not in kinds


def test_a_held_back_line_to_the_admins_comes_at_the_platforms_wait(
        app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    sandbox.rate_limit_next("notify_admins", SHORT)
    case_id = _file(app)
    lines = [call for call in sandbox.calls if call.method == "notify_admins"]
    assert len(lines) == 1  # refused
    clock.advance(SHORT)
    app.bus.handle(c.RunDueTimers("w"))
    lines = [call for call in sandbox.calls if call.method == "notify_admins"]
    assert len(lines) == 2 and lines[1].text == lines[0].text
    assert f"New case {case_id}" in (lines[1].text or "")


def test_a_pending_notice_survives_a_restart(
        app: App, sandbox: SandboxPlatform, clock: FakeClock, policy: Policy, db_url: str) -> None:
    case_id = _file(app)
    sandbox.rate_limit_next("send_dm", timedelta(seconds=30))
    _resolve(app, case_id)
    # a new process on the same database, with a platform that remembers nothing
    engine = create_engine(db_url)
    try:
        fresh = SandboxPlatform()
        again = bootstrap(Settings(database_url=db_url, secret_key=app.settings.secret_key),
                          engine=engine, policy=policy, clock=clock, platforms={"sandbox": fresh})
        clock.advance(timedelta(seconds=30))
        again.bus.handle(c.RunDueTimers("after-restart"))
        assert _outcomes(fresh, RILEY, case_id) == 1
        assert outbox.outcome_line(again.uow(), again.desk, case_id) == (
            f"Case {case_id}: sandbox:riley is told.")
        again.bus.handle(c.RunDueTimers("after-restart"))
        app.bus.handle(c.RunDueTimers("the-old-one"))
        assert _outcomes(fresh, RILEY, case_id) == 1 and _outcomes(sandbox, RILEY, case_id) == 1
    finally:
        engine.dispose()


def test_a_refusal_for_good_shows_on_the_case_page_and_in_the_api(
        app: App, sandbox: SandboxPlatform, clients: dict[str, TestClient], web: object) -> None:
    case_id = _file(app)
    sandbox.fail_next("send_dm", "user has DMs closed", retryable=False)
    _resolve(app, case_id)
    assert outbox.outcome_line(app.uow(), app.desk, case_id) == (
        f"Case {case_id}: sandbox:riley could not be told: user has DMs closed.")
    page = clients["ana"].get(f"/cases/{case_id}").text
    assert "Messages not delivered" in page
    assert "sandbox:riley could not be told: user has DMs closed; please reach them another way" \
        in page
    token = accounts.create_token(app.uow(), app.desk.clock, "ana-t", None, account="ana")
    api = TestClient(web, headers={"Authorization": f"Bearer {token}"})  # type: ignore[arg-type]
    shown = api.get(f"/api/v1/cases/{case_id}").json()["notices"]
    assert [(n["purpose"], n["to"], n["status"], n["error"]) for n in shown] == [
        ("acknowledgement", "sandbox:riley", "sent", None),
        ("admins", "the admins", "sent", None),
        ("outcome", "sandbox:riley", "failed", "user has DMs closed"),
    ]
    with app.uow() as uow:
        failed = [e for e in uow.audit.entries(case_id=case_id) if e.kind == "notice.failed"]
    assert [e.summary for e in failed] == [
        "the outcome for sandbox:riley could not be delivered; please reach them another way"]


def test_a_platform_that_keeps_failing_is_given_up_after_a_bounded_number_of_tries(
        app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = _file(app)
    sandbox.fail_next("send_dm", "HTTP 503", times=MAX_ATTEMPTS + 5)  # down, no wait named
    _resolve(app, case_id)
    for _ in range(MAX_ATTEMPTS + 5):
        clock.advance(timedelta(days=1))
        app.bus.handle(c.RunDueTimers("w"))
    assert _outcomes(sandbox, RILEY, case_id) == MAX_ATTEMPTS
    [state] = views.notice_states(app.uow(), app.desk, case_id, "outcome")
    assert state.status is NoticeStatus.FAILED
    assert f"gave up after {MAX_ATTEMPTS} tries" in state.sentence


def test_a_platform_that_asks_to_wait_delays_the_notice_but_never_loses_it(
        app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    """A rate limit is not a failure: its waits do not use up the tries."""
    case_id = _file(app)
    sandbox.rate_limit_next("send_dm", timedelta(seconds=1), times=MAX_ATTEMPTS * 3)
    _resolve(app, case_id)
    for _ in range(MAX_ATTEMPTS * 3 + 1):
        clock.advance(timedelta(seconds=1))
        app.bus.handle(c.RunDueTimers("w"))
    assert _outcomes(sandbox, RILEY, case_id) == MAX_ATTEMPTS * 3 + 1
    [state] = views.notice_states(app.uow(), app.desk, case_id, "outcome")
    assert state.status is NoticeStatus.SENT


def test_an_anonymous_reporters_notice_keeps_no_id_in_the_database(
        app: App, sandbox: SandboxPlatform, clock: FakeClock, engine: Engine) -> None:
    sandbox.fail_next("send_dm", f"cannot open a DM with {QUIET.user_id}",
                      retry_after=timedelta(seconds=5))
    case_id = _file(app, reporter=QUIET, anonymous=True)
    [row] = [r for r in _notices(engine) if r["purpose"] == "acknowledgement"]
    assert row["status"] == "pending" and row["to_sealed"] and row["to_id"] is None
    raw = " ".join(str(v) for r in _notices(engine) for v in r.values())
    assert QUIET.user_id not in raw  # neither the id nor the platform's words naming them
    clock.advance(timedelta(seconds=5))
    app.bus.handle(c.RunDueTimers("w"))
    assert len(sandbox.to(QUIET)) == 2  # the sealed id was opened to deliver it
    [ack] = views.notice_states(app.uow(), app.desk, case_id, "acknowledgement")
    assert ack.status is NoticeStatus.SENT and ack.sentence == "the reporter (anonymous) is told"
    sandbox.fail_next("send_dm", f"{QUIET.user_id} blocked the desk", retryable=False)
    _resolve(app, case_id)
    line = outbox.outcome_line(app.uow(), app.desk, case_id)
    assert line == f"Case {case_id}: the reporter (anonymous) could not be told: Sandbox refused."
    detail = views.case_json(views.case_detail(app.uow(), app.desk, case_id))
    with app.uow() as uow:
        entries = uow.audit.entries(case_id=case_id)
    shown = repr(views.jsonable(detail)) + repr(views.jsonable(entries)) + " ".join(
        str(v) for r in _notices(engine) for v in r.values())
    assert QUIET.user_id not in shown


def test_without_a_key_an_anonymous_reporters_notice_is_tried_once_and_not_kept(
        engine: Engine, clock: FakeClock, policy: Policy, sandbox: SandboxPlatform) -> None:
    keyless = bootstrap(Settings(database_url=str(engine.url)), engine=engine, policy=policy,
                        clock=clock, platforms={"sandbox": sandbox})
    sandbox.rate_limit_next("send_dm", SHORT)
    case_id = _file(keyless, reporter=QUIET, anonymous=True)
    assert [r["purpose"] for r in _notices(engine)] == ["admins"]  # the admins' line only
    clock.advance(timedelta(minutes=10))
    keyless.bus.handle(c.RunDueTimers("w"))
    assert len(sandbox.to(QUIET)) == 1
    with keyless.uow() as uow:
        failed = [e for e in uow.audit.entries(case_id=case_id) if e.kind == "notice.failed"]
    assert [e.summary for e in failed] == [
        "the thanks to the reporter (anonymous) could not be delivered; they can follow their "
        "report's status link"]
    assert QUIET.user_id not in repr(failed)


def test_a_registered_sender_delivers_its_kind(app: App, sandbox: SandboxPlatform,
                                               clock: FakeClock) -> None:
    """Chat adapters register how they deliver a kind (here: the admins' line, in a thread)."""
    from conduct_desk.domain.notices import Notice, NoticeKind
    from conduct_desk.service.ports import Effect

    sent: list[Notice] = []
    refusals = [Effect.failed("slow down", retry_after=SHORT)]

    def threaded(notice: Notice) -> Effect:
        sent.append(notice)
        return refusals.pop() if refusals else Effect.done()

    app.desk.notice_senders[("sandbox", NoticeKind.ANSWER)] = threaded
    effect = outbox.send_admins(app.uow(), app.desk, "sandbox", "done: case 1 taken",
                                purpose="answer", reply_to="$event1")
    assert outbox.is_pending(effect) and effect.retry_after == SHORT
    clock.advance(SHORT)
    app.bus.handle(c.RunDueTimers("w"))
    assert [(n.kind, n.reply_to, n.text) for n in sent] == [
        (NoticeKind.ANSWER, "$event1", "done: case 1 taken")] * 2
    assert not [call for call in sandbox.calls if call.method == "notify_admins"
                and "taken" in (call.text or "")]


def test_with_a_key_set_the_desk_keeps_sealed_notices(engine: Engine, clock: FakeClock,
                                                      policy: Policy) -> None:
    """The start-up check sees sealed notices too: no key, no start (nothing silently lost)."""
    from cryptography.fernet import Fernet

    from conduct_desk.domain.errors import SecretKeyError

    key = SecretStr(Fernet.generate_key().decode())
    sandbox = SandboxPlatform()
    app = bootstrap(Settings(database_url=str(engine.url), secret_key=key), engine=engine,
                    policy=policy, clock=clock, platforms={"sandbox": sandbox})
    add_admins(app, "ana")
    sandbox.rate_limit_next("send_dm", SHORT)
    app.bus.handle(c.FileReport(subject=SAM, reporter=QUIET, source=Source.CLI, anonymous=True))
    with engine.begin() as conn:  # only the notice holds a sealed id now
        conn.execute(tables.reports.update().values(reporter_sealed=None))
    keyless = bootstrap(Settings(database_url=str(engine.url)), engine=engine, policy=policy,
                        clock=clock)
    with pytest.raises(SecretKeyError):
        keyless.check_secret_key()


def test_a_held_back_nudge_answer_reaches_the_member_who_asked(
        app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    asker = PersonRef("sandbox", "kim")
    app.bus.handle(c.Nudge(subject=SAM, reporter=asker, source=Source.CLI, channel="#random",
                           message_id="m9"))
    sandbox.rate_limit_next("send_dm", SHORT)
    app.bus.handle(c.NudgeAnswered(SAM, "#random", "m9", "edit"))
    assert len(sandbox.to(asker)) == 1  # refused
    clock.advance(SHORT)
    app.bus.handle(c.RunDueTimers("w"))
    app.bus.handle(c.RunDueTimers("w"))
    told = sandbox.to(asker)
    assert len(told) == 2 and told[0].text == told[1].text


def test_the_welcome_back_held_back_at_the_end_of_a_suspension_comes_later(
        app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = _file(app)
    app.bus.handle(c.TakeStep(case_id, "suspend", "ana", duration="12h", reason="again"))
    sandbox.rate_limit_next("send_dm", timedelta(seconds=4))
    clock.advance(timedelta(hours=12))
    app.bus.handle(c.RunDueTimers("w"))
    case = views.case_detail(app.uow(), app.desk, case_id).case
    restore = case.steps[-1]
    assert restore.rung == "restore" and "will be sent when Sandbox lets us" in (restore.detail or "")
    assert SAM not in sandbox.suspended
    welcomes = [t.text for t in sandbox.to(SAM) if "welcome" in (t.text or "").lower()]
    clock.advance(timedelta(seconds=4))
    app.bus.handle(c.RunDueTimers("w"))
    after = [t.text for t in sandbox.to(SAM) if "welcome" in (t.text or "").lower()]
    assert len(after) == len(welcomes) + 1
    [state] = views.notice_states(app.uow(), app.desk, case_id, "restore")
    assert state.status is NoticeStatus.SENT


def test_a_notice_delivered_late_is_recorded_as_every_try_says(
        app: App, engine: Engine, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    sandbox.rate_limit_next("notify_admins", SHORT)
    case_id = _file(app)
    [line] = [n for n in _notices(engine) if n["purpose"] == "admins"]
    assert (line["status"], line["attempts"]) == ("pending", 1) and line["last_error"]
    clock.advance(SHORT)
    app.bus.handle(c.RunDueTimers("w"))
    [line] = [n for n in _notices(engine) if n["purpose"] == "admins"]
    assert (line["status"], line["attempts"], line["due_at"], line["last_error"]) == (
        "sent", 2, None, None)
    assert line["sent_at"] == clock.now()
    with app.uow() as uow:
        late = [(e.summary, e.detail) for e in uow.audit.entries(case_id=case_id)
                if e.kind == "notice.sent"]
        assert not [t for t in uow.timers.pending() if t.kind is TimerKind.DELIVER_NOTICE]
    assert late == [("the message to the admins on Sandbox was delivered after 2 tries",
                     {"notice_id": line["id"]})]


def test_a_notice_another_worker_sent_meanwhile_is_left_as_it_is(
        app: App, engine: Engine, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    case_id = _file(app)
    before = _notices(engine)
    assert {n["status"] for n in before} == {"sent"}
    clock.advance(timedelta(minutes=1))
    with app.uow() as uow:  # tried again; the answer comes after the first try was recorded
        notices = list(uow.notices.get_many([int(str(n["id"])) for n in before]).values())
    effects = outbox.deliver_all(app.uow(), app.desk, notices, again=True)
    assert [e.status for e in effects] == [EffectStatus.DONE] * len(before)
    assert _notices(engine) == before  # not sent "again", not counted again
    with app.uow() as uow:
        assert "notice.sent" not in [e.kind for e in uow.audit.entries(case_id=case_id)]


def test_one_call_records_what_became_of_each_notice_in_the_order_given(
        app: App, sandbox: SandboxPlatform, clock: FakeClock) -> None:
    """A notice refused for good and one that went late, tried together: the case's timeline
    says what became of each in the order they were given, as every try is recorded."""
    from conduct_desk.domain.notices import Notice, NoticeKind, Purpose

    case_id = _file(app)
    with app.uow() as uow:
        dm, line = outbox.record_all(uow, app.desk, [
            Notice("sandbox", NoticeKind.DM, "a word", to=SAM, case_id=case_id,
                   purpose=Purpose.NUDGE),
            Notice("sandbox", NoticeKind.ADMINS, "a line", case_id=case_id)])
        uow.commit()
    sandbox.rate_limit_next("notify_admins", SHORT)
    [held] = outbox.deliver_all(app.uow(), app.desk, [line])
    assert outbox.is_pending(held)
    clock.advance(SHORT)
    sandbox.fail_next("send_dm", "user has DMs closed", retryable=False)
    answers = outbox.deliver_all(app.uow(), app.desk, [dm, line], again=True)
    assert [(a.status, a.retryable) for a in answers] == [(EffectStatus.FAILED, False),
                                                          (EffectStatus.DONE, False)]
    with app.uow() as uow:
        said = [(e.kind, e.detail.get("notice_id")) for e in uow.audit.entries(case_id=case_id)
                if e.kind.startswith("notice.")]
    assert said == [("notice.failed", dm.id), ("notice.sent", line.id)]
