"""Listener takeover between two `conduct serve` replicas on PostgreSQL: the replica holding a
platform listener's lease is killed with SIGKILL, again and again; printed are the seconds from
the kill until the other replica's /readyz lists the lease (the promise: within 15 s), and
until what a member did right after the kill has its effect.

* ``--platform matrix`` (the default): the Matrix bot on a local Synapse; a report made through
  Synapse right after the kill, until its case card;
* ``--platform discord``: the Discord bot on the loopback Discord fake; a DM written to the
  desk right after the kill (it waits in the dead replica's gateway session, which the other
  resumes), until the desk's answer; and how many of those answers went twice or never.

    python bench/replicas.py --kills 5 [--platform discord]

Bounded: every wait stops after 30 s; the processes, Synapse and the database go at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# the test suite's Synapse, Discord and replica harnesses live in tests/support; this folder
# holds a bench/discord.py, which must not be taken for discord.py
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench._support import DEFAULT_POSTGRES, percentile, postgres_database, table  # noqa: E402
from tests.support.discord_harness import REPORTER, SUBJECT  # noqa: E402
from tests.support.fake_discord import FakeDiscord  # noqa: E402
from tests.support.matrix_world import World  # noqa: E402
from tests.support.polling import wait_for  # noqa: E402
from tests.support.replicas import (  # noqa: E402
    DISCORD_LISTENER,
    LISTENER,
    Replica,
    discord_env,
    discord_guild,
    replica_env,
)
from tests.support.synapse import SynapseServer, ensure_synapse_venv  # noqa: E402

# what is done at a kill, returning a probe for its effect
Act = Callable[[int], Callable[[], object]]


@contextmanager
def matrix(db_url: str) -> Iterator[tuple[dict[str, str], str, Act, Callable[[], int | None]]]:
    with SynapseServer(venv=ensure_synapse_venv()) as synapse:
        world = World.build(synapse)
        try:
            def act(kill: int) -> Callable[[], object]:
                said = world.bob.client.send_text(world.lobby, f"unkind thing {kill}")
                return lambda: (world.cara.client.report_event(world.lobby, said, ""),
                                lambda: world.card(kill + 1))[1]
            yield replica_env(world, db_url), LISTENER, act, lambda: None
        finally:
            world.stop()


@contextmanager
def discord(db_url: str) -> Iterator[tuple[dict[str, str], str, Act, Callable[[], int | None]]]:
    with FakeDiscord() as fake:
        discord_guild(fake)

        def act(kill: int) -> Callable[[], object]:
            def write() -> Callable[[], object]:
                fake.send_dm(REPORTER, f"<@{SUBJECT}> said an unkind thing ({kill})")
                return lambda: len(fake.dms_to(REPORTER)) > kill or None
            return write

        def counts() -> int:
            return len(fake.dms_to(REPORTER))
        yield discord_env(fake, db_url), DISCORD_LISTENER, act, counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--platform", choices=("matrix", "discord"), default="matrix")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin URL")
    args = parser.parse_args()
    if not 1 <= args.kills <= 50:
        parser.error("--kills from 1 to 50")

    takeover: list[float] = []
    to_effect: list[float] = []
    platform = matrix if args.platform == "matrix" else discord
    with postgres_database(args.postgres, "replicas") as db_url, \
            platform(db_url) as (env, lease, act, counts), \
            tempfile.TemporaryDirectory() as tmp:
        replicas = {name: Replica(name, env, Path(tmp) / f"{name}.log") for name in "ab"}
        try:
            for r in replicas.values():
                wait_for(r.ready, f"replica {r.port} ready", timeout=30)
            for kill in range(args.kills):
                holder_name = wait_for(lambda: next(
                    (n for n, r in replicas.items() if lease in r.leases()), None),
                    "a lease holder", timeout=30)
                other = replicas["b" if holder_name == "a" else "a"]
                at_the_kill = act(kill)
                replicas[holder_name].kill()
                killed_at = time.perf_counter()
                effect = at_the_kill()
                wait_for(lambda heir=other: lease in heir.leases(), "the takeover", timeout=30)
                takeover.append(time.perf_counter() - killed_at)
                wait_for(effect, "the effect", timeout=30)
                to_effect.append(time.perf_counter() - killed_at)
                # the killed replica comes back (as a supervisor would restart it)
                replicas[holder_name] = Replica(holder_name, env,
                                                Path(tmp) / f"{holder_name}{kill}.log")
                wait_for(replicas[holder_name].ready, "the restarted replica", timeout=30)
            time.sleep(3)  # anything answered twice would be by now
            counted = counts()
        finally:
            for r in replicas.values():
                r.end()
    effect_row = ("card of a report made at the kill" if args.platform == "matrix"
                  else "answer to a DM written at the kill")
    print(f"{args.kills} kills (-9) of the {args.platform.capitalize()} listener's holder; "
          "2 replicas, PostgreSQL; lease TTL 10 s, renewed every 2 s")
    print(table(["seconds after the kill", "p50", "max"], [
        ["heir's /readyz lists the lease", f"{percentile(takeover, 50):.2f}",
         f"{max(takeover):.2f}"],
        [effect_row, f"{percentile(to_effect, 50):.2f}", f"{max(to_effect):.2f}"],
    ]))
    if counted is not None:
        verdict = "each answered once" if counted == args.kills else "NOT each answered once"
        print(f"{counted} answers to the {args.kills} DMs written at the kills: {verdict}")


if __name__ == "__main__":
    main()
