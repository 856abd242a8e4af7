"""Plain-text cards, ``show``, ``list`` and step results, in chat words.

People and rooms are named (``Sam``, ``#community``), not written as ids; an id only when no
name is known. Commands in the texts use the platform's prefix (``!coc``, ``/coc``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from conduct_desk.domain.model import OUTCOME_WORDS, Case, NoteKind, Step, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import views

# the platform's wait in a failed try's words ("trying again after 2.5s"): each try says
# another, and a card redrawn for it alone would spend the very messages the platform is
# holding back (the case page keeps the words whole)
_WAIT = re.compile(r";? ?(?:the desk )?(?:trying|tries) again after \d+(?:\.\d+)?s")


@dataclass(frozen=True)
class Words:
    """How a chat names things: the command prefix, people and channels."""

    prefix: str
    person: Callable[[PersonRef], str]
    channel: Callable[[str], str]

    def admin(self, name: str) -> str:
        """An admin as cases record them: a name, or ``platform:id`` made readable."""
        platform, sep, user_id = name.partition(":")
        if sep and platform and user_id and " " not in name:
            return self.person(PersonRef(platform, user_id))
        return name


def plain(prefix: str) -> Words:
    """Words that name by id: for tests and platforms that know no names."""
    return Words(prefix, lambda p: p.user_id, lambda c: c)


def when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "—"


def short(text: str | None, limit: int = 280) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_text(detail: views.CaseDetail, w: Words) -> str:
    """The case card: one glance at a case, kept current in the admins' room. It names no
    reporter (anyone who reads the room may be involved); ``show`` names them to admins."""
    case = detail.case
    state = str(case.state) + (f" ({OUTCOME_WORDS[case.outcome]})" if case.outcome else "")
    lines = [f"Case {case.id} · {state}" + (" · FLAGRANT" if case.flagrant else "")]
    where = f" in {w.channel(case.channel)}" if case.channel else ""
    lines.append(f"About {w.person(case.subject)}{where} · {len(case.reports)} "
                 f"report{'s' if len(case.reports) != 1 else ''} · {len(case.harmed)} hurt")
    quote = next((r.message_text for r in case.reports if r.message_text), None)
    if quote:
        lines.append(f"> {short(quote)}")
    link = next((r.message_link for r in case.reports if r.message_link), None)
    if link:
        lines.append(link)
    lines.append(f"Taken by {w.admin(case.taken_by)}" if case.taken_by else "Not taken yet")
    if detail.backup is not None:
        lines.append("Every admin is involved: this case goes to the backup admins"
                     + (f" ({', '.join(detail.backup)})" if detail.backup else
                        " (none set: add them under [admins] backup)"))
    if case.due_at:
        lines.append(f"Due {when(case.due_at)} ({detail.deadline})")
    for step in case.steps:
        lines.append(f"· step {step.id} {step.rung}: {step.status}"
                     + (f" — {short(_WAIT.sub('', step.detail), 160)}" if step.detail else ""))
        lines.extend(f"  on {short(e.line, 200)}" for e in detail.effects_of(step.id))
    lines.extend(detail.linked_lines)
    for note in case.notes:
        if note.kind is NoteKind.REPLY:
            lines.append(f"{w.person(case.subject)} replied ({when(note.at)}): "
                         f"> {short(note.text, 200)}")
    for failed in getattr(detail, "failed_notices", ()):
        lines.append(f"Not delivered: {failed}")
    if detail.recommendation and case.is_open:
        rung = detail.recommendation.rung.name
        lines.append(f"Next: {rung} ({detail.recommendation.reason}) — "
                     f"{w.prefix} step {case.id} {rung}")
    elif detail.no_step_because:
        lines.append(detail.no_step_because + ".")
    if detail.open_others:
        lines.append("Other open cases about them: "
                     + ", ".join(str(o.id) for o in detail.open_others))
    if case.is_open and not case.taken_by:
        lines.append(f"Take it: {w.prefix} take {case.id}")
    return "\n".join(lines)


def show_text(detail: views.CaseDetail, w: Words) -> str:
    """``show``: the card plus reports, consultations, notes and the subject's history."""
    case = detail.case
    lines = [card_text(detail, w), "Reports:"]
    for i, report in enumerate(case.reports):
        note = f" — note: {short(report.note, 200)}" if report.note else ""
        label = views.reporter_label(case, i)
        if report.reporter is not None and not report.anonymous:
            label = w.person(report.reporter)
        lines.append(f"· {when(report.filed_at)} by {label} via {report.source}{note}")
    hurt = views.named_hurt(case)
    if hurt:  # the people to consult before a ban
        lines.append(f"Hurt: {', '.join(w.person(p) for p in hurt)}")
    for c in case.consultations:
        who = w.person(c.person) if c.person else "no consultation possible"
        lines.append(f"Consulted ({w.admin(c.admin)}, {who}): {short(c.summary, 200)}")
    for h in detail.hurt_admins:
        lines.append(f"Admin named as hurt: {w.admin(h.admin)} (not recused unless they step "
                     f"aside with {w.prefix} recuse {case.id}, or another admin confirms it: "
                     f"{w.prefix} confirm-hurt {case.id} {h.admin})")
    if detail.stepped_aside:
        lines.append(f"Stepped aside: {', '.join(w.admin(a) for a in detail.stepped_aside)}")
    for n in case.notes:
        if n.kind in (NoteKind.REREAD, NoteKind.APPEAL):
            lines.append(f"Note ({n.kind}, {when(n.at)}): {short(n.text, 200)}")
    if detail.history:
        past = ", ".join(f"{p.rung} in case {p.case_id}" for p in detail.history[:10])
        lines.append(f"Earlier: {past}")
    return "\n".join(lines)


def list_text(items: list[views.QueueItem], w: Words) -> str:
    if not items:
        return "No open cases."
    lines = ["Open cases, most urgent first:"]
    for item in items:
        s = item.summary
        due = f" · due {when(item.due_at)} ({item.deadline})" if item.due_at else ""
        flag = " · FLAGRANT" if s.flagrant else ""
        taken = f" · {w.admin(s.taken_by)}" if s.taken_by else " · not taken"
        lines.append(f"{s.id} · {w.person(s.subject)} · {s.state}{taken}{flag}{due}")
    return "\n".join(lines)


def step_result_text(case: Case, step: Step, w: Words, platform_name: str) -> str:
    """What happened to a step, as the admin needs to hear it."""
    head = f"Case {case.id}, step {step.id} ({step.rung}): {step.status}"
    if step.status is StepStatus.DONE:
        return f"{head} — {step.detail}" if step.detail else head
    if step.status is StepStatus.MANUAL_DONE:
        return f"{head} — marked done by hand; thank you."
    if step.status is StepStatus.MANUAL:
        return (f"{head}. The desk cannot do this here; please do it by hand: {step.detail} "
                f"Then: {w.prefix} done {case.id} {step.id}")
    if step.status is StepStatus.FAILED:
        return (f"{head} — {step.detail}. The desk records it and tries again when that can "
                f"help; `{w.prefix} retry {case.id} {step.id}` tries now.")
    return f"{head} — waiting for {platform_name}; the desk carries it out shortly."
