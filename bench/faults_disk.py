"""A full disk, or a read-only SQLite file: a clear error, nothing half-written.

The desk's SQLite file lives on a small tmpfs of its own (root: mounted for the run, then
filled up, then remounted read-only) or, without root, under a file-size limit
(``RLIMIT_FSIZE``) and ``chmod``. Reports are filed with the CLI (``conduct report``) and
through the HTTP API of a running desk (``POST /api/v1/reports``) until the disk is full, then
once more with the file read-only.

Promises: the CLI says one ``error:`` line naming the fix (free space; make it writable), the
web answers 503 with a message, never a 500 or a traceback; afterwards the database passes
``PRAGMA integrity_check`` and every report is whole or absent: each report the sender was told
is filed is there with its case and its audit entry, and no other report is.

    PYTHONPATH=src:. python bench/faults_disk.py [--size-kb 4096] [--small]

Exit status 1 when a promise is broken.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _support import promise, table, verdict

NOTE = "x" * 6000  # a long report: the disk fills in a few dozen
SRC = Path(__file__).resolve().parents[1] / "src"


def web_child(url: str, token: str, count: int, tag: str) -> None:
    """In a child process: a running desk (started while the disk was fine), then ``count``
    reports through its API once the parent says go; prints what each sender got."""
    from fastapi.testclient import TestClient

    from conduct_desk.bootstrap import bootstrap
    from conduct_desk.config import Settings
    from conduct_desk.domain.errors import DeskError
    from conduct_desk.web.app import create_app

    try:  # as `conduct serve` starts: a problem it can name is one line
        app = bootstrap(Settings(database_url=url))
    except DeskError as exc:
        print(f"error: {exc}", flush=True)
        return
    client = TestClient(create_app(app), raise_server_exceptions=False)
    print("ready", flush=True)
    sys.stdin.readline()
    results = []
    for i in range(count):
        mid = f"{tag}-web-{i}"
        answer = client.post("/api/v1/reports", headers={"Authorization": f"Bearer {token}"},
                             json={"subject": "web:someone", "note": NOTE, "message_id": mid})
        try:
            message = answer.json().get("error", {}).get("message", "")
        except ValueError:
            message = answer.text[:200]
        results.append([mid, answer.status_code, message])
    print(json.dumps(results), flush=True)


class Disk:
    """Where the database lives, and how it is made full or read-only."""

    def __init__(self, root: Path, size_kb: int) -> None:
        self.root, self.size_kb = root, size_kb
        self.mounted = os.geteuid() == 0
        self.limit: int | None = None  # RLIMIT_FSIZE for the children, without root
        self.bound: Path | None = None  # the read-only view of the folder (root)

    def __enter__(self) -> Disk:
        if self.mounted:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_kb}k", "tmpfs",
                            str(self.root)], check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.mounted:
            bound = self.bound
            if bound is not None and bound.exists():
                subprocess.run(["umount", str(bound)], check=False)
                bound.rmdir()
            subprocess.run(["umount", str(self.root)], check=False)

    def fill(self, db: Path) -> None:
        """Leave a little room only."""
        if self.mounted:
            free = os.statvfs(self.root).f_bavail * os.statvfs(self.root).f_frsize
            with (self.root / "filler").open("wb") as f:
                f.write(b"\0" * max(0, free - 256 * 1024))
        else:
            self.limit = db.stat().st_size + 256 * 1024

    def read_only(self, db: Path) -> Path:
        """The database as a desk started now sees it: read-only. Root: the same folder
        bound again, read-only (a file turning read-only under a process that has it open
        changes nothing for that process, so the desk is started on it); else chmod."""
        self.limit = None
        if self.mounted:
            (self.root / "filler").unlink()
            seen = Path(str(self.root) + "-ro")
            seen.mkdir()
            subprocess.run(["mount", "--bind", str(db.parent), str(seen)], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", str(seen)], check=True)
            self.bound = seen
            return seen / db.name
        for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            if p.exists():
                p.chmod(0o444)
        db.parent.chmod(0o555)
        return db

    def writable(self, db: Path) -> None:
        if self.mounted:
            bound = self.bound
            if bound is not None:
                subprocess.run(["umount", str(bound)], check=False)
                bound.rmdir()
        else:
            db.parent.chmod(0o755)
            for p in db.parent.iterdir():
                p.chmod(0o644)

    def preexec(self) -> Callable[[], None] | None:
        limit = self.limit
        if limit is None:
            return None
        return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def conduct(env: dict[str, str], disk: Disk, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conduct_desk", *args], env=env, text=True,
                          capture_output=True, timeout=120, preexec_fn=disk.preexec())


def cli_reports(env: dict[str, str], disk: Disk, count: int, tag: str) -> list[list[Any]]:
    out = []
    for i in range(count):
        mid = f"{tag}-cli-{i}"
        done = conduct(env, disk, "report", "--subject", "web:someone", "--note", NOTE,
                       "--message-id", mid)
        out.append([mid, done.returncode, (done.stderr or done.stdout).strip()])
    return out


def web_reports(env: dict[str, str], disk: Disk, token: str, url: str, count: int, tag: str,
                before_go: Callable[[], None]) -> list[list[Any]]:
    child = subprocess.Popen([sys.executable, __file__, "--web-child", url, token, str(count),
                              tag], env=env, text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=disk.preexec())
    assert child.stdout is not None and child.stdin is not None
    ready = child.stdout.readline().strip()
    if ready.startswith("error:"):  # the desk refused to start, and said why in one line
        child.wait(timeout=60)
        return [[f"{tag}-web-start", 503, f"(the desk does not start) {ready}"]]
    if ready != "ready":
        child.kill()
        raise SystemExit(f"the desk did not start: {ready} {child.stderr.read() if child.stderr else ''}")
    before_go()
    child.stdin.write("go\n")
    child.stdin.flush()
    out, err = child.communicate(timeout=300)
    results: list[list[Any]] = json.loads(out.strip().splitlines()[-1])
    if "Traceback" in err:
        results.append(["(stderr)", 0, err[-500:]])
    return results


def setup(url: str) -> str:
    """The schema, an admin account and its API token; returns the token."""
    from conduct_desk.bootstrap import bootstrap
    from conduct_desk.config import Settings
    from conduct_desk.service import accounts
    from conduct_desk.storage.db import create_engine, upgrade

    engine = create_engine(url)
    upgrade(engine)
    app = bootstrap(Settings(database_url=url), engine=engine)
    accounts.add_admin(app.uow(), app.desk.clock, "ada", "admin", "a long bench password 1234", ())
    token = accounts.create_token(app.uow(), app.desk.clock, "bench", None, account="ada")
    engine.dispose()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-kb", type=int, default=4096, help="the tmpfs' size")
    parser.add_argument("--reports", type=int, default=40, help="reports sent to a full disk, "
                        "per entry point")
    parser.add_argument("--small", action="store_true", help="a quick run (CI)")
    parser.add_argument("--web-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.web_child:
        url, token, count, tag = args.web_child
        web_child(url, token, int(count), tag)
        return
    if args.small:
        args.size_kb, args.reports = min(args.size_kb, 2048), min(args.reports, 6)
    broken: list[str] = []
    with tempfile.TemporaryDirectory(prefix="conduct-disk-") as tmp, \
            Disk(Path(tmp), args.size_kb) as disk:
        db = Path(tmp) / "desk" / "conduct.db"
        db.parent.mkdir()
        url = f"sqlite:///{db}"
        env = {**os.environ, "PYTHONPATH": str(SRC), "CONDUCT_DATABASE_URL": url}
        token = setup(url)
        print(f"SQLite on {'a ' + str(args.size_kb) + ' KB tmpfs' if disk.mounted else 'a file-size limit'}"
              f"; reports of {len(NOTE) // 1000} KB each")
        # fine at first: a few reports go in
        ok = cli_reports(env, disk, 1 if args.small else 2, "fine")
        # then the disk fills up under the running desk, and the CLI is tried on it too
        web_full = web_reports(env, disk, token, url, args.reports, "full", lambda: disk.fill(db))
        cli_full = cli_reports(env, disk, args.reports, "full")
        # then the file turns read-only under the running desk
        ro = disk.read_only(db)
        ro_env = {**env, "CONDUCT_DATABASE_URL": f"sqlite:///{ro}"}
        web_ro = web_reports(ro_env, disk, token, f"sqlite:///{ro}", 3, "ro", lambda: None)
        cli_ro = cli_reports(ro_env, disk, 1 if args.small else 3, "ro")
        disk.writable(db)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            integrity = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
            stored = {r[0]: r[1] for r in conn.exec_driver_sql(
                "SELECT r.message_id, (SELECT count(*) FROM cases c WHERE c.id = r.case_id) + "
                "(SELECT count(*) FROM audit a WHERE a.case_id = r.case_id) FROM reports r")}
            orphans = conn.exec_driver_sql(
                "SELECT count(*) FROM cases c WHERE NOT EXISTS "
                "(SELECT 1 FROM reports r WHERE r.case_id = c.id)").scalar()
        engine.dispose()
    rows, unclear, told_filed, told_refused = [], [], [], []
    for name, results, ok_code in (("CLI, disk full", cli_full, 0), ("web, disk full", web_full, 201),
                                   ("CLI, read-only", cli_ro, 0), ("web, read-only", web_ro, 201)):
        filed = [r for r in results if r[1] == ok_code]
        refused = [r for r in results if r[1] != ok_code and (
            (name.startswith("CLI") and r[1] == 2 and r[2].startswith("error:")
             and len(r[2].splitlines()) == 1)
            or (name.startswith("web") and r[1] == 503 and r[2]))]
        other = [r for r in results if r not in filed and r not in refused]
        told_filed += [r[0] for r in filed]
        told_refused += [r[0] for r in refused]
        unclear += [(name, r) for r in other]
        example = refused[0][2] if refused else ""
        rows.append([name, len(filed), len(refused), len(other), example[:110]])
    told_filed += [r[0] for r in ok if r[1] == 0]
    print(table(["entry point", "filed", "refused clearly", "unclear", "what the sender saw"], rows))
    for name, r in unclear[:3]:
        print(f"unclear ({name}): {r}")
    missing = [m for m in told_filed if m not in stored]
    partial = [m for m in told_filed if m in stored and stored[m] < 2]
    kept_refused = [m for m in told_refused if m in stored]
    print(table(["figure", "value"], [
        ["PRAGMA integrity_check", integrity],
        ["reports told filed / in the database", f"{len(told_filed)} / {len(stored)}"],
        ["told filed but missing", len(missing)],
        ["refused but kept", len(kept_refused)],
        ["reports without their case or audit entry", len(partial)],
        ["cases without a report", orphans],
    ]))
    print()
    promise(broken, not unclear, f"every refusal clear: one CLI line, a web 503 with a message "
            f"({len(unclear)} unclear)")
    refusals = {name: row[2] for name, row in ((r[0], r) for r in rows)}
    promise(broken, all(refusals[n] > 0 for n in refusals), "each entry point met the fault")
    promise(broken, integrity == "ok" and not missing and not kept_refused and not partial
            and orphans == 0, "nothing half-written: each report whole or absent")
    verdict(broken)


if __name__ == "__main__":
    main()
