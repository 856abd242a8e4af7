"""The one place that wires storage, platforms, the clock and the bus together."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from conduct_desk.config import Settings, load_policy
from conduct_desk.domain.model import Outcome
from conduct_desk.domain.policy import Policy
from conduct_desk.domain.transparency import Period, Report, publish
from conduct_desk.mail.smtp import SmtpMailer
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import audit, commands, followups, handlers, nudges, privacy
from conduct_desk.service.clock import SystemClock
from conduct_desk.service.deliverer import Deliverer
from conduct_desk.service.handlers import Desk
from conduct_desk.service.health import HealthProbe
from conduct_desk.service.leases import Leaseholder, LeaseKeeper, Listener
from conduct_desk.service.messagebus import MessageBus
from conduct_desk.service.ports import Adapter, Clock, Mailer, Platform, UnitOfWork
from conduct_desk.storage.db import check_migrated, create_engine
from conduct_desk.storage.health import SqlHealthProbe
from conduct_desk.storage.leases import SqlLeases
from conduct_desk.storage.sealing import Sealer, check_sealing
from conduct_desk.storage.signing import CheckpointSigner
from conduct_desk.storage.transparency import SqlTransparency
from conduct_desk.storage.uow import SqlUnitOfWork

logger = logging.getLogger(__name__)

# Each module has ``configure(app) -> Adapter | None``: None when its CONDUCT_<NAME>_*
# settings are absent. A module whose SDK (extra) is not installed is skipped unless configured.
# Its settings come from the environment only: with no variable of its prefix set, the module
# (and its SDK, a good part of a second to import) is not even loaded.
ADAPTER_MODULES = {
    "conduct_desk.platforms.slack": "CONDUCT_SLACK_",
    "conduct_desk.platforms.matrix": "CONDUCT_MATRIX_",
    "conduct_desk.platforms.discord": "CONDUCT_DISCORD_",
}


@dataclass
class App:
    settings: Settings
    engine: Engine
    desk: Desk
    bus: MessageBus
    adapters: list[Adapter] = field(default_factory=list)
    sealer: Sealer | None = None  # anonymous reporters' ids; None: no key set
    leaseholder: Leaseholder | None = None  # the listeners' leases, under `conduct serve`
    signer: CheckpointSigner | None = None  # the audit log's checkpoints; None: unsigned
    deliverer: Deliverer | None = None  # intake's notices, tried after the answer (serve)

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.sealer)

    def health(self) -> HealthProbe:
        """Readiness and the figures of ``/metrics``, read from storage."""
        return SqlHealthProbe(self.engine)

    def transparency(self, period: Period) -> Report:
        """The transparency report of ``period``, with small counts left out."""
        figures = SqlTransparency(self.engine).figures(period, self.desk.clock.now())
        policy = self.desk.policy
        return publish(figures, period, policy.transparency_min_count, self.desk.clock.now(),
                       checkpoint=self.checkpoint(), rungs=[r.name for r in policy.ladder],
                       outcomes=[str(o) for o in Outcome])

    def checkpoint(self) -> dict[str, Any] | None:
        """The audit log's latest checkpoint (signed when the desk has a key), as published."""
        made = audit.make_checkpoint(self.uow(), self.signer, self.desk.clock.now())
        return made.checkpoint.as_json()

    def check_secret_key(self) -> None:
        """Refuse to start (one line, with the fix) when the database holds sealed ids of
        anonymous reporters and no key is set, or the key set is not the one they use."""
        check_sealing(self.engine, self.sealer)


def load_adapters(app: App) -> list[Adapter]:
    """Configure every platform whose settings are present; add its platform to the desk."""
    adapters: list[Adapter] = []
    set_here = [variable.upper() for variable in os.environ]  # as settings read them: any case
    for name, prefix in ADAPTER_MODULES.items():
        if not any(variable.startswith(prefix) for variable in set_here):
            continue  # nothing of this platform's is set: it is not configured
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


def process_name(replica: str | None = None) -> str:
    """This process as a lease holder: the replica (host) name, pid namespace and pid (so
    that a holder that has died on this machine is recognised), and a nonce (a reused pid is
    not the same holder)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        namespace = "-"
    name = (replica or socket.gethostname()).replace("/", "-")
    return f"{name}/{namespace}/{os.getpid()}/{secrets.token_hex(3)}"


def process_gone(holder: str, replica: str | None = None) -> bool:
    """True when ``holder`` was a process of this replica name on this machine (same pid
    namespace) that has ended."""
    parts = holder.split("/")
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    mine = process_name(replica).split("/")
    if parts[:2] != mine[:2] or parts[1] == "-":
        return False  # another machine or container: only its lease running out tells
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (e.g. another user's): alive
        return False
    return False


def start_deliverer(app: App) -> Deliverer:
    """Have intake's notices (the reporter's thanks, the admins' line) tried on a thread of
    their own, after the report is stored and the caller answered: what ``conduct serve``
    runs. Stop it with :func:`stop_deliverer` before the platforms stop."""
    app.deliverer = Deliverer(app.uow, app.desk).start()
    app.desk.deliverer = app.deliverer
    return app.deliverer


def stop_deliverer(app: App, timeout: float = 10.0) -> None:
    """Reports filed from now on are thanked before the answer again; what the deliverer
    has, it tries, for up to ``timeout`` seconds (the rest, the timer worker delivers)."""
    deliverer, app.deliverer = app.deliverer, None
    if deliverer is None:
        return
    app.desk.deliverer = None
    if not deliverer.stop(timeout):
        logger.warning("the deliverer did not finish in %s s; the timer worker delivers "
                       "the rest", timeout)


def lease_listeners(app: App) -> Leaseholder:
    """One lease per configured platform's listener: it runs in one replica at a time."""
    leases = SqlLeases(app.engine)
    replica = app.settings.replica
    holder = process_name(replica)
    keepers = [LeaseKeeper(leases, app.desk.clock, holder,
                           Listener(f"listener:{a.platform.name}", a.start, a.pause),
                           gone=functools.partial(process_gone, replica=replica))
               for a in app.adapters]
    app.leaseholder = Leaseholder(keepers,
                                  single_process=app.engine.dialect.name == "sqlite")
    return app.leaseholder


def bootstrap(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    policy: Policy | None = None,
    clock: Clock | None = None,
    platforms: dict[str, Platform] | None = None,
    mailer: Mailer | None = None,
    check_schema: bool = True,
    with_adapters: bool = False,
) -> App:
    """Build the app. Tests pass fakes (clock, platforms, mailer); production passes nothing."""
    settings = settings or Settings()
    policy = policy or load_policy(settings)
    engine = engine or create_engine(settings.database_url)
    if check_schema:
        check_migrated(engine)
    key = settings.sealing_key()
    sealer = Sealer(key) if key is not None else None
    signing_key = settings.audit_signing_secret()
    signer = CheckpointSigner(signing_key) if signing_key is not None else None
    if platforms is None:
        platforms = {"sandbox": SandboxPlatform()}
    if mailer is None:  # CONDUCT_SMTP_*: a setting missing or malformed stops here, named
        smtp = settings.smtp()
        mailer = SmtpMailer(smtp) if smtp is not None else None
    desk = Desk(policy=policy, clock=clock or SystemClock(), platforms=platforms,
                base_url=settings.base_url, mailer=mailer,
                lease=timedelta(seconds=settings.timer_lease_seconds))

    def uow_factory() -> UnitOfWork:
        return SqlUnitOfWork(engine, sealer)

    def inject(handler: Callable[..., Any]) -> Callable[..., Any]:
        return functools.partial(handler, desk=desk)

    command_handlers: dict[type[commands.Command], Callable[..., Any]] = {
        **handlers.COMMAND_HANDLERS,
        **followups.COMMAND_HANDLERS,
        commands.Nudge: nudges.nudge,
        commands.NudgeAnswered: nudges.nudge_answered,
        commands.AuthorWrote: nudges.author_wrote,
        commands.NudgeEnough: nudges.nudge_enough,
        commands.ApplyRetention: privacy.apply_retention,
    }
    bus = MessageBus(
        uow_factory=uow_factory,
        command_handlers={k: inject(h) for k, h in command_handlers.items()},
        event_handlers={k: [inject(h) for h in hs] for k, hs in handlers.EVENT_HANDLERS.items()},
    )
    app = App(settings=settings, engine=engine, desk=desk, bus=bus, sealer=sealer,
              signer=signer)
    if with_adapters:
        app.adapters = load_adapters(app)
    return app
