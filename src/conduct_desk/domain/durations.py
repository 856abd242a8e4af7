"""Durations written the way admins write them: 24h, 90m, 1d12h."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from conduct_desk.domain.errors import InvalidInput

_PART = re.compile(r"(\d+)\s*([wdhms])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[wdhms]\s*)+$")
_UNIT = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# no duration the desk uses is longer; longer ones are typing mistakes (and overflow datetimes)
MAX_DURATION = timedelta(days=3660)


def parse_duration(text: str, what: str = "duration", *, field: str | None = None) -> timedelta:
    """Parse ``24h``/``90m``/``1d12h``; a malformed value names the accepted forms. ``what``
    names the value in the message (``--duration`` on the command line); the error's
    ``problem`` says "duration" instead, and ``field`` is the input to point at."""

    def bad(message: Callable[[str], str]) -> InvalidInput:
        return InvalidInput(message(what), problem=message("duration" if field else what),
                            field=field)

    if not isinstance(text, str) or not _WHOLE.match(text.lower()):
        raise bad(lambda w: f"malformed {w} {text!r}: write it like 24h, 90m, 7d or 1d12h")
    parts = _PART.findall(text.lower())
    if len(text) > 64 or any(len(n.lstrip("0")) > 9 for n, _ in parts):
        raise bad(lambda w: f"{w} {text!r} is far too long: give at most {MAX_DURATION.days}d")
    seconds = sum(int(n) * _UNIT[u] for n, u in parts)
    if seconds > MAX_DURATION.total_seconds():
        raise bad(lambda w: f"{w} {text!r} is longer than {MAX_DURATION.days} days: "
                            "give a shorter one such as 24h")
    if seconds <= 0:
        raise bad(lambda w: f"{w} {text!r} is zero: give a positive duration such as 12h")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of :func:`parse_duration`, shortest form (``1d12h``)."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    out = []
    for unit in "dhms":
        n, seconds = divmod(seconds, _UNIT[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def humanize_age(delta: timedelta) -> str:
    """'just now', '5 minutes ago', '3 days ago' — for reasons people read."""
    s = int(delta.total_seconds())
    if s < 60:
        return "just now"
    for size, name in ((86400 * 7, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if s >= size:
            n = s // size
            return f"{n} {name}{'s' if n != 1 else ''} ago"
    return "just now"  # pragma: no cover - loop always returns


def humanize_span(delta: timedelta) -> str:
    """'24 hours', '2 days', '90 minutes' — for texts people read."""
    s = int(delta.total_seconds())
    if s % 86400 == 0 and s >= 86400 * 2:
        n, name = s // 86400, "day"
    elif s % 3600 == 0 and s >= 3600:
        n, name = s // 3600, "hour"
    elif s % 60 == 0 and s >= 60:
        n, name = s // 60, "minute"
    else:
        n, name = s, "second"
    return f"{n} {name}{'s' if n != 1 else ''}"
