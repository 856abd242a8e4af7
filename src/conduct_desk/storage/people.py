"""Linked accounts, the codes members link them with, and what a step did on each linked
account, over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from conduct_desk.domain.identities import (
    EffectTarget,
    LinkCode,
    StepEffect,
    TargetStatus,
)
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Action
from conduct_desk.storage import tables as t

_L = t.person_links.c


def about_any(platform: sa.ColumnElement[str], user_id: sa.ColumnElement[str],
              accounts: Iterable[PersonRef]) -> sa.ColumnElement[bool]:
    """SQL: the columns name one of ``accounts``."""
    return sa.or_(*(sa.and_(platform == a.platform, user_id == a.user_id) for a in accounts))


class SqlPeople:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # each account's links, read once per transaction (a case page asks for them often);
        # forgotten when this transaction links or unlinks accounts
        self._linked_of: dict[PersonRef, tuple[PersonRef, ...]] = {}

    # -- links ---------------------------------------------------------------------------
    def linked(self, account: PersonRef) -> tuple[PersonRef, ...]:
        """The account, then every account linked to the same person (oldest link first)."""
        if account not in self._linked_of:
            person = sa.select(_L.person_id).where(
                _L.platform == account.platform, _L.user_id == account.user_id).scalar_subquery()
            rows = self.conn.execute(sa.select(_L.platform, _L.user_id)
                                     .where(_L.person_id == person).order_by(_L.id))
            self._linked_of[account] = (account, *(r for r in (PersonRef(p, u) for p, u in rows)
                                                   if r != account))
        return self._linked_of[account]

    def linked_many(self, accounts: Iterable[PersonRef]) -> dict[PersonRef, tuple[PersonRef, ...]]:
        wanted = list(dict.fromkeys(accounts))
        if not wanted:
            return {}
        own = {(r.platform, r.user_id): r.person_id for r in self.conn.execute(
            sa.select(_L.platform, _L.user_id, _L.person_id)
            .where(about_any(_L.platform, _L.user_id, wanted)))}
        members: dict[int, list[PersonRef]] = {}
        if own:
            for r in self.conn.execute(sa.select(_L.person_id, _L.platform, _L.user_id)
                                       .where(_L.person_id.in_(set(own.values())))
                                       .order_by(_L.id)):
                members.setdefault(r.person_id, []).append(PersonRef(r.platform, r.user_id))
        found = {}
        for a in wanted:
            pid = own.get((a.platform, a.user_id))
            others = [m for m in members.get(pid, []) if m != a] if pid is not None else []
            found[a] = (a, *others)
        return found

    def person_id(self, account: PersonRef) -> int | None:
        return self.conn.execute(sa.select(_L.person_id).where(
            _L.platform == account.platform, _L.user_id == account.user_id)).scalar()

    def link(self, accounts: tuple[PersonRef, ...], at: datetime, by: str) -> bool:
        """Make the accounts one person (merging the people they belonged to); False when
        they were one person already."""
        self._linked_of.clear()
        pids = sorted({p for a in accounts if (p := self.person_id(a)) is not None})
        if pids:
            person = pids[0]
            if len(pids) > 1:  # two people become one
                self.conn.execute(t.person_links.update().where(_L.person_id.in_(pids[1:]))
                                  .values(person_id=person))
                self.conn.execute(t.people.delete().where(t.people.c.id.in_(pids[1:])))
        else:
            person = self.conn.execute(t.people.insert().values(created_at=at, created_by=by)
                                       .returning(t.people.c.id)).scalar_one()
        added = [a for a in dict.fromkeys(accounts) if self.person_id(a) is None]
        if added:
            self.conn.execute(t.person_links.insert(), [
                {"person_id": person, "platform": a.platform, "user_id": a.user_id,
                 "linked_at": at, "linked_by": by} for a in added])
        return bool(added) or len(pids) > 1

    def unlink(self, account: PersonRef) -> tuple[PersonRef, ...]:
        """Take the account out of its person; returns the accounts it was linked to. A
        person left with one account is no person any more."""
        self._linked_of.clear()  # read the links afresh: they decide what goes
        person = self.person_id(account)
        if person is None:
            return ()
        others = self.linked(account)[1:]
        self.conn.execute(t.person_links.delete().where(
            _L.platform == account.platform, _L.user_id == account.user_id))
        if len(others) <= 1:
            self.conn.execute(t.person_links.delete().where(_L.person_id == person))
            self.conn.execute(t.people.delete().where(t.people.c.id == person))
        self._linked_of.clear()  # after the read above, which kept the links as they were
        return others

    # -- codes ---------------------------------------------------------------------------
    def add_code(self, code: LinkCode) -> int:
        return int(self.conn.execute(t.link_codes.insert().values(
            code_hash=code.code_hash, platform=code.account.platform,
            user_id=code.account.user_id, created_at=code.created_at,
            expires_at=code.expires_at).returning(t.link_codes.c.id)).scalar_one())

    def code_by_hash(self, code_hash: str) -> LinkCode | None:
        c = t.link_codes.c
        row = self.conn.execute(sa.select(t.link_codes).where(c.code_hash == code_hash)
                                .with_for_update()).mappings().first()
        if row is None:
            return None
        return LinkCode(PersonRef(row["platform"], row["user_id"]), row["code_hash"],
                        row["created_at"], row["expires_at"], row["used_at"], row["id"])

    def use_code(self, code_id: int, at: datetime) -> bool:
        """Mark the code used, once: False when another use got there first."""
        c = t.link_codes.c
        return bool(self.conn.execute(t.link_codes.update().where(
            c.id == code_id, c.used_at.is_(None)).values(used_at=at)).rowcount)

    def forget_codes(self, before: datetime) -> int:
        return int(self.conn.execute(t.link_codes.delete().where(
            t.link_codes.c.expires_at < before)).rowcount)

    # -- effects on linked accounts ------------------------------------------------------
    def step_effects(self, case_id: int, step_id: int | None = None) -> list[StepEffect]:
        e = t.step_effects.c
        query = sa.select(t.step_effects).where(e.case_id == case_id)
        if step_id is not None:
            query = query.where(e.step_id == step_id)
        return [_effect(r) for r in self.conn.execute(query.order_by(e.id)).mappings()]

    def add_effect(self, effect: StepEffect) -> StepEffect | None:
        """Record a pending effect, once per (step, account, target): None when one is there."""
        e = t.step_effects.c
        exists = self.conn.execute(sa.select(e.id).where(
            e.step_id == effect.step_id, e.platform == effect.account.platform,
            e.user_id == effect.account.user_id, e.target == str(effect.target))).first()
        if exists is not None:
            return None
        new_id = self.conn.execute(t.step_effects.insert().values(
            step_id=effect.step_id, case_id=effect.case_id, platform=effect.account.platform,
            user_id=effect.account.user_id, action=str(effect.action),
            target=str(effect.target), status=str(effect.status), at=effect.at,
            detail=effect.detail or None).returning(e.id)).scalar_one()
        return replace(effect, id=int(new_id))

    def save_effect(self, effect: StepEffect) -> None:
        self.conn.execute(t.step_effects.update().where(t.step_effects.c.id == effect.id)
                          .values(status=str(effect.status), at=effect.at,
                                  detail=effect.detail or None))


def _effect(r: RowMapping) -> StepEffect:
    return StepEffect(step_id=r["step_id"], case_id=r["case_id"],
                      account=PersonRef(r["platform"], r["user_id"]),
                      action=Action(r["action"]), target=EffectTarget(r["target"]),
                      status=TargetStatus(r["status"]), at=r["at"], detail=r["detail"] or "",
                      id=r["id"])
