"""PostgreSQL restarted under report load: every report filed or refused with an error its
sender sees, none silently lost, and the desk reconnects by itself.

A private, throwaway PostgreSQL cluster (initdb into a temporary folder, a free port; the shared
one is never touched) holds the desk. ``conduct serve`` runs on it; ``--clients`` threads
file reports through the HTTP API (``POST /api/v1/reports``) and one files them with the CLI
(``conduct report``), while PostgreSQL is stopped (``pg_ctl -m fast``) and started again
``--restarts`` times. Each report carries its own ``message_id`` to be found afterwards.

Promises: every report the sender was told is filed is in the database; every other one got an
answer saying so (HTTP 503 with a message, or one ``error:`` line from the CLI) — no 500, no
traceback; the last reports, after the last restart, are all filed (the desk reconnected).

    PYTHONPATH=src:. python bench/faults_postgres.py [--restarts 3] [--small]

Exit status 1 when a promise is broken.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from _support import PrivatePostgres, free_port, promise, table, verdict

from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine, upgrade


class Outcomes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.filed: list[str] = []  # message ids the sender was told are filed
        self.refused: list[tuple[str, str]] = []  # (message id, what the sender saw)
        self.unclear: list[tuple[str, str]] = []  # a 500, a traceback, no answer
        self.by_phase: Counter[tuple[str, str]] = Counter()

    def add(self, kind: str, mid: str, seen: str, phase: str) -> None:
        with self.lock:
            if kind == "filed":
                self.filed.append(mid)
            elif kind == "refused":
                self.refused.append((mid, seen))
            else:
                self.unclear.append((mid, seen))
            self.by_phase[(phase, kind)] += 1


def conduct(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conduct_desk", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def api_report(base: str, token: str, mid: str) -> tuple[str, str]:
    body = json.dumps({"subject": "web:someone", "note": "bench", "message_id": mid}).encode()
    request = urllib.request.Request(f"{base}/api/v1/reports", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return ("filed", "201") if answer.status == 201 else ("unclear", str(answer.status))
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        if exc.code == 503:
            message = json.loads(text).get("error", {}).get("message", "")
            return ("refused" if message else "unclear"), f"503 {message}"
        return "unclear", f"{exc.code} {text[:200]}"
    except OSError as exc:
        return "unclear", f"no answer: {exc}"


def cli_report(env: dict[str, str], mid: str) -> tuple[str, str]:
    done = conduct(env, "report", "--subject", "web:someone", "--note", "bench",
                   "--message-id", mid)
    err = done.stderr.strip()
    if done.returncode == 0:
        return "filed", done.stdout.strip()
    if err.startswith("error:") and len(err.splitlines()) == 1:
        return "refused", err
    return "unclear", err[-300:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--down", type=float, default=3.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--between", type=float, default=5.0, help="seconds up between restarts")
    parser.add_argument("--small", action="store_true", help="a quick run (CI): one restart")
    args = parser.parse_args()
    if args.small:
        args.restarts, args.clients, args.down, args.between = 1, 2, 2.0, 3.0
    outcomes = Outcomes()
    broken: list[str] = []
    with PrivatePostgres() as pg, tempfile.TemporaryDirectory(prefix="conduct-pgr-") as tmp:
        admin = create_engine(pg.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE conduct")
        admin.dispose()
        url = pg.url.rsplit("/", 1)[0] + "/conduct"
        upgrade(create_engine(url))
        src = Path(__file__).resolve().parents[1] / "src"
        env = {**os.environ, "PYTHONPATH": str(src), "CONDUCT_DATABASE_URL": url}
        (Path(tmp) / "pw").write_text("a long bench password 1234")
        assert conduct(env, "admin", "add", "ada", "--role", "admin", "--password-file",
                       str(Path(tmp) / "pw")).returncode == 0
        token = conduct(env, "token", "create", "--account", "ada").stdout.strip()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (Path(tmp) / "serve.log").open("wb")
        serve = subprocess.Popen([sys.executable, "-m", "conduct_desk", "serve", "--port",
                                  str(port)], env=env, stdout=log, stderr=log)
        phase = ["up"]
        stop = threading.Event()
        counter = iter(range(10**9))
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)

            def api_client() -> None:
                while not stop.is_set():
                    mid, seen_phase = f"api-{next(counter)}", phase[0]
                    kind, seen = api_report(base, token, mid)
                    outcomes.add(kind, mid, seen, seen_phase)
                    time.sleep(0.02)

            def cli_client() -> None:
                while not stop.is_set():
                    mid, seen_phase = f"cli-{next(counter)}", phase[0]
                    kind, seen = cli_report(env, mid)
                    outcomes.add(kind, mid, seen, seen_phase)

            threads = [threading.Thread(target=api_client) for _ in range(args.clients)]
            threads.append(threading.Thread(target=cli_client))
            for t in threads:
                t.start()
            time.sleep(args.between)
            for _ in range(args.restarts):
                phase[0] = "down"
                pg.stop("fast")
                time.sleep(args.down)
                pg.start()
                phase[0] = "up"
                time.sleep(args.between)
            # the last reports, after the last restart: all must be filed
            phase[0] = "after"
            time.sleep(args.between)
            stop.set()
            for t in threads:
                t.join(timeout=90)
            alive = serve.poll() is None
        finally:
            stop.set()
            serve.terminate()
            try:
                serve.wait(timeout=15)
            except subprocess.TimeoutExpired:
                serve.kill()
            log.close()
        engine = create_engine(url)
        with engine.connect() as conn:
            stored = {r.message_id for r in conn.execute(sa.select(tables.reports.c.message_id))}
        engine.dispose()
        serve_log = (Path(tmp) / "serve.log").read_text(errors="replace")
        traceback_lines = serve_log.count("Traceback")
        if traceback_lines:
            before = serve_log[:serve_log.index("Traceback")].splitlines()[-1:]
            print("first traceback in the serve log, after: " + " ".join(before)[:300])
    filed_missing = [m for m in outcomes.filed if m not in stored]
    refused_stored = [m for m, _ in outcomes.refused if m in stored]
    after = [(k, n) for (p, k), n in outcomes.by_phase.items() if p == "after"]
    print(f"{args.restarts} restart(s) of a private PostgreSQL ({args.down:.0f}s down each), "
          f"{args.clients} API clients and 1 CLI client filing reports")
    print(table(["phase the report was sent in", "filed", "refused (sender told)", "unclear"],
                [[p, outcomes.by_phase[(p, "filed")], outcomes.by_phase[(p, "refused")],
                  outcomes.by_phase[(p, "unclear")]] for p in ("up", "down", "after")]))
    print()
    seen = Counter(s.split(";")[0][:90] for _, s in outcomes.refused)
    for text, count in seen.most_common(3):
        print(f"refused x{count}: {text}")
    for mid, text in outcomes.unclear[:3]:
        print(f"unclear: {mid}: {text}")
    print(table(["figure", "value"], [
        ["reports sent", len(outcomes.filed) + len(outcomes.refused) + len(outcomes.unclear)],
        ["filed (told so)", len(outcomes.filed)],
        ["  of which missing from the database (silently lost)", len(filed_missing)],
        ["refused with an error the sender sees", len(outcomes.refused)],
        ["  of which kept all the same (commit answered late)", len(refused_stored)],
        ["unclear answers (500, traceback, none)", len(outcomes.unclear)],
        ["tracebacks in the serve log", traceback_lines],
        ["serve still running", alive],
    ]))
    print()
    promise(broken, not filed_missing, f"0 filed reports lost ({len(filed_missing)})")
    promise(broken, not outcomes.unclear, f"every other report refused with a clear error "
            f"({len(outcomes.unclear)} unclear)")
    promise(broken, outcomes.by_phase[("down", "refused")] > 0,
            "reports were refused while PostgreSQL was down (the restart was felt)")
    promise(broken, bool(after) and all(k == "filed" for k, _ in after) and alive,
            "the desk reconnected by itself (every report after the last restart filed)")
    verdict(broken)


if __name__ == "__main__":
    main()
