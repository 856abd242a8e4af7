"""Matrix bot latencies against a local Synapse, beside Synapse's own round trip, and what
the bot's polling costs the homeserver.

    .venv/bin/python bench/matrix.py [--runs 60] [--poll 5] [--idle 60]   # from the repository

The bot runs with the default settings (``poll_seconds`` as MatrixSettings says: 5 s) unless
``--poll`` says otherwise. Runs rotate over three ways of reporting, each on a fresh message:

* ``send``: Synapse's round trip for a plain message send (PUT …/send, request to answer);
* ``report → card (reaction)``: a member reacts with the report emoji; until the case card
  is in the management room (sync-driven: target p99 under 1 s);
* ``report → card (DM)``: a member sends the bot a link to the message in a direct room
  (sync-driven: target p99 under 1 s);
* ``report → card (report API)``: a member uses Matrix's own report feature. The bot reads
  Synapse's reports from the admin API after each sync round, and a quiet sync round lasts
  the poll interval: the card comes within the interval (target: under ``--poll``);
* ``command → effect``: an admin types ``!coc step N remind`` in the management room;
  until the bot's threaded reply is in the room.

Then the cost of the polling to the homeserver, measured while nothing happens: the bot's
requests per minute (each sync round is one long-polling ``/sync`` and one admin read each of
event and user reports) and Synapse's CPU seconds per minute (its process's user + system
time from /proc), beside the same span with the bot stopped.

Arrivals are observed with a long-polling ``/sync`` of the observer, not by sleeping.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

# the test suite's Synapse harness lives in tests/support: put the repository on the path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _support import cpu_seconds  # noqa: E402
from tests.support.matrix_world import Member, World  # noqa: E402
from tests.support.polling import wait_for  # noqa: E402
from tests.support.synapse import SynapseServer, ensure_synapse_venv  # noqa: E402

from conduct_desk.config import preset_text
from conduct_desk.domain.policy import parse_policy
from conduct_desk.platforms.matrix.settings import MatrixSettings
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


REACTION, DM, REPORT_API = ("report → card (reaction)", "report → card (DM)",
                             "report → card (report API)")
DEFAULT_POLL = float(MatrixSettings.model_fields["poll_seconds"].default)
REQUESTS_PER_ROUND = 3  # one /sync, one read of event reports, one of user reports


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=60, help="reports in all (default 60)")
    parser.add_argument("--poll", type=float, default=DEFAULT_POLL,
                        help=f"the bot's poll interval, s (default {DEFAULT_POLL:g}, the "
                             "setting's default)")
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds to measure the polling's cost, with and without the "
                             "bot (default 60; 0: skip)")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="stop starting runs after this long (default 600)")
    args = parser.parse_args()
    if not 1 <= args.runs <= 10_000 or args.poll <= 0 or not 0 <= args.idle <= 3600:
        parser.error("--runs from 1 to 10000, --poll above 0, --idle from 0 to 3600")

    samples: dict[str, list[float]] = {"send": [], REACTION: [], DM: [], REPORT_API: [],
                                       "command → effect": []}
    cost: dict[str, float] = {}
    with SynapseServer(venv=ensure_synapse_venv()) as synapse, \
            tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        world = World.build(synapse)
        # reacting reports only when the policy turns it on ([intake] reactions)
        policy = replace(parse_policy(preset_text("guide"), "preset guide"), reactions=True)
        _, adapter = world.app(engine, FakeClock(), policy, poll_seconds=args.poll,
                               request_timeout=float(
                                   MatrixSettings.model_fields["request_timeout"].default))
        cards = Watcher(world.ana, world.management)
        lobby = Watcher(world.ana, world.lobby)
        bot = world.bot.user_id
        dm = world.cara.client.create_room(invite=[bot], is_direct=True)
        wait_for(lambda: bot in world.cara.client.joined_members(dm), "the bot to join the DM")

        def card_for(case_id: int) -> Callable[[dict[str, Any]], bool]:
            return lambda e: e["sender"] == bot and str(e["content"].get("body", "")).startswith(
                f"Case {case_id} ")

        case_id = 0
        stop_at = time.monotonic() + args.max_seconds
        try:
            for run in range(args.runs):
                if time.monotonic() > stop_at:
                    print(f"stopped after {run} runs: --max-seconds {args.max_seconds:g}")
                    break
                way = (REACTION, DM, REPORT_API)[run % 3]
                started = time.perf_counter()
                said = world.bob.client.send_text(world.lobby, f"unkind message number {run}")
                samples["send"].append(time.perf_counter() - started)
                lobby.since = world.ana.client.sync_once(lobby.since)["next_batch"]
                case_id += 1
                started = time.perf_counter()
                if way == REACTION:
                    world.cara.client.call(
                        "PUT", f"/_matrix/client/v3/rooms/{world.lobby}/send/m.reaction/r{run}",
                        json={"m.relates_to": {"rel_type": "m.annotation", "event_id": said,
                                               "key": "🚩"}})
                elif way == DM:
                    world.cara.client.send_text(
                        dm, f"this one: https://matrix.to/#/{world.lobby}/{said}?via=localhost")
                else:
                    world.cara.client.report_event(world.lobby, said, "")
                samples[way].append(cards.wait(card_for(case_id)) - started)

                started = time.perf_counter()
                world.ana.client.send_text(world.management,
                                           f"!coc step {case_id} remind --reason bench")
                arrived = lobby.wait(lambda e, s=said: e["sender"] == bot and e["content"].get(
                    "m.relates_to", {}).get("event_id") == s)
                samples["command → effect"].append(arrived - started)
            if args.idle > 0:
                pid = synapse._process.pid if synapse._process else None  # noqa: SLF001
                assert pid is not None
                time.sleep(args.poll * 2)  # let the last runs' traffic settle
                rounds, cpu, t0 = adapter.rounds, cpu_seconds(pid), time.monotonic()
                time.sleep(args.idle)
                span = time.monotonic() - t0
                cost["rounds"] = adapter.rounds - rounds
                cost["bot_cpu"] = cpu_seconds(pid) - cpu
                cost["span"] = span
                world.stop()
                cpu, t0 = cpu_seconds(pid), time.monotonic()
                time.sleep(args.idle)
                cost["idle_cpu"] = cpu_seconds(pid) - cpu
                cost["idle_span"] = time.monotonic() - t0
        finally:
            world.stop()
            engine.dispose()

    print(f"Matrix bench: {sum(len(samples[k]) for k in (REACTION, DM, REPORT_API))} reports "
          f"against Synapse {synapse_version()} on 127.0.0.1, poll interval {args.poll:g}s"
          f"{' (the default)' if args.poll == DEFAULT_POLL else ''}, SQLite")
    print(f"{'measure':32} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  target")
    targets = {REACTION: 1000.0, DM: 1000.0, REPORT_API: args.poll * 1000}
    for name, values in samples.items():
        ms = [v * 1000 for v in values]
        if not ms:
            continue
        target = targets.get(name)
        verdict = "" if target is None else (
            f"p99 < {target:g} ms: " + ("ok" if percentile(ms, 99) < target else "MISSED"))
        print(f"{name:32} {len(ms):>4} {percentile(ms, 50):>8.1f} {percentile(ms, 99):>8.1f} "
              f"{max(ms):>8.1f}  {verdict}")
    if cost:
        per_min = 60 / cost["span"]
        print(f"\nwhile idle, over {cost['span']:.0f}s: the bot made {cost['rounds']:.0f} sync "
              f"rounds = {cost['rounds'] * REQUESTS_PER_ROUND * per_min:.0f} requests/min "
              f"({REQUESTS_PER_ROUND} per round: /sync, event reports, user reports)")
        polling, quiet = cost["bot_cpu"] * per_min, cost["idle_cpu"] * 60 / cost["idle_span"]
        print(f"Synapse CPU: {polling:.2f} s/min with the bot polling, {quiet:.2f} s/min with "
              f"the bot stopped (the polling's cost: {(polling - quiet) / 60 * 100:.1f}% of one "
              "core)")


def synapse_version() -> str:
    import subprocess

    from tests.support.synapse import default_venv

    out = subprocess.run([str(default_venv() / "bin" / "python"), "-c",
                          "import synapse; print(synapse.__version__)"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip().split(" ")[0] or "?"


if __name__ == "__main__":
    main()
