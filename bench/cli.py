"""Command-line benchmark: how long a ``conduct`` command takes from start to its answer.

Each command runs as an admin runs it (a new process, the SQLite default, no platform
configured, Python's compiled modules kept as an installed package has them), beside the
interpreter starting and exiting (``python -c pass``) and beside the same interpreter
importing the desk's storage layer (SQLAlchemy and Alembic, which every command needs),
measured in alternating turns in the same run.

    PYTHONPATH=src python bench/cli.py --runs 20

Beside an earlier version, in the same turns (its ``src`` on the path instead):

    git worktree add --detach /tmp/before COMMIT
    PYTHONPATH=src python bench/cli.py --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import percentile, table

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.decode()[-500:]}")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="runs of each (default 20)")
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also run the commands of the version checked out there")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="conduct-bench-cli-") as tmp:
        # as an installed desk runs: no platform set, and Python's compiled files kept
        env = {k: v for k, v in os.environ.items()
               if not k.upper().startswith("CONDUCT_") and k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"CONDUCT_DATABASE_URL": f"sqlite:///{Path(tmp) / 'conduct.db'}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))}
        conduct = [sys.executable, "-c", "from conduct_desk.cli import main; main()"]
        earlier = None
        if args.baseline is not None:
            if not (args.baseline / "src" / "conduct_desk").is_dir():
                parser.error(f"--baseline {args.baseline}: no src/conduct_desk there")
            earlier = env | {"PYTHONPATH": str(args.baseline / "src")}
        subprocess.run([*conduct, "db", "upgrade"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([*conduct, "report", "--subject", "sam", "--reporter", "riley",
                        "--text", "a benchmark report"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "python: import the storage layer": (
                [sys.executable, "-c", "import conduct_desk.storage.db"], env),
            "conduct case list": ([*conduct, "case", "list"], env),
            "conduct case show 1": ([*conduct, "case", "show", "1"], env),
        }
        if earlier is not None:
            commands |= {"earlier: conduct case list": ([*conduct, "case", "list"], earlier),
                         "earlier: conduct case show 1": ([*conduct, "case", "show", "1"],
                                                          earlier)}
        runs: dict[str, list[float]] = {name: [] for name in commands}
        for cmd, with_env in commands.values():  # a first run of each compiles its modules
            timed(cmd, with_env)
        for _ in range(args.runs):  # in turns: each sees the same machine
            for name, (cmd, with_env) in commands.items():
                runs[name].append(timed(cmd, with_env))
    base = percentile(runs["python -c pass"], 50)
    print(f"{args.runs} runs each, in turns; milliseconds")
    print(table(["command", "p50", "p99", "p50 - python start"],
                [[name, f"{percentile(r, 50) * 1000:.0f}", f"{percentile(r, 99) * 1000:.0f}",
                  f"{(percentile(r, 50) - base) * 1000:.0f}"] for name, r in runs.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
