"""Listener takeover between two `conduct serve` replicas on PostgreSQL, the Matrix bot on a
local Synapse: the replica holding the Matrix listener's lease is killed with SIGKILL, again
and again; printed are the seconds from the kill until the other replica's /readyz lists the
lease (the promise: within 15 s), and until a report made right after the kill has its card.

    python bench/replicas.py --kills 5

Bounded: every wait stops after 30 s; the processes, Synapse and the database go at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# the test suite's Synapse and replica harnesses live in tests/support
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import DEFAULT_POSTGRES, percentile, postgres_database, table  # noqa: E402
from tests.support.matrix_world import World  # noqa: E402
from tests.support.polling import wait_for  # noqa: E402
from tests.support.replicas import LISTENER, Replica, replica_env  # noqa: E402
from tests.support.synapse import SynapseServer, ensure_synapse_venv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin URL")
    args = parser.parse_args()

    takeover: list[float] = []
    to_card: list[float] = []
    with SynapseServer(venv=ensure_synapse_venv()) as synapse, \
            postgres_database(args.postgres, "replicas") as db_url, \
            tempfile.TemporaryDirectory() as tmp:
        world = World.build(synapse)
        env = replica_env(world, db_url)
        replicas = {name: Replica(name, env, Path(tmp) / f"{name}.log") for name in "ab"}
        try:
            for r in replicas.values():
                wait_for(r.ready, f"replica {r.port} ready", timeout=30)
            for kill in range(args.kills):
                holder_name = wait_for(lambda: next(
                    (n for n, r in replicas.items() if LISTENER in r.leases()), None),
                    "a lease holder", timeout=30)
                other = replicas["b" if holder_name == "a" else "a"]
                said = world.bob.client.send_text(world.lobby, f"unkind thing {kill}")
                replicas[holder_name].kill()
                killed_at = time.perf_counter()
                world.cara.client.report_event(world.lobby, said, "")
                wait_for(lambda heir=other: LISTENER in heir.leases(), "the takeover", timeout=30)
                takeover.append(time.perf_counter() - killed_at)
                wait_for(lambda case=kill + 1: world.card(case), "the card", timeout=30)
                to_card.append(time.perf_counter() - killed_at)
                # the killed replica comes back (as a supervisor would restart it)
                replicas[holder_name] = Replica(holder_name, env,
                                                Path(tmp) / f"{holder_name}{kill}.log")
                wait_for(replicas[holder_name].ready, "the restarted replica", timeout=30)
        finally:
            for r in replicas.values():
                r.end()
            world.stop()
    print(f"{args.kills} kills (-9) of the Matrix listener's holder; 2 replicas, PostgreSQL; "
          "lease TTL 10 s, renewed every 2 s")
    print(table(["seconds after the kill", "p50", "max"], [
        ["heir's /readyz lists the lease", f"{percentile(takeover, 50):.2f}",
         f"{max(takeover):.2f}"],
        ["card of a report made at the kill", f"{percentile(to_card, 50):.2f}",
         f"{max(to_card):.2f}"],
    ]))


if __name__ == "__main__":
    main()
