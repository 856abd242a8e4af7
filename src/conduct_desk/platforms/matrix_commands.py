"""What people type to the Matrix bot, parsed into the desk's commands. No SDK here.

Admins type ``!coc …`` in the management room; members talk to the bot in a direct room
(``!reread``, ``!nudge <link>``, or a report in their own words). Parsing is separate from
the bot so that it can be tested without a homeserver.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import OUTCOME_WORDS, Case, NoteKind, Step, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands, views

PLATFORM = "matrix"

USER_ID = re.compile(r"@[A-Za-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(?::\d+)?")
_MATRIX_TO = re.compile(r"https://matrix\.to/#/([^/\s?]+)/([^/\s?]+)")
_MATRIX_URI = re.compile(r"matrix:(roomid|r)/([^/\s?]+)/e/([^/\s?]+)")


def person(user_id: str) -> PersonRef:
    return PersonRef(PLATFORM, user_id)


def permalink(room_id: str, event_id: str | None = None) -> str:
    """A matrix.to link any client opens."""
    return f"https://matrix.to/#/{room_id}" + (f"/{event_id}" if event_id else "")


@dataclass(frozen=True)
class EventLink:
    room: str  # a room id (!…) or an alias (#…) that the bot resolves
    event_id: str


def find_event_link(text: str) -> EventLink | None:
    """The first link to a message in ``text`` (matrix.to or matrix: URI), decoded."""
    if m := _MATRIX_TO.search(text):
        room, event = unquote(m.group(1)), unquote(m.group(2))
        if room[:1] in "!#" and event.startswith("$"):
            return EventLink(room, event)
    if m := _MATRIX_URI.search(text):
        sigil = "!" if m.group(1) == "roomid" else "#"
        return EventLink(sigil + unquote(m.group(2)), "$" + unquote(m.group(3)))
    return None


# -- roles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskAdmin:
    name: str  # the name recorded on cases, as on the web desk
    user_id: str  # their Matrix id
    role: Role

    def may(self, needed: Role) -> bool:
        return self.role.includes(needed)


def parse_admins(value: str) -> dict[str, DeskAdmin]:
    """Read ``CONDUCT_MATRIX_ADMINS``, keyed by Matrix id.

    Either JSON (``{"ana": "@ana:example.org", "bo": {"id": "@bo:example.org",
    "role": "moderator"}}``) or a comma list (``ana=@ana:example.org, bo=@bo:example.org
    moderator``). The role defaults to admin.
    """
    value = value.strip()
    if not value:
        return {}
    entries: list[tuple[str, str, str]] = []
    if value.startswith("{"):
        try:
            raw = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"CONDUCT_MATRIX_ADMINS is not valid JSON ({exc.msg}); "
                               'write it like {"ana": "@ana:example.org"}') from None
        if not isinstance(raw, dict):
            raise InvalidInput('CONDUCT_MATRIX_ADMINS must map names to Matrix ids')
        for name, spec in raw.items():
            if isinstance(spec, dict):
                entries.append((str(name), str(spec.get("id", "")), str(spec.get("role", "admin"))))
            else:
                uid, _, role = str(spec).strip().partition(" ")
                entries.append((str(name), uid, role or "admin"))
    else:
        for item in filter(None, (i.strip() for i in value.split(","))):
            name, eq, rest = item.partition("=")
            if not eq:
                raise InvalidInput(f"CONDUCT_MATRIX_ADMINS entry {item!r} needs the form "
                                   "name=@user:server [role]")
            uid, _, role = rest.strip().partition(" ")
            entries.append((name.strip(), uid, role.strip() or "admin"))
    admins: dict[str, DeskAdmin] = {}
    for name, uid, role in entries:
        if not name or not USER_ID.fullmatch(uid):
            raise InvalidInput(f"CONDUCT_MATRIX_ADMINS: {name or '?'}={uid!r} is not a Matrix id "
                               "like @ana:example.org")
        try:
            admins[uid] = DeskAdmin(name, uid, Role(role.strip().lower()))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInput(f"CONDUCT_MATRIX_ADMINS: role {role!r} for {name}; use one of "
                               f"{allowed}") from None
    return admins


# -- the management room ---------------------------------------------------------------------

HELP = """Conduct Desk commands (case numbers as on the cards):
!coc list — open cases, most urgent first
!coc show 12 — one case: reports, steps, what the desk recommends
!coc take 12 — take a case
!coc handover 12 bo — give it to another admin (a name or Matrix id from the admin list)
!coc step 12 warn [--duration 24h] [--reason why] [--suggestion text] [--text own words]
!coc consult 12 @someone:server what they said — before a ban
!coc consult 12 --not-possible why not
!coc resolve 12 apologized|steps-taken|no-action|duplicate [reason]
!coc reopen 12
!coc retry 12 STEP — try a failed step again now
!coc done 12 STEP — a manual step was done by hand
!coc lift 12 STEP — end a suspension early
!coc recuse 12 — step aside from a case (e.g. you were named as hurt); answered privately
!coc confirm-hurt 12 bo — confirm that someone named as hurt was hurt (an admin so confirmed steps aside)
Answers that depend on a case (refusals, and stepping aside) come to you privately, by DM."""


@dataclass(frozen=True)
class ShowCase:
    case_id: int


@dataclass(frozen=True)
class ListCases:
    pass


@dataclass(frozen=True)
class Help:
    pass


Request = commands.Command | ShowCase | ListCases | Help

_OPTIONS = {"--duration": "duration", "--reason": "reason", "--text": "text",
            "--suggestion": "suggestion"}


def needed_role(request: Request) -> Role:
    """Observers read (and may step aside); moderators act. Bans (checked by the bot, which
    knows the ladder) need admin."""
    if isinstance(request, ShowCase | ListCases | Help | commands.Recuse):
        return Role.OBSERVER
    return Role.MODERATOR


def parse_coc(text: str, admin: str) -> Request | None:
    """``!coc …`` as typed in the management room; None when the text is not for the desk."""
    words = text.strip().split()
    if not words or words[0].lower() != "!coc":
        return None
    if len(words) == 1 or words[1].lower() in ("help", "-h", "--help"):
        return Help()
    verb, args = words[1].lower(), words[2:]
    if verb == "list":
        return ListCases()
    usage = {
        "show": "!coc show 12", "take": "!coc take 12", "reopen": "!coc reopen 12",
        "handover": "!coc handover 12 bo",
        "step": "!coc step 12 warn [--duration 24h] [--reason why]",
        "consult": "!coc consult 12 @someone:server what they said",
        "resolve": "!coc resolve 12 steps-taken [reason]",
        "retry": "!coc retry 12 3", "done": "!coc done 12 3", "lift": "!coc lift 12 3",
        "recuse": "!coc recuse 12", "confirm-hurt": "!coc confirm-hurt 12 bo",
    }
    if verb not in usage:
        raise InvalidInput(f"unknown command {verb!r}; `!coc help` lists them")
    if not args:
        raise InvalidInput(f"which case? usage: {usage[verb]}")
    case_id = _number(args[0], "case", usage[verb])
    rest = args[1:]
    if verb == "show":
        return ShowCase(case_id)
    if verb == "take":
        return commands.TakeCase(case_id, admin)
    if verb == "handover":  # the bot turns the name or Matrix id into the admin's desk name
        if not rest:
            raise InvalidInput(f"to whom? usage: {usage[verb]}")
        return commands.HandOver(case_id, admin, rest[0])
    if verb == "reopen":
        return commands.ReopenCase(case_id, admin)
    if verb == "recuse":
        return commands.Recuse(case_id, admin)
    if verb == "confirm-hurt":  # the bot turns an admin's name into their Matrix id
        if len(rest) != 1:
            raise InvalidInput(f"who was hurt? usage: {usage[verb]} (a name or Matrix id, "
                               "as `!coc show` lists them)")
        return commands.ConfirmHurt(case_id, admin, rest[0])
    if verb in ("retry", "done", "lift"):
        if not rest:
            raise InvalidInput(f"which step? usage: {usage[verb]} (step numbers are on `!coc show`)")
        step_id = _number(rest[0], "step", usage[verb])
        if verb == "retry":
            return commands.RetryStep(case_id, step_id)
        if verb == "done":
            return commands.MarkManualDone(case_id, step_id, admin)
        return commands.LiftSuspension(case_id, step_id, admin)
    if verb == "step":
        if not rest or rest[0].startswith("--"):
            raise InvalidInput(f"which step? usage: {usage[verb]}")
        options = _options(rest[1:], usage[verb])
        return commands.TakeStep(case_id, rest[0].lower(), admin, **options)
    if verb == "resolve":
        if not rest:
            raise InvalidInput(f"which outcome? usage: {usage[verb]}")
        reason = " ".join(rest[1:]).strip() or None
        return commands.ResolveCase(case_id, admin, rest[0].lower(), reason)
    # consult
    if not rest:
        raise InvalidInput(f"with whom? usage: {usage[verb]}, or !coc consult 12 --not-possible why")
    if rest[0].lower() in ("--not-possible", "none", "not-possible"):
        summary = " ".join(rest[1:]).strip()
        if not summary:
            raise InvalidInput("say why no consultation was possible: "
                               "!coc consult 12 --not-possible they asked not to be contacted")
        return commands.Consult(case_id, admin, summary, None)
    if not USER_ID.fullmatch(rest[0]):
        raise InvalidInput(f"{rest[0]!r} is not a Matrix id; usage: {usage[verb]}")
    summary = " ".join(rest[1:]).strip()
    if not summary:
        raise InvalidInput(f"add a short summary of what they said; usage: {usage[verb]}")
    return commands.Consult(case_id, admin, summary, person(rest[0]))


def _number(word: str, what: str, usage: str) -> int:
    try:
        value = int(word.lstrip("#"))
    except ValueError:
        raise InvalidInput(f"{word!r} is not a {what} number; usage: {usage}") from None
    if value < 1:
        raise InvalidInput(f"a {what} number is 1 or more; usage: {usage}")
    return value


def _options(words: list[str], usage: str) -> dict[str, str]:
    """``--name value…`` pairs; a value runs to the next option, so reasons need no quotes."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    for word in words:
        if word.lower() in _OPTIONS:
            current = _OPTIONS[word.lower()]
            if current in found:
                raise InvalidInput(f"{word} is given twice; usage: {usage}")
            found[current] = []
        elif word.startswith("--"):
            raise InvalidInput(f"unknown option {word}; use {', '.join(_OPTIONS)}")
        elif current is None:
            raise InvalidInput(f"unexpected {word!r}; usage: {usage}")
        else:
            found[current].append(word)
    values = {k: " ".join(v).strip() for k, v in found.items()}
    for key, value in values.items():
        if not value:
            raise InvalidInput(f"--{key} needs a value; usage: {usage}")
    return values


# -- direct messages to the bot --------------------------------------------------------------

DM_HELP = (
    "Hi, I'm the admins' desk. To tell the admins about something, send me a link to the "
    "message (\"Share\" or \"Copy link\" in your client), or the person's Matrix id, and "
    "anything you want to add — no explanation is needed. Send !nudge with a link to ask me "
    "to have a private, kind word with the author first. After a warning, reply !reread "
    "once you have read the Code of Conduct again."
)


@dataclass(frozen=True)
class ConfirmRereadRequest:
    pass


@dataclass(frozen=True)
class NudgeRequest:
    link: EventLink


@dataclass(frozen=True)
class ReportRequest:
    note: str
    link: EventLink | None = None
    subject: str | None = None  # a Matrix id, when no link was given


@dataclass(frozen=True)
class DmHelp:
    reason: str = ""


DmRequest = ConfirmRereadRequest | NudgeRequest | ReportRequest | DmHelp

_REREAD = re.compile(r"^\s*(!reread|i have re-?read it\.?)\s*$", re.IGNORECASE)


def parse_dm(text: str, bot_user_id: str) -> DmRequest:
    """What a member's direct message to the bot asks for."""
    stripped = text.strip()
    if _REREAD.match(stripped):
        return ConfirmRereadRequest()
    first = stripped.split(maxsplit=1)[0].lower() if stripped else ""
    if first in ("!help", "help", "!coc"):
        return DmHelp()
    link = find_event_link(stripped)
    if first == "!nudge":
        if link is None:
            return DmHelp("!nudge needs a link to the message.")
        return NudgeRequest(link)
    note = stripped
    if link is not None:
        return ReportRequest(note=note, link=link)
    users = [u for u in USER_ID.findall(stripped) if u != bot_user_id]
    if users:
        return ReportRequest(note=note, subject=users[0])
    return DmHelp()


# -- what the bot answers in the management room ---------------------------------------------


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "—"


def _short(text: str | None, limit: int = 280) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_text(detail: views.CaseDetail) -> str:
    """The case card: one glance at a case, kept current in the management room.

    Reporters are not named on the card (an admin involved in the case may read the room);
    ``!coc show`` names them to admins who are not recused.
    """
    case = detail.case
    state = str(case.state) + (f" ({OUTCOME_WORDS[case.outcome]})" if case.outcome else "")
    lines = [f"Case {case.id} · {state}" + (" · FLAGRANT" if case.flagrant else "")]
    where = f" in {case.channel}" if case.channel else ""
    lines.append(f"About {case.subject.user_id}{where} · {len(case.reports)} "
                 f"report{'s' if len(case.reports) != 1 else ''} · "
                 f"{len(case.harmed)} hurt")
    quote = next((r.message_text for r in case.reports if r.message_text), None)
    if quote:
        lines.append(f"> {_short(quote)}")
    link = next((r.message_link for r in case.reports if r.message_link), None)
    if link:
        lines.append(link)
    lines.append(f"Taken by {case.taken_by}" if case.taken_by else "Not taken yet")
    if detail.backup is not None:
        lines.append("Every admin is involved: this case goes to the backup admins"
                     + (f" ({', '.join(detail.backup)})" if detail.backup else
                        " (none set: add them under [admins] backup)"))
    if case.due_at:
        lines.append(f"Due {_when(case.due_at)} ({detail.deadline})")
    for step in case.steps:
        lines.append(f"· step {step.id} {step.rung}: {step.status}"
                     + (f" — {_short(step.detail, 160)}" if step.detail else ""))
    if detail.recommendation and case.is_open:
        rung = detail.recommendation.rung.name
        lines.append(f"Next: {rung} ({detail.recommendation.reason}) — !coc step {case.id} {rung}")
    if case.is_open and not case.taken_by:
        lines.append(f"Take it: !coc take {case.id}")
    return "\n".join(lines)


def show_text(detail: views.CaseDetail) -> str:
    """``!coc show``: the card plus reports, consultations, notes and the subject's history."""
    case = detail.case
    lines = [card_text(detail), "Reports:"]
    for i, report in enumerate(case.reports):
        note = f" — note: {_short(report.note, 200)}" if report.note else ""
        lines.append(f"· {_when(report.filed_at)} by {views.reporter_label(case, i)} "
                     f"via {report.source}{note}")
    for c in case.consultations:
        who = c.person.user_id if c.person else "no consultation possible"
        lines.append(f"Consulted ({c.admin}, {who}): {_short(c.summary, 200)}")
    for h in detail.hurt_admins:
        lines.append(f"Admin named as hurt: {h.admin} (not recused unless they step aside with "
                     f"!coc recuse {case.id}, or another admin confirms it: "
                     f"!coc confirm-hurt {case.id} {h.admin})")
    if detail.stepped_aside:
        lines.append(f"Stepped aside: {', '.join(detail.stepped_aside)}")
    for n in case.notes:
        if n.kind in (NoteKind.REREAD, NoteKind.APPEAL):
            lines.append(f"Note ({n.kind}, {_when(n.at)}): {_short(n.text, 200)}")
    if detail.history:
        past = ", ".join(f"{p.rung} in case {p.case_id}" for p in detail.history[:10])
        lines.append(f"Earlier: {past}")
    return "\n".join(lines)


def list_text(items: list[views.QueueItem]) -> str:
    if not items:
        return "No open cases."
    lines = ["Open cases, most urgent first:"]
    for item in items:
        s = item.summary
        due = f" · due {_when(item.due_at)} ({item.deadline})" if item.due_at else ""
        flag = " · FLAGRANT" if s.flagrant else ""
        taken = f" · {s.taken_by}" if s.taken_by else " · not taken"
        lines.append(f"{s.id} · {s.subject.user_id} · {s.state}{taken}{flag}{due}")
    return "\n".join(lines)


def step_result_text(case: Case, step: Step) -> str:
    """What happened to a step, as the admin needs to hear it."""
    head = f"Case {case.id}, step {step.id} ({step.rung}): {step.status}"
    if step.status is StepStatus.DONE:
        return f"{head} — {step.detail}" if step.detail else head
    if step.status is StepStatus.MANUAL:
        return (f"{head}. The desk cannot do this here; please do it by hand: {step.detail} "
                f"Then: !coc done {case.id} {step.id}")
    if step.status is StepStatus.FAILED:
        return (f"{head} — {step.detail}. The desk records it and tries again when that can help; "
                f"`!coc retry {case.id} {step.id}` tries now.")
    return f"{head} — waiting for the homeserver; the desk carries it out shortly."
