"""Matrix bot latencies against a local Synapse, beside Synapse's own round trip.

    .venv/bin/python bench/matrix.py [--runs 200]     # from the repository

Per run, on a fresh message:

* ``send``: Synapse's round trip for a plain message send (PUT …/send, request to answer);
* ``report → card (report API)``: a member reports the message with Matrix's report
  feature; until the case card is in the management room. The bot reads reports from
  the admin API after each sync round, so this includes the poll interval (``--poll``);
* ``report → card (reaction)``: the same, reported with the report emoji (sync-driven);
* ``command → effect``: an admin types ``!coc step N remind`` in the management room;
  until the bot's threaded reply is in the room.

Arrivals are observed with a long-polling ``/sync`` of the observer, not by sleeping.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

# the test suite's Synapse harness lives in tests/support: put the repository on the path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.matrix_world import Member, World  # noqa: E402
from tests.support.synapse import SynapseServer, ensure_synapse_venv  # noqa: E402

from conduct_desk.config import preset_text
from conduct_desk.domain.policy import parse_policy
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage.db import create_engine, upgrade


class Watcher:
    """Long-polls one member's /sync and returns when an event matching a test arrives."""

    def __init__(self, member: Member, room_id: str) -> None:
        self.client = member.client
        self.filter = json.dumps({"room": {"rooms": [room_id], "timeline": {"limit": 50}},
                                  "presence": {"types": []}, "account_data": {"types": []}})
        self.room_id = room_id
        self.since = self.client.sync_once()["next_batch"]

    def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sync = self.client.call("GET", "/_matrix/client/v3/sync", params={
                "since": self.since, "timeout": 10_000, "filter": self.filter})
            self.since = sync["next_batch"]
            room = sync.get("rooms", {}).get("join", {}).get(self.room_id, {})
            for event in room.get("timeline", {}).get("events", []):
                if match(event):
                    return time.perf_counter()
        raise TimeoutError("the awaited event did not arrive")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--poll", type=float, default=0.2, help="the bot's report-poll interval, s")
    args = parser.parse_args()

    with SynapseServer(venv=ensure_synapse_venv()) as synapse, \
            tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        world = World.build(synapse)
        # reacting reports only when the policy turns it on ([intake] reactions)
        policy = replace(parse_policy(preset_text("guide"), "preset guide"), reactions=True)
        _, adapter = world.app(engine, FakeClock(), policy, poll_seconds=args.poll)
        cards = Watcher(world.ana, world.management)
        lobby = Watcher(world.ana, world.lobby)
        bot = world.bot.user_id
        samples: dict[str, list[float]] = {"send": [], "report → card (report API)": [],
                                           "report → card (reaction)": [], "command → effect": []}

        def card_for(case_id: int) -> Callable[[dict[str, Any]], bool]:
            return lambda e: e["sender"] == bot and str(e["content"].get("body", "")).startswith(
                f"Case {case_id} ")

        case_id = 0
        try:
            for run in range(args.runs):
                via_reaction = run % 2 == 1
                started = time.perf_counter()
                said = world.bob.client.send_text(world.lobby, f"unkind message number {run}")
                samples["send"].append(time.perf_counter() - started)
                lobby.since = world.ana.client.sync_once(lobby.since)["next_batch"]
                case_id += 1
                started = time.perf_counter()
                if via_reaction:
                    world.cara.client.call(
                        "PUT", f"/_matrix/client/v3/rooms/{world.lobby}/send/m.reaction/r{run}",
                        json={"m.relates_to": {"rel_type": "m.annotation", "event_id": said,
                                               "key": "🚩"}})
                else:
                    world.cara.client.report_event(world.lobby, said, "")
                key = "report → card (reaction)" if via_reaction else "report → card (report API)"
                samples[key].append(cards.wait(card_for(case_id)) - started)

                started = time.perf_counter()
                world.ana.client.send_text(world.management,
                                           f"!coc step {case_id} remind --reason bench")
                arrived = lobby.wait(lambda e, s=said: e["sender"] == bot and e["content"].get(
                    "m.relates_to", {}).get("event_id") == s)
                samples["command → effect"].append(arrived - started)
        finally:
            world.stop()
            engine.dispose()

    print(f"Matrix bench: {args.runs} runs against Synapse {synapse_version()} on 127.0.0.1, "
          f"report poll {args.poll}s, SQLite")
    print(f"{'measure':32} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, values in samples.items():
        ms = [v * 1000 for v in values]
        print(f"{name:32} {len(ms):>4} {percentile(ms, 50):>8.1f} {percentile(ms, 99):>8.1f} "
              f"{statistics.fmean(ms):>8.1f}")


def synapse_version() -> str:
    import subprocess

    from tests.support.synapse import default_venv

    out = subprocess.run([str(default_venv() / "bin" / "python"), "-c",
                          "import synapse; print(synapse.__version__)"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip().split(" ")[0] or "?"


if __name__ == "__main__":
    main()
