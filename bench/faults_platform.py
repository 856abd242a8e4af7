"""Platform faults: a share of the platform's answers are 429 (with a wait), 500 or time-outs,
while admins take many steps. Promises: no step lost, every failure visible on its case, all
done in the end (every step done; every notice sent, or failed and shown on its case: a
message held back before a Slack deactivation cannot reach the account once it is off).

The platform is the Slack fake (``tests/support/fake_slack.py``, the real ``slack_sdk`` pointed
at it) or, with ``--synapse``, a real Synapse homeserver; a :class:`FaultProxy` on loopback sits
between the desk and it and answers ``--rate`` of the calls itself. Steps are taken through the
bus from ``--threads`` threads (as the web desk's threads would), cycling remind, warn, remove
and suspend; timer workers (threads) run the retries on the real clock. The policy is the
guide's with ``[retry] backoff = "1s"`` and ``attempts = 8`` so that the run ends in minutes.

    PYTHONPATH=src:. python bench/faults_platform.py [--steps 1000] [--rate 0.2] [--small]
    PYTHONPATH=src:. python bench/faults_platform.py --synapse [--steps 200]

Exit status 1 when a promise is broken.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from _support import FaultProxy, promise, table, verdict

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings, preset_text
from conduct_desk.domain.model import Source, StepStatus
from conduct_desk.domain.notices import NoticeStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy, parse_policy
from conduct_desk.service import commands
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine, upgrade

RUNGS = ("remind", "warn", "remove", "suspend")
TALK = "C0TALK0001"
ADMINS = "C0ADMINS01"
ADMIN = "U0ADMIN001"
BOT_TOKEN, SCIM_TOKEN = "xoxb-bench-bot", "xoxp-bench-scim"


def bench_policy() -> Policy:
    text = preset_text("guide")
    assert 'attempts = 5' in text and 'backoff = "1m"' in text
    text = text.replace("attempts = 5", "attempts = 8").replace('backoff = "1m"', 'backoff = "1s"')
    return parse_policy(text, "guide, quick retries")


def take_steps(app: App, subjects: list[tuple[PersonRef, str, str | None]], admin: str,
               threads: int) -> tuple[list[tuple[int, int]], list[str]]:
    """File a report about each subject and take one step on its case; (case, step) ids and
    the errors of steps that could not be recorded (each one lost)."""
    recorded: list[tuple[int, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        person, channel, message = subjects[i]
        rung = RUNGS[i % len(RUNGS)]
        try:
            filed = app.bus.handle(commands.FileReport(
                subject=person, reporter=None, source=Source.CLI, channel=channel,
                message_id=message, note="bench"))
            step_id = app.bus.handle(commands.TakeStep(
                case_id=filed.case_id, rung=rung, admin=admin, reason="bench: this rung",
                duration="12h" if rung == "suspend" else None))
        except Exception as exc:  # a lost step: counted, and the run goes on
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            recorded.append((filed.case_id, step_id))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(len(subjects))))
    return recorded, errors


def run_timers_until_done(app: App, recorded: list[tuple[int, int]], workers: int,
                          deadline: float) -> tuple[float | None, int]:
    """Timer workers (threads) until every step is done and no notice waits, or the deadline;
    returns when all was done (monotonic), or None, and how many timers ran."""
    stop = threading.Event()
    ran = Counter[str]()

    def work(name: str) -> None:
        while not stop.is_set():
            try:
                n = app.bus.handle(commands.RunDueTimers(worker=name, limit=20))
            except Exception:
                logging.getLogger("bench").exception("timer worker")
                n = 0
            ran[name] += n
            if n == 0:
                stop.wait(0.2)

    pool = [threading.Thread(target=work, args=(f"w{i}",), daemon=True) for i in range(workers)]
    for t in pool:
        t.start()
    done_at = None
    try:
        while time.monotonic() < deadline:
            if all_done(app, recorded):
                done_at = time.monotonic()
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for t in pool:
            t.join(timeout=30)
    return done_at, sum(ran.values())


def all_done(app: App, recorded: list[tuple[int, int]]) -> bool:
    s, n = tables.steps.c, tables.notices.c
    ids = [step for _, step in recorded]
    with app.engine.connect() as conn:
        waiting = conn.execute(sa.select(sa.func.count()).where(
            s.id.in_(ids), s.status != str(StepStatus.DONE))).scalar_one()
        pending = conn.execute(sa.select(sa.func.count()).select_from(tables.notices).where(
            n.status == str(NoticeStatus.PENDING))).scalar_one()
    return waiting == 0 and pending == 0


def figures(app: App, recorded: list[tuple[int, int]], lost_at_intake: list[str],
            proxy: FaultProxy, elapsed: float | None, wanted: int, ran: int) -> list[str]:
    s, a, n = tables.steps.c, tables.audit.c, tables.notices.c
    ids = [step for _, step in recorded]
    with app.engine.connect() as conn:
        statuses = Counter(r.status for r in conn.execute(sa.select(s.status).where(s.id.in_(ids))))
        retried = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(s.attempts - 1), 0))
                               .where(s.id.in_(ids))).scalar_one()
        failed_entries = conn.execute(sa.select(a.case_id, a.detail).where(
            a.kind == "step.failed")).all()
        notices = Counter(r.status for r in conn.execute(sa.select(n.status)))
        notices_audited = conn.execute(sa.select(sa.func.count()).select_from(tables.audit)
                                       .where(a.kind == "notice.failed")).scalar_one()
        notices_late = conn.execute(sa.select(sa.func.count()).select_from(tables.notices).where(
            n.attempts > 1)).scalar_one()
    failed_notices = Counter(f"{r.purpose}: {r.last_error}" for r in app.engine.connect().execute(
        sa.select(n.purpose, n.last_error).where(n.status == str(NoticeStatus.FAILED))))
    for why, count in failed_notices.most_common(5):
        print(f"failed notice x{count}: {why}")
    visible = [e for e in failed_entries if (e.detail or {}).get("detail")]
    print(table(["fault injected", "calls"], [[k, v] for k, v in proxy.faults.items()]
                + [["(all calls through the proxy)", proxy.calls]]))
    print()
    lost = wanted - statuses.get(str(StepStatus.DONE), 0)
    rows = [
        ["steps asked for", wanted],
        ["steps recorded", len(recorded)],
        ["steps done in the end", statuses.get(str(StepStatus.DONE), 0)],
        ["steps lost", lost],
        ["failed tries of steps (retried)", retried],
        ["  of which on the case (step.failed + the platform's error)", len(visible)],
        ["notices sent / pending / failed",
         f"{notices.get('sent', 0)} / {notices.get('pending', 0)} / {notices.get('failed', 0)}"],
        ["notices sent after a refused try", notices_late],
        ["timers run", ran],
        ["time to all done (s)", f"{elapsed:.1f}" if elapsed is not None else "not done"],
    ]
    print(table(["figure", "value"], rows))
    print()
    broken: list[str] = []
    promise(broken, not lost_at_intake and lost == 0, f"0 steps lost ({lost}; "
            f"{len(lost_at_intake)} not recorded{': ' + lost_at_intake[0] if lost_at_intake else ''})")
    promise(broken, len(visible) == len(failed_entries) and len(failed_entries) >= retried,
            f"every failed try is on its case with the platform's error ({len(visible)} of "
            f"{retried})")
    promise(broken, elapsed is not None, "all done in the end (every step done, no notice "
            "waiting)")
    promise(broken, notices_audited == notices.get("failed", 0),
            f"every notice not delivered is on its case ({notices_audited} of "
            f"{notices.get('failed', 0)})")
    promise(broken, sum(proxy.faults.values()) > 0, "faults were injected")
    return broken


def slack_run(args: argparse.Namespace, url: str) -> list[str]:
    from tests.support.fake_slack import FakeSlack

    from conduct_desk.platforms.slack import SlackSettings, configure

    with FakeSlack(tokens={BOT_TOKEN}, scim_tokens={SCIM_TOKEN}) as fake, \
            FaultProxy(fake.url.rstrip("/"), args.rate, hold=args.timeout + 1.0) as proxy:
        fake.add_user(ADMIN, "ada", real_name="Ada Admin")
        subjects = []
        for i in range(args.steps):
            user = f"U{i:09d}"
            fake.add_user(user, f"member{i}", real_name=f"Member {i}")
            subjects.append(user)
        fake.add_channel(TALK, "talk", members=subjects)
        fake.add_channel(ADMINS, "admins", members=[ADMIN], is_private=True)
        said = [(PersonRef("slack", u), TALK, fake.add_message(TALK, "that was not ok", user=u))
                for u in subjects]
        app = bootstrap(Settings(database_url=url), policy=bench_policy(), platforms={})
        adapter = configure(app, SlackSettings(
            bot_token=BOT_TOKEN, signing_secret="bench-secret", admin_channel=ADMINS,
            admins=f"{ADMIN}:admin", api_url=f"{proxy.url}/api/", scim_url=f"{proxy.url}/scim/v2/",
            scim_token=SCIM_TOKEN, timeout=args.timeout))
        assert adapter is not None
        app.desk.platforms["slack"] = adapter.platform
        return measure(args, app, said, f"slack:{ADMIN}", proxy)


def measure(args: argparse.Namespace, app: App, subjects: list[tuple[PersonRef, str, str | None]],
            admin: str, proxy: FaultProxy) -> list[str]:
    print(f"{args.steps} steps ({', '.join(RUNGS)} in turn) from {args.threads} threads, "
          f"{args.rate:.0%} of platform calls faulted (429 with Retry-After: 1 / 500 / held "
          f"{proxy.hold:.0f}s against a {args.timeout:.0f}s client time-out), {args.workers} "
          "timer workers")
    start = time.monotonic()
    recorded, lost = take_steps(app, subjects, admin, args.threads)
    print(f"steps taken in {time.monotonic() - start:.1f}s; running timers until all is done "
          f"(at most {args.seconds:.0f}s)")
    done_at, ran = run_timers_until_done(app, recorded, args.workers, start + args.seconds)
    elapsed = done_at - start if done_at is not None else None
    broken = figures(app, recorded, lost, proxy, elapsed, args.steps, ran)
    app.engine.dispose()
    return broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1.0, help="the client's time-out (s)")
    parser.add_argument("--seconds", type=float, default=900.0, help="give up after this long")
    parser.add_argument("--synapse", action="store_true", help="a real Synapse, not Slack's fake")
    parser.add_argument("--small", action="store_true", help="a quick run (CI): 40 steps")
    args = parser.parse_args()
    if args.small:
        args.steps, args.seconds = min(args.steps, 40), min(args.seconds, 120.0)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("slack_sdk").setLevel(logging.CRITICAL)  # each time-out is counted here
    with tempfile.TemporaryDirectory(prefix="conduct-faults-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'faults.db'}"
        upgrade(create_engine(url))
        if args.synapse:
            from faults_synapse import synapse_run

            broken = synapse_run(args, url, measure)
        else:
            broken = slack_run(args, url)
    verdict(broken)


if __name__ == "__main__":
    main()
