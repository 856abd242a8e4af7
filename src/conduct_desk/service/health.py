"""Health and metrics: what ``/readyz`` and ``/metrics`` report, as plain figures.

Storage computes them with a few aggregate queries (:class:`HealthProbe`); the web layer turns
them into JSON and Prometheus' text format. No figure carries anything personal: labels are
case states, rung names, step statuses, platform names and short error codes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

# seconds: a minute up to a week (the deadlines the presets set fall in between)
BUCKETS: tuple[float, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800,
                              604800)
WINDOW = timedelta(days=30)  # the histograms cover cases taken / first acted on this recently


@dataclass(frozen=True)
class Readiness:
    """Whether this replica can serve: ``problems`` is empty when it can."""

    database: bool
    revision: str | None
    head: str | None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # true and worth saying, but no reason to take no traffic

    @property
    def ready(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per upper bound (seconds), as Prometheus histograms have them."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    total: float


@dataclass(frozen=True)
class Figures:
    open_cases: dict[str, int]  # state -> open cases
    oldest_untaken_age: float  # seconds; 0 when every open case is taken
    overdue: int  # open cases past their current deadline (take, or first step)
    time_to_take: Histogram
    time_to_first_step: Histogram
    steps: dict[tuple[str, str], int]  # (rung, status) -> steps
    platform_failures: dict[tuple[str, str], int]  # (platform, error code) -> failed steps
    timer_lag: float  # seconds since the oldest pending timer fell due; 0 when none is due
    notices: dict[str, int] = field(default_factory=dict)  # status -> notices (pending, failed)


class HealthProbe(Protocol):
    def readiness(self) -> Readiness: ...
    def figures(self, now: datetime) -> Figures: ...


_ANSWERED = re.compile(r"\banswered ([A-Za-z0-9_]{1,40})\b")  # Slack's, Discord's error codes
_MATRIX = re.compile(r"\bM_[A-Z_]{1,40}\b")  # Matrix' errcodes: M_FORBIDDEN, M_LIMIT_EXCEEDED
_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z]{0,40}(?:Error|Exception|Timeout))\b")  # a class name


def error_code(detail: str | None) -> str:
    """A short code for a platform's refusal, never a piece of its free text: rate_limited,
    timeout, unreachable, a Matrix errcode, the code Slack or Discord answered, the name of
    the exception a call raised, else ``other``."""
    text = detail or ""
    low = text.lower()
    if "rate limit" in low or "ratelimit" in low or "429" in text:
        return "rate_limited"
    if m := _MATRIX.search(text):
        return m.group(0)
    if m := _ANSWERED.search(text):
        return m.group(1)
    if "timed out" in low or "timeout" in low:
        return "timeout"
    if "could not reach" in low:
        return "unreachable"
    if m := _EXCEPTION.search(text):
        return m.group(1)
    return "other"
