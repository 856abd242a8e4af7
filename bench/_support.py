"""Shared by the benchmarks: throwaway databases and a small table printer.

Not a test module: pytest collects only ``tests/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from conduct_desk.storage.db import create_engine, upgrade

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_database(admin_url: str, label: str) -> Iterator[str]:
    """A fresh, migrated database ``conduct_bench_<label>_<pid>``, dropped afterwards."""
    name = f"conduct_bench_{label}_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A migrated SQLite file (WAL, as the desk configures it) in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="conduct-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by the inclusive method; 0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(p) - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain text table, columns right-aligned except the first."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(parts))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- faults ---------------------------------------------------------------------------------

FAULTS = ("429", "500", "timeout")


class FaultProxy:
    """An HTTP proxy on loopback in front of one platform (the Slack fake, Synapse) that
    answers a share of the calls itself with a fault: ``429`` with ``Retry-After`` (and the
    platform's own rate-limit body), ``500``, or ``timeout`` (holds the call ``hold`` seconds,
    past the client's timeout, then hangs up; the platform never sees it). The rest go through.
    ``only``: a path must contain one of these to be faulted (None: every path)."""

    def __init__(self, upstream: str, rate: float, *, hold: float = 2.0, seed: int = 7,
                 retry_after: int = 1, only: tuple[str, ...] | None = None) -> None:
        import http.client
        import http.server
        import random
        import threading
        import urllib.parse

        up = urllib.parse.urlsplit(upstream)
        self.rate, self.hold, self.retry_after, self.only = rate, hold, retry_after, only
        self.faults: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.calls = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._pick(self.path)
                if fault == "timeout":
                    time.sleep(proxy.hold)
                    self.close_connection = True
                    return
                if fault is not None:
                    status = int(fault)
                    payload = (b'{"ok": false, "error": "ratelimited", "errcode": '
                               b'"M_LIMIT_EXCEEDED", "error_description": "slow down", '
                               b'"retry_after_ms": 1000}' if status == 429 else
                               b'{"ok": false, "error": "internal_error", "errcode": "M_UNKNOWN"}')
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", str(proxy.retry_after))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection", "keep-alive")}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for k, v in answer.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that gave up on a held call: expected, not worth a traceback

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _pick(self, path: str) -> str | None:
        with self._lock:
            self.calls += 1
            if self.only is not None and not any(p in path for p in self.only):
                return None
            if self._rng.random() >= self.rate:
                return None
            fault = self._rng.choice(FAULTS)
            self.faults[fault] += 1
            return fault

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A throwaway PostgreSQL cluster of our own (initdb into a temporary folder, a free port),
    to restart at will without touching the shared one. Run as the ``postgres`` user when
    this process is root."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise SystemExit("no PostgreSQL binaries under /usr/lib/postgresql")
        self.bin = bins[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="conduct-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def __enter__(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def promise(broken: list[str], ok: bool, what: str) -> None:
    """Print one promise as kept or BROKEN; remember the broken ones."""
    print(f"{'kept  ' if ok else 'BROKEN'}  {what}")
    if not ok:
        broken.append(what)


def verdict(broken: list[str]) -> None:
    """End the run: exit status 1 when a promise was broken."""
    if broken:
        print(f"{len(broken)} promise(s) broken")
        sys.exit(1)
    print("all promises kept")
