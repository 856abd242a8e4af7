"""Timer benchmark: worker processes on PostgreSQL run many due timers; none may run twice.

Every worker is a separate process with its own engine and app, looping on
``app.bus.handle(RunDueTimers(worker, limit=batch))`` until nothing is due: the real claim
(``FOR UPDATE SKIP LOCKED``), run and finish path. The timers are of kind ``NOOP``, whose
handler does nothing, so the figure is the desk's own cost per timer. To count runs, each
worker wraps the ``NOOP`` handler to remember every timer id it ran and writes them to a
file; the parent counts ids run more than once, ids never run, and checks the rows.

    PYTHONPATH=src python bench/timers.py --timers 100000 --workers 4 --batch 100
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
from _support import DEFAULT_POSTGRES, postgres_database, table

from conduct_desk.bootstrap import bootstrap
from conduct_desk.config import Settings, preset_text
from conduct_desk.domain.policy import parse_policy
from conduct_desk.domain.timers import Timer, TimerKind, TimerStatus
from conduct_desk.service import commands, handlers
from conduct_desk.service.ports import UnitOfWork
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine

TARGET_SECONDS = 20.0
INSERT_CHUNK = 10_000


def seed(url: str, count: int) -> None:
    """``count`` NOOP timers, all already due (spread over the last hour)."""
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for start in range(0, count, INSERT_CHUNK):
            conn.execute(tables.timers.insert(), [
                {"kind": str(TimerKind.NOOP), "case_id": None, "step_id": None,
                 "due_at": now - timedelta(hours=1) + timedelta(microseconds=i * 10),
                 "status": str(TimerStatus.PENDING), "attempts": 0}
                for i in range(start, min(start + INSERT_CHUNK, count))
            ])
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE timers")
    engine.dispose()


def worker(name: str, url: str, batch: int, out: Path, ready: Any, go: Any,
           deadline_s: float) -> None:
    """Run due timers until none are left (or the time is up); write the ids run to ``out``."""
    logging.basicConfig(level=logging.WARNING)
    ran: list[int] = []

    def record(timer: Timer, uow: UnitOfWork, desk: handlers.Desk) -> None:
        assert timer.id is not None
        ran.append(timer.id)

    handlers.TIMER_HANDLERS[TimerKind.NOOP] = record
    engine = create_engine(url, pool_size=1)
    policy = parse_policy(preset_text("guide"), "preset guide")
    app = bootstrap(Settings(database_url=url), engine=engine, policy=policy)
    command = commands.RunDueTimers(worker=name, limit=batch)
    ready.wait()  # everyone has started and connected
    go.wait()
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if not app.bus.handle(command):
            break
    out.write_text("".join(f"{i}\n" for i in ran))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timers", type=int, default=100_000, help="due timers (default 100000)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--batch", type=int, default=100,
                        help="timers claimed per RunDueTimers (default 100)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES,
                        help="a server URL whose user may create databases; the benchmark "
                             f"creates and drops its own (default {DEFAULT_POSTGRES})")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="workers stop after this long even if timers are left (default 120)")
    args = parser.parse_args(argv)
    for flag in ("timers", "workers", "batch"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")

    ctx = mp.get_context("spawn")  # each worker builds its own engine; nothing shared by fork
    with postgres_database(args.postgres_url, "timers") as url, \
            tempfile.TemporaryDirectory(prefix="conduct-bench-") as tmp:
        t0 = time.perf_counter()
        seed(url, args.timers)
        print(f"seeded {args.timers:,} due NOOP timers in {time.perf_counter() - t0:.1f}s")
        ready = ctx.Barrier(args.workers + 1)
        go = ctx.Event()
        outs = [Path(tmp) / f"worker-{n}.ids" for n in range(args.workers)]
        procs = [ctx.Process(target=worker, args=(f"bench-{n}", url, args.batch, outs[n], ready, go,
                                                  args.max_seconds))
                 for n in range(args.workers)]
        for p in procs:
            p.start()
        ready.wait(timeout=120)
        start = time.perf_counter()
        go.set()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - start
        failed = [p.exitcode for p in procs if p.exitcode != 0]
        if failed:
            print(f"workers failed with exit codes {failed}")
            return 1

        per_worker = [[int(line) for line in out.read_text().split()] for out in outs]
        runs = Counter(i for ids in per_worker for i in ids)
        twice = sum(1 for n in runs.values() if n > 1)
        engine = create_engine(url)
        with engine.connect() as conn:
            by_status: dict[str, int] = dict(conn.execute(
                sa.select(tables.timers.c.status, sa.func.count()).group_by(tables.timers.c.status)
            ).all())
            never = args.timers - len(runs)
        engine.dispose()

    ran = sum(runs.values())
    print(table(
        ["workers", "batch", "timers", "runs", "seconds", "timers/s", "ran twice", "never ran",
         f"< {TARGET_SECONDS:g}s, none twice"],
        [[args.workers, args.batch, f"{args.timers:,}", f"{ran:,}", f"{elapsed:.2f}",
          f"{ran / elapsed:,.0f}", twice, never,
          "ok" if elapsed < TARGET_SECONDS and twice == 0 and never == 0 else "MISSED"]],
    ))
    print("per worker: " + ", ".join(f"{len(ids):,}" for ids in per_worker)
          + "; rows by status: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_status.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
