"""Email notices for the on-duty admins: new cases, deadline reminders, backup pages, appeals.

Each email is a notice in the outbox (:mod:`conduct_desk.service.notices`): kept until the mail
server takes it, tried again after a temporary refusal (4xx, a lost connection), failed for all
to see on the case after a permanent one (5xx). Who gets one:

- the admins on duty: the web accounts the policy names in ``[admins] on_duty`` (by account
  name or platform identity), or every account that may act when it names none;
- for a backup page, the accounts named in ``[admins] backup`` (the on-duty ones when none);
- for a reminder about a case someone holds, that admin;

and of those only accounts that are enabled, have an address, chose that kind of email, and
are not involved in the case (by their name, identities, or any account linked to those). An
email says what happened and links to the case; never the report's words nor who reported:
admins read those on the desk, behind sign-in.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from conduct_desk.domain.accounts import Account, name_key
from conduct_desk.domain.durations import humanize_span
from conduct_desk.domain.emails import EMAIL, EmailKind
from conduct_desk.domain.model import Case
from conduct_desk.domain.notices import Notice, NoticeKind, Purpose
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.service import notices as outbox
from conduct_desk.service import roster
from conduct_desk.service.ports import UnitOfWork

if TYPE_CHECKING:  # handlers imports this module: no import back at run time
    from conduct_desk.service.handlers import Desk

logger = logging.getLogger(__name__)

SETTINGS_PATH = "/settings/email"  # where an admin chooses their emails (web/routes/settings.py)


def on_duty(accounts: Iterable[Account], policy: Policy, kind: EmailKind,
            holder: str | None = None) -> list[Account]:
    """The accounts on duty for ``kind`` (see the module's docstring), disabled ones left out."""
    if kind is EmailKind.REMINDER and holder:
        names: tuple[str, ...] = (holder,)
    elif kind is EmailKind.BACKUP and policy.backup:
        names = policy.backup
    else:
        names = policy.on_duty
    keys = {name_key(n) for n in names}
    return [a for a in accounts if not a.disabled and (
        any(name_key(n) in keys for n in a.names) if keys else a.role.may_act)]


def recipients(accounts: Iterable[Account], policy: Policy, case: Case, kind: EmailKind,
               holder: str | None = None) -> list[str]:
    """The addresses to email about ``case``: on duty, chose ``kind``, not involved."""
    chosen = [a for a in on_duty(accounts, policy, kind, holder)
              if a.email and kind in a.email_kinds
              and not any(case.involves(n) for n in a.names)]
    return list(dict.fromkeys(a.email for a in chosen if a.email))


def with_linked(uow: UnitOfWork, admins: list[Account]) -> list[Account]:
    """Each account with the accounts linked to one of theirs among its identities: a case
    about any of them is one they are involved in (call inside a unit of work)."""
    grown = roster.with_links(uow, [roster.KnownAdmin(a.name, a.role, a.identities)
                                    for a in admins])
    return [dataclasses.replace(a, identities=k.aliases) if k.aliases != a.identities else a
            for a, k in zip(admins, grown, strict=True)]


def compose(kind: EmailKind, case: Case, waited: str, detail: str,
            base_url: str | None) -> str:
    """The email: its subject, a blank line, its body. Only the case number, the kind, how long
    it waited and a link: nothing of what was reported, nor by whom."""
    n = case.id
    subject, lead = {
        EmailKind.NEW_CASE: (f"Case {n}: a new case waits for an admin",
                             f"A new case ({n}) is open and nobody has taken it yet."
                             + (" It was reported as serious." if case.flagrant else "")),
        EmailKind.REMINDER: (f"Case {n}: reminder, {detail}",
                             f"Case {n} has waited {waited}: {detail}."),
        EmailKind.BACKUP: (f"Case {n}: you are paged as a backup admin",
                           f"Case {n} has waited {waited}: {detail}."),
        EmailKind.APPEAL: (f"Case {n}: the person it is about has appealed",
                           f"The person case {n} is about has appealed. Please read the appeal "
                           "on the desk and decide on it."),
    }[kind]
    if base_url:
        where = f"Open the case on the desk (sign in to read it):\n{base_url}/cases/{n}"
        choose = f" Change what you get here: {base_url}{SETTINGS_PATH}"
    else:
        where = f"Open case {n} from the desk's queue (sign in to read it)."
        choose = " Change what you get under Email notices on the desk."
    return (f"{subject}\n\n{lead}\n\n{where}\n\n-- \nYou get this because you chose "
            f"“{kind.label}” in your email notices.{choose} What was reported, and by whom, "
            "stays on the desk, behind sign-in.")


def email_admins(uow: UnitOfWork, desk: Desk, case_id: int | None, kind: EmailKind, *,
                 detail: str = "", holder: str | None = None) -> int:
    """Email the on-duty admins who chose ``kind`` about a case, each through the outbox;
    returns how many emails were promised. Nothing happens when no mail server is configured.
    Call it outside a transaction."""
    if desk.mailer is None or case_id is None:
        return 0
    with uow:
        case = uow.cases.get(case_id)
        addresses = recipients(with_linked(uow, uow.accounts.admins()), desk.policy, case, kind,
                               holder)
    if not addresses:
        return 0
    age = desk.clock.now() - case.opened_at
    waited = humanize_span(timedelta(minutes=max(1, round(age.total_seconds() / 60))))
    text = compose(kind, case, waited, detail, desk.base_url)
    for address in addresses:
        outbox.send(uow, desk, Notice(EMAIL, NoticeKind.EMAIL, text, to=PersonRef(EMAIL, address),
                                      case_id=case_id, purpose=Purpose.EMAIL))
    logger.info("case %s: %d email notice(s) (%s) to the admins on duty", case_id,
                len(addresses), kind)
    return len(addresses)
