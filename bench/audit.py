"""Audit log benchmark on PostgreSQL: `conduct audit verify` over many entries, and what an
append costs now (with its leaf hash) against the plain insert of before, in the same run.

The entries are bulk-loaded with COPY (each with the leaf hash storage would have written),
not through the bus. ``verify`` runs as the real command (a process), and its own figure
(the time it took to check, without starting up) is printed beside the wall time. The
appends alternate in rounds (plain then hashed, then hashed then plain), each one
transaction as a unit of work is (begin, insert, commit), so the machine's load falls on both
alike.

    PYTHONPATH=src python bench/audit.py --entries 1000000 --appends 2000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from _support import DEFAULT_POSTGRES, percentile, postgres_database, table
from psycopg.types.json import Json

import conduct_desk
from conduct_desk.domain.audit import entry_leaf
from conduct_desk.service.audit import make_checkpoint, prove_entry
from conduct_desk.service.ports import AuditEntry
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine
from conduct_desk.storage.uow import SqlUnitOfWork

KINDS = ("report.filed", "case.taken", "step.done", "case.resolved", "reporter.told")


def entry(i: int, start: datetime) -> AuditEntry:
    return AuditEntry(at=start + timedelta(seconds=i), actor=f"admin{i % 17}",
                      kind=KINDS[i % len(KINDS)], case_id=i // 5 + 1,
                      summary=f"admin{i % 17} did step {i % 8} on case {i // 5 + 1}",
                      detail={"report_id": i // 5 + 1, "hurt": i % 3})


def bulk_load(url: str, count: int) -> float:
    """COPY ``count`` entries, with their leaf hashes, in one transaction; the seconds taken."""
    started = time.perf_counter()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY audit (at, actor, kind, case_id, summary, detail, leaf_hash) "
                      "FROM STDIN") as copy:
            for i in range(count):
                e = entry(i, start)
                copy.write_row((e.at, e.actor, e.kind, e.case_id, e.summary, Json(e.detail),
                                entry_leaf(e.at, e.actor, e.kind, e.case_id, e.summary, e.detail)))
        cur.execute("ANALYZE audit")
    return time.perf_counter() - started


def run_verify(url: str) -> tuple[float, str]:
    # the command runs this code, and never finds bench/'s own modules (bench/discord.py)
    env = {**os.environ, "CONDUCT_DATABASE_URL": url,
           "PYTHONPATH": str(Path(conduct_desk.__file__).parents[1])}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "conduct_desk", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"verify failed: {done.stdout}{done.stderr}")
    return wall, done.stdout.strip()


def appends(url: str, count: int, rounds: int) -> tuple[list[float], list[float]]:
    """Per round, the mean seconds of one append: the plain insert (no hash), and the desk's
    append (``SqlAuditLog.append_all``, which hashes)."""
    engine = create_engine(url)
    plain_insert = tables.audit.insert()
    start = datetime(2027, 1, 1, tzinfo=UTC)
    plain: list[float] = []
    hashed: list[float] = []
    per_round = max(1, count // rounds)
    for r in range(rounds):
        order = (("plain", plain), ("hashed", hashed))
        for kind, out in order if r % 2 == 0 else order[::-1]:  # ABBA: drift falls on both
            started = time.perf_counter()
            for i in range(per_round):
                e = entry(r * per_round + i, start)
                with SqlUnitOfWork(engine) as uow:
                    if kind == "plain":
                        uow.audit.conn.execute(plain_insert, [{
                            "at": e.at, "actor": e.actor, "kind": e.kind, "case_id": e.case_id,
                            "summary": e.summary, "detail": e.detail}])
                    else:
                        uow.audit.append_all([e])
                    uow.commit()
            out.append((time.perf_counter() - started) / per_round)
    engine.dispose()
    return plain, hashed


PROOFS = 50  # inclusion proofs timed after the first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=2000, help="appends of each kind")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--postgres", default=os.environ.get("CONDUCT_BENCH_POSTGRES",
                                                              DEFAULT_POSTGRES))
    args = parser.parse_args()
    if not 1 <= args.entries <= 5_000_000 or not 1 <= args.appends <= 100_000:
        raise SystemExit("--entries 1..5000000, --appends 1..100000")
    with postgres_database(args.postgres, "audit") as url:
        loaded = bulk_load(url, args.entries)
        wall, said = run_verify(url)
        engine = create_engine(url)
        started = time.perf_counter()
        made = make_checkpoint(SqlUnitOfWork(engine), None, datetime.now(UTC))
        checkpoint_s = time.perf_counter() - started
        started = time.perf_counter()
        proof = prove_entry(SqlUnitOfWork(engine), args.entries // 2 + 1, None, datetime.now(UTC))
        proof_s = time.perf_counter() - started  # the first: keeps the subtrees (audit_nodes)
        assert proof is not None and made.checkpoint.size == args.entries
        rng = random.Random(7)
        proofs = []
        for _ in range(PROOFS):  # then as reporters ask, for entries anywhere in the log
            started = time.perf_counter()
            found = prove_entry(SqlUnitOfWork(engine), rng.randint(1, args.entries), None,
                                datetime.now(UTC))
            proofs.append(time.perf_counter() - started)
            assert found is not None
        engine.dispose()
        plain, hashed = appends(url, args.appends, args.rounds)
    ratio = statistics.median(h / p for h, p in zip(hashed, plain, strict=True))
    print(f"PostgreSQL, {args.entries} entries (bulk-loaded in {loaded:.1f} s)")
    print(f"  `conduct audit verify`: {wall:.2f} s wall (with start-up); it said: {said}")
    print(f"  first checkpoint over them all: {checkpoint_s:.2f} s; the first inclusion proof "
          f"(keeping the log's subtrees of 256 leaves and up): {proof_s:.2f} s")
    print(f"  a report's inclusion proof after that, {PROOFS} entries anywhere in the log: "
          f"p50 {percentile(proofs, 50) * 1000:.1f} ms, max {max(proofs) * 1000:.1f} ms")
    print(table(["append, one per transaction", "median µs/append (rounds)"], [
        ["plain insert, no hash (before)", f"{statistics.median(plain) * 1e6:.0f}"],
        ["the desk's append, with hash", f"{statistics.median(hashed) * 1e6:.0f}"],
    ]))
    print(f"  hashed / plain, median over {args.rounds} rounds: {ratio:.3f} "
          f"(the bar: at most 1.2)")


if __name__ == "__main__":
    main()
