"""Timer benchmark: worker processes on PostgreSQL run many timers; none may run twice.

Every worker is a separate process with its own engine and app, looping on
``app.bus.handle(RunDueTimers(worker, limit=batch))`` as ``conduct worker`` does (when none
is due, it waits ``--interval`` seconds): the real claim (``FOR UPDATE SKIP LOCKED``), run and
finish path. The timers are of kind ``NOOP``, whose handler does nothing, so the figure is the
desk's own cost per timer. Each worker wraps the ``NOOP`` handler to remember every timer id
it ran, and when (wall clock), and writes them to a file; the parent counts ids run more than
once and ids never run, checks the rows, and prints the lag of each run after its due time.

Two shapes (``--spread``):

* ``0``: every timer is already due at the start (a backlog: throughput, the lag is the
  time to drain it);
* ``S`` seconds: the timers fall due evenly over the ``S`` seconds after the start, as
  suspensions ending through a day do, compressed; the lag after the due time is the
  restore lag (target p99 under 1 s). ``S`` must leave the workers room: timers / S must
  stay under the throughput the backlog shape prints.

    PYTHONPATH=src python bench/timers.py --timers 100000 --workers 4 --spread 0
    PYTHONPATH=src python bench/timers.py --timers 1000000 --workers 4 --spread 300
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _support import DEFAULT_POSTGRES, percentile, postgres_database, table

from conduct_desk.bootstrap import bootstrap
from conduct_desk.config import Settings, preset_text
from conduct_desk.domain.policy import parse_policy
from conduct_desk.domain.timers import Timer, TimerKind, TimerStatus
from conduct_desk.service import commands, handlers
from conduct_desk.service.ports import UnitOfWork
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine

TARGET_SECONDS = 20.0  # the backlog of --timers, drained
TARGET_LAG = 1.0  # seconds after the due time, p99


def seed(url: str, count: int, first_due: datetime, spread: float) -> None:
    """``count`` NOOP timers, due from ``first_due`` evenly over ``spread`` seconds (COPY on
    PostgreSQL: a million rows in seconds)."""
    engine = create_engine(url)
    step = spread / count if spread > 0 else 0.0
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                "COPY timers (kind, due_at, status, attempts) FROM STDIN") as copy:
            for i in range(count):
                due = first_due + timedelta(seconds=i * step, microseconds=0 if step else i)
                copy.write_row((str(TimerKind.NOOP), due, str(TimerStatus.PENDING), 0))
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE timers")
    engine.dispose()


def worker(name: str, url: str, batch: int, interval: float, out: Path, ready: Any, go: Any,
           deadline_s: float, expected: Any) -> None:
    """Run timers as they fall due until ``expected`` have run in all (or the time is up);
    write ``id wall-clock`` of each run to ``out``."""
    logging.basicConfig(level=logging.WARNING)
    ran: list[tuple[int, float]] = []

    def record(timer: Timer, uow: UnitOfWork, desk: handlers.Desk) -> None:
        assert timer.id is not None
        ran.append((timer.id, time.time()))

    handlers.TIMER_HANDLERS[TimerKind.NOOP] = record
    engine = create_engine(url, pool_size=1)
    policy = parse_policy(preset_text("guide"), "preset guide")
    app = bootstrap(Settings(database_url=url), engine=engine, policy=policy)
    command = commands.RunDueTimers(worker=name, limit=batch)
    ready.wait()  # everyone has started and connected
    go.wait()
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        n = app.bus.handle(command)
        if n:
            with expected.get_lock():
                expected.value -= n
        elif expected.value <= 0:
            break
        else:
            time.sleep(interval)
    out.write_text("".join(f"{i} {at:.6f}\n" for i, at in ran))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timers", type=int, default=100_000, help="due timers (default 100000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--batch", type=int, default=100,
                        help="timers claimed per RunDueTimers (default 100)")
    parser.add_argument("--spread", type=float, default=0.0,
                        help="seconds over which the timers fall due after the start; 0: all "
                             "due at once (default 0)")
    parser.add_argument("--interval", type=float, default=0.25,
                        help="a worker's wait when none is due (default 0.25; "
                             "`conduct worker --interval`)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES,
                        help="a server URL whose user may create databases; the benchmark "
                             f"creates and drops its own (default {DEFAULT_POSTGRES})")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="workers stop after this long even if timers are left "
                             "(default 120, or the spread + 120)")
    args = parser.parse_args(argv)
    for flag in ("timers", "workers", "batch"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    if args.timers > 10_000_000 or args.spread < 0 or args.interval <= 0:
        parser.error("--timers up to 10,000,000; --spread at least 0; --interval above 0")
    limit = args.max_seconds if args.spread == 0 else max(args.max_seconds, args.spread + 120)

    ctx = mp.get_context("spawn")  # each worker builds its own engine; nothing shared by fork
    with postgres_database(args.postgres_url, "timers") as url, \
            tempfile.TemporaryDirectory(prefix="conduct-bench-") as tmp:
        outs = [Path(tmp) / f"worker-{n}.ids" for n in range(args.workers)]
        ready = ctx.Barrier(args.workers + 1)
        go = ctx.Event()
        left = ctx.Value("q", args.timers)
        procs = [ctx.Process(target=worker, args=(f"bench-{n}", url, args.batch, args.interval,
                                                  outs[n], ready, go, limit, left))
                 for n in range(args.workers)]
        for p in procs:
            p.start()
        ready.wait(timeout=120)  # the workers have started and connected
        t0 = time.perf_counter()
        # due from a moment after the seed is done (an hour ago for the backlog shape)
        lead = 0.0 if args.spread == 0 else 5.0 + args.timers / 40_000
        first_due = datetime.now(UTC) + timedelta(seconds=lead) - timedelta(
            hours=1 if args.spread == 0 else 0)
        seed(url, args.timers, first_due, args.spread)
        late = (datetime.now(UTC) - first_due).total_seconds()
        print(f"seeded {args.timers:,} NOOP timers in {time.perf_counter() - t0:.1f}s, due "
              + ("already" if args.spread == 0 else f"over {args.spread:g}s from "
                 f"{first_due:%H:%M:%S}"
                 + (f" (the seed ended {late:.1f}s after the first was due: the lag of the "
                    "first ones counts that)" if late > 0 else "")), flush=True)
        start = time.perf_counter()
        go.set()
        for p in procs:
            p.join(limit + 60)
        elapsed = time.perf_counter() - start
        failed = [p.exitcode for p in procs if p.exitcode != 0]
        if failed:
            print(f"workers failed with exit codes {failed}")
            return 1

        per_worker = [[line.split() for line in out.read_text().splitlines()] for out in outs]
        runs = Counter(int(i) for rows in per_worker for i, _ in rows)
        twice = sum(1 for n in runs.values() if n > 1)
        engine = create_engine(url)
        with engine.connect() as conn:
            by_status: dict[str, int] = dict(conn.execute(
                sa.select(tables.timers.c.status, sa.func.count()).group_by(tables.timers.c.status)
            ).all())
            due = {r.id: r.due_at.timestamp() for r in conn.execute(
                sa.select(tables.timers.c.id, tables.timers.c.due_at))}
            never = args.timers - len(runs)
        engine.dispose()
    lags = sorted(float(at) - due[int(i)] for rows in per_worker for i, at in rows)

    ran = sum(runs.values())
    ok = twice == 0 and never == 0 and (
        elapsed < TARGET_SECONDS if args.spread == 0 else percentile(lags, 99) < TARGET_LAG)
    target = (f"< {TARGET_SECONDS:g}s, none twice" if args.spread == 0
              else f"lag p99 < {TARGET_LAG:g}s, none twice")
    print(table(
        ["workers", "batch", "timers", "spread s", "runs", "seconds", "timers/s", "ran twice",
         "never ran", "lag p50 s", "lag p99 s", "lag max s", target],
        [[args.workers, args.batch, f"{args.timers:,}", f"{args.spread:g}", f"{ran:,}",
          f"{elapsed:.2f}", f"{ran / elapsed:,.0f}", twice, never,
          f"{percentile(lags, 50):.3f}", f"{percentile(lags, 99):.3f}",
          f"{max(lags, default=0):.3f}", "ok" if ok else "MISSED"]],
    ))
    print("lag = when the worker ran a timer - when it was due (wall clock; with --spread 0 "
          "every timer was due an hour before, so the lag there is only relative)")
    print("per worker: " + ", ".join(f"{len(rows):,}" for rows in per_worker)
          + "; rows by status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_status.items())))
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
