"""Matrix: the desk as a bot on a Synapse homeserver.

* :mod:`.settings` — ``CONDUCT_MATRIX_*``, checked once;
* :mod:`.api` — the homeserver's HTTP API (httpx), its errors as :class:`MatrixFailure`;
* :mod:`.platform` — :class:`MatrixPlatform`, the steps (reply, DM, kick, suspend, ban…);
* :mod:`.transport` — :class:`MatrixTransport`: matrix-nio's sync and Synapse's reports
  turned into the chat desk's inputs, and the desk's answers and cards as Matrix events;
* :mod:`.adapter` — :class:`MatrixAdapter`, what ``conduct serve`` starts.
"""

from __future__ import annotations

from conduct_desk.domain.errors import DeskError
from conduct_desk.platforms.quiet import quiet_libraries
from conduct_desk.service.chat.desk import DeskApp

from . import transport
from .adapter import DM_HELP, MatrixAdapter, build
from .api import Cursors, EventLink, MatrixApi, MatrixFailure, find_event_link, permalink
from .platform import REREAD_HINT, MatrixPlatform
from .settings import NAME, USER_ID, BanMode, MatrixConfig, MatrixSettings
from .transport import MatrixTransport


def configure(app: DeskApp, settings: MatrixSettings | None = None) -> MatrixAdapter | None:
    """The Matrix adapter when ``CONDUCT_MATRIX_*`` is set, else None."""
    settings = settings or MatrixSettings()
    if not settings.present():
        return None
    if not transport.sdk_installed():
        raise DeskError("CONDUCT_MATRIX_* is set but matrix-nio is not installed; install the "
                        "matrix extra: pip install 'conduct-desk[matrix]'")
    config = MatrixConfig.from_settings(settings, app.desk.policy.ban_account)
    # httpx logs each URL at INFO (Matrix URLs carry user ids); nio logs what it syncs
    quiet_libraries("nio", "httpx", "httpcore")
    return build(app, config)


__all__ = ["DM_HELP", "NAME", "REREAD_HINT", "USER_ID", "BanMode", "Cursors", "EventLink",
           "MatrixAdapter", "MatrixApi", "MatrixConfig", "MatrixFailure", "MatrixPlatform",
           "MatrixSettings", "MatrixTransport", "configure", "find_event_link", "permalink"]
