"""One person across platforms: admins link and unlink accounts; members link their own
with a one-time code; a suspension or ban with scope "everywhere" is carried out on every
linked account, each effect recorded on its own, and given back together."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from conduct_desk.domain import events
from conduct_desk.domain.accounts import Role, name_key
from conduct_desk.domain.errors import DeskError, IllegalTransition, InvalidInput, Recused
from conduct_desk.domain.identities import (
    CODE_ALPHABET,
    CODE_LENGTH,
    CODE_LIFETIME,
    CODES_PER_HOUR,
    MAX_LINKED,
    NOT_CHAT,
    TRIES_PER_WINDOW,
    EffectTarget,
    LinkCode,
    StepEffect,
    TargetStatus,
    applied_to,
    code_hash,
    format_code,
    parse_account,
)
from conduct_desk.domain.model import Step, StepStatus, check_text
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import SCOPED, Action, Policy, Scope
from conduct_desk.service import commands
from conduct_desk.service.limits import RateLimit
from conduct_desk.service.ports import AuditEntry, Capability, Effect, EffectStatus, UnitOfWork
from conduct_desk.service.roster import KnownAdmin, accounts_of, acting, known_admins

if TYPE_CHECKING:  # handlers use this module; the desk's type only is needed here
    from conduct_desk.service.handlers import Desk

DESK = "desk"  # the actor recorded for what the desk does by itself (as in handlers)

logger = logging.getLogger(__name__)

_TARGET_STATUS = {EffectStatus.DONE: TargetStatus.DONE, EffectStatus.FAILED: TargetStatus.FAILED,
                  EffectStatus.MANUAL: TargetStatus.MANUAL}
_WORDS = {Action.SUSPEND: "suspension", Action.BAN: "ban"}


# -- linking by an admin -------------------------------------------------------------------


def link_accounts(cmd: commands.LinkAccounts, uow: UnitOfWork, desk: Desk) -> tuple[PersonRef, ...]:
    """Link the accounts into one person (audited); returns all the person's accounts."""
    for text in cmd.accounts:
        check_text(text, "an account", 300)
    accounts = tuple(dict.fromkeys(parse_account(a) for a in cmd.accounts))
    if len(accounts) < 2:
        raise InvalidInput("name at least two different accounts to link, e.g. slack:U123 "
                           "matrix:@name:server", field="accounts")
    now = desk.clock.now()
    with uow:
        admin = acting(uow, desk.platform_admins, cmd.admin)
        _check_own(uow, desk, admin, {r for a in accounts for r in uow.people.linked(a)},
                   "links")
        _check_size(uow, accounts)
        if not uow.people.link(accounts, now, admin.name):
            raise IllegalTransition(f"{', '.join(map(str, accounts))} are linked already",
                                    field="accounts")
        person = uow.people.linked(accounts[0])
        audit(uow, now, admin.name, "person.linked",
              f"{admin.name} linked {', '.join(map(str, accounts))} as one person", None,
              accounts=[str(a) for a in person])
        uow.commit()
    return person


def unlink_account(cmd: commands.UnlinkAccount, uow: UnitOfWork, desk: Desk) -> tuple[PersonRef, ...]:
    """Take one account out of its person (audited); returns the accounts it was linked to."""
    check_text(cmd.account, "the account", 300)
    account = parse_account(cmd.account)
    now = desk.clock.now()
    with uow:
        admin = acting(uow, desk.platform_admins, cmd.admin)
        _check_own(uow, desk, admin, set(uow.people.linked(account)), "unlinks")
        others = uow.people.unlink(account)
        if not others:
            raise InvalidInput(f"{account} is not linked to any other account", field="account")
        audit(uow, now, admin.name, "person.unlinked",
              f"{admin.name} unlinked {account} from {', '.join(map(str, others))}", None,
              account=str(account), others=[str(a) for a in others])
        uow.commit()
    return others


def _check_own(uow: UnitOfWork, desk: Desk, admin: KnownAdmin | None,
               accounts: set[PersonRef], verb: str) -> None:
    """An admin's own accounts decide which cases they must stay out of, so a link that
    touches them is another admin's to make or undo, one with the admin role (``admin``
    None: a member linking by a code, which never may). Nobody can then free themselves
    from a case about them, probe whether an account of theirs reported anonymously, or shut
    a fellow admin out of cases. A disabled account counts: it may be enabled again."""
    held = known_admins(uow.accounts.admins(), desk.platform_admins, disabled_too=True)
    owners = {ref: known.name for known in held for ref in accounts_of(known)}
    touched = sorted({owners[a] for a in accounts if a in owners})
    if not touched:
        return
    mine = {name_key(n) for n in admin.names} if admin is not None else set()
    if admin is not None and admin.role.includes(Role.ADMIN) \
            and not any(name_key(n) in mine for n in touched):
        return
    whose = ", ".join(touched)
    raise Recused(f"these accounts include {whose}'s own, which decide the cases {whose} must "
                  f"stay out of; another admin with the admin role {verb} them")


def _check_size(uow: UnitOfWork, accounts: tuple[PersonRef, ...]) -> None:
    together = {r for a in accounts for r in uow.people.linked(a)}
    if len(together) > MAX_LINKED:
        raise InvalidInput(f"one person has at most {MAX_LINKED} accounts; these would make "
                           f"{len(together)}", field="accounts")


# -- linking by the member ------------------------------------------------------------------


def request_link_code(cmd: commands.RequestLinkCode, uow: UnitOfWork, desk: Desk) -> datetime:
    """Send the member a one-time code privately, on this account. Only its hash is kept; it
    works once, for :data:`CODE_LIFETIME`. Returns when it expires."""
    now = desk.clock.now()
    platform = desk.platforms.get(cmd.account.platform)
    if platform is None or Capability.DM not in platform.capabilities:
        raise InvalidInput("the desk cannot write to you privately here, so it cannot send you "
                           "a code; ask for one from your other account")
    limit = RateLimit(lambda: uow, "link-code", CODES_PER_HOUR, timedelta(hours=1))
    if limit.blocked(cmd.account.key, now):
        raise InvalidInput(f"you asked for {CODES_PER_HOUR} codes within an hour; please wait "
                           "a while, then ask again")
    limit.hit(cmd.account.key, now)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = now + CODE_LIFETIME
    with uow:
        uow.people.forget_codes(now - timedelta(days=1))
        uow.people.add_code(LinkCode(cmd.account, code_hash(code), now, expires))
        uow.commit()
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    sent = platform.send_dm(cmd.account, (
        f"Your code to link your accounts: {format_code(code)}\n"
        f"Within {minutes} minutes, give it to the desk from your other account: `/coc link "
        f"{format_code(code)}` on Slack or Discord, or `!coc link {format_code(code)}` in a "
        "direct message on Matrix. The admins then see your accounts as one person. If you "
        "did not ask for this, ignore it: nothing is linked without the code."))
    if sent.status is not EffectStatus.DONE:
        raise InvalidInput("the desk could not write to you privately just now; please try "
                           "again in a moment")
    return expires


def link_by_code(cmd: commands.LinkByCode, uow: UnitOfWork, desk: Desk) -> tuple[PersonRef, ...]:
    """Link this account with the one the code was sent to; refused clearly when the code is
    wrong, expired or used. Wrong tries are limited per account."""
    now = desk.clock.now()
    check_text(cmd.code, "the code", 100)
    tries = RateLimit(lambda: uow, "link-try", TRIES_PER_WINDOW, CODE_LIFETIME)
    if tries.blocked(cmd.account.key, now):
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        raise InvalidInput(f"too many codes that did not work; please wait {minutes} minutes, "
                           "then ask for a new code", field="code")
    try:
        with uow:
            found = uow.people.code_by_hash(code_hash(cmd.code))
            if found is None:
                raise InvalidInput("that is not a code the desk sent; check it, or ask for a "
                                   "new one from your other account", field="code")
            found.check(cmd.account, now)
            assert found.id is not None
            if not uow.people.use_code(found.id, now):
                raise InvalidInput("that code was used already; each code links once",
                                   field="code")
            accounts = (found.account, cmd.account)
            _check_own(uow, desk, None, {r for a in accounts for r in uow.people.linked(a)},
                       "links")
            _check_size(uow, accounts)
            uow.people.link(accounts, now, cmd.account.key)
            person = uow.people.linked(cmd.account)
            audit(uow, now, cmd.account.key, "person.linked",
                  f"{found.account} and {cmd.account} linked as one person by a one-time code",
                  None, accounts=[str(a) for a in person])
            uow.commit()
    except InvalidInput:
        tries.hit(cmd.account.key, now)
        raise
    return person


# -- act once, enforce everywhere -------------------------------------------------------------


def scope_of(policy: Policy, step: Step) -> Scope:
    """The scope of the step's rung (a rung no longer in the policy: this platform only)."""
    if step.action not in SCOPED:
        return Scope.PLATFORM
    index = policy.index_of(step.rung)
    return policy.ladder[index].scope if index is not None else Scope.PLATFORM


def plan_elsewhere(uow: UnitOfWork, desk: Desk, case_id: int, subject: PersonRef,
                   step: Step, now: datetime) -> int:
    """In the transaction that records the step's outcome: one pending effect for each
    account linked to the subject (once per account). Returns how many were planned."""
    if step.status not in (StepStatus.DONE, StepStatus.MANUAL) \
            or scope_of(desk.policy, step) is not Scope.EVERYWHERE:
        return 0
    assert step.id is not None
    planned = 0
    for account in uow.people.linked(subject)[1:]:
        if account.platform in NOT_CHAT:
            continue
        if uow.people.add_effect(StepEffect(step.id, case_id, account, step.action,
                                            EffectTarget.APPLY, TargetStatus.PENDING, now)):
            planned += 1
    return planned


def carry_out_elsewhere(uow: UnitOfWork, desk: Desk, case_id: int, step_id: int,
                        target: EffectTarget) -> list[StepEffect]:
    """Carry out the pending effects of a step (or of its giving back) on the linked accounts,
    outside any transaction; each recorded on its own and audited. Returns those not done."""
    with uow:
        pending = [e for e in uow.people.step_effects(case_id, step_id)
                   if e.target is target and e.status is TargetStatus.PENDING]
        case = uow.cases.get(case_id)
    step = case.step(step_id)
    undone = []
    for e in pending:
        effect = _act(desk, e, step.until)
        now = desk.clock.now()
        done = replace(e, status=_TARGET_STATUS[effect.status], at=now, detail=effect.detail)
        with uow:
            uow.people.save_effect(done)
            what = _WORDS.get(e.action, str(e.action))
            verb = "given back" if target is EffectTarget.RESTORE else "carried out"
            audit(uow, now, DESK, f"step.elsewhere.{done.status}",
                  f"{what} {verb} on {e.account}: {done.status}", case_id, step_id=step_id,
                  detail=effect.detail)
            kept = uow.cases.get(case_id, lock=True)
            kept.events.append(events.StepUpdated(case_id, step_id))
            uow.cases.save(kept)
            uow.commit()
        if done.status is not TargetStatus.DONE:
            undone.append(done)
    return undone


def plan_give_back(uow: UnitOfWork, case_id: int, step_id: int, now: datetime) -> int:
    """One pending giving back for each linked account the step reached, once."""
    planned = 0
    with uow:
        for e in applied_to(uow.people.step_effects(case_id, step_id)):
            if uow.people.add_effect(replace(e, target=EffectTarget.RESTORE,
                                             status=TargetStatus.PENDING, at=now, detail="",
                                             id=None)):
                planned += 1
        uow.commit()
    return planned


def _act(desk: Desk, e: StepEffect, until: datetime | None) -> Effect:
    """One platform call for one linked account; never raises for the platform's errors."""
    platform = desk.platforms.get(e.account.platform)
    restoring = e.target is EffectTarget.RESTORE
    if platform is None:
        verb = "give back" if restoring else _WORDS.get(e.action, str(e.action))
        return Effect.manual(f"The desk is not connected to {e.account.platform}; please "
                             f"{verb} {e.account.user_id} there by hand.")
    try:
        if restoring and e.action is Action.BAN:
            unban = getattr(platform, "unban", None)
            if callable(unban):
                result: Effect = unban(e.account)
                return result
            return Effect.manual(f"Lift the ban on {e.account.user_id} on {platform.name} by "
                                 "hand.")
        if restoring:
            if Capability.RESTORE in platform.capabilities:
                return platform.restore(e.account)
            return Effect.manual(platform.manual_instructions(Action.RESTORE, e.account, None,
                                                              None))
        capability = Capability.SUSPEND if e.action is Action.SUSPEND else Capability.BAN
        if capability not in platform.capabilities:
            return Effect.manual(platform.manual_instructions(e.action, e.account, None, until))
        if e.action is Action.SUSPEND:
            return platform.suspend(e.account, until or desk.clock.now())
        return platform.ban(e.account)
    except DeskError as exc:  # a platform refusing in its own words: recorded, not lost
        return Effect.failed(str(exc), retryable=False)


def audit(uow: UnitOfWork, at: datetime, actor: str, kind: str, summary: str,
          case_id: int | None, **detail: Any) -> None:
    uow.audit.append_all([AuditEntry(at=at, actor=actor, kind=kind, summary=summary,
                                     case_id=case_id,
                                     detail={k: v for k, v in detail.items() if v})])
