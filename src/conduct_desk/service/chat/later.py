"""Trying a platform call again a little later, in the background, a bounded number of times.

For what is not a step (steps have durable timers): a case card the platform refused for a
moment. Each try runs on a daemon timer thread; :meth:`Later.stop` cancels those waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


CARD_ATTEMPTS = 5  # a case card the platform refuses for a moment is tried this many times


class Later:
    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        with self._lock:
            self._stopped = False

    def again(self, attempt: int, wait: float, call: Callable[[int], None]) -> bool:
        """Run ``call(attempt + 1)`` after ``wait`` seconds; False (nothing scheduled) when
        ``attempt`` was the last one or the adapter is stopping."""
        with self._lock:
            if self._stopped or attempt >= self.attempts:
                return False
            timer = threading.Timer(wait, call, (attempt + 1,))
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
        return True

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
