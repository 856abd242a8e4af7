"""Block Kit for the Slack app: the case card, the report and step modals, the warning DM.

The card shows what :func:`conduct_desk.service.chat.render.card_text` shows, in Slack's own
format (mentions that Slack shows as names, buttons); the chat layer decides when it is drawn.

Pure functions from the desk's read models to Slack's JSON; no SDK imports, so they are
cheap to test and to read. Texts are ours; limits follow Slack's (3000 characters a section).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from conduct_desk.domain.model import Case, CaseState, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action, Policy
from conduct_desk.service.views import CaseDetail, named_hurt, reporter_label

Block = dict[str, Any]

REPORT_CALLBACK = "report_submit"
STEP_CALLBACK = "step_submit"
ACTION_TAKE = "case_take"
ACTION_STEP = "case_step"
ACTION_DONE = "case_done"
ACTION_REREAD = "subject_reread"
ROUTE_ADMINS = "admins"
ROUTE_NUDGE = "nudge"
SECTION_LIMIT = 2900


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def who(person: PersonRef) -> str:
    """A Slack mention for Slack people, the desk's key for anyone else."""
    return f"<@{person.user_id}>" if person.platform == "slack" else f"`{person.key}`"


def quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.strip().splitlines()) or ">"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text[:75]},
                     "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def _when(at: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def case_card(detail: CaseDetail, policy: Policy, *,
              names_hidden: bool = False) -> tuple[str, list[Block]]:
    """The admin channel's card for one case: what happened, where it stands, what to do next.

    ``names_hidden``: the person the case is about can read the channel, so the card leaves
    out who reported, who was hurt and the reporters' notes (``/coc show`` has them)."""
    case = detail.case
    state = {CaseState.NEW: "new — nobody has taken it yet", CaseState.TAKEN: "taken",
             CaseState.ACTING: "in progress", CaseState.RESOLVED: "resolved"}[case.state]
    fallback = f"Case {case.id} about {case.subject}: {state}"
    lines = [f"*Case {case.id}* · about {who(case.subject)} · {state}"]
    if case.taken_by:
        lines.append(f"Taken by {_admin(case.taken_by)}")
    if case.flagrant:
        lines.append(":rotating_light: Reported as flagrant")
    if case.due_at is not None:
        lines.append(f"Deadline: {detail.deadline} ({_when(case.due_at)})")
    if case.outcome:
        reason = f": {case.outcome_reason}" if case.outcome_reason else ""
        lines.append(f"Outcome: {case.outcome}{reason}")
    if detail.backup is not None:
        lines.append(":rotating_light: Every admin is involved in this case, so it goes to the "
                     "backup admins" + (f": {', '.join(detail.backup)}" if detail.backup else
                                        " (none set: add them under [admins] backup)"))
    blocks: list[Block] = [_section("\n".join(lines))]

    report = next((r for r in case.reports if r.message_text), None)
    where = f" in <#{case.channel}>" if case.channel and case.subject.platform == "slack" else ""
    if report is not None and report.message_text:
        link = next((r.message_link for r in case.reports if r.message_link), None)
        said = f"What was said{where}" + (f" (<{link}|open>)" if link else "") + ":\n"
        blocks.append(_section(said + quoted(clip(report.message_text, 1500))))
    reports = []
    for i, r in enumerate(case.reports):
        name = reporter_label(case, i)
        by = "anonymous" if name == "anonymous" else who(r.reporter) if r.reporter else name
        note = f" — “{clip(r.note, 300)}”" if r.note else ""
        if names_hidden:
            by, note = "a report", ""
        reports.append(f"• {by}, {r.filed_at:%Y-%m-%d %H:%M} UTC via {r.source}{note}")
    hurt = [who(p) for p in _named_hurt(case)]
    summary = f"*Reports ({len(case.reports)})*\n" + "\n".join(reports)
    if names_hidden and case.harmed:
        summary += f"\n*Hurt:* {len(case.harmed)} (names left out here)"
    elif hurt:
        summary += f"\n*Hurt:* {', '.join(hurt)}"
    if not names_hidden and detail.hurt_admins:
        summary += (f"\n*Admins named as hurt* (not recused unless they step aside with "
                    f"`/coc recuse {case.id}`, or another admin confirms it with "
                    f"`/coc confirm-hurt {case.id} @admin`): "
                    + ", ".join(_admin(h.admin) for h in detail.hurt_admins))
    if detail.stepped_aside:
        summary += "\n*Stepped aside:* " + ", ".join(_admin(n) for n in detail.stepped_aside)
    blocks.append(_section(summary))
    for n in case.notes:
        if n.kind == "apology":  # what the author wrote after the private word
            blocks.append(_section("*The author wrote, after the private word* (the message "
                                   "stayed as it was):\n" + quoted(clip(n.text, 1500))))
        elif n.kind == "reply":  # what the subject wrote back to the desk after a step
            blocks.append(_section(f"*{who(case.subject)} replied* ({n.at:%Y-%m-%d %H:%M} UTC):"
                                   "\n" + quoted(clip(n.text, 1500))))
    failed = getattr(detail, "failed_notices", ())
    if failed:
        blocks.append(_context("Not delivered: " + "; ".join(failed)))
    if names_hidden:
        blocks.append(_context(f":lock: {who(case.subject)} can read this channel, so this card "
                               "leaves out who reported, who was hurt and their notes. "
                               f"`/coc show {case.id}` shows them to you alone."))

    if case.steps:
        steps = [_step_line(case, i) + "".join(f"\n    on {clip(e.line, 300)}"
                                               for e in detail.effects_of(case.steps[i].id))
                 for i in range(len(case.steps))]
        blocks.append(_section(clip("*Steps*\n" + "\n".join(steps), 3000)))
    if detail.linked_lines:
        blocks.append(_context(clip("\n".join(detail.linked_lines), 2000)))
    if detail.recommendation is not None:
        blocks.append(_context(f"Recommended next: *{detail.recommendation.rung.name}* — "
                               f"{detail.recommendation.reason}"))
    if detail.history:
        past = ", ".join(f"{p.rung} (case {p.case_id})" for p in detail.history[-5:])
        blocks.append(_context(f"Earlier steps with this person: {past}"))
    blocks.extend(_case_actions(detail, policy))
    return fallback, blocks


def _admin(name: str) -> str:
    platform, _, user = name.partition(":")
    return f"<@{user}>" if platform == "slack" and user else name


def _named_hurt(case: Case) -> list[PersonRef]:
    return named_hurt(case)


def _step_line(case: Case, index: int) -> str:
    s = case.steps[index]
    until = f" until {s.until:%Y-%m-%d %H:%M} UTC" if s.until else ""
    restored = " (account given back)" if s.restored_at else ""
    line = f"• {s.rung}{until} — *{s.status}*{restored} by {_admin(s.actor)}"
    if s.detail and s.status in (StepStatus.FAILED, StepStatus.MANUAL):
        line += f"\n    {clip(s.detail, 900)}"
    return line


def _case_actions(detail: CaseDetail, policy: Policy) -> list[Block]:
    case = detail.case
    if not case.is_open:
        return [_context(f"Resolved. To act again: `/coc reopen {case.id}`")]
    buttons: list[Block] = []
    if case.taken_by is None:
        buttons.append(_button("Take the case", ACTION_TAKE, str(case.id), "primary"))
    recommended = detail.recommendation.rung.name if detail.recommendation else None
    for rung in policy.ladder:
        style = "danger" if rung.action is Action.BAN else (
            "primary" if rung.name == recommended and case.taken_by else None)
        buttons.append(_button(rung.name.capitalize(), ACTION_STEP, f"{case.id}:{rung.name}", style))
    for s in case.steps:
        if s.status is StepStatus.MANUAL:
            buttons.append(_button(f"Mark {s.rung} done", ACTION_DONE, f"{case.id}:{s.id}"))
    blocks = [{"type": "actions", "block_id": f"case-{case.id}-{i}", "elements": buttons[i:i + 5]}
              for i in range(0, len(buttons), 5)]
    blocks.append(_context(f"`/coc show {case.id}` · `/coc resolve {case.id} OUTCOME REASON` · "
                           "`/coc help`"))
    return blocks


# -- modals ----------------------------------------------------------------------------------


def _input(block_id: str, label: str, element: Block, *, optional: bool, hint: str = "") -> Block:
    block: Block = {"type": "input", "block_id": block_id, "optional": optional,
                    "label": {"type": "plain_text", "text": label[:2000]}, "element": element}
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint[:2000]}
    return block


def _option(value: str, text: str, description: str = "") -> Block:
    option: Block = {"text": {"type": "plain_text", "text": text[:75]}, "value": value}
    if description:
        option["description"] = {"type": "plain_text", "text": description[:150]}
    return option


def report_modal(metadata: dict[str, str], author: str, peer_wait: str) -> Block:
    """The reporter's modal: everything optional; submitting it is enough."""
    nudge = _option(ROUTE_NUDGE, "Ask them privately first",
                    f"The desk writes to them kindly, without your name. The admins step in if "
                    f"nothing changes within {peer_wait}.")
    admins = _option(ROUTE_ADMINS, "Tell the admins now")
    return {
        "type": "modal",
        "callback_id": REPORT_CALLBACK,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": "Report to admins"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(f"You're reporting a message by <@{author}>. You don't need to explain or "
                     "prove anything; everything below is optional."),
            _input("route", "What should happen first?",
                   {"type": "radio_buttons", "action_id": "value", "initial_option": admins,
                    "options": [admins, nudge]}, optional=True),
            _input("note", "Anything you'd like the admins to know (optional)",
                   {"type": "plain_text_input", "action_id": "value", "multiline": True,
                    "max_length": 3000}, optional=True),
            _input("harmed", "Others who were hurt (optional)",
                   {"type": "multi_users_select", "action_id": "value"}, optional=True),
            _input("options", "Options (optional)",
                   {"type": "checkboxes", "action_id": "value", "options": [
                       _option("anonymous", "Keep my name from the admins",
                               "Your name never reaches the person either way."),
                       _option("flagrant", "This is serious: act at once"),
                   ]}, optional=True),
        ],
    }


def step_modal(metadata: dict[str, str], case_id: int, rung: str, text: str, *,
               recommended: str | None, duration: str | None) -> Block:
    """The exact text a step sends, editable, before anything happens."""
    blocks: list[Block] = [
        _section(f"*Case {case_id}: {rung}*. This is exactly what will be sent; edit it if you "
                 "like. Nothing happens until you press Take step."),
        _input("text", "Text to send",
               {"type": "plain_text_input", "action_id": "value", "multiline": True,
                "initial_value": text[:3000], "max_length": 3000}, optional=False),
    ]
    if duration is not None:
        blocks.append(_input("duration", "How long (e.g. 12h, 24h)",
                             {"type": "plain_text_input", "action_id": "value",
                              "initial_value": duration}, optional=False,
                             hint="Changing it without editing the text updates the end time "
                                  "in the text."))
    hint = ("The desk recommends this step." if recommended == rung else
            f"The desk recommends {recommended}; say why you choose {rung} instead."
            if recommended else "")
    blocks.append(_input("reason", "Reason", {"type": "plain_text_input", "action_id": "value",
                                              "max_length": 2000},
                         optional=recommended == rung, hint=hint))
    return {
        "type": "modal",
        "callback_id": STEP_CALLBACK,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": f"Step: {rung}"[:24]},
        "submit": {"type": "plain_text", "text": "Take step"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def warning_blocks(text: str, case_id: int) -> list[Block]:
    """The warning DM: its text and the button that records the re-read."""
    return [_section(text), {"type": "actions", "block_id": f"reread-{case_id}", "elements": [
        _button("I've re-read the Code of Conduct", ACTION_REREAD, str(case_id), "primary")]}]


def reread_done_blocks(text: str) -> list[Block]:
    return [_section(text), _context(":white_check_mark: Thank you — the admins can see you "
                                     "re-read the Code of Conduct.")]

