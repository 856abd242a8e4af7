"""The Matrix adapter ``conduct serve`` starts: the chat desk over the Matrix transport."""

from __future__ import annotations

import threading

from conduct_desk.domain.model import Source
from conduct_desk.service.chat.deliveries import Deliveries
from conduct_desk.service.chat.desk import ChatDesk, DeskApp

from .api import Cursors
from .platform import MatrixPlatform
from .settings import ADMINS_VARIABLE, NAME, MatrixConfig
from .transport import MatrixTransport

DM_HELP = (
    "Hi, I'm the admins' desk. To tell the admins about something, send me a link to the "
    "message (\"Share\" or \"Copy link\" in your client), or the person's Matrix id, and "
    "anything you want to add — no explanation is needed. Send !nudge with a link to ask me "
    "to have a private, kind word with the author first. After a warning, reply !reread "
    "once you have read the Code of Conduct again."
)


class MatrixAdapter:
    """The bot: the platform's steps, and the chat desk listening through the transport."""

    def __init__(self, app: DeskApp, platform: MatrixPlatform) -> None:
        self.app, self.platform, self.config = app, platform, platform.config
        self.transport = MatrixTransport(platform)
        self.chat = ChatDesk(app, self.transport, platform, self.config.admins,
                             source=Source.MATRIX, admins_variable=ADMINS_VARIABLE,
                             dm_help=DM_HELP, card_prefix=f"{platform.cursors.prefix}card:")
        self.transport.chat = self.chat
        self.transport.deliveries = Deliveries(app.uow, app.desk.clock,
                                               f"{platform.cursors.prefix}event:")
        self.transport.on_listening = self.chat.listening

    @property
    def cursors(self) -> Cursors:
        return self.platform.cursors

    @property
    def rounds(self) -> int:
        """Completed sync rounds since the start (tests wait on it)."""
        return self.transport.rounds

    @property
    def synced(self) -> threading.Event:
        return self.transport.synced

    def poll_reports(self) -> None:
        self.transport.poll_reports()

    def start(self) -> None:
        self.chat.start()
        self.transport.start()  # says in the management room that it listens after its first sync

    def pause(self) -> None:
        """Stop listening; the steps still work (another replica listens now)."""
        self.transport.stop()
        self.chat.stop()

    def stop(self) -> None:
        self.pause()
        self.platform.close()


def build(app: DeskApp, config: MatrixConfig) -> MatrixAdapter:
    """The adapter; its read positions and cards are kept under ``matrix:<bot id>:``."""
    return MatrixAdapter(app, MatrixPlatform(config, Cursors(app.uow, f"{NAME}:{config.user_id}:")))
