"""Where a person stands now: banned, suspended until…, removed from a channel, warned (and
whether they confirmed re-reading the Code of Conduct). A pure function of their steps that
have effects, so the person page, the case page and the ladder say the same thing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from conduct_desk.domain.durations import humanize_age
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action

LASTING = (Action.WARN, Action.REMOVE, Action.SUSPEND, Action.BAN)  # steps that leave a state


@dataclass(frozen=True)
class LastingStep:
    """A step with a lasting effect on the person, as recorded (it counts: done or manual)."""

    case_id: int
    rung: str
    action: Action
    at: datetime
    channel: str | None = None  # the case's channel: where a removal applies
    until: datetime | None = None  # a suspension's end
    restored_at: datetime | None = None  # given back (suspension ended or lifted, re-admitted)
    reread_at: datetime | None = None  # warnings: the person confirmed re-reading after it
    subject: PersonRef | None = None  # the account the case is about (one of the person's)


@dataclass(frozen=True)
class Standing:
    banned: LastingStep | None = None
    suspended: LastingStep | None = None  # suspended now
    removed: tuple[LastingStep, ...] = ()  # removals from channels not given back
    warned: tuple[LastingStep, ...] = ()  # warnings, newest first

    @property
    def clear(self) -> bool:
        return not (self.banned or self.suspended or self.removed or self.warned)


def standing(effects: list[LastingStep], now: datetime) -> Standing:
    """Only what still holds at ``now``: a ban or removal not given back, a suspension not yet
    over, every warning (a warning does not end; whether it was re-read is said)."""
    live = [e for e in effects if e.restored_at is None]
    bans = [e for e in live if e.action is Action.BAN]
    suspensions = [e for e in live if e.action is Action.SUSPEND
                   and (e.until is None or e.until > now)]
    seen: set[str | None] = set()
    removed = []
    for e in sorted((e for e in live if e.action is Action.REMOVE), key=lambda e: e.at,
                    reverse=True):
        if e.channel not in seen:  # one line per channel: the latest removal from it
            seen.add(e.channel)
            removed.append(e)
    return Standing(
        banned=min(bans, key=lambda e: e.at) if bans else None,
        suspended=max(suspensions, key=lambda e: e.until or e.at) if suspensions else None,
        removed=tuple(removed),
        warned=tuple(sorted((e for e in effects if e.action is Action.WARN),
                            key=lambda e: e.at, reverse=True)),
    )


def standing_lines(s: Standing, now: datetime,
                   when: Callable[[datetime], str] | None = None) -> list[str]:
    """The standing in plain words, one line each, e.g. "suspended until 3 Dec 2026, 14:00
    UTC (case 4)". ``when`` formats a datetime (the web passes its own); UTC by default."""
    fmt = when or _utc
    lines = []
    if s.banned is not None:
        lines.append(f"banned since {fmt(s.banned.at)} (case {s.banned.case_id})")
    if s.suspended is not None:
        end = (f"until {fmt(s.suspended.until)}" if s.suspended.until is not None
               else "with no end set")
        lines.append(f"suspended {end} (case {s.suspended.case_id})")
    for e in s.removed:
        lines.append(f"removed from {e.channel or 'a channel'} {humanize_age(now - e.at)} "
                     f"(case {e.case_id})")
    for e in s.warned:
        read = (f"confirmed re-reading the Code of Conduct {humanize_age(now - e.reread_at)}"
                if e.reread_at is not None else "has not confirmed re-reading the Code of Conduct")
        lines.append(f"warned {humanize_age(now - e.at)} (case {e.case_id}); {read}")
    return lines


def _utc(at: datetime) -> str:
    return f"{at:%d %b %Y, %H:%M} UTC"
