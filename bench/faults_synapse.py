"""The Synapse half of ``faults_platform.py --synapse``: a real homeserver (the venv of
``scripts/synapse-venv.sh``, or ``CONDUCT_SYNAPSE_VENV``), a community on it, and the desk's
Matrix platform talking to it through the fault-injecting proxy."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from _support import FaultProxy
from faults_platform import bench_policy
from tests.support.synapse import SynapseServer

from conduct_desk.bootstrap import bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.matrix import MatrixSettings, configure


def synapse_run(args: argparse.Namespace, url: str, measure: Callable[..., list[str]]) -> list[str]:
    with SynapseServer() as hs:
        def member(name: str, admin: bool = False) -> tuple[str, str]:
            return hs.register(name, f"{name}-bench-pw", admin=admin)

        server_admin, bot, ana = member("srvadmin", True), member("desk"), member("ana")
        ana_client, bot_client = hs.client(*ana), hs.client(*bot)
        subjects = [member(f"member{i}") for i in range(args.steps)]
        lobby = ana_client.create_room(name="lobby", invite=[bot[0]])
        management = ana_client.create_room(name="desk", invite=[bot[0]])
        for room in (lobby, management):
            bot_client.join(room)
        ana_client.set_power_level(lobby, bot[0], 50)
        said = []
        for user_id, token in subjects:
            client = hs.client(user_id, token)
            ana_client.invite(lobby, user_id)
            client.join(lobby)
            said.append((PersonRef("matrix", user_id), lobby,
                         client.send_text(lobby, "that was not ok")))
            client.close()
        print(f"Synapse: {len(subjects)} members in the lobby")
        with FaultProxy(hs.base_url, args.rate, hold=args.timeout + 1.0) as proxy:
            app = bootstrap(Settings(database_url=url), policy=bench_policy(), platforms={})
            adapter = configure(app, MatrixSettings(
                homeserver=proxy.url, user_id=bot[0], access_token=bot[1],
                admin_token=server_admin[1], management_room=management, rooms=lobby,
                admins=f"ana={ana[0]}", request_timeout=args.timeout))
            assert adapter is not None
            app.desk.platforms[adapter.platform.name] = adapter.platform
            return measure(args, app, said, "ana", proxy)
