"""The Discord app's hot path and its report latency, against the loopback Discord fake.

    PYTHONPATH=src python bench/discord.py [--events 20000] [--seconds 5] [--reports 40]

1. **Gateway events that trigger nothing.** A busy server's gateway is mostly plain channel
   messages nobody waits on. The real desk (``configure`` → discord.py client, connected to the
   fake, READY) is fed MESSAGE_CREATE frames exactly as the gateway sends them (``zlib-stream``
   compressed, one shared stream, as discord.py asks for by default) through discord.py's own
   ``DiscordWebSocket.received_message``: decompression, JSON, sequence, the desk's raw parser
   and its filter. In the same run, ``json.loads`` of the same payloads (already decompressed)
   is the yardstick; target: the app within 3x of it.
2. **The same events end to end**: pushed by the fake over its websocket to the connected
   client, until the client has read the last one (loopback, compression and the fake's own
   encoding included; for information).
3. **Report → card**: a member uses *Report to admins* on a fresh message, submits the modal;
   until the case's card is posted in the admins' channel (p50 / p99 over ``--reports``).

Bounded: each part stops after its count or its seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# This file is named like the library: take its own folder off the path so that `import discord`
# finds discord.py, and put the repository on it (the Discord fake lives in tests/support).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench._support import percentile, table  # noqa: E402
from tests.support.fake_discord import (  # noqa: E402
    BOT_USER_ID,
    FakeDiscord,
    FakeMessage,
    message_text,
)

from conduct_desk.bootstrap import bootstrap  # noqa: E402
from conduct_desk.config import Settings  # noqa: E402
from conduct_desk.platforms.discord import DiscordAdapter, DiscordSettings, configure  # noqa: E402
from conduct_desk.storage.db import create_engine, upgrade  # noqa: E402

ADMINS, TALK = "520000000000000001", "520000000000000002"
ADMIN, REPORTER = "510000000000000001", "510000000000000002"
WORDS = (
    "the build is green again",
    "lunch?",
    "see the RFC in #design",
    "thanks!",
    "can someone review my PR",
    "I pushed a fix for the flaky test",
    "meeting moved to 3pm",
    "has anyone seen the new release notes",
    "good morning",
)


@contextmanager
def desk(*, message_content: bool, members: int) -> Iterator[tuple[FakeDiscord, DiscordAdapter]]:
    """The desk on SQLite, its Discord adapter connected to a fresh fake (no heartbeats due)."""
    with tempfile.TemporaryDirectory() as tmp, FakeDiscord(heartbeat_interval_ms=600_000) as fake:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(create_engine(url))
        app = bootstrap(Settings(database_url=url))
        fake.add_member(ADMIN, "ada")
        fake.add_member(REPORTER, "rae")
        for i in range(members):
            fake.add_member(subject_id(i), f"member{i}")
        fake.add_channel(TALK, "talk")
        fake.add_channel(ADMINS, "admins")
        fake.make_private(ADMINS, visible_to=[ADMIN])
        adapter = configure(
            app,
            DiscordSettings(
                bot_token=fake.token,  # type: ignore[arg-type]
                application_id=fake.application_id,
                guild_id=fake.guild_id,
                admin_channel=ADMINS,
                admins=f"{ADMIN}:admin",
                message_content=message_content,
                api_url=fake.api_url,
                gateway_url=fake.gateway_url,
            ),
        )
        assert adapter is not None
        app.desk.platforms["discord"] = adapter.platform
        adapter.start()
        assert adapter.transport.ready.wait(30), "no READY from the fake"
        try:
            yield fake, adapter
        finally:
            adapter.stop()
            app.engine.dispose()


def subject_id(i: int) -> str:
    return str(530000000000000000 + i)


def message_events(fake: FakeDiscord, count: int) -> list[str]:
    """MESSAGE_CREATE dispatches as the fake sends them: full message objects, with member."""
    rng = random.Random(7)
    texts = []
    for i in range(count):
        author = subject_id(rng.randrange(20))
        message = FakeMessage(
            id=str((1 << 60) + i),
            channel_id=TALK,
            author_id=author,
            content=" ".join(rng.sample(WORDS, 3)),
            timestamp="2026-11-24T09:00:00+00:00",
        )
        with fake._lock:
            payload = fake._message_json(message)
        texts.append(json.dumps({"op": 0, "t": "MESSAGE_CREATE", "s": 1000 + i, "d": payload}))
    return texts


def zlib_stream(texts: list[str]) -> list[bytes]:
    """Frames of one zlib stream, each ending in Z_SYNC_FLUSH, as Discord's zlib-stream."""
    stream = zlib.compressobj()
    return [stream.compress(t.encode()) + stream.flush(zlib.Z_SYNC_FLUSH) for t in texts]


def rate(run: Callable[[Any], object], items: list[Any], seconds: float) -> tuple[float, int]:
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    for item in items:
        run(item)
        done += 1
        if done % 256 == 0 and time.perf_counter() > deadline:
            break
    return done / (time.perf_counter() - start), done


def through_gateway_code(adapter: DiscordAdapter, frames: list[bytes], seconds: float) -> tuple[float, int]:
    """discord.py's own frame handling on the client's loop, with a fresh zlib context that
    matches ``frames`` (the live connection's is put back after)."""
    import discord.utils

    client = adapter.connection.client
    ws = client.ws

    async def run() -> tuple[float, int]:
        live, sequence = ws._decompressor, ws.sequence
        ws._decompressor = discord.utils._ActiveDecompressionContext()
        try:
            done, start = 0, time.perf_counter()
            deadline = start + seconds
            for frame in frames:
                await ws.received_message(frame)
                done += 1
                if done % 256 == 0 and time.perf_counter() > deadline:
                    break
            return done / (time.perf_counter() - start), done
        finally:
            ws._decompressor, ws.sequence = live, sequence

    return asyncio.run_coroutine_threadsafe(run(), adapter.connection.loop).result(seconds * 4 + 30)


def end_to_end(
    fake: FakeDiscord, adapter: DiscordAdapter, texts: list[str], seconds: float
) -> tuple[float, int]:
    """The fake pushes the same MESSAGE_CREATE events over its websocket (encoding and
    compressing each, as Discord does); until the client has read the last."""
    ws = adapter.connection.client.ws
    payloads = [json.loads(t)["d"] for t in texts]
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    last = 0
    for i in range(0, len(payloads), 256):
        last = fake.dispatch_many("MESSAGE_CREATE", payloads[i : i + 256], intent=1 << 9)
        sent += len(payloads[i : i + 256])
        if time.perf_counter() > deadline:
            break
    while ws.sequence is None or ws.sequence < last:
        time.sleep(0.001)  # a benchmark's wait for the client to catch up, not a test's
    return sent / (time.perf_counter() - start), sent


def report_to_card(fake: FakeDiscord, count: int, seconds: float) -> list[float]:
    """Seconds from the modal's submission to the case card in the admins' channel."""
    took: list[float] = []
    deadline = time.perf_counter() + seconds
    for i in range(count):
        target = fake.add_message(TALK, subject_id(i), f"a hurtful message number {i}")
        opened = fake.message_command(REPORTER, "Report to admins", target.id)
        fake.wait_for_response(opened)
        before = len(cards(fake))
        start = time.perf_counter()
        fake.submit_modal(opened)
        fake.wait_for(lambda before=before: len(cards(fake)) > before, 30, "the card")
        took.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return took


def cards(fake: FakeDiscord) -> list[FakeMessage]:
    return [
        m for m in fake.messages(ADMINS) if m.author_id == BOT_USER_ID and message_text(m).startswith("Case ")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="at most, per measurement")
    parser.add_argument("--reports", type=int, default=40)
    parser.add_argument(
        "--message-content",
        action="store_true",
        help="connect with the privileged Message Content intent (texts reach the filter)",
    )
    args = parser.parse_args()

    with desk(message_content=args.message_content, members=max(20, args.reports)) as (fake, adapter):
        texts = message_events(fake, args.events)
        frames = zlib_stream(texts)
        through_gateway_code(adapter, frames[:200], 1.0)  # warm up
        frames = zlib_stream(texts)  # a fresh stream for the measured run
        loads, n_loads = rate(json.loads, texts, args.seconds)
        app_rate, n_app = through_gateway_code(adapter, frames, args.seconds)
        wire, n_wire = end_to_end(fake, adapter, texts, args.seconds)
        latencies = report_to_card(fake, args.reports, args.seconds * 6)

    size = sum(map(len, texts)) / len(texts)
    intent = "with" if args.message_content else "without"
    print(
        f"payloads: {len(texts)} MESSAGE_CREATE dispatches, {size:.0f} bytes of JSON on average; "
        f"connected {intent} the Message Content intent"
    )
    print(
        table(
            ["gateway events that trigger nothing", "events/s", "events"],
            [
                ["json.loads (the yardstick)", f"{loads:,.0f}", n_loads],
                ["app: discord.py frame handling + desk filter", f"{app_rate:,.0f}", n_app],
                ["end to end: the fake encodes, sends; the app reads", f"{wire:,.0f}", n_wire],
            ],
        )
    )
    ratio = loads / app_rate
    print(
        f"app is {ratio:.2f}x slower than json.loads (target: within 3x) — {'OK' if ratio <= 3 else 'MISSED'}"
    )
    ms = [t * 1000 for t in latencies]
    print(
        table(
            ["report → card", "runs", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    "modal submitted → card posted",
                    len(ms),
                    f"{percentile(ms, 50):.1f}",
                    f"{percentile(ms, 99):.1f}",
                    f"{max(ms):.1f}",
                ]
            ],
        )
    )


if __name__ == "__main__":
    main()
