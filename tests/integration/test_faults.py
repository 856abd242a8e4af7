"""Faults: a worker dying mid-restore, the database going away, and the bench scripts that
measure them (``bench/faults_*.py``), run here at their small size."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.support.slack_harness import SUBJECT, Harness, harness

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import StepStatus
from conduct_desk.service import commands
from conduct_desk.service.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]


class Killed(BaseException):
    """The process dies here (as with SIGKILL): nothing after it runs, no handler catches it."""


@pytest.fixture
def h(app: App, clock: FakeClock) -> Iterator[Harness]:
    with harness(app, clock) as h:
        yield h


def test_a_worker_killed_after_giving_the_account_back_does_not_give_it_back_twice(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = h.report()
    h.step(case_id, "suspend", duration="12h", reason="testing the restore")
    suspended = h.case(case_id).steps[-1]
    assert suspended.status is StepStatus.DONE
    platform = h.app.desk.platforms["slack"]
    restore = platform.restore

    def restore_then_die(person: object) -> object:
        restore(person)  # type: ignore[arg-type]
        raise Killed

    monkeypatch.setattr(platform, "restore", restore_then_die)
    with pytest.raises(Killed):
        h.run_timers(timedelta(hours=13))
    monkeypatch.setattr(platform, "restore", restore)
    # the timer's lease runs out; another worker takes it over
    h.clock.advance(timedelta(minutes=6))
    h.app.bus.handle(commands.RunDueTimers(worker="other"))

    given_back = [c for c in h.fake.calls_to("scim.v2.Users.patch")
                  if c.params["Operations"][0]["value"] is True]
    assert len(given_back) == 1
    steps = h.case(case_id).steps
    assert [s.rung for s in steps].count("restore") == 1
    assert steps[-1].status is StepStatus.DONE and "already back" in (steps[-1].detail or "")
    assert sum("Welcome back" in t for t in h.dm_texts(SUBJECT)) == 1


def test_a_suspension_waits_for_its_message_held_back_by_slack_then_happens(h: Harness) -> None:
    case_id = h.report()
    h.fake.fail_next("conversations.open", "ratelimited", status=429)
    h.step(case_id, "suspend", duration="12h", reason="testing the message first")
    waiting = h.case(case_id).steps[-1]
    # a deactivated Slack account gets no message: the account waits for it, visibly
    assert waiting.status is StepStatus.FAILED and "goes first" in (waiting.detail or "")
    assert not h.fake.calls_to("scim.v2.Users.patch")
    for _ in range(3):
        h.run_timers(timedelta(seconds=2))
    suspended = h.case(case_id).steps[-1]
    assert suspended.status is StepStatus.DONE and suspended.notified
    user = h.fake.get_user(SUBJECT)
    assert user is not None and user.deleted
    assert sum("12 hours" in t or "suspend" in t.lower() for t in h.dm_texts(SUBJECT)) >= 1


def _bench(script: str, *extra: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        (str(ROOT / "src"), str(ROOT), str(ROOT / "bench")))}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--small", *extra],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all promises kept" in done.stdout
    return done.stdout


def test_platform_faults_lose_no_step_and_show_every_failure_on_its_case() -> None:
    out = _bench("faults_platform.py", "--steps", "24")
    assert "kept    0 steps lost" in out
    assert "kept    every failed try is on its case" in out
    assert "kept    all done in the end" in out


def test_workers_killed_while_suspensions_end_lose_no_restore_and_run_none_twice() -> None:
    out = _bench("faults_kill.py")
    assert "kept    0 restores lost (0)" in out
    assert "kept    0 restores run twice (0)" in out
    assert "kept    no welcome-back message sent twice (0)" in out


def test_postgresql_restarted_under_report_load_loses_no_report_and_the_desk_reconnects() -> None:
    out = _bench("faults_postgres.py")
    assert "kept    0 filed reports lost (0)" in out
    assert "kept    every other report refused with a clear error (0 unclear)" in out
    assert "kept    the desk reconnected by itself" in out


def test_a_full_disk_or_a_read_only_file_gives_a_clear_error_and_nothing_half_written() -> None:
    out = _bench("faults_disk.py", "--reports", "3")
    assert "kept    every refusal clear" in out
    assert "kept    nothing half-written" in out
