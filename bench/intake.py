"""Intake benchmark: reports filed per second, beside a bare INSERT + COMMIT of one row.

Each report goes the whole way through ``app.bus.handle(FileReport(...))`` with the sandbox
platform: the case, report, audit entry, two deadline timers and the notices in one
transaction, then the ``ReportFiled`` event. The desk is built as ``conduct serve`` builds it:
the reporter's thanks and the admins' line are tried on the deliverer's thread, after the
caller has its answer; each block waits for them all to be delivered before the next
baseline block is timed (so the baseline never runs beside them), and that wait is reported
apart. Each report is about a different message, so each opens a case: the most expensive
kind of filing.

The baseline, measured in the same run on the same engine and driver, is one INSERT and
COMMIT into a table with the reports table's columns, indexes and row contents. The two
are measured in alternating blocks so that both see the same disk and cache conditions.

    PYTHONPATH=src python bench/intake.py --count 2000 --backend both
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from _support import DEFAULT_POSTGRES, percentile, postgres_database, sqlite_database, table
from sqlalchemy.engine import Engine

from conduct_desk.bootstrap import App, bootstrap, start_deliverer, stop_deliverer
from conduct_desk.config import Settings, preset_text
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import parse_policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands
from conduct_desk.service.clock import SystemClock
from conduct_desk.service.deliverer import Deliverer
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine

TARGET_RATIO = 2.0  # issue 13: within 2x of the bare INSERT + COMMIT
BLOCK = 50  # reports (and baseline rows) per alternating block
MESSAGE = ("you clearly have no idea what you are talking about, maybe go back to whatever "
           "beginner forum you came from and stop wasting everyone's time here. " * 2)
NOTE = "Second time this week in this channel; several people stopped answering the thread."


def baseline_table() -> sa.Table:
    """A copy of ``reports``: the same columns, types, unique key and index; no foreign key."""
    metadata = sa.MetaData()
    columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable,
                         unique=c.unique) for c in tables.reports.columns]
    copy = sa.Table("bench_baseline", metadata, *columns)
    sa.Index("ix_bench_baseline_reporter", copy.c.reporter_platform, copy.c.reporter_id)
    sa.Index("ix_bench_baseline_case", copy.c.case_id)
    return copy


def report(i: int) -> commands.FileReport:
    return commands.FileReport(
        subject=PersonRef("sandbox", f"subject-{i % 997}"),
        reporter=PersonRef("sandbox", f"reporter-{i % 509}"),
        source=Source.API, channel="general", message_id=f"m{i}",
        message_text=MESSAGE, message_link=f"https://chat.example.org/general/m{i}",
        harmed=(PersonRef("sandbox", f"harmed-{i % 13}"),), note=NOTE,
    )


def baseline_row(i: int, now: Any) -> dict[str, Any]:
    """What ``reports`` gets for :func:`report` ``i``: the same bytes in the same columns."""
    return {
        "case_id": i, "subject_platform": "sandbox", "subject_id": f"subject-{i % 997}",
        "reporter_platform": "sandbox", "reporter_id": f"reporter-{i % 509}", "anonymous": False,
        "filed_at": now, "source": "api", "channel": "general", "message_id": f"m{i}",
        "message_text": MESSAGE, "message_link": f"https://chat.example.org/general/m{i}",
        "harmed": [f"sandbox:harmed-{i % 13}"], "note": NOTE, "flagrant": False,
        "status_token": f"{i:032d}",
    }


@dataclass
class Result:
    backend: str
    reports: list[float]
    baseline: list[float]
    wall: float
    delivering: float  # waiting for the deliverer after each block: in no per-report figure

    def row(self) -> list[object]:
        r, b = self.reports, self.baseline
        mean_r, mean_b = statistics.fmean(r), statistics.fmean(b)
        ratio = mean_r / mean_b
        return [
            self.backend, len(r), f"{len(r) / sum(r):,.0f}", ms(percentile(r, 50)), ms(percentile(r, 99)),
            f"{len(b) / sum(b):,.0f}", ms(percentile(b, 50)), ms(percentile(b, 99)),
            f"{ratio:.2f}x", f"{percentile(r, 50) / percentile(b, 50):.2f}x",
            "ok" if ratio <= TARGET_RATIO else "MISSED",
        ]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def timed(fn: Callable[[int], object], i: int) -> float:
    start = time.perf_counter()
    fn(i)
    return time.perf_counter() - start


def run(backend: str, url: str, count: int, deadline: float) -> Result:
    engine: Engine = create_engine(url)
    base = baseline_table()
    base.metadata.create_all(engine)
    policy = parse_policy(preset_text("guide"), "preset guide")
    sandbox = SandboxPlatform()
    app: App = bootstrap(Settings(database_url=url), engine=engine, policy=policy,
                         clock=SystemClock(), platforms={"sandbox": sandbox})
    deliverer = start_deliverer(app)  # as `conduct serve` runs
    insert = base.insert()
    clock = app.desk.clock

    def file(i: int) -> None:
        app.bus.handle(report(i))

    def bare(i: int) -> None:
        with engine.begin() as conn:
            conn.execute(insert, baseline_row(i, clock.now()))

    # warm up: pool, statement caches, the policy's templates
    warm = min(100, max(10, count // 20))
    for i in range(warm):
        file(1_000_000 + i)
        bare(1_000_000 + i)
    delivered(deliverer)
    thanked = sum(call.method == "send_dm" for call in sandbox.calls)
    sandbox.calls.clear()

    reports: list[float] = []
    baseline: list[float] = []
    delivering = 0.0
    start = time.perf_counter()
    i = 0
    while i < count and time.perf_counter() < deadline:
        block = range(i, min(i + BLOCK, count))
        for n in block:
            baseline.append(timed(bare, n))
        for n in block:
            reports.append(timed(file, n))
        delivering += delivered(deliverer)  # every thank-you sent and recorded
        thanked += sum(call.method == "send_dm" for call in sandbox.calls)
        sandbox.calls.clear()  # the sandbox remembers every call; keep memory flat
        i = block.stop
    wall = time.perf_counter() - start
    stop_deliverer(app)
    check(engine, len(reports) + warm, thanked)
    engine.dispose()
    return Result(backend, reports, baseline, wall, delivering)


def delivered(deliverer: Deliverer) -> float:
    """Wait until the deliverer has tried and recorded everything handed to it; how long."""
    start = time.perf_counter()
    if not deliverer.wait_idle(timeout=60):
        raise SystemExit("the deliverer did not deliver the thanks within a minute")
    return time.perf_counter() - start


def check(engine: Engine, expected: int, acks: int) -> None:
    """Every report filed opened a case, and every reporter was thanked, once, and each
    notice is recorded sent."""
    n = tables.notices.c
    with engine.connect() as conn:
        cases = conn.execute(sa.select(sa.func.count()).select_from(tables.cases)).scalar_one()
        unsent = conn.execute(sa.select(sa.func.count()).select_from(tables.notices)
                              .where(n.status != "sent")).scalar_one()
    if cases != expected or acks != expected or unsent:
        raise SystemExit(f"expected {expected} cases and acknowledgements, found {cases} and "
                         f"{acks}; {unsent} notices not recorded sent")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000, help="reports per backend (default 2000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES,
                        help="a server URL whose user may create databases; the benchmark "
                             f"creates and drops its own (default {DEFAULT_POSTGRES})")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="stop measuring a backend after this long (default 120)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    logging.basicConfig(level=logging.WARNING)

    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        deadline = time.perf_counter() + args.max_seconds
        if backend == "sqlite":
            with sqlite_database() as url:
                results.append(run("sqlite (WAL)", url, args.count, deadline))
        else:
            with postgres_database(args.postgres_url, "intake") as url:
                results.append(run("postgresql", url, args.count, deadline))
        print(f"{backend}: measured {len(results[-1].reports)} reports in "
              f"{results[-1].wall:.1f}s; waited {results[-1].delivering:.1f}s after the blocks "
              "for the deliverer to finish the thanks")

    print(table(
        ["backend", "reports", "reports/s", "p50 ms", "p99 ms", "base rows/s", "base p50",
         "base p99", "mean ratio", "p50 ratio", f"<= {TARGET_RATIO:g}x"],
        [r.row() for r in results],
    ))
    print("ratio = per-report cost / baseline cost (one INSERT + COMMIT of a report-sized row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
