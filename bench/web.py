"""Web benchmark: p50/p99 of the queue page and of a case page under a bounded load on
loopback, against ``conduct serve`` on PostgreSQL seeded with many cases and steps, printed
beside a bare Starlette page served by the same uvicorn in the same run.

The seed goes straight in with ``INSERT ... SELECT generate_series`` into its own database
(``conduct_bench_web`` by default, kept between runs: ``--reseed`` rebuilds it). One case in
a thousand is open, as in a community where most cases end; every case has one report, one
audit entry and ``steps / cases`` steps; subjects repeat, so a case page has a history.

    PYTHONPATH=src python bench/web.py                       # 1,000,000 cases, 10,000,000 steps
    PYTHONPATH=src python bench/web.py --cases 100000 --steps 1000000 --requests 1000
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
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
    "ANALYZE",
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
    return subprocess.Popen(list(cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


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
    args = parser.parse_args()
    if not 1 <= args.cases <= 10_000_000 or not 0 <= args.steps <= 100_000_000:
        raise SystemExit("--cases from 1 to 10,000,000; --steps from 0 to 100,000,000")

    url = seed(args.postgres, args.database, args.cases, args.steps, args.reseed)
    env = {**os.environ, "CONDUCT_DATABASE_URL": url, "PYTHONPATH": str(SRC)}
    conduct = [sys.executable, "-c", "from conduct_desk.cli import main; main()"]
    subprocess.run([*conduct, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    pw = HERE / ".bench-password"
    pw.write_text(PASSWORD)
    try:
        subprocess.run([*conduct, "admin", "add", "bench", "--role", "observer",
                        "--password-file", str(pw)], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fails harmlessly when it already exists
    finally:
        pw.unlink()

    desk_port, bare_port = args.port, args.port + 1
    desk = start([*conduct, "serve", "--port", str(desk_port)], env)
    bare = start([sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "web:bare_app",
                  "--port", str(bare_port), "--log-level", "warning", "--no-access-log"], env)
    try:
        desk_url, bare_url = f"http://127.0.0.1:{desk_port}", f"http://127.0.0.1:{bare_port}"
        wait_until_up(desk_url + "/signin")
        wait_until_up(bare_url + "/")
        session = sign_in(desk_url)
        cookies = dict(session.cookies)
        session.close()
        open_ids: list[int] = []
        with httpx.Client(base_url=desk_url, cookies=cookies) as c:
            for n in range(1, 5):  # the queue's first pages: its most urgent cases
                ids = re.findall(r'href="/cases/(\d+)"', c.get(f"/queue?page={n}").text)
                open_ids += [int(i) for i in ids]
        print(f"the queue's first pages show {len(open_ids)} open cases; case pages: any of the "
              f"{args.cases:,}")

        def desk_client() -> httpx.Client:
            return httpx.Client(base_url=desk_url, cookies=cookies, timeout=10)

        def bare_client() -> httpx.Client:
            return httpx.Client(base_url=bare_url, timeout=10)

        runs: list[tuple[str, Callable[[], httpx.Client], Callable[[random.Random], str], int]] = [
            ("bare Starlette page", bare_client, lambda rng: "/", bare.pid),
            ("queue page", desk_client, lambda rng: "/queue", desk.pid),
            ("queue: appeals waiting", desk_client, lambda rng: "/queue?appeals=1", desk.pid),
            ("queue: flagrant, overdue", desk_client, lambda rng: "/queue?flagrant=1&overdue=1",
             desk.pid),
            ("queue: search words, all states", desk_client,  # a common word and a rare one
             lambda rng: f"/queue?state=all&q=number+{rng.randint(1, args.cases)}", desk.pid),
            ("case page (random case)", desk_client,
             lambda rng: f"/cases/{rng.randint(1, args.cases)}", desk.pid),
            ("case page (open case)", desk_client,
             lambda rng: f"/cases/{rng.choice(open_ids) if open_ids else 1}", desk.pid),
        ]
        rows = []
        bare_p50 = 0.0
        for name, make, paths, pid in runs:
            load(make, paths, min(50, args.requests), args.concurrency, 30)  # warm up
            cpu = cpu_seconds(pid)
            lat, errors = load(make, paths, args.requests, args.concurrency, args.time_limit)
            cpu_ms = (cpu_seconds(pid) - cpu) * 1000 / max(1, len(lat))
            p50, p99 = percentile(lat, 50), percentile(lat, 99)
            bare_p50 = bare_p50 or p50  # the first run is the bare page
            ok = p50 <= TARGET_P50_RATIO * bare_p50 and p99 < TARGET_P99_MS and not errors
            rows.append([name, len(lat), errors, f"{p50:.1f}", f"{p99:.1f}",
                         f"{max(lat, default=0):.1f}", f"{p50 / bare_p50:.1f}x", f"{cpu_ms:.1f}",
                         "" if name == runs[0][0] else "ok" if ok else "MISSED"])
        print()
        print(f"{args.cases:,} cases, {args.steps:,} steps; {args.concurrency} concurrent clients "
              f"on loopback; latencies in ms")
        print("server CPU = the serving process's user + system time per request (the "
              "database's not counted): steadier than latencies on a busy machine")
        print(table(["page", "requests", "errors", "p50", "p99", "max", "p50 / bare",
                     "server CPU ms",
                     f"p50 <= {TARGET_P50_RATIO:g}x bare, p99 < {TARGET_P99_MS:g}"], rows))
    finally:
        for proc in (desk, bare):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
