"""The policy: the ladder, its durations and bounds, deadlines and texts, read from TOML.

Validation is strict and every error names the field, what was found and what is allowed,
so an admin who mistypes ``histroy_window`` learns which key and what it should be.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from conduct_desk.domain.durations import parse_duration
from conduct_desk.domain.errors import DeskError, InvalidPolicy


class Action(StrEnum):
    """What a rung does on the platform."""

    REMIND = "remind"
    SUGGEST = "suggest"
    REMOVE = "remove"
    WARN = "warn"
    SUSPEND = "suspend"
    BAN = "ban"
    RESTORE = "restore"  # never on a ladder: the end of a suspension


LADDER_ACTIONS = tuple(a for a in Action if a is not Action.RESTORE)

DEFAULT_LABELS = {
    Action.REMIND: "reminded",
    Action.SUGGEST: "given a suggestion",
    Action.REMOVE: "removed from the channel",
    Action.WARN: "warned",
    Action.SUSPEND: "suspended",
    Action.BAN: "banned",
    Action.RESTORE: "restored",
}

# How a text names a step that was taken before ("after a reminder and a warning")
DEFAULT_NOUNS = {
    Action.REMIND: "a reminder",
    Action.SUGGEST: "a suggestion",
    Action.REMOVE: "a removal from the channel",
    Action.WARN: "a warning",
    Action.SUSPEND: "a suspension",
    Action.BAN: "a ban",
    Action.RESTORE: "the end of a suspension",
}

TEXT_KEYS = (
    "acknowledgement",
    "outcome",
    "restore",
    "suggest_default",
    "take_reminder",
    "step_reminder",
    "escalation",
    "nudge",
    "nudge_answered",
    "nudge_apology_seen",
    "nudge_enough",
    "appeal_reminder",
    "appeal_upheld",
    "appeal_overturned",
    "appeal_changed",
)

# Texts added after the first release: a policy written before them still loads.
DEFAULT_TEXTS = {
    "nudge": (
        "Hi {{ name }}, a quiet word from {{ community }}: someone was hurt by this message"
        "{% if channel %} in {{ channel }}{% endif %}.\n{% if quote %}> {{ quote }}\n{% endif %}"
        "{% if link %}You can find it here: {{ link }}\n{% endif %}"
        "No admin is involved. An apology, or an edit, would set it right; if nothing changes "
        "within {{ duration }}, the admins will look at it. Our Code of Conduct: {{ coc_url }}"
    ),
    "nudge_answered": (
        "About the message you asked us to raise privately: the author {{ how }}. "
        "Thank you for speaking up."
    ),
    "nudge_apology_seen": (
        "About the message you asked us to raise privately: the author has since written\n"
        "> {{ apology }}\n"
        "If that is enough for you, reply `enough` and we'll leave it there. You don't have to "
        "do anything: otherwise the admins will look at it as planned."
    ),
    "nudge_enough": (
        "Thank you. We'll leave it there, and it won't go to the admins. If anything else "
        "happens, we're here."
    ),
    # appeals (issue 11): to the admins when an appeal waits too long, and to the person
    # appealing once it is decided. ``step``: the appealed step as a noun ("a suspension")
    "appeal_reminder": (
        "The appeal in case {{ case_id }} has waited {{ waited }} for a decision. An admin who "
        "did not take the step under appeal, please decide it."
    ),
    "appeal_upheld": (
        "Hi {{ name }}, the admins of {{ community }} looked again at {{ step }}, as you "
        "asked. {{ admin }}, who did not take that step, decided that it stands. Thank you for "
        "telling us how you saw it. Our Code of Conduct: {{ coc_url }}"
    ),
    "appeal_overturned": (
        "Hi {{ name }}, the admins of {{ community }} looked again at {{ step }}, as you "
        "asked, and {{ admin }} has set it aside: it no longer counts against you"
        "{% if undone %}, and it has been undone{% endif %}. Thank you for raising it."
    ),
    "appeal_changed": (
        "Hi {{ name }}, the admins of {{ community }} looked again at {{ step }}, as you "
        "asked. {{ admin }} has replaced it with {{ new_step }}"
        "{% if until %}, until {{ until }}{% endif %}; only that counts from now on. "
        "Our Code of Conduct: {{ coc_url }}"
    ),
}


@dataclass(frozen=True)
class DurationBounds:
    default: timedelta
    minimum: timedelta
    maximum: timedelta


class Scope(StrEnum):
    """Where a suspension or ban is carried out: on the platform of the account reported,
    or on every account linked to the same person, on every configured platform."""

    PLATFORM = "platform"
    EVERYWHERE = "everywhere"


SCOPED = (Action.SUSPEND, Action.BAN)  # the actions a scope applies to


@dataclass(frozen=True)
class Rung:
    name: str
    action: Action
    text: str
    label: str
    duration: DurationBounds | None = None
    confirm: bool = False
    noun: str = ""  # how later texts name this step once taken, e.g. "a warning"
    scope: Scope = Scope.PLATFORM


@dataclass(frozen=True)
class Deadlines:
    take_within: timedelta
    first_step_within: timedelta
    escalate_after: timedelta
    appeal_within: timedelta = timedelta(days=7)  # an appeal is decided within this


@dataclass(frozen=True)
class Retry:
    attempts: int
    backoff: timedelta

    def wait(self, tries: int, asked: timedelta | None = None) -> timedelta:
        """How long to wait after ``tries`` failed tries: what the platform asked for (a
        rate limit's retry-after) when it named a wait, else the backoff, doubling each try."""
        if asked is not None:
            return max(asked, timedelta(seconds=1))
        return self.backoff * int(2 ** max(tries - 1, 0))

    def again(self, tries: int, asked: timedelta | None = None) -> bool:
        """Whether to try again after ``tries`` failed tries. A platform that names a wait (a
        rate limit) is up and will take it then: such a wait does not use up the policy's
        attempts, only a far bound (:data:`MAX_WAITS`), so a busy platform delays, never loses."""
        return tries < self.attempts or (asked is not None and tries < MAX_WAITS)


MAX_WAITS = 500  # tries a platform may defer with a wait before the desk gives up


BAN_ACCOUNT = ("deactivate", "lock")

RETENTION_MIN = timedelta(days=1)
RETENTION_MAX = timedelta(days=3650)
RETENTION_KEYS = ("report_texts", "notes", "messages")


@dataclass(frozen=True)
class Retention:
    """How long texts are kept once their case is resolved; then the worker removes them and
    keeps the facts (steps, their dates and rungs, the outcome, the counts).

    report_texts: what reporters wrote and the words quoted (reports, private words);
    notes: the admins' notes, consultations and reasons; messages: what the desk sent to
    people and what they wrote back (step messages, notices, replies, appeals)."""

    report_texts: timedelta = timedelta(days=180)
    notes: timedelta = timedelta(days=365)
    messages: timedelta = timedelta(days=180)

    def of(self, key: str) -> timedelta:
        return {"report_texts": self.report_texts, "notes": self.notes,
                "messages": self.messages}[key]


@dataclass(frozen=True)
class Policy:
    name: str
    community: str
    code_of_conduct_url: str
    history_window: timedelta
    ladder: tuple[Rung, ...]
    deadlines: Deadlines
    ban_needs_consultation: bool
    retry: Retry
    peer_wait: timedelta
    on_duty: tuple[str, ...]
    backup: tuple[str, ...]
    texts: dict[str, str]
    # what a ban does to the account where the platform has a choice: "deactivate" closes it
    # for good, "lock" keeps it (an admin can unlock it)
    ban_account: str = "deactivate"
    # how much of the banned person's recent messages a ban also deletes, where the platform
    # can (Discord: at most 7 days); none unless the policy says so
    ban_delete_messages: timedelta = timedelta(0)
    # reactions as a way to report or ask for a nudge: off unless the policy turns them on,
    # because a reaction is a public room event (others see who reacted, with what)
    reactions: bool = False
    # the transparency report leaves out every count from 1 to this less one
    transparency_min_count: int = 5
    # how long texts are kept after their case is resolved ([retention])
    retention: Retention = field(default_factory=lambda: Retention())

    def rung(self, name: str) -> Rung:
        for r in self.ladder:
            if r.name == name:
                return r
        allowed = ", ".join(r.name for r in self.ladder)
        raise InvalidPolicyStep(f"no step {name!r} in the {self.name} ladder: use one of {allowed}")

    def index_of(self, name: str, action: Action | None = None) -> int | None:
        """Position of a rung by name, or by action when the name left the ladder."""
        for i, r in enumerate(self.ladder):
            if r.name == name:
                return i
        for i, r in enumerate(self.ladder):
            if action is not None and r.action is action:
                return i
        return None

    def ban_rung(self) -> Rung:
        for r in reversed(self.ladder):
            if r.action is Action.BAN:
                return r
        return self.ladder[-1]


class InvalidPolicyStep(DeskError):
    """A step name that the policy's ladder does not have."""


_TOP = {
    "name", "community", "code_of_conduct_url", "history_window", "deadlines", "admins",
    "ban", "retry", "peer", "intake", "ladder", "texts", "transparency", "retention",
}
_RUNG = {"name", "action", "text", "label", "duration", "confirm", "noun", "scope"}
_SECTIONS = {
    "deadlines": {"take_within", "first_step_within", "escalate_after", "appeal_within"},
    "admins": {"on_duty", "backup"},
    "ban": {"needs_consultation", "account", "delete_messages"},
    "retry": {"attempts", "backoff"},
    "peer": {"wait"},
    "intake": {"reactions"},
    "transparency": {"min_count"},
    "retention": set(RETENTION_KEYS),
    "texts": set(TEXT_KEYS),
    "duration": {"default", "min", "max"},
}


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> InvalidPolicy:
        return InvalidPolicy(f"{self.source}: {where}: {problem}")

    def keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                near = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(sorted(allowed))}"
                raise self.fail(f"{where}{key}", f"unknown key ({hint})")

    def text(self, table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.fail(f"{where}{key}", "missing; add it as a quoted string")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}{key}", f"must be a non-empty string, found {value!r}")
        return value

    def span(self, table: dict[str, Any], key: str, where: str, default: str) -> timedelta:
        value = table.get(key, default)
        try:
            return parse_duration(value, what=f"{where}{key}")
        except DeskError as exc:
            raise self.fail(f"{where}{key}", str(exc)) from None

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), found {type(value).__name__}")
        self.keys(value, _SECTIONS[key], f"{key}.")
        return value

    def names(self, table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}{key}", 'must be a list of names, like ["ana", "slack:U123"]')
        return tuple(value)


APPEAL_WITHIN_MIN = timedelta(hours=1)
APPEAL_WITHIN_MAX = timedelta(days=90)


def _appeal_within(r: _Reader, deadlines: dict[str, Any]) -> timedelta:
    """How long an appeal may wait for a decision before the admins are reminded."""
    span = r.span(deadlines, "appeal_within", "deadlines.", "7d")
    if not APPEAL_WITHIN_MIN <= span <= APPEAL_WITHIN_MAX:
        raise r.fail("deadlines.appeal_within",
                     f"must be from 1h to 90d, found {deadlines.get('appeal_within')!r}; write "
                     'e.g. appeal_within = "7d" (an appeal is decided within a week)')
    return span


def _retention(r: _Reader, data: dict[str, Any]) -> Retention:
    """[retention]: each key a span from 1d to 3650d (ten years)."""
    table = r.table(data, "retention")
    spans = {}
    for key in RETENTION_KEYS:
        default = Retention().of(key)
        value = table.get(key)
        if value is None:
            spans[key] = default
            continue
        if not isinstance(value, str):
            raise r.fail(f"retention.{key}", f'must be a quoted span such as "180d", found '
                                              f"{value!r}")
        span = r.span(table, key, "retention.", "")
        if not RETENTION_MIN <= span <= RETENTION_MAX:
            raise r.fail(f"retention.{key}",
                         f"must be from 1d to 3650d, found {value!r}; write e.g. "
                         f'{key} = "{default.days}d" (kept {default.days} days after the case '
                         "is resolved)")
        spans[key] = span
    return Retention(**spans)


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Validate a TOML policy and build it; raise :class:`InvalidPolicy` naming the field."""
    r = _Reader(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidPolicy(f"{source}: not valid TOML ({exc}); check quotes and brackets") from None
    r.keys(data, _TOP, "")
    deadlines = r.table(data, "deadlines")
    admins = r.table(data, "admins")
    ban = r.table(data, "ban")
    retry = r.table(data, "retry")
    peer = r.table(data, "peer")
    intake = r.table(data, "intake")
    reactions = intake.get("reactions", False)
    if not isinstance(reactions, bool):
        raise r.fail("intake.reactions", f"must be true or false, found {reactions!r}")
    texts_table = r.table(data, "texts")
    texts = {k: r.text(texts_table, k, "texts.", DEFAULT_TEXTS.get(k)) for k in TEXT_KEYS}

    needs = ban.get("needs_consultation", True)
    if not isinstance(needs, bool):
        raise r.fail("ban.needs_consultation", f"must be true or false, found {needs!r}")
    ban_account = ban.get("account", "deactivate")
    if ban_account not in BAN_ACCOUNT:
        raise r.fail("ban.account", f"must be one of {', '.join(repr(a) for a in BAN_ACCOUNT)}, "
                                    f"found {ban_account!r}")
    delete_messages = (r.span(ban, "delete_messages", "ban.", "1s") if "delete_messages" in ban
                       else timedelta(0))
    if delete_messages > timedelta(days=7):
        raise r.fail("ban.delete_messages", "must be at most 7d (Discord deletes at most the last "
                                            f"7 days of messages), found {ban['delete_messages']!r}")
    transparency = r.table(data, "transparency")
    min_count = transparency.get("min_count", 5)
    if not isinstance(min_count, int) or isinstance(min_count, bool) or not 2 <= min_count <= 1000:
        raise r.fail("transparency.min_count",
                     f"must be a whole number from 2 to 1000, found {min_count!r}")

    attempts = retry.get("attempts", 5)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 50:
        raise r.fail("retry.attempts", f"must be a whole number from 1 to 50, found {attempts!r}")

    raw_ladder = data.get("ladder")
    if not isinstance(raw_ladder, list) or not raw_ladder:
        raise r.fail("ladder", "missing; add at least one [[ladder]] step")
    ladder: list[Rung] = []
    for i, raw in enumerate(raw_ladder):
        where = f"ladder[{i}]."
        if not isinstance(raw, dict):
            raise r.fail(f"ladder[{i}]", "must be a table ([[ladder]])")
        r.keys(raw, _RUNG, where)
        name = r.text(raw, "name", where)
        if not name.replace("-", "").replace("_", "").isalnum() or name != name.lower():
            raise r.fail(f"{where}name", f"{name!r} must be lower-case letters, digits and '-'")
        if any(x.name == name for x in ladder):
            raise r.fail(f"{where}name", f"{name!r} is used twice; each step needs its own name")
        action_text = r.text(raw, "action", where)
        try:
            action = Action(action_text)
        except ValueError:
            action = None
        if action is None or action is Action.RESTORE:
            allowed = ", ".join(a.value for a in LADDER_ACTIONS)
            raise r.fail(f"{where}action", f"{action_text!r} is not one of {allowed}")
        confirm = raw.get("confirm", action is Action.WARN)
        if not isinstance(confirm, bool):
            raise r.fail(f"{where}confirm", f"must be true or false, found {confirm!r}")
        bounds = None
        if action is Action.SUSPEND:
            d = raw.get("duration")
            if not isinstance(d, dict):
                raise r.fail(
                    f"{where}duration",
                    'a suspend step needs duration = { default = "24h", min = "12h", max = "24h" }',
                )
            r.keys(d, _SECTIONS["duration"], f"{where}duration.")
            default = r.span(d, "default", f"{where}duration.", "24h")
            lo = r.span(d, "min", f"{where}duration.", "12h")
            hi = r.span(d, "max", f"{where}duration.", "24h")
            if not lo <= default <= hi:
                raise r.fail(f"{where}duration", "needs min <= default <= max")
            bounds = DurationBounds(default, lo, hi)
        elif "duration" in raw:
            raise r.fail(f"{where}duration", "only a suspend step has a duration; remove it")
        scope_text = raw.get("scope", Scope.PLATFORM.value)
        if not isinstance(scope_text, str) or scope_text not in {s.value for s in Scope}:
            raise r.fail(f"{where}scope", f'must be "platform" (the account reported) or '
                         f'"everywhere" (every linked account), found {scope_text!r}')
        scope = Scope(scope_text)
        if scope is Scope.EVERYWHERE and action not in SCOPED:
            raise r.fail(f"{where}scope", f'"everywhere" applies to a suspend or ban step; a '
                         f"{action.value} step acts where it happened: remove it")
        ladder.append(
            Rung(
                name=name,
                action=action,
                text=r.text(raw, "text", where),
                label=r.text(raw, "label", where, DEFAULT_LABELS[action]),
                duration=bounds,
                confirm=confirm,
                noun=r.text(raw, "noun", where, DEFAULT_NOUNS[action]),
                scope=scope,
            )
        )

    url = r.text(data, "code_of_conduct_url", "")
    if not url.startswith(("https://", "http://")):
        raise r.fail("code_of_conduct_url", f"{url!r} must be a link starting with https://")
    return Policy(
        name=r.text(data, "name", "", "custom"),
        community=r.text(data, "community", "", "our community"),
        code_of_conduct_url=url,
        history_window=r.span(data, "history_window", "", "90d"),
        ladder=tuple(ladder),
        deadlines=Deadlines(
            take_within=r.span(deadlines, "take_within", "deadlines.", "2h"),
            first_step_within=r.span(deadlines, "first_step_within", "deadlines.", "6h"),
            escalate_after=r.span(deadlines, "escalate_after", "deadlines.", "1h"),
            appeal_within=_appeal_within(r, deadlines),
        ),
        ban_needs_consultation=needs, ban_account=ban_account,
        ban_delete_messages=delete_messages,
        retry=Retry(attempts=attempts, backoff=r.span(retry, "backoff", "retry.", "1m")),
        peer_wait=r.span(peer, "wait", "peer.", "24h"),
        on_duty=r.names(admins, "on_duty", "admins."),
        backup=r.names(admins, "backup", "admins."),
        texts=texts, reactions=reactions, transparency_min_count=min_count,
        retention=_retention(r, data),
    )
