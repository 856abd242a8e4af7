"""Message events per second through the Slack app, for events that trigger nothing.

The hot path of a big workspace is plain channel messages: the app must answer them without
touching Slack or the database. This sends signed Events API bodies through the adapter's
HTTP handler (signature check included) and, in the same run, ``json.loads`` of the same
bodies, then prints both rates and their ratio (target: the app within 5x of json.loads).

    PYTHONPATH=src python bench/slack.py [--events 20000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from conduct_desk.bootstrap import bootstrap
from conduct_desk.config import Settings
from conduct_desk.platforms.slack import SlackSettings, configure, sign
from conduct_desk.storage.db import create_engine, upgrade

SECRET = "bench-signing-secret"
WORDS = ("the build is green again", "lunch?", "see the RFC in #design", "thanks!",
         "can someone review my PR", "I pushed a fix for the flaky test", ":tada:",
         "meeting moved to 3pm", "has anyone seen the new release notes", "good morning")


def payloads(count: int) -> list[bytes]:
    rng = random.Random(7)
    bodies = []
    for i in range(count):
        ts = f"{1_700_000_000 + i}.{rng.randrange(10**6):06d}"
        event = {"type": "message", "channel": f"C{rng.randrange(10**8):08d}",
                 "user": f"U{rng.randrange(10**8):08d}", "text": " ".join(rng.sample(WORDS, 3)),
                 "ts": ts, "event_ts": ts, "channel_type": "channel", "team": "T0BENCH001",
                 "blocks": [{"type": "rich_text", "block_id": f"b{i}", "elements": [
                     {"type": "rich_text_section", "elements": [{"type": "text", "text": "hi"}]}]}]}
        bodies.append(json.dumps({
            "token": "legacy", "team_id": "T0BENCH001", "api_app_id": "A0BENCH001",
            "event": event, "type": "event_callback", "event_id": f"Ev{i:010d}",
            "event_time": 1_700_000_000 + i, "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
            "authorizations": [{"team_id": "T0BENCH001", "user_id": "U0BENCHBOT",
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False}).encode())
    return bodies


def rate(run: Callable[[bytes], object], bodies: list[bytes], seconds: float) -> tuple[float, int]:
    """Events per second over at most ``len(bodies)`` events and about ``seconds``."""
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    for body in bodies:
        run(body)
        done += 1
        if done % 256 == 0 and time.perf_counter() > deadline:
            break
    return done / (time.perf_counter() - start), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(create_engine(url))
        app = bootstrap(Settings(database_url=url))
        adapter = configure(app, SlackSettings(
            bot_token="xoxb-bench", signing_secret=SECRET, admin_channel="C0ADMINS01",
            api_url="http://127.0.0.1:9/api/"))  # nothing may reach it
        assert adapter is not None
        bodies = payloads(args.events)
        signed = [(b, {"Content-Type": "application/json", **sign(SECRET, b)}) for b in bodies]
        headers = dict(zip(bodies, (h for _, h in signed), strict=True))

        def through_app(body: bytes) -> None:
            status, _, _ = adapter.transport.handle_http(body, headers[body])
            assert status == 200

        through_app(bodies[0])  # warm up: the watch list, imports
        loads, n_loads = rate(json.loads, bodies, args.seconds)
        app_rate, n_app = rate(through_app, bodies, args.seconds)
        size = sum(map(len, bodies)) / len(bodies)
        print(f"payloads: {len(bodies)} plain channel message events, {size:.0f} bytes on average")
        print(f"json.loads            {loads:12,.0f} events/s  ({n_loads} events)")
        print(f"app (handle_http)     {app_rate:12,.0f} events/s  ({n_app} events, signature checked)")
        ratio = loads / app_rate
        print(f"app is {ratio:.2f}x slower than json.loads (target: within 5x) — "
              f"{'OK' if ratio <= 5 else 'MISSED'}")
        app.engine.dispose()


if __name__ == "__main__":
    main()
