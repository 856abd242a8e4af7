"""The message bus: runs a command's handler, then every handler of the events it caused.

Command handlers' errors reach the caller (they are the user's to fix). Event handlers'
errors are logged and recorded, never raised: what was committed stays committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conduct_desk.domain.errors import StorageUnavailable
from conduct_desk.domain.events import Event
from conduct_desk.service.commands import Command
from conduct_desk.service.ports import UnitOfWork

logger = logging.getLogger(__name__)

CommandHandler = Callable[[Any, UnitOfWork], Any]
EventHandler = Callable[[Any, UnitOfWork], None]


@dataclass
class MessageBus:
    """Thread-safe: every :meth:`handle` call gets its own unit of work."""

    uow_factory: Callable[[], UnitOfWork]
    command_handlers: dict[type[Command], CommandHandler]
    event_handlers: dict[type[Event], list[EventHandler]] = field(default_factory=dict)

    def handle(self, command: Command) -> Any:
        """Run ``command``; return its handler's result after the events it caused are handled."""
        handler = self.command_handlers.get(type(command))
        if handler is None:
            raise LookupError(f"no handler for {type(command).__name__}")
        uow = self.uow_factory()
        result = handler(command, uow)
        queue = list(uow.collect_new_events())
        while queue:
            event = queue.pop(0)
            for event_handler in self.event_handlers.get(type(event), []):
                try:
                    event_handler(event, uow)
                except StorageUnavailable as exc:  # the database is away: said, no traceback
                    logger.warning("handling %s failed: %s", type(event).__name__, exc)
                except Exception:
                    logger.exception("handling %s failed", type(event).__name__)
                queue.extend(uow.collect_new_events())
        return result

    def subscribe(self, event_type: type[Event], handler: EventHandler) -> None:
        """Add a handler (platform adapters use this to keep their case cards current)."""
        self.event_handlers.setdefault(event_type, []).append(handler)
