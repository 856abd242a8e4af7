"""Replicas killed with ``kill -9`` while many suspensions end: no restore lost, none run twice.

``--suspensions`` suspended Slack accounts (the Slack fake with SCIM, in this process, so what
it records survives every worker's death) end at once: their ``SUSPENSION_ENDS`` timers are
due. ``--workers`` ``conduct worker`` processes on PostgreSQL restore them; every ``--every``
seconds one of them, chosen at random, is killed with SIGKILL and a new one started. A killed
worker's claimed timers come back after ``CONDUCT_TIMER_LEASE_SECONDS`` (set to ``--lease``).

Counted on the platform: each account's reactivations (SCIM ``PATCH active=true``) and
welcome-back messages; in the database: each suspension's restore steps. Promises: every
account given back once (0 lost, 0 twice), one restore step each, every welcome sent once.

The welcome-back message goes through the outbox: a worker killed between Slack's answer to
``chat.postMessage`` and recording the message sent leaves it to be tried again after the
lease. Slack has no idempotency key for messages; the message carries the notice's key as its
metadata, and that second try finds it in the conversation and does not post it again.

    PYTHONPATH=src:. python bench/faults_kill.py [--suspensions 10000] [--small]

Exit status 1 when a promise is broken.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from _support import DEFAULT_POSTGRES, postgres_database, promise, table, verdict

from conduct_desk.bootstrap import bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.model import Case, CaseState, Report, Source, Step, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.domain.timers import Timer, TimerKind, TimerStatus
from conduct_desk.storage import tables

BOT_TOKEN, SCIM_TOKEN = "xoxb-bench-bot", "xoxp-bench-scim"
ADMINS, CHUNK = "C0ADMINS01", 500


def seed(url: str, users: list[str]) -> None:
    """One case per user with a suspension carried out, its end already due."""
    app = bootstrap(Settings(database_url=url), platforms={})
    now = datetime.now(UTC)
    past = now - timedelta(hours=13)
    for start in range(0, len(users), CHUNK):
        with app.uow() as uow:
            for user in users[start:start + CHUNK]:
                person = PersonRef("slack", user)
                case = Case(subject=person, opened_at=past, state=CaseState.ACTING,
                            taken_by="ada", taken_at=past, first_step_at=past,
                            reports=[Report(person, None, past, Source.CLI, note="bench")],
                            steps=[Step(rung="suspend", action=Action.SUSPEND, actor="ada",
                                        recorded_at=past, text="You are suspended for 12 hours.",
                                        status=StepStatus.DONE, until=now - timedelta(minutes=1),
                                        attempts=1, notified=True, completed_at=past)])
                uow.cases.add(case)
                uow.cases.save(case)
                assert case.id is not None and case.steps[0].id is not None
                uow.timers.schedule(Timer(TimerKind.SUSPENSION_ENDS, now - timedelta(minutes=1),
                                          case.id, case.steps[0].id))
            uow.commit()
    app.engine.dispose()


def worker_env(url: str, fake_url: str, lease: float) -> dict[str, str]:
    src = Path(__file__).resolve().parents[1] / "src"
    return {**os.environ, "PYTHONPATH": str(src), "CONDUCT_DATABASE_URL": url,
            "CONDUCT_TIMER_LEASE_SECONDS": str(lease),
            "CONDUCT_SLACK_BOT_TOKEN": BOT_TOKEN, "CONDUCT_SLACK_SIGNING_SECRET": "bench-secret",
            "CONDUCT_SLACK_ADMIN_CHANNEL": ADMINS, "CONDUCT_SLACK_API_URL": f"{fake_url}api/",
            "CONDUCT_SLACK_SCIM_URL": f"{fake_url}scim/v2/", "CONDUCT_SLACK_SCIM_TOKEN": SCIM_TOKEN,
            "CONDUCT_SLACK_TIMEOUT": "5"}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "conduct_desk", "worker", "--interval", "0.1",
                                 "--batch", "10"], env=env, stdout=out, stderr=out)


def remaining(url_engine: sa.Engine) -> int:
    """Suspensions not yet ended, and welcome-back messages not yet sent."""
    c, n = tables.timers.c, tables.notices.c
    with url_engine.connect() as conn:
        timers = conn.execute(sa.select(sa.func.count()).where(
            c.kind == str(TimerKind.SUSPENSION_ENDS),
            c.status.in_([str(TimerStatus.PENDING), str(TimerStatus.RUNNING)]))).scalar_one()
        notices = conn.execute(sa.select(sa.func.count()).select_from(tables.notices)
                               .where(n.status == "pending")).scalar_one()
    return int(timers) + int(notices)


def main() -> None:
    from tests.support.fake_slack import FakeSlack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suspensions", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--lease", type=float, default=5.0, help="timer lease (s)")
    parser.add_argument("--seconds", type=float, default=900.0, help="give up after this long")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin URL")
    parser.add_argument("--small", action="store_true", help="a quick run (CI): 60 suspensions")
    args = parser.parse_args()
    if args.small:
        args.suspensions, args.every, args.lease = min(args.suspensions, 60), 1.5, 2.0
        args.seconds = min(args.seconds, 150.0)
    rng = random.Random(11)
    users = [f"U{i:09d}" for i in range(args.suspensions)]
    broken: list[str] = []
    with FakeSlack(tokens={BOT_TOKEN}, scim_tokens={SCIM_TOKEN}) as fake, \
            postgres_database(args.postgres, "kill") as url, \
            tempfile.TemporaryDirectory(prefix="conduct-kill-") as tmp:
        for user in users:
            fake.add_user(user, user.lower(), real_name=f"Member {user}", deleted=True)
        fake.add_channel(ADMINS, "admins", members=[], is_private=True)
        t0 = time.monotonic()
        seed(url, users)
        print(f"{args.suspensions} suspensions seeded in {time.monotonic() - t0:.1f}s, all due; "
              f"{args.workers} `conduct worker` processes on PostgreSQL, one killed (SIGKILL) "
              f"every {args.every:.0f}s; timer lease {args.lease:.0f}s")
        env = worker_env(url, fake.url, args.lease)
        log = Path(tmp) / "workers.log"
        procs = [start_worker(env, log) for _ in range(args.workers)]
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        kills, start = 0, time.monotonic()
        # the first kill comes early, while restores are under way: a quick machine must not
        # finish them all before any worker dies
        next_kill = start + min(args.every, 0.5)
        left = args.suspensions
        try:
            while time.monotonic() < start + args.seconds:
                left = remaining(engine)
                if left == 0:
                    break
                if time.monotonic() >= next_kill:
                    victim = rng.randrange(len(procs))
                    procs[victim].send_signal(signal.SIGKILL)
                    procs[victim].wait()
                    procs[victim] = start_worker(env, log)
                    kills += 1
                    next_kill += args.every
                time.sleep(0.2)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        elapsed = time.monotonic() - start
        reactivations = Counter(
            c.params.get("id") for c in fake.calls_to("scim.v2.Users.patch")
            if "true" in str(c.params).lower())
        dm_channels = {fake.dm_channel_id(u): u for u in users if fake.get_user(u)}
        welcomes = Counter(dm_channels.get(c.params.get("channel"))
                           for c in fake.calls_to("chat.postMessage"))
        looked = len(fake.calls_to("conversations.history"))
        s = tables.steps.c
        with engine.connect() as conn:
            restore_steps = Counter(r.case_id for r in conn.execute(
                sa.select(s.case_id).where(s.rung == "restore")))
            by_status = Counter(r.status for r in conn.execute(
                sa.select(s.status).where(s.rung == "restore")))
        engine.dispose()
    lost = sum(1 for u in users if reactivations[u] == 0)
    twice = sum(1 for u in users if reactivations[u] > 1)
    welcomed_twice = sum(1 for u in users if welcomes[u] > 1)
    welcome_lost = sum(1 for u in users if welcomes[u] == 0)
    steps_twice = sum(1 for n in restore_steps.values() if n > 1)
    print(table(["figure", "value"], [
        ["suspensions ended", args.suspensions],
        ["workers killed (SIGKILL)", kills],
        ["time to all restored (s)", f"{elapsed:.1f}" if left == 0 else f"not done ({left} left)"],
        ["restores lost (account never given back)", lost],
        ["restores run twice (given back twice)", twice],
        ["restore steps recorded (done)",
         f"{sum(restore_steps.values())} ({by_status.get('done', 0)})"],
        ["suspensions with two restore steps", steps_twice],
        ["welcome-back messages lost / sent twice", f"{welcome_lost} / {welcomed_twice}"],
        ["second tries that looked for their message first", looked],
    ]))
    print()
    promise(broken, kills > 0, f"workers were killed ({kills})")
    promise(broken, lost == 0 and left == 0, f"0 restores lost ({lost})")
    promise(broken, twice == 0, f"0 restores run twice ({twice})")
    promise(broken, steps_twice == 0 and len(restore_steps) == args.suspensions,
            "one restore step per suspension")
    promise(broken, welcome_lost == 0, f"every welcome-back message sent ({welcome_lost} lost)")
    promise(broken, welcomed_twice == 0,
            f"no welcome-back message sent twice ({welcomed_twice})")
    verdict(broken)


if __name__ == "__main__":
    main()
