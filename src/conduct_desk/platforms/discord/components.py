"""Discord's JSON for the desk: permissions and the install link, application commands, the
case card (an embed with buttons), the report and step modals, the warning's button; and the
other way, interaction payloads read back into plain values.

Pure functions from the desk's read models to Discord's payloads; no SDK imports, so they
are cheap to test and to read. Limits follow Discord's (an embed description holds 4096
characters, a field 1024, a button label 80, a custom id 100).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from conduct_desk.domain.model import CaseState, StepStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action, Policy
from conduct_desk.service.views import CaseDetail, named_hurt, reporter_label

Json = dict[str, Any]

# -- permissions and the install link ---------------------------------------------------------

# https://discord.com/developers/docs/topics/permissions (bit positions)
BAN_MEMBERS = 1 << 2
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_ROLES = 1 << 28  # "Manage Permissions" on a channel: the remove step's overwrite
SEND_MESSAGES_IN_THREADS = 1 << 38
MODERATE_MEMBERS = 1 << 40  # timeouts: the suspend step
ADMINISTRATOR = 1 << 3

# what the desk uses, and why (the README's table says the same)
PERMISSIONS: dict[int, tuple[str, str]] = {
    VIEW_CHANNEL: ("View Channels", "see the channels it looks after and the admins' channel"),
    SEND_MESSAGES: ("Send Messages", "remind and suggest as replies; the case cards"),
    SEND_MESSAGES_IN_THREADS: ("Send Messages in Threads", "reply where a reported message was, "
                               "threads included"),
    EMBED_LINKS: ("Embed Links", "the case cards are embeds"),
    READ_MESSAGE_HISTORY: ("Read Message History", "read a reported message and reply to it"),
    MANAGE_MESSAGES: ("Manage Messages", "take a report reaction away at once, so nobody "
                      "sees who reported"),
    MANAGE_ROLES: ("Manage Roles", "the remove step: a channel permission that keeps one "
                   "person out of one channel"),
    MODERATE_MEMBERS: ("Timeout Members", "the suspend step (Discord's timeout)"),
    BAN_MEMBERS: ("Ban Members", "the ban step"),
}
PERMISSION_BITS = sum(PERMISSIONS)
SCOPES = ("bot", "applications.commands")
# the channel permissions a removal denies: the person no longer sees or writes in the channel
REMOVAL_DENY = VIEW_CHANNEL | SEND_MESSAGES


def invite_url(application_id: str, guild_id: str | None = None) -> str:
    """The OAuth2 link that adds the bot to a server with exactly the desk's permissions."""
    query: dict[str, str] = {"client_id": application_id, "scope": " ".join(SCOPES),
                             "permissions": str(PERMISSION_BITS)}
    if guild_id:
        query |= {"guild_id": guild_id, "disable_guild_select": "true"}
    return "https://discord.com/oauth2/authorize?" + urlencode(query)


def permission_names(bits: int) -> list[str]:
    return [name for bit, (name, _) in PERMISSIONS.items() if bits & bit]


# -- application commands ---------------------------------------------------------------------

COMMAND = "coc"
REPORT_COMMAND = "Report to admins"


def application_commands(prefix_help: str) -> list[Json]:
    """``/coc`` (its words after it, as in every chat) and the message menu's report command."""
    return [
        {"name": COMMAND, "type": 1, "description": "Conduct Desk: " + prefix_help[:80],
         "options": [{"type": 3, "name": "text", "required": True, "max_length": 2000,
                      "description": "what to do, e.g. `list`, `take 12`, `help`"}]},
        {"name": REPORT_COMMAND, "type": 3},
    ]


# -- the case card ----------------------------------------------------------------------------

COLOURS = {CaseState.NEW: 0xE8590C, CaseState.TAKEN: 0xF2C94C, CaseState.ACTING: 0x2F80ED,
           CaseState.RESOLVED: 0x6FCF97}
BUTTON_PRIMARY, BUTTON_SECONDARY, BUTTON_SUCCESS, BUTTON_DANGER = 1, 2, 3, 4


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def who(person: PersonRef) -> str:
    """A Discord mention (shown as the name) for Discord people, the desk's key for others."""
    return f"<@{person.user_id}>" if person.platform == "discord" else f"`{person.key}`"


def admin_name(name: str) -> str:
    platform, _, user = name.partition(":")
    return f"<@{user}>" if platform == "discord" and user.isdigit() else name


def quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.strip().splitlines()) or ">"


MESSAGE_LIMIT = 2000  # characters in one message's content


def chunks(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """A long text as several messages, cut at a line break (or a space) where it can be:
    nothing a step says is dropped."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return parts


def button(label: str, custom_id: str, style: int = BUTTON_SECONDARY) -> Json:
    return {"type": 2, "style": style, "label": clip(label, 80), "custom_id": custom_id[:100]}


def case_card(detail: CaseDetail, policy: Policy, *, names_hidden: bool = False) -> Json:
    """The admins' channel's card for one case: an embed (what happened, where it stands, what
    to do next) and its buttons. ``names_hidden``: the subject can read the channel, so the
    card leaves out who reported, who was hurt and the reporters' notes (``/coc show`` has
    them)."""
    case = detail.case
    state = {CaseState.NEW: "new — nobody has taken it yet", CaseState.TAKEN: "taken",
             CaseState.ACTING: "in progress", CaseState.RESOLVED: "resolved"}[case.state]
    lines = [f"About {who(case.subject)} · {state}"]
    if case.taken_by:
        lines.append(f"Taken by {admin_name(case.taken_by)}")
    if case.flagrant:
        lines.append("🚨 Reported as flagrant")
    if case.due_at is not None:
        lines.append(f"Deadline: {detail.deadline} (<t:{int(case.due_at.timestamp())}:f>)")
    if case.outcome:
        reason = f": {case.outcome_reason}" if case.outcome_reason else ""
        lines.append(f"Outcome: {case.outcome}{reason}")
    if detail.backup is not None:
        lines.append("🚨 Every admin is involved in this case, so it goes to the backup admins"
                     + (f": {', '.join(detail.backup)}" if detail.backup else
                        " (none set: add them under [admins] backup)"))
    fields: list[Json] = []
    report = next((r for r in case.reports if r.message_text), None)
    if report is not None and report.message_text:
        where = f" in <#{case.channel}>" if case.channel and case.subject.platform == "discord" \
            else ""
        link = next((r.message_link for r in case.reports if r.message_link), None)
        fields.append({"name": f"What was said{where}"[:256],
                       "value": clip(quoted(report.message_text), 900)
                       + (f"\n[open]({link})" if link else "")})
    reports = []
    for i, r in enumerate(case.reports):
        name = reporter_label(case, i)
        by = "anonymous" if name == "anonymous" else who(r.reporter) if r.reporter else name
        note = f" — “{clip(r.note, 200)}”" if r.note else ""
        if names_hidden:
            by, note = "a report", ""
        reports.append(f"• {by}, <t:{int(r.filed_at.timestamp())}:f> via {r.source}{note}")
    summary = "\n".join(reports)
    if names_hidden and case.harmed:
        summary += f"\nHurt: {len(case.harmed)} (names left out here)"
    elif named_hurt(case):
        summary += "\nHurt: " + ", ".join(who(p) for p in named_hurt(case))
    if not names_hidden and detail.hurt_admins:
        summary += (f"\nAdmins named as hurt (not recused unless they step aside with "
                    f"`/coc recuse {case.id}`): "
                    + ", ".join(admin_name(h.admin) for h in detail.hurt_admins))
    if detail.stepped_aside:
        summary += "\nStepped aside: " + ", ".join(admin_name(n) for n in detail.stepped_aside)
    fields.append({"name": f"Reports ({len(case.reports)})", "value": clip(summary, 1024)})
    for n in case.notes:
        if n.kind == "apology":
            fields.append({"name": "The author wrote, after the private word",
                           "value": clip(quoted(n.text), 1024)})
        elif n.kind == "reply":
            fields.append({"name": "The person replied", "value": clip(quoted(n.text), 1024)})
    if case.steps:
        steps = [_step_line(case, i) + "".join(f"\n  on {clip(e.line, 200)}"
                                               for e in detail.effects_of(case.steps[i].id))
                 for i in range(len(case.steps))]
        fields.append({"name": "Steps", "value": clip("\n".join(steps), 1024)})
    if detail.linked_lines:
        fields.append({"name": "Linked accounts",
                       "value": clip("\n".join(detail.linked_lines), 1024)})
    if detail.recommendation is not None:
        fields.append({"name": "Recommended next",
                       "value": clip(f"**{detail.recommendation.rung.name}** — "
                                     f"{detail.recommendation.reason}", 1024)})
    if detail.history:
        past = ", ".join(f"{p.rung} (case {p.case_id})" for p in detail.history[-5:])
        fields.append({"name": "Earlier steps with this person", "value": clip(past, 1024)})
    failed = getattr(detail, "failed_notices", ())
    if failed:
        fields.append({"name": "Not delivered", "value": clip("; ".join(failed), 1024)})
    footer = (f"🔒 The person can read this channel, so this card leaves out who reported, who "
              f"was hurt and their notes; /coc show {case.id} shows them to you alone."
              if names_hidden else f"/coc show {case.id} · /coc help")
    embed: Json = {"title": f"Case {case.id}", "description": clip("\n".join(lines), 4000),
                   "color": COLOURS[case.state], "fields": fields[:25],
                   "footer": {"text": clip(footer, 2048)}}
    return {"content": "", "embeds": [fit(embed)], "components": card_buttons(detail, policy),
            "allowed_mentions": {"parse": []}}


EMBED_LIMIT = 6000  # Discord's limit on all of an embed's texts together


def embed_size(embed: Json) -> int:
    return (len(embed.get("title", "")) + len(embed.get("description", ""))
            + len((embed.get("footer") or {}).get("text", ""))
            + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", [])))


def fit(embed: Json) -> Json:
    """Shorten the longest texts until the embed is within Discord's total limit."""
    while embed_size(embed) > EMBED_LIMIT:
        over = embed_size(embed) - EMBED_LIMIT
        texts = [("description", embed)] + [("value", f) for f in embed.get("fields", [])]
        key, holder = max(texts, key=lambda t: len(t[1][t[0]]))
        holder[key] = clip(holder[key], max(16, len(holder[key]) - over))
    return embed


def _step_line(case: Any, index: int) -> str:
    s = case.steps[index]
    until = f" until <t:{int(s.until.timestamp())}:f>" if s.until else ""
    restored = " (given back)" if s.restored_at else ""
    line = f"• {s.rung}{until} — **{s.status}**{restored} by {admin_name(s.actor)}"
    if s.detail and s.status in (StepStatus.FAILED, StepStatus.MANUAL):
        line += f"\n  {clip(s.detail, 400)}"
    return line


def card_buttons(detail: CaseDetail, policy: Policy) -> list[Json]:
    """Take, one button per rung, and Mark done for manual steps: at most 5 rows of 5."""
    case = detail.case
    if not case.is_open:
        return []
    buttons: list[Json] = []
    if case.taken_by is None:
        buttons.append(button("Take the case", f"case:take:{case.id}", BUTTON_PRIMARY))
    recommended = detail.recommendation.rung.name if detail.recommendation else None
    for rung in policy.ladder:
        style = BUTTON_DANGER if rung.action is Action.BAN else (
            BUTTON_PRIMARY if rung.name == recommended and case.taken_by else BUTTON_SECONDARY)
        buttons.append(button(rung.name.capitalize(), f"case:step:{case.id}:{rung.name}", style))
    for s in case.steps:
        if s.status is StepStatus.MANUAL:
            buttons.append(button(f"Mark {s.rung} done", f"case:done:{case.id}:{s.id}",
                                  BUTTON_SUCCESS))
    buttons = buttons[:25]
    return [{"type": 1, "components": buttons[i:i + 5]} for i in range(0, len(buttons), 5)]


# -- modals -----------------------------------------------------------------------------------

REPORT_MODAL = "report"
STEP_MODAL = "step"
REREAD = "reread"


def _label(label: str, component: Json, description: str = "") -> Json:
    found: Json = {"type": 18, "label": clip(label, 45), "component": component}
    if description:
        found["description"] = clip(description, 100)
    return found


def report_modal(channel: str, message_id: str, author: str, peer_wait: str) -> Json:
    """The reporter's modal: everything optional; sending it is enough."""
    return {
        "custom_id": f"{REPORT_MODAL}:{channel}:{message_id}:{author}",
        "title": "Report to admins",
        "components": [
            {"type": 10, "content": "You don't need to explain or prove anything; everything "
                                    "below is optional."},
            _label("Anything the admins should know?",
                   {"type": 4, "custom_id": "note", "style": 2, "required": False,
                    "max_length": 1000}, "Optional."),
            _label("Others who were hurt", {"type": 5, "custom_id": "harmed", "required": False,
                                            "min_values": 0, "max_values": 5}, "Optional."),
            _label("Options", {"type": 22, "custom_id": "options", "required": False,
                               "min_values": 0, "max_values": 3, "options": [
                                   {"value": "anonymous", "label": "Keep my name from the admins",
                                    "description": "Your name never reaches the person either way."},
                                   {"value": "flagrant", "label": "This is serious: act at once"},
                                   {"value": "nudge", "label": "Ask them privately first",
                                    "description": f"Without your name; the admins step in if "
                                                   f"nothing changes within {peer_wait}."[:100]},
                               ]}),
        ],
    }


def step_modal(case_id: int, rung: str, text: str, *, recommended: str | None,
               duration: str | None) -> Json:
    """The exact text a step sends, editable, before anything happens."""
    components: list[Json] = [
        {"type": 10, "content": clip(f"**Case {case_id}: {rung}**. This is exactly what will be "
                                     "sent; edit it if you like. Nothing happens until you press "
                                     "Submit.", 2000)},
        _label("Text to send", {"type": 4, "custom_id": "text", "style": 2, "required": True,
                                "value": clip(text, 4000), "max_length": 4000}),
    ]
    if duration is not None:
        components.append(_label("How long (e.g. 12h, 24h)",
                                 {"type": 4, "custom_id": "duration", "style": 1,
                                  "required": True, "value": duration, "max_length": 20},
                                 "Changing it updates the end time in an unedited text."))
    hint = ("The desk recommends this step." if recommended == rung else
            f"The desk recommends {recommended}; say why you choose {rung}." if recommended
            else "")
    components.append(_label("Reason", {"type": 4, "custom_id": "reason", "style": 2,
                                        "required": recommended not in (None, rung),
                                        "max_length": 1000}, hint))
    # the duration the text was composed with travels along: an unedited text is recomposed
    # when only the duration changes
    return {"custom_id": f"{STEP_MODAL}:{case_id}:{rung}:{duration or ''}"[:100],
            "title": clip(f"Case {case_id}: {rung}", 45), "components": components}


def warning_components(case_id: int) -> list[Json]:
    """The warning DM's one button: the person says they re-read the Code of Conduct."""
    return [{"type": 1, "components": [
        button("I've re-read it", f"{REREAD}:{case_id}", BUTTON_PRIMARY)]}]


# -- interaction payloads read back -----------------------------------------------------------


def _walk(components: Any) -> Iterator[Json]:
    if isinstance(components, list):
        for item in components:
            yield from _walk(item)
    elif isinstance(components, dict):
        if "custom_id" in components:
            yield components
        yield from _walk(components.get("components"))
        yield from _walk(components.get("component"))


def modal_values(data: Json) -> dict[str, str | list[str]]:
    """A submitted modal's values by custom id: a text input's text, a select's or a
    checkbox group's chosen values (labels and action rows alike)."""
    values: dict[str, str | list[str]] = {}
    for found in _walk(data.get("components")):
        if "values" in found and isinstance(found["values"], list):
            values[str(found["custom_id"])] = [str(v) for v in found["values"]]
        elif "value" in found:
            values[str(found["custom_id"])] = str(found["value"] or "")
    return values


def text_value(values: dict[str, str | list[str]], key: str) -> str | None:
    value = values.get(key)
    return value.strip() or None if isinstance(value, str) else None


def list_value(values: dict[str, str | list[str]], key: str) -> tuple[str, ...]:
    value = values.get(key)
    return tuple(value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Pressed:
    """A button's custom id read back: ``case:take:12``, ``case:step:12:warn``, ``reread:12``."""

    kind: str  # "take", "step", "done", "reread"
    case_id: int
    arg: str = ""


def pressed(custom_id: str) -> Pressed | None:
    parts = custom_id.split(":")
    if parts[0] == REREAD and len(parts) == 2 and parts[1].isascii() and parts[1].isdigit():
        return Pressed(REREAD, int(parts[1]))
    if parts[0] == "case" and len(parts) >= 3 and parts[1] in ("take", "step", "done") \
            and parts[2].isascii() and parts[2].isdigit():
        return Pressed(parts[1], int(parts[2]), ":".join(parts[3:]))
    return None


def command_text(data: Json) -> str:
    """What follows ``/coc``: its ``text`` option."""
    for option in data.get("options") or []:
        if isinstance(option, dict) and option.get("name") == "text":
            return str(option.get("value") or "")
    return ""


@dataclass(frozen=True)
class Target:
    """The message a message command was used on, from the interaction's resolved data."""

    channel: str
    message_id: str
    author: str | None
    author_is_bot: bool
    content: str


def target_message(data: Json, channel: str) -> Target | None:
    target = str(data.get("target_id") or "")
    message = ((data.get("resolved") or {}).get("messages") or {}).get(target)
    if not target or not isinstance(message, dict):
        return None
    author = message.get("author") or {}
    return Target(str(message.get("channel_id") or channel), target,
                  str(author["id"]) if author.get("id") else None, bool(author.get("bot")),
                  str(message.get("content") or ""))


def message_link(guild_id: str, channel: str, message_id: str) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel}/{message_id}"


# -- permissions worked out from roles ----------------------------------------------------------


@dataclass(frozen=True)
class GuildRole:
    id: str
    name: str
    position: int
    permissions: int
    managed_by: str | None = None  # the bot's user id when the role is the bot's own


def guild_roles(payload: list[Json]) -> dict[str, GuildRole]:
    return {str(r["id"]): GuildRole(str(r["id"]), str(r.get("name") or ""),
                                    int(r.get("position") or 0), int(r.get("permissions") or 0),
                                    str((r.get("tags") or {}).get("bot_id") or "") or None)
            for r in payload if isinstance(r, dict) and "id" in r}


def base_permissions(guild_id: str, member_roles: list[str],
                     roles: dict[str, GuildRole]) -> int:
    """A member's server-wide permissions: @everyone's (the role whose id is the server's)
    and their roles', together; Administrator means all of them."""
    bits = roles[guild_id].permissions if guild_id in roles else 0
    for rid in member_roles:
        if rid in roles:
            bits |= roles[rid].permissions
    return -1 if bits & ADMINISTRATOR else bits


def can_view_channel(guild_id: str, user_id: str, member_roles: list[str],
                     roles: dict[str, GuildRole], overwrites: list[Json],
                     owner_id: str | None = None) -> bool:
    """Whether the member sees the channel, as Discord works it out: the server owner and
    Administrator always; else the base permissions, then @everyone's overwrite, the
    roles' overwrites (denies, then allows), then the member's own."""
    if user_id == owner_id:
        return True
    bits = base_permissions(guild_id, member_roles, roles)
    if bits == -1:
        return True

    def apply(bits: int, deny: int, allow: int) -> int:
        return (bits & ~deny) | allow

    by_id = {str(o.get("id")): o for o in overwrites if isinstance(o, dict)}
    everyone = by_id.get(guild_id)
    if everyone is not None:
        bits = apply(bits, int(everyone.get("deny") or 0), int(everyone.get("allow") or 0))
    deny = allow = 0
    for rid in member_roles:
        found = by_id.get(rid)
        if found is not None and int(found.get("type", 0)) == 0:
            deny |= int(found.get("deny") or 0)
            allow |= int(found.get("allow") or 0)
    bits = apply(bits, deny, allow)
    own = by_id.get(user_id)
    if own is not None and int(own.get("type", 1)) == 1:
        bits = apply(bits, int(own.get("deny") or 0), int(own.get("allow") or 0))
    return bool(bits & VIEW_CHANNEL)


ACTION_NEEDS = {Action.REMOVE: MANAGE_ROLES, Action.SUSPEND: MODERATE_MEMBERS,
                Action.RESTORE: MODERATE_MEMBERS, Action.BAN: BAN_MEMBERS,
                Action.REMIND: SEND_MESSAGES, Action.SUGGEST: SEND_MESSAGES}
_VERBS = {Action.REMOVE: "change a channel's permissions for", Action.SUSPEND: "time out",
          Action.RESTORE: "end the timeout of", Action.BAN: "ban"}


def refusal_fix(action: Action, guild_id: str, bot_id: str, bot_roles: list[str],
                subject_id: str, subject_roles: list[str] | None,
                roles: dict[str, GuildRole], owner_id: str | None) -> str:
    """What a server admin must change so that Discord lets the bot do ``action`` (it
    answered Missing Permissions): the role order, or the permission the bot's role lacks."""
    own = next((r for r in roles.values() if r.managed_by == bot_id), None)
    ranked = sorted((roles[r] for r in bot_roles if r in roles), key=lambda r: -r.position)
    bot_role = own or (ranked[0] if ranked else None)
    role_name = f"«{bot_role.name}»" if bot_role else "the Conduct Desk bot's role"
    needed = ACTION_NEEDS.get(action, SEND_MESSAGES)
    permission = PERMISSIONS.get(needed, ("that permission", ""))[0]
    verb = _VERBS.get(action, "act on")
    if subject_id == owner_id and action in _VERBS:
        return (f"Discord never lets a bot {verb} the server's owner; only the owner can "
                "change that by transferring ownership")
    if action in _VERBS and subject_roles is not None:
        top_bot = max((roles[r].position for r in bot_roles if r in roles), default=0)
        theirs = sorted((roles[r] for r in subject_roles if r in roles),
                        key=lambda r: -r.position)
        if theirs and theirs[0].position >= top_bot:
            return (f"in Server Settings → Roles, drag {role_name} above «{theirs[0].name}» "
                    f"(Discord lets a bot {verb} only members whose highest role is below its "
                    "own)")
        if action in (Action.SUSPEND, Action.RESTORE) and \
                base_permissions(guild_id, subject_roles, roles) == -1:
            return ("Discord does not time out members with the Administrator permission; "
                    "take Administrator from their roles first, or act by hand")
    bits = base_permissions(guild_id, bot_roles, roles)
    if action is Action.REMOVE:  # Discord lets a bot deny only what it has itself
        needed |= REMOVAL_DENY
    missing = [PERMISSIONS[b][0] for b in PERMISSIONS if needed & b and bits != -1
               and not bits & b]
    if missing:
        return (f"in Server Settings → Roles → {role_name}, turn on "
                + " and ".join(f"«{m}»" for m in missing))
    return (f"give {role_name} «{permission}» in that channel too (Edit Channel → "
            "Permissions): a channel setting takes it away there"
            + (", with «View Channels» and «Send Messages»" if action is Action.REMOVE else ""))
