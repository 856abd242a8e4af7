"""Shared by the benchmarks: throwaway databases and a small table printer.

Not a test module: pytest collects only ``tests/``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
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
