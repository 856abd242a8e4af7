"""One person across platforms: linked accounts, the one-time codes members link their own
accounts with, what a step did to each linked account, and the hint a case gives when its
subject is linked to someone banned or suspended."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.domain.standing import LastingStep, standing

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed again
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(minutes=15)
CODES_PER_HOUR = 5  # codes one account may ask for in an hour
TRIES_PER_WINDOW = 5  # wrong codes one account may give in CODE_LIFETIME
MAX_LINKED = 20  # accounts one person may have
NOT_CHAT = frozenset({"web"})  # kinds of account no platform acts on (a web name)


def parse_account(text: str) -> PersonRef:
    """An account as an admin types it: ``slack:U123``, ``matrix:@ana:example.org``,
    ``discord:123``, ``web:ana``. The platform must be named: a bare id is ambiguous."""
    ref = PersonRef.parse(text, default_platform="")
    if not ref.platform:
        raise InvalidInput(f"{text.strip()!r} does not say its platform; write it as "
                           "slack:U123, matrix:@name:server, discord:123 or web:name",
                           field="accounts")
    return ref


def code_hash(code: str) -> str:
    """How a code is stored and looked up: the SHA-256 of its normal form."""
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def normalize_code(code: str) -> str:
    """A code as typed (``abcd-efgh``, ``ABCD EFGH``) in its one form (``ABCDEFGH``)."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def format_code(code: str) -> str:
    """``ABCDEFGH`` as ``ABCD-EFGH``: easier to read and type again."""
    code = normalize_code(code)
    return f"{code[:4]}-{code[4:]}"


class CodeState(StrEnum):
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LinkCode:
    """A one-time code the desk sent ``account`` privately; given from another account, it
    links the two. Only its hash is kept."""

    account: PersonRef
    code_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    id: int | None = None

    def state(self, now: datetime) -> CodeState:
        if self.used_at is not None:
            return CodeState.USED
        return CodeState.EXPIRED if now >= self.expires_at else CodeState.OPEN

    def check(self, by: PersonRef, now: datetime) -> None:
        """Refuse a code that no longer works, or given from the account it was sent to."""
        state = self.state(now)
        if state is CodeState.USED:
            raise InvalidInput("that code was used already; each code links once. Ask for a "
                               "new one from your other account", field="code")
        if state is CodeState.EXPIRED:
            minutes = int(CODE_LIFETIME.total_seconds() // 60)
            raise InvalidInput(f"that code has expired (a code works for {minutes} minutes); "
                               "ask for a new one from your other account", field="code")
        if by == self.account:
            raise InvalidInput("that code was sent to this account; give it from your other "
                               "account to link the two", field="code")


class EffectTarget(StrEnum):
    """What a step did on a linked account: the step itself, or its giving back."""

    APPLY = "apply"
    RESTORE = "restore"


class TargetStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    MANUAL = "manual"


@dataclass(frozen=True)
class StepEffect:
    """A suspension or ban carried out on one linked account (a step with scope
    ``everywhere``), or its giving back; each recorded on its own."""

    step_id: int
    case_id: int
    account: PersonRef
    action: Action  # suspend or ban
    target: EffectTarget
    status: TargetStatus
    at: datetime
    detail: str = ""
    id: int | None = None

    @property
    def line(self) -> str:
        what = {Action.SUSPEND: "suspension", Action.BAN: "ban"}.get(self.action,
                                                                     self.action.value)
        verb = "given back" if self.target is EffectTarget.RESTORE else what
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.account}: {verb} {self.status}{detail}"


def applied_to(effects: list[StepEffect]) -> list[StepEffect]:
    """The accounts a step reached (done or manual) and that have not been given back yet."""
    back = {e.account for e in effects if e.target is EffectTarget.RESTORE
            and e.status in (TargetStatus.DONE, TargetStatus.MANUAL)}
    return [e for e in effects if e.target is EffectTarget.APPLY and e.account not in back
            and e.status in (TargetStatus.DONE, TargetStatus.MANUAL)]


def own_effects(effects: list[LastingStep], account: PersonRef) -> list[LastingStep]:
    """Of a person's lasting steps, those taken in cases about this one account."""
    return [e for e in effects if e.subject is None or e.subject == account]


def evasion_hints(subject: PersonRef, effects: list[LastingStep], now: datetime) -> list[str]:
    """The case's subject is linked to accounts banned or suspended now: one line each, e.g.
    "linked to sandbox:x, banned in case 4". Said plainly, without a conclusion: a link is
    not proof that anyone is evading anything. ``effects``: the lasting steps of every
    account linked to the subject (the subject's own are left out here)."""
    by_account: dict[PersonRef, list[LastingStep]] = {}
    for e in effects:
        if e.subject is not None and e.subject != subject:
            by_account.setdefault(e.subject, []).append(e)
    lines = []
    for account in sorted(by_account):
        now_stands = standing(by_account[account], now)
        if now_stands.banned is not None:
            lines.append(f"linked to {account}, banned in case {now_stands.banned.case_id}")
        elif now_stands.suspended is not None:
            lines.append(f"linked to {account}, suspended in case "
                         f"{now_stands.suspended.case_id}")
    return lines
