"""Two real replicas (`conduct serve` processes) on one fresh PostgreSQL database, the Matrix
bot configured against the real Synapse: the one holding the Matrix listener's lease is
killed with SIGKILL, the other takes the listener over within 15 s, and what was said to the
desk after the kill is handled exactly once — one case, one card, one answer."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import DEFAULT_PG, postgres_admin_url
from tests.support.discord_harness import OTHER, REPORTER, SUBJECT
from tests.support.fake_discord import FakeDiscord, FakeMessage
from tests.support.matrix_world import World
from tests.support.polling import wait_for
from tests.support.replicas import (
    DISCORD_LISTENER,
    LISTENER,
    Replica,
    desk_env,
    discord_env,
    discord_guild,
    replica_env,
)
from tests.support.synapse import SynapseServer, free_port

from conduct_desk.platforms.discord.transport import GATEWAY_CURSOR
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine, upgrade

TAKEOVER = 15.0  # seconds: the promise (a lease lives 10 s, renewed every 2 s)


@pytest.fixture
def world(synapse: SynapseServer) -> Iterator[World]:
    """Fresh users and rooms; the bots are the replicas' (no database fixture: the replicas
    have their own)."""
    w = World.build(synapse)
    yield w
    w.stop()


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A database of its own on the test PostgreSQL, migrated; dropped afterwards."""
    admin = create_engine(postgres_admin_url() or DEFAULT_PG, isolation_level="AUTOCOMMIT")
    name = f"conduct_replicas_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def answers_to(world: World, command_event: str) -> list[str]:
    return [str(e["content"]["body"]) for e in world.ana.client.messages(world.management, 100)
            if e.get("sender") == world.bot.user_id and e.get("content", {}).get(
                "m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == command_event]


def test_a_killed_replicas_listener_is_taken_over_and_nothing_is_handled_twice_or_lost(
        world: World, fresh_postgres: str, tmp_path: Path) -> None:
    env = replica_env(world, fresh_postgres)
    replicas = [Replica(name, env, tmp_path / f"{name}.log") for name in ("a", "b")]
    try:
        for r in replicas:
            wait_for(r.ready, f"replica on port {r.port} ready", timeout=45)
        holder = wait_for(lambda: next((r for r in replicas if LISTENER in r.leases()), None),
                          "one replica holding the Matrix listener")
        other = next(r for r in replicas if r is not holder)
        assert other.leases() == []  # exactly one replica listens
        world.ask("!coc list")  # the holder listens (answers) before it is killed

        holder.kill()
        # said to the desk while nobody listens: a report through Synapse, a command
        said = world.bob.client.send_text(world.lobby, "something unkind")
        world.cara.client.report_event(world.lobby, said, "this hurt")
        command = world.ana.client.send_text(world.management, "!coc list")

        wait_for(lambda: LISTENER in other.leases(), "the other replica taking the listener",
                 timeout=TAKEOVER)
        wait_for(lambda: world.card(1), "the card of the report made after the kill")
        wait_for(lambda: answers_to(world, command), "the answer to the command")
        world.ask("!coc list")  # later events are handled: what came before was not repeated

        assert len(answers_to(world, command)) == 1
        assert [c for c in world.cards() if c.startswith("Case ")] == [world.card(1)]
        engine = create_engine(fresh_postgres)
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.select(sa.func.count()).select_from(
                    tables.cases)).scalar() == 1
                assert conn.execute(sa.select(sa.func.count()).select_from(
                    tables.reports)).scalar() == 1
                epoch = conn.execute(sa.select(tables.leases.c.epoch).where(
                    tables.leases.c.name == LISTENER)).scalar()
        finally:
            engine.dispose()
        assert epoch == 2  # taken once, taken over once
    finally:
        for r in replicas:
            r.end()


def test_a_second_serve_on_one_sqlite_file_says_the_listeners_run_elsewhere(
        tmp_path: Path) -> None:
    """SQLite is one process: a second `conduct serve` names the one that listens, and the
    fix, in one line, and starts nothing (no web desk, no timers, no listener)."""
    db = tmp_path / "conduct.db"
    engine = create_engine(f"sqlite:///{db}")
    upgrade(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:  # the first `conduct serve`, alive on another terminal
        conn.execute(tables.leases.insert().values(
            name=LISTENER, holder="desk-host/4026531836/4242/0a1b2c", epoch=1,
            acquired_at=now, expires_at=now + timedelta(minutes=5)))
    engine.dispose()
    env = {**desk_env(f"sqlite:///{db}"), "CONDUCT_MATRIX_HOMESERVER": "http://127.0.0.1:9",
           "CONDUCT_MATRIX_USER_ID": "@desk:example.org", "CONDUCT_MATRIX_ACCESS_TOKEN": "t"}
    done = subprocess.run([sys.executable, "-m", "conduct_desk", "serve", "--port",
                           str(free_port())], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error == [
        "error: the matrix listener already runs in another `conduct serve` on this SQLite "
        "database (desk-host/4026531836/4242/0a1b2c); stop that one first, or use PostgreSQL "
        "(CONDUCT_DATABASE_URL) to run several replicas"]
    assert "Uvicorn running" not in done.stderr


def test_a_killed_replicas_discord_session_is_resumed_by_the_other_and_nothing_is_lost(
        fresh_postgres: str, tmp_path: Path) -> None:
    """Discord: the replica holding the gateway is killed with SIGKILL; what members write to
    the desk before the other replica listens waits in the dead replica's gateway session,
    which the other resumes: each message is answered once, and none is lost."""
    with FakeDiscord() as fake:
        discord_guild(fake)
        env = discord_env(fake, fresh_postgres)
        replicas = [Replica(name, env, tmp_path / f"{name}.log") for name in ("a", "b")]
        engine = create_engine(fresh_postgres)
        try:
            for r in replicas:
                wait_for(r.ready, f"replica on port {r.port} ready", timeout=45)
            holder = wait_for(lambda: next((r for r in replicas
                                            if DISCORD_LISTENER in r.leases()), None),
                              "one replica holding the Discord listener")
            other = next(r for r in replicas if r is not holder)
            assert other.leases() == []
            before = fake.send_dm(OTHER, "hello, is anyone there?")  # heard by the holder
            wait_for(lambda: fake.dms_to(OTHER) or None, "the holder's answer")
            wait_for(lambda: _kept_past(engine, fake, before), "the holder keeping its place")

            holder.kill()
            # written while nobody listens: Discord keeps it in the dead replica's session
            fake.send_dm(REPORTER, f"<@{SUBJECT}> keeps mocking my accent in #talk")
            wait_for(lambda: DISCORD_LISTENER in other.leases(),
                     "the other replica taking the listener", timeout=TAKEOVER)
            wait_for(lambda: fake.dms_to(REPORTER) or None, "the answer to the DM")
            fake.send_dm(OTHER, "and now?")  # later messages are heard as well
            wait_for(lambda: len(fake.dms_to(OTHER)) >= 2 or None, "the answer after")

            with engine.connect() as conn:
                cases = conn.execute(sa.select(tables.cases.c.subject_id)).scalars().all()
            assert cases == [SUBJECT]  # the report written during the takeover: one case
            assert len(fake.dms_to(REPORTER)) == 1  # thanked once
            assert len(fake.dms_to(OTHER)) == 2  # the first message was not answered again
            assert any(r["accepted"] for r in fake.resumes)  # the dead session was resumed
        finally:
            engine.dispose()
            for r in replicas:
                r.end()


def _kept_past(engine: sa.Engine, fake: FakeDiscord, message: FakeMessage) -> bool | None:
    """True once the listener's kept place is at or past the event of ``message``."""
    with engine.connect() as conn:
        raw = conn.execute(sa.select(tables.cursors.c.value).where(
            tables.cursors.c.name == GATEWAY_CURSOR)).scalar()
    seq = fake.sequence_of(message.id)
    return True if raw and seq is not None and json.loads(raw)["seq"] >= seq else None
