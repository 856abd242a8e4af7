"""Retention and erasure: the worker's sweep, ``conduct person export`` and ``… erase``.

The sweep replaces texts of resolved cases once the policy's [retention] span has passed
since the case was resolved; a case reopened before then keeps its texts (it is open), and
the span starts again when it is resolved again. Texts already removed stay removed.

Export gives everything the desk holds about a person, but never who reported them or what
reporters wrote about them (the trust model): the file can be handed to the person.

Erasure keeps what safety needs: a case about the person stays, with its steps (a ban, a
suspension, their dates and rungs), its outcome and its counts, under a stable pseudonym
(domain/privacy.py), so the ladder still counts them if they come back. A case about someone
else that they reported stays whole, without their name or their words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from conduct_desk.domain.accounts import Role
from conduct_desk.domain.errors import IllegalTransition, NotFound
from conduct_desk.domain.model import Case, NoteKind
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.domain.privacy import (
    ERASURE_MARKER,
    Erasure,
    TextKind,
    counted,
    pseudonym,
    retention_marker,
)
from conduct_desk.service import commands
from conduct_desk.service.handlers import DESK, Desk, audit
from conduct_desk.service.ports import UnitOfWork
from conduct_desk.service.roster import KnownAdmin
from conduct_desk.service.views import jsonable, known_admin

logger = logging.getLogger(__name__)

_NOUNS = {TextKind.REPORT_TEXTS.value: "report texts", TextKind.NOTES.value: "notes",
          TextKind.MESSAGES.value: "messages"}
# notes the person wrote or that record what they did (kept in their export)
_THEIR_NOTES = frozenset({NoteKind.REREAD, NoteKind.APPEAL, NoteKind.REPLY, NoteKind.APOLOGY})


RETENTION_WINDOW = 2000  # resolved cases one sweep transaction covers: short, so timers go between


@dataclass(frozen=True)
class Swept:
    removed: int  # texts removed
    after: int | None  # the last case id covered, to go on from; None: the sweep is done


def apply_retention(cmd: commands.ApplyRetention, uow: UnitOfWork, desk: Desk) -> Swept:
    """Remove the texts whose retention has passed; one audit entry per case, with counts
    only. A window of cases at a time, each in its own transaction: a long backlog (a first
    sweep over years of cases) is never one transaction that a restart would undo."""
    now = desk.clock.now()
    keep = desk.policy.retention
    kinds = list(TextKind)
    cutoffs = {k: now - keep.of(k.value) for k in kinds}
    markers = {k: retention_marker(keep.of(k.value).days) for k in kinds}
    after, removed = cmd.after, 0
    while True:
        with uow:
            upto = uow.personal.expiring_window(after, max(cutoffs.values()),
                                                cmd.cases or RETENTION_WINDOW)
            gone = uow.personal.expire(cutoffs, markers, (after, after if upto is None else upto))
            for case_id, counts in sorted(gone.items(), key=lambda kv: kv[0] or 0):
                spans = ", ".join(f"{keep.of(k.value).days} days for {_NOUNS[k.value]}"
                                  for k in kinds if counts.get(k))
                audit(uow, now, DESK, "retention.removed",
                      f"removed by the retention policy: {counted(counts)} (kept {spans} after "
                      "the case was resolved)", case_id,
                      **{k.value: counts[k] for k in kinds if counts.get(k)})
            uow.commit()
        total = sum(sum(c.values()) for c in gone.values())
        if total:
            logger.info("retention: %d texts removed in %d cases", total, len(gone))
        removed += total
        if upto is None:
            return Swept(removed, None)
        after = upto
        if cmd.cases:
            return Swept(removed, after)


def _admin(uow: UnitOfWork, desk: Desk, name: str) -> KnownAdmin:
    admin = known_admin(uow, desk, name)
    if not admin.role.includes(Role.ADMIN):
        raise IllegalTransition(f"{admin.name} is a {admin.role}; only an admin may export or "
                                "erase a person's data (--admin)")
    return admin


def _unknown(person: PersonRef) -> NotFound:
    return NotFound(f"the desk holds nothing about {person}; check the id (platform:user, "
                    "e.g. slack:U024BE7LH)")


def export_person(uow: UnitOfWork, desk: Desk, person: PersonRef, admin: str, *,
                  anonymous_too: bool = False) -> dict[str, Any]:
    """Everything the desk holds about ``person`` as JSON values; audited. What they did
    anonymously (reports, private words asked for, the desk's messages about those) is in it
    only with ``anonymous_too``, for a copy that goes to the person themselves: the admin
    who runs an export must not learn that way who reported anonymously."""
    who = _admin(uow, desk, admin)
    now = desk.clock.now()
    with uow:
        found = uow.personal.find(person, _aliases(uow, person), sealed=anonymous_too)
        if not found.anything:
            raise _unknown(person)
        p = uow.personal
        out: dict[str, Any] = {
            "person": person.key, "exported_at": now, "exported_by": who.name,
            "withheld": "who reported this person, and what reporters wrote about them, are "
                        "not included: the desk never gives a reporter away",
            "cases_about_them": [_case_about(uow.cases.get(i), person) for i in found.about],
            **p.exported(found),
            "named_as_hurt_in_reports": p.rows("reports", found.hurt_in, ("id", "case_id",
                                                                          "filed_at")),
            "audit_entries_naming_them": _audit_rows(uow, found.audit, set(found.about)),
            "accounts": p.rows("admins", found.accounts, (
                "id", "name", "role", "identities", "email", "time_zone", "created_at",
                "disabled")),
        }
        if not anonymous_too:
            out["anonymous"] = ("anything done anonymously is left out (reports, private words "
                                "asked for, and the desk's messages about them), so that this "
                                "export names no anonymous reporter; export again with "
                                "--anonymous-too for a copy that goes to the person themselves")
        elif found.unchecked:
            out["not_checked"] = (f"{found.unchecked} anonymous ids are sealed and no "
                                  "CONDUCT_SECRET_KEY is set, so they could not be matched")
        also = ", anonymous reports included, for the person themselves" if anonymous_too else ""
        audit(uow, now, who.name, "person.exported",
              f"{who.name} exported what the desk holds about {person}{also}")
        uow.commit()
    return dict(jsonable(out))


def _aliases(uow: UnitOfWork, person: PersonRef) -> list[PersonRef]:
    """The person's pseudonym, if anyone was ever erased (call inside a unit of work)."""
    return [pseudonym(uow.personal.salt(), person)]


def _case_about(case: Case, person: PersonRef) -> dict[str, Any]:
    """A case about them as they may see it: no reporter, no reporter's own words."""
    return {
        "id": case.id, "state": case.state, "opened_at": case.opened_at,
        "resolved_at": case.resolved_at, "outcome": case.outcome, "channel": case.channel,
        "message_id": case.message_id,
        "reports": [{"filed_at": r.filed_at, "words_said": r.words_said} for r in case.reports],
        "steps": [{"id": s.id, "rung": s.rung, "action": s.action, "status": s.status,
                   "recorded_at": s.recorded_at, "until": s.until, "restored_at": s.restored_at,
                   "set_aside_at": s.overturned_at, "text_sent": s.text} for s in case.steps],
        "their_notes": [{"kind": n.kind, "at": n.at, "text": n.text} for n in case.notes
                        if n.kind in _THEIR_NOTES and n.by in (person.key, case.subject.key)],
    }


def _audit_rows(uow: UnitOfWork, ids: list[int], about: set[int]) -> list[dict[str, Any]]:
    """Entries naming them; on a case about them the summary is held back (it may name a
    reporter)."""
    rows = uow.personal.rows("audit", ids, ("id", "at", "actor", "kind", "case_id", "summary"))
    for row in rows:
        if row["case_id"] in about:
            row["summary"] = "(held back: an entry on a case about this person may name a "\
                             "reporter)"
            row["actor"] = "(held back)"
    return rows


def erase_person(uow: UnitOfWork, desk: Desk, person: PersonRef, admin: str) -> Erasure:
    """Erase ``person``'s data (see the module's docstring for what stays); audited without
    naming them. Refused while a case about them is open: resolve it first."""
    who = _admin(uow, desk, admin)
    now = desk.clock.now()
    with uow:
        salt = uow.personal.salt()
        stand_in = pseudonym(salt, person)
        found = uow.personal.find(person)  # their own id only: once erased, nothing is left
        if not found.anything:
            raise _unknown(person)
        cases = [uow.cases.get(i, lock=True) for i in found.about]
        still_open = [c.id for c in cases if c.is_open]
        if still_open:
            raise IllegalTransition(
                f"case {', '.join(map(str, still_open))} about {person} is open; resolve it "
                "first (`conduct case resolve`), then erase")
        result = Erasure(person, stand_in)
        result.kept = _kept(cases, found.accounts, found.rows.get("reports_they_made", []))
        done = uow.personal.erase(person, stand_in, found, ERASURE_MARKER)
        for key, n in done.items():
            result.removed[_NOUNS.get(key, key)] += n
        audit(uow, now, who.name, "person.erased",
              f"{who.name} erased a person's data: " + "; ".join(result.lines()),
              pseudonym=stand_in.key, **{k: v for k, v in done.items() if v})
        uow.commit()
    logger.info("a person's data was erased by %s", who.name)
    return result


def _kept(cases: list[Case], accounts: list[int], reported: list[int]) -> list[str]:
    """What erasure keeps, and why, one line each."""
    kept = []
    for case in cases:
        lasting = [s for s in case.steps if s.counts and s.action in (Action.BAN, Action.SUSPEND)]
        why = ", ".join(f"a {'ban' if s.action is Action.BAN else 'suspension'} "
                        f"({s.rung}, {s.recorded_at:%Y-%m-%d})" for s in lasting)
        if why:
            kept.append(f"{why} in case {case.id} (safety: the ladder still counts it if "
                        "they come back), under a pseudonym")
        else:
            kept.append(f"case {case.id}: its steps, dates and outcome (the desk's record), "
                        "under a pseudonym")
    if reported:
        kept.append(f"{len(reported)} report(s) they made, without their name or words: the "
                    "cases belong to the people they were about and the others who reported")
    if accounts:
        kept.append("their admin account: disable it with `conduct admin disable`; an admin's "
                    "name stays on the steps they took")
    return kept
