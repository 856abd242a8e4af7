"""`conduct serve` replicas as real processes, for the replica test and bench/replicas.py:
each on its own port, configured with the Matrix bot of a :class:`World` (or the Discord bot
of a :class:`FakeDiscord` guild), probed by /readyz."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from tests.conftest import SECRET_KEY
from tests.support.discord_harness import ADMIN, ADMINS, OTHER, REPORTER, SUBJECT, TALK
from tests.support.fake_discord import FakeDiscord
from tests.support.matrix_world import World
from tests.support.synapse import free_port

import conduct_desk

LISTENER = "listener:matrix"
DISCORD_LISTENER = "listener:discord"


class Replica:
    """One `conduct serve` process, and its /readyz."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        # named apart, as replicas on two machines are: a killed holder is known dead only
        # when its lease runs out (on one machine, a dead pid is taken over at once)
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "conduct_desk", "serve", "--port", str(self.port),
                 "--interval", "0.2"], env={**env, "CONDUCT_REPLICA": name}, stdout=out,
                stderr=subprocess.STDOUT)

    def ready(self) -> dict[str, Any] | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2.0)
        except httpx.HTTPError:
            return None
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 else None

    def leases(self) -> list[str]:
        body = self.ready()
        return [lease["name"] for lease in body["leases"]] if body else []

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def desk_env(db_url: str) -> dict[str, str]:
    """The environment of a `conduct` process on ``db_url``: none of this shell's CONDUCT_*,
    and the code this test imported."""
    here = str(Path(conduct_desk.__file__).parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUCT_")}
    env.update(CONDUCT_DATABASE_URL=db_url, CONDUCT_SECRET_KEY=SECRET_KEY,
               PYTHONPATH=os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    return env


def replica_env(world: World, db_url: str) -> dict[str, str]:
    """A replica's environment: the database and the world's Matrix bot."""
    env = desk_env(db_url)
    for name, value in world.settings().model_dump().items():
        if value is None:
            continue
        value = value.get_secret_value() if isinstance(value, SecretStr) else value
        env[f"CONDUCT_MATRIX_{name.upper()}"] = str(value)
    return env


def discord_guild(fake: FakeDiscord) -> None:
    """The members and channels of the replicas' Discord server."""
    for user, name in ((SUBJECT, "sam"), (REPORTER, "rae"), (OTHER, "oli"), (ADMIN, "ada")):
        fake.add_member(user, name)
    fake.add_channel(TALK, "talk")
    fake.add_channel(ADMINS, "admins")


def discord_env(fake: FakeDiscord, db_url: str) -> dict[str, str]:
    """A replica's environment: the database and the fake guild's Discord bot."""
    return {**desk_env(db_url),
            "CONDUCT_DISCORD_BOT_TOKEN": fake.token,
            "CONDUCT_DISCORD_APPLICATION_ID": fake.application_id,
            "CONDUCT_DISCORD_GUILD_ID": fake.guild_id,
            "CONDUCT_DISCORD_ADMIN_CHANNEL": ADMINS,
            "CONDUCT_DISCORD_ADMINS": f"{ADMIN}:admin",
            "CONDUCT_DISCORD_API_URL": fake.api_url,
            "CONDUCT_DISCORD_GATEWAY_URL": fake.gateway_url}
