"""Web benchmark: p50/p99 of the queue page and of a case page under a bounded load on
loopback, against ``conduct serve`` on PostgreSQL seeded with many cases and steps, printed
beside a bare Starlette page served by the same uvicorn in the same run.

The seed goes straight in with ``INSERT ... SELECT generate_series`` into its own database
(``conduct_bench_web`` by default, kept between runs: ``--reseed`` rebuilds it). One case in
a thousand is open, as in a community where most cases end; every case has one report, one
audit entry and ``steps / cases`` steps; subjects repeat, so a case page has a history.

    PYTHONPATH=src python bench/web.py                       # 1,000,000 cases, 10,000,000 steps
    PYTHONPATH=src python bench/web.py --cases 100000 --steps 1000000 --requests 1000

Against an earlier version, measured in the same run, in turns (``--rounds``), each desk on
its own database seeded by its own bench/web.py:

    git worktree add --detach /tmp/before COMMIT
    PYTHONPATH=src python bench/web.py --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from _support import DEFAULT_POSTGRES, cpu_seconds, percentile, table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from conduct_desk.storage.db import create_engine, upgrade

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
PASSWORD = "bench password, not secret"
TARGET_P50_RATIO = 5.0  # a desk page's p50 against the bare page's, measured in the same run
TARGET_P99_MS = 50.0


async def _bare(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>bare</title><main><h1>Hello</h1></main>")


bare_app = Starlette(routes=[Route("/", _bare)])

FLOOR_PAGE = ("<!doctype html><title>Case {{ c.id }}</title><main><h1>Case {{ c.id }}</h1>"
              "<p>About {{ c.subject_platform }}:{{ c.subject_id }}, {{ c.state }}, opened "
              "{{ c.opened_at }}</p></main>")


def floor_app() -> Any:
    """The floor of any page of the desk's stack: a FastAPI route (sync, so served from the
    thread pool, as the desk's pages are) that reads one case by its key with SQLAlchemy Core
    on the seeded database (``BENCH_WEB_DATABASE``) and renders a few of its fields with a
    Jinja2 template. Every desk page does at least this much: its sign-in check is a read."""
    from fastapi import FastAPI
    from jinja2 import Environment

    from conduct_desk.storage import tables

    engine = create_engine(os.environ["BENCH_WEB_DATABASE"])
    template = Environment(autoescape=True).from_string(FLOOR_PAGE)
    query = sa.select(tables.cases).where(tables.cases.c.id == sa.bindparam("id"))
    cases = int(os.environ["BENCH_WEB_CASES"])
    app = FastAPI()

    @app.get("/cases/{case_id}")
    def case(case_id: int) -> HTMLResponse:
        with engine.connect() as conn:
            row = conn.execute(query, {"id": (case_id - 1) % cases + 1}).first()
        return HTMLResponse(template.render(c=row))

    return app

SEED = [
    "SET synchronous_commit = off",
    # cases: 1 in 1000 open (acting); subjects repeat every `people` cases
    """INSERT INTO cases (id, subject_platform, subject_id, channel, message_id, state, opened_at,
         taken_by, taken_at, first_step_at, resolved_at, outcome, outcome_reason, subject_token,
         take_due_at, step_due_at, flagrant, hurt, report_count, last_step, is_open)
       SELECT g, 'sandbox', 'user' || (g % :people), '#c' || (g % 50), 'm' || g,
         CASE WHEN g % 1000 = 0 THEN 'acting' ELSE 'resolved' END,
         now() - (:cases - g) * interval '20 seconds',
         'ana', now() - (:cases - g) * interval '20 seconds' + interval '10 minutes',
         now() - (:cases - g) * interval '20 seconds' + interval '30 minutes',
         CASE WHEN g % 1000 = 0 THEN NULL ELSE now() - (:cases - g) * interval '20 seconds'
              + interval '2 hours' END,
         CASE WHEN g % 1000 = 0 THEN NULL ELSE 'steps-taken' END, NULL, md5(g::text),
         now() - (:cases - g) * interval '20 seconds' + interval '2 hours',
         now() - (:cases - g) * interval '20 seconds' + interval '6 hours',
         g % 7919 = 0, (g % 3)::int, 1, 'warn', g % 1000 = 0
       FROM generate_series(1, :cases) g""",
    "SELECT setval('cases_id_seq', :cases)",
    """INSERT INTO reports (case_id, subject_platform, subject_id, reporter_platform, reporter_id,
         anonymous, filed_at, source, channel, message_id, message_text, harmed, flagrant,
         status_token)
       SELECT g, 'sandbox', 'user' || (g % :people), 'sandbox', 'reporter' || (g % 5000),
         g % 4 = 0, now() - (:cases - g) * interval '20 seconds', 'slack', '#c' || (g % 50),
         'm' || g, 'something that was not ok, number ' || g, '[]'::json, false, md5('r' || g)
       FROM generate_series(1, :cases) g""",
    """INSERT INTO steps (case_id, rung, action, actor, recorded_at, text, status, recommended,
         reason, attempts, notified, completed_at)
       SELECT (g - 1) / :per + 1,
         (ARRAY['remind','suggest','remove','warn','suspend'])[(g % 5) + 1],
         (ARRAY['remind','suggest','remove','warn','suspend'])[(g % 5) + 1], 'ana',
         now() - (:cases - (g - 1) / :per) * interval '20 seconds' + (g % :per) * interval '1 minute',
         'Hi, this is an admin. A message about what was said, with the Code of Conduct link.',
         'done', 'remind', 'as recommended', 1, false, now()
       FROM generate_series(1, :steps) g""",
    """INSERT INTO audit (at, actor, kind, case_id, summary, detail)
       SELECT now() - (:cases - g) * interval '20 seconds', 'sandbox:reporter' || (g % 5000),
         'report.filed', g, 'report via slack; opened the case', '{}'::json
       FROM generate_series(1, :cases) g""",
    # one case in ten thousand has an appeal waiting (the queue's "Appeals waiting")
    """UPDATE cases SET appeal_due_at = opened_at + interval '7 days' WHERE id % 10000 = 7""",
]


def seed(admin_url: str, name: str, cases: int, steps: int, reseed: bool) -> str:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %(n)s",
                                      {"n": name}).first()
        if exists and not reseed:
            engine = create_engine(url)
            with engine.connect() as c:
                have = c.exec_driver_sql("SELECT count(*) FROM cases").scalar_one()
                have_steps = c.exec_driver_sql("SELECT count(*) FROM steps").scalar_one()
            engine.dispose()
            if (have, have_steps) == (cases, steps):
                print(f"using the seeded database {name}: {cases:,} cases, {steps:,} steps")
                admin.dispose()
                return url
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    engine = create_engine(url)
    upgrade(engine)
    people = max(1, cases // 10)
    per = max(1, steps // cases)
    started = time.perf_counter()
    with engine.connect() as conn:
        for statement in SEED:
            sql = (statement.replace(":cases", str(cases)).replace(":steps", str(steps))
                   .replace(":people", str(people)).replace(":per", str(per)))
            t0 = time.perf_counter()
            conn.exec_driver_sql(sql.replace("%", "%%"))
            conn.commit()
            print(f"  seed: {sql.split()[0]} {sql.split()[2] if len(sql.split()) > 2 else ''} "
                  f"{time.perf_counter() - t0:.1f}s", flush=True)
    engine.dispose()
    vacuum(url)
    print(f"seeded {name}: {cases:,} cases, {steps:,} steps in "
          f"{time.perf_counter() - started:.0f}s")
    return url


def wait_until_up(url: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    for _ in range(int(limit * 10)):
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up within {limit:.0f}s")


def sign_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/signin").text
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the sign-in page"
    r = client.post("/signin", data={"csrf": match.group(1), "name": "bench",
                                     "password": PASSWORD, "next": "/queue"})
    if r.status_code != 303:
        raise SystemExit(f"could not sign in: {r.status_code} {r.text[:200]}")
    return client


def load(make_client: Callable[[], httpx.Client], paths: Callable[[random.Random], str],
         requests: int, concurrency: int, time_limit: float) -> tuple[list[float], int]:
    """``requests`` GETs from ``concurrency`` workers (closed loop), stopping at ``time_limit``
    seconds whatever happens; returns the latencies in ms and the number of errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    remaining = [requests]
    deadline = time.monotonic() + time_limit

    def worker(seed_value: int) -> None:
        nonlocal errors
        rng = random.Random(seed_value)
        client = make_client()
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            path = paths(rng)
            t0 = time.perf_counter()
            try:
                ok = client.get(path).status_code == 200
            except httpx.HTTPError:
                ok = False
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(ms)
                errors += not ok
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 30)
    return latencies, errors


def start(cmd: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(cmd), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def prepare(src: Path, url: str) -> list[str]:
    """``conduct`` from the checkout ``src``: the database upgraded, the bench account added."""
    env = {**os.environ, "CONDUCT_DATABASE_URL": url, "PYTHONPATH": str(src)}
    conduct = [sys.executable, "-c", "from conduct_desk.cli import main; main()"]
    subprocess.run([*conduct, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    with tempfile.NamedTemporaryFile("w", suffix=".pw") as pw:
        pw.write(PASSWORD)
        pw.flush()
        subprocess.run([*conduct, "admin", "add", "bench", "--role", "observer",
                        "--password-file", pw.name], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fails harmlessly when it already exists
    return conduct


def seed_baseline(baseline: Path, admin_url: str, name: str, cases: int, steps: int,
                  reseed: bool) -> str:
    """The baseline's database, seeded by the baseline checkout's own bench/web.py (its
    schema is its own), in the same way and with the same sizes."""
    code = ("import sys, web; print(web.seed(sys.argv[1], sys.argv[2], int(sys.argv[3]), "
            "int(sys.argv[4]), sys.argv[5] == '1'))")
    env = {**os.environ, "PYTHONPATH": f"{baseline / 'src'}{os.pathsep}{baseline / 'bench'}"}
    done = subprocess.run([sys.executable, "-c", code, admin_url, name, str(cases), str(steps),
                           "1" if reseed else "0"], env=env, cwd=baseline / "bench",
                          check=True, stdout=subprocess.PIPE, text=True)
    lines = done.stdout.strip().splitlines()
    print("\n".join(f"  baseline {line}" for line in lines[:-1]))
    vacuum(lines[-1])  # an older bench/web.py only analyzed
    return lines[-1]


def vacuum(url: str) -> None:
    """As autovacuum would soon: the visibility map lets counts read an index alone."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


Paths = Callable[[random.Random], str]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10_000_000)
    parser.add_argument("--database", default="conduct_bench_web")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin URL on the server")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded database")
    parser.add_argument("--requests", type=int, default=2000, help="per page")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per page, at most")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="another checkout of the desk (e.g. `git worktree add /tmp/before "
                             "COMMIT`), served beside this one on its own seeded database; "
                             "its queue and case pages are measured in turns with these")
    parser.add_argument("--rounds", type=int, default=0,
                        help="turns per page, the requests split among them (default: 1, or 3 "
                             "with --baseline)")
    args = parser.parse_args()
    if not 1 <= args.cases <= 10_000_000 or not 0 <= args.steps <= 100_000_000:
        raise SystemExit("--cases from 1 to 10,000,000; --steps from 0 to 100,000,000")
    if args.baseline is not None and not (args.baseline / "src" / "conduct_desk").is_dir():
        raise SystemExit(f"--baseline {args.baseline}: no src/conduct_desk there; give a "
                         "checkout of the desk")
    rounds = args.rounds or (3 if args.baseline else 1)
    if not 1 <= rounds <= 20:
        raise SystemExit("--rounds from 1 to 20")

    url = seed(args.postgres, args.database, args.cases, args.steps, args.reseed)
    desks = [("", prepare(SRC, url), url, args.port)]
    if args.baseline is not None:
        base_url = seed_baseline(args.baseline.resolve(), args.postgres,
                                 args.database + "_baseline", args.cases, args.steps,
                                 args.reseed)
        desks.append((" (baseline)", prepare(args.baseline.resolve() / "src", base_url),
                      base_url, args.port + 2))
    procs = [start([*conduct, "serve", "--port", str(port)],
                   {**os.environ, "CONDUCT_DATABASE_URL": db,
                    "PYTHONPATH": str(SRC if not label else args.baseline.resolve() / "src")})
             for label, conduct, db, port in desks]
    bare_port = args.port + 1
    bare = start([sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "web:bare_app",
                  "--port", str(bare_port), "--log-level", "warning", "--no-access-log"],
                 dict(os.environ))
    floor_port = args.port + 3
    floor = start([sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--factory",
                   "web:floor_app", "--port", str(floor_port), "--log-level", "warning",
                   "--no-access-log"],
                  {**os.environ, "BENCH_WEB_DATABASE": url, "BENCH_WEB_CASES": str(args.cases),
                   "PYTHONPATH": str(SRC)})
    try:
        runs = [("bare Starlette page", lambda: httpx.Client(
            base_url=f"http://127.0.0.1:{bare_port}", timeout=10), lambda rng: "/", bare.pid),
                (FLOOR, lambda: httpx.Client(base_url=f"http://127.0.0.1:{floor_port}",
                                             timeout=10),
                 lambda rng: f"/cases/{rng.randint(1, args.cases)}", floor.pid)]
        wait_until_up(f"http://127.0.0.1:{bare_port}/")
        wait_until_up(f"http://127.0.0.1:{floor_port}/cases/1")
        for (label, _, _, port), proc in zip(desks, procs, strict=True):
            runs += desk_runs(label, f"http://127.0.0.1:{port}", proc.pid, args.cases,
                              baseline=bool(label))
        order = [runs[0]] + sorted(runs[1:], key=lambda r: PAGES.index(r[0].split(" (b")[0]))
        measured: dict[str, tuple[list[float], int, float]] = {}
        per_round = max(1, args.requests // rounds)
        for _ in range(rounds):  # in turns: a slower minute of the machine hits both
            for name, make, paths, pid in order:
                load(make, paths, min(50, per_round), args.concurrency, 30)  # warm up
                cpu = cpu_seconds(pid)
                lat, errors = load(make, paths, per_round, args.concurrency,
                                   args.time_limit / rounds)
                seen = measured.setdefault(name, ([], 0, 0.0))
                measured[name] = (seen[0] + lat, seen[1] + errors,
                                  seen[2] + cpu_seconds(pid) - cpu)
        report(args, order, measured, rounds)
    finally:
        for proc in (*procs, bare, floor):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


FLOOR = "floor: FastAPI, 1 SELECT, Jinja2"
PAGES = ["bare Starlette page", FLOOR, "queue page", "queue: appeals waiting",
         "queue: flagrant, overdue", "queue: search words, all states",
         "case page (random case)", "case page (open case)"]


def desk_runs(label: str, base: str, pid: int, cases: int, *, baseline: bool
              ) -> list[tuple[str, Callable[[], httpx.Client], Paths, int]]:
    """The pages to measure on one desk; on a baseline, only those every version has."""
    wait_until_up(base + "/signin")
    session = sign_in(base)
    cookies = dict(session.cookies)
    session.close()
    open_ids: list[int] = []
    with httpx.Client(base_url=base, cookies=cookies) as c:
        for n in range(1, 5):  # the queue's first pages: its most urgent cases
            ids = re.findall(r'href="/cases/(\d+)"', c.get(f"/queue?page={n}").text)
            open_ids += [int(i) for i in ids]
    print(f"{base}: the queue's first pages show {len(open_ids)} open cases; case pages: any "
          f"of the {cases:,}")

    def client() -> httpx.Client:
        return httpx.Client(base_url=base, cookies=cookies, timeout=10)

    pages: list[tuple[str, Paths]] = [
        ("queue page", lambda rng: "/queue"),
        ("queue: appeals waiting", lambda rng: "/queue?appeals=1"),
        ("queue: flagrant, overdue", lambda rng: "/queue?flagrant=1&overdue=1"),
        ("queue: search words, all states",  # a common word and a rare one
         lambda rng: f"/queue?state=all&q=number+{rng.randint(1, cases)}"),
        ("case page (random case)", lambda rng: f"/cases/{rng.randint(1, cases)}"),
        ("case page (open case)",
         lambda rng: f"/cases/{rng.choice(open_ids) if open_ids else 1}"),
    ]
    if baseline:  # the filters came later
        pages = [p for p in pages if not p[0].startswith("queue:")]
    return [(name + label, client, paths, pid) for name, paths in pages]


def report(args: argparse.Namespace, order: list[tuple[str, Callable[[], httpx.Client], Paths,
                                                       int]],
           measured: dict[str, tuple[list[float], int, float]], rounds: int) -> None:
    rows = []
    bare_p50 = percentile(measured[order[0][0]][0], 50)
    floor_p50 = percentile(measured[FLOOR][0], 50)
    for name, *_ in order:
        lat, errors, cpu = measured[name]
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        ok = p50 <= TARGET_P50_RATIO * bare_p50 and p99 < TARGET_P99_MS and not errors
        base = measured.get(name + " (baseline)")
        against = f"{p50 / percentile(base[0], 50):.2f}x / {p99 / percentile(base[0], 99):.2f}x" \
            if base else ""
        rows.append([name, len(lat), errors, f"{p50:.1f}", f"{p99:.1f}",
                     f"{max(lat, default=0):.1f}", f"{p50 / bare_p50:.1f}x",
                     f"{p50 / floor_p50:.1f}x", f"{cpu * 1000 / max(1, len(lat)):.1f}", against,
                     "" if name in (order[0][0], FLOOR) or "(baseline)" in name
                     else "ok" if ok else "MISSED"])
    print()
    print(f"{args.cases:,} cases, {args.steps:,} steps; {args.concurrency} concurrent clients "
          f"on loopback, {rounds} turn(s) per page; latencies in ms")
    print("server CPU = the serving process's user + system time per request (the "
          "database's not counted): steadier than latencies on a busy machine")
    print(f"floor = the least any page of this stack does (see floor_app); a desk page "
          f"within {TARGET_P50_RATIO:g}x of the bare page would be within "
          f"{TARGET_P50_RATIO * bare_p50 / floor_p50:.1f}x of the floor")
    print(table(["page", "requests", "errors", "p50", "p99", "max", "p50 / bare", "p50 / floor",
                 "server CPU ms", "p50 / p99 against baseline",
                 f"p50 <= {TARGET_P50_RATIO:g}x bare, p99 < {TARGET_P99_MS:g}"], rows))


if __name__ == "__main__":
    main()
