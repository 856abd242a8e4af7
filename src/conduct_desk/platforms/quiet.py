"""Keep what people wrote out of the chat libraries' logs.

Slack's Bolt logs a refused request's whole body at INFO (the report text, user ids) and an
unhandled one at WARNING; httpx logs every URL at INFO (Matrix URLs carry user and room ids).
The desk never logs report text, notes or reporter ids at INFO or above, and the libraries
it configures must not either. Their records below ERROR are demoted to DEBUG where they are
made, so no handler set to INFO ever receives them; errors stay visible.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

_prefixes: set[str] = set()
_lock = threading.Lock()
_installed = False


def _library(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") or name.startswith(p + ":")
               for p in _prefixes)


def quiet_libraries(*names: str) -> None:
    """Demote records below ERROR from the loggers ``names`` (and their children) to DEBUG.

    Installed once, as a log record factory, so loggers a library creates later (Bolt makes
    one per middleware when an app is built) are covered too.
    """
    global _installed
    with _lock:
        _prefixes.update(names)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if logging.DEBUG < record.levelno < logging.ERROR and _library(record.name):
                record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


__all__ = ["quiet_libraries"]
