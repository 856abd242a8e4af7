"""The one place that wires storage, platforms, the clock and the bus together."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from conduct_desk.config import Settings, load_policy
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import commands, handlers, nudges
from conduct_desk.service.clock import SystemClock
from conduct_desk.service.handlers import Desk
from conduct_desk.service.health import HealthProbe
from conduct_desk.service.messagebus import MessageBus
from conduct_desk.service.ports import Adapter, Clock, Platform, UnitOfWork
from conduct_desk.storage.db import check_migrated, create_engine
from conduct_desk.storage.health import SqlHealthProbe
from conduct_desk.storage.sealing import Sealer, check_sealing
from conduct_desk.storage.uow import SqlUnitOfWork

# Each module has ``configure(app) -> Adapter | None``: None when its CONDUCT_<NAME>_*
# settings are absent. A module whose SDK (extra) is not installed is skipped unless configured.
ADAPTER_MODULES = (
    "conduct_desk.platforms.slack",
    "conduct_desk.platforms.matrix",
    "conduct_desk.platforms.discord",
)


@dataclass
class App:
    settings: Settings
    engine: Engine
    desk: Desk
    bus: MessageBus
    adapters: list[Adapter] = field(default_factory=list)
    sealer: Sealer | None = None  # anonymous reporters' ids; None: no key set

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.sealer)

    def health(self) -> HealthProbe:
        """Readiness and the figures of ``/metrics``, read from storage."""
        return SqlHealthProbe(self.engine)

    def check_secret_key(self) -> None:
        """Refuse to start (one line, with the fix) when the database holds sealed ids of
        anonymous reporters and no key is set, or the key set is not the one they use."""
        check_sealing(self.engine, self.sealer)


def load_adapters(app: App) -> list[Adapter]:
    """Configure every platform whose settings are present; add its platform to the desk."""
    adapters: list[Adapter] = []
    for name in ADAPTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that adapter is not part of this version
            raise
        adapter = module.configure(app)
        if adapter is not None:
            app.desk.platforms[adapter.platform.name] = adapter.platform
            adapters.append(adapter)
    return adapters


def bootstrap(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    policy: Policy | None = None,
    clock: Clock | None = None,
    platforms: dict[str, Platform] | None = None,
    check_schema: bool = True,
    with_adapters: bool = False,
) -> App:
    """Build the app. Tests pass fakes (clock, platforms); production passes nothing."""
    settings = settings or Settings()
    policy = policy or load_policy(settings)
    engine = engine or create_engine(settings.database_url)
    if check_schema:
        check_migrated(engine)
    key = settings.sealing_key()
    sealer = Sealer(key) if key is not None else None
    if platforms is None:
        platforms = {"sandbox": SandboxPlatform()}
    desk = Desk(policy=policy, clock=clock or SystemClock(), platforms=platforms,
                base_url=settings.base_url, lease=timedelta(seconds=settings.timer_lease_seconds))

    def uow_factory() -> UnitOfWork:
        return SqlUnitOfWork(engine, sealer)

    def inject(handler: Callable[..., Any]) -> Callable[..., Any]:
        return functools.partial(handler, desk=desk)

    command_handlers: dict[type[commands.Command], Callable[..., Any]] = {
        **handlers.COMMAND_HANDLERS,
        commands.Nudge: nudges.nudge,
        commands.NudgeAnswered: nudges.nudge_answered,
        commands.AuthorWrote: nudges.author_wrote,
        commands.NudgeEnough: nudges.nudge_enough,
    }
    bus = MessageBus(
        uow_factory=uow_factory,
        command_handlers={k: inject(h) for k, h in command_handlers.items()},
        event_handlers={k: [inject(h) for h in hs] for k, hs in handlers.EVENT_HANDLERS.items()},
    )
    app = App(settings=settings, engine=engine, desk=desk, bus=bus, sealer=sealer)
    if with_adapters:
        app.adapters = load_adapters(app)
    return app
