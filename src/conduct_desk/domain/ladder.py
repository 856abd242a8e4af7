"""The ladder engine: which step comes next, and why, in words an admin can check.

A pure function of (case, history, policy, now). History is every counting step taken
on the subject in any case; only steps inside the policy's window count, so people who
changed are not held to old mistakes forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conduct_desk.domain.durations import format_duration, humanize_age
from conduct_desk.domain.model import Case
from conduct_desk.domain.policy import DEFAULT_NOUNS, Action, Policy, Rung


@dataclass(frozen=True)
class PastStep:
    """A step on the subject, from this case or an earlier one."""

    case_id: int
    rung: str
    action: Action
    at: datetime


def case_history(case: Case) -> list[PastStep]:
    """The steps of one case that count: carried out (or being), and not set aside on
    appeal. A step an appeal changed counts as the rung that replaced it."""
    return [PastStep(case.id or 0, s.rung, s.action, s.recorded_at) for s in case.steps
            if s.counts and s.action is not Action.RESTORE]


@dataclass(frozen=True)
class Recommendation:
    rung: Rung
    reason: str


def recommend(case: Case, history: list[PastStep], policy: Policy, now: datetime) -> Recommendation:
    """Recommend the next rung for ``case`` given the subject's ``history``."""
    if case.flagrant:
        ban = policy.ban_rung()
        return Recommendation(ban, f"reported as flagrant, so next: {ban.name} without waiting")

    window_start = now - policy.history_window
    ranked: list[tuple[int, PastStep]] = []
    older: list[PastStep] = []
    for past in history:
        if past.action is Action.RESTORE:
            continue
        index = policy.index_of(past.rung, past.action)
        if index is None:
            continue
        if past.at >= window_start:
            ranked.append((index, past))
        else:
            older.append(past)

    first = policy.ladder[0]
    window = format_duration(policy.history_window)
    if not ranked:
        if older:
            last = max(older, key=lambda p: p.at)
            label = _label(policy, last)
            return Recommendation(
                first,
                f"{label} {humanize_age(now - last.at)} in case {last.case_id}, outside the "
                f"{window} window, so start again with: {first.name}",
            )
        return Recommendation(first, f"no steps in the last {window}, so first: {first.name}")

    top_index, top = max(ranked, key=lambda item: (item[0], item[1].at))
    nxt = policy.ladder[min(top_index + 1, len(policy.ladder) - 1)]
    where = "in this case" if top.case_id == case.id else f"in case {top.case_id}"
    label = _label(policy, top)
    if top_index == len(policy.ladder) - 1:
        return Recommendation(nxt, f"{label} {humanize_age(now - top.at)} {where}; that is the last step")
    return Recommendation(nxt, f"{label} {humanize_age(now - top.at)} {where}, so next: {nxt.name}")


def _label(policy: Policy, past: PastStep) -> str:
    index = policy.index_of(past.rung, past.action)
    assert index is not None
    return policy.ladder[index].label



def earlier_rungs(history: list[PastStep], policy: Policy, now: datetime) -> tuple[Rung, ...]:
    """The steps actually taken on the subject that still count (inside the history window),
    oldest first, each once: what a text may truthfully say happened before."""
    start = now - policy.history_window
    seen: dict[str, Rung] = {}
    for past in sorted(history, key=lambda p: p.at):
        if past.action is Action.RESTORE or past.at < start:
            continue
        index = policy.index_of(past.rung, past.action)
        if index is not None:
            seen.setdefault(policy.ladder[index].name, policy.ladder[index])
    return tuple(seen.values())


def earlier_phrase(rungs: tuple[Rung, ...]) -> str:
    """"a reminder, a warning and a suspension"; empty when nothing was done before."""
    nouns = list(dict.fromkeys(r.noun or DEFAULT_NOUNS[r.action] for r in rungs))
    if len(nouns) <= 1:
        return "".join(nouns)
    return ", ".join(nouns[:-1]) + " and " + nouns[-1]
