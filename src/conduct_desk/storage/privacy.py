"""What the desk holds about a person, found, exported, erased; and texts past their retention.

Every text column the desk removes is one :class:`TextColumn` in :data:`TEXTS`; every place a
person's id is kept is handled in :class:`SqlPersonalData`. A new table that holds texts (a
``messages`` table, say) is one more entry in :data:`TEXTS`, and if it names people, one more
entry in :data:`PERSON_COLUMNS`.

The facts safety needs are never touched here: the cases, their state, outcome, dates and
counts, the steps' rungs, actions, statuses and dates (a ban or a suspension stays on record).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from conduct_desk.domain.model import NoteKind
from conduct_desk.domain.notices import NoticeStatus
from conduct_desk.domain.nudges import NudgeState
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.privacy import MARKER_PREFIX, TextKind, is_marker
from conduct_desk.service.ports import Holdings
from conduct_desk.storage import tables as t
from conduct_desk.storage.repository import REDACTED_ACTOR
from conduct_desk.storage.sealing import Sealer

SALT_NAME = "erasure-salt"  # in web_secrets: the salt of erased people's pseudonyms

# notes whose text is a name the desk works with (who stepped aside, who was hurt), not words
STRUCTURAL_NOTES = (str(NoteKind.RECUSED), str(NoteKind.HURT_CONFIRMED))
# notes that are messages: the subject's own words, and the decisions sent to them
MESSAGE_NOTES = tuple(str(k) for k in (
    NoteKind.REPLY, NoteKind.APPEAL, NoteKind.APOLOGY, NoteKind.APPEAL_UPHELD,
    NoteKind.APPEAL_OVERTURNED, NoteKind.APPEAL_CHANGED))


@dataclass(frozen=True)
class TextColumn:
    """One column of texts the desk removes on time or on erasure.

    ``case_id`` is the column naming the row's case; ``where`` narrows the rows (e.g. only
    some kinds of note); ``also`` are further values set when the text goes."""

    table: sa.Table
    column: str
    kind: TextKind
    case_id: str = "case_id"
    where: Callable[[], ColumnElement[bool]] | None = None
    also: dict[str, Any] = field(default_factory=dict)

    @property
    def col(self) -> sa.Column[Any]:
        return self.table.c[self.column]

    def case_col(self) -> sa.Column[Any]:
        return self.table.c[self.case_id]


TEXTS: tuple[TextColumn, ...] = (
    # what reporters wrote and the words quoted
    TextColumn(t.reports, "message_text", TextKind.REPORT_TEXTS, also={"said_from": None}),
    TextColumn(t.reports, "note", TextKind.REPORT_TEXTS),
    TextColumn(t.reports, "account", TextKind.REPORT_TEXTS),
    TextColumn(t.nudges, "message_text", TextKind.REPORT_TEXTS),
    TextColumn(t.nudges, "note", TextKind.REPORT_TEXTS),
    TextColumn(t.nudges, "apology", TextKind.REPORT_TEXTS),
    # the admins' words
    TextColumn(t.notes, "text", TextKind.NOTES,
               where=lambda: t.notes.c.kind.not_in(STRUCTURAL_NOTES + MESSAGE_NOTES)),
    TextColumn(t.consultations, "summary", TextKind.NOTES),
    TextColumn(t.steps, "reason", TextKind.NOTES),
    TextColumn(t.cases, "outcome_reason", TextKind.NOTES, case_id="id"),
    # what the desk sent to people, and what they wrote back
    TextColumn(t.steps, "text", TextKind.MESSAGES),
    TextColumn(t.steps, "detail", TextKind.MESSAGES),
    TextColumn(t.notes, "text", TextKind.MESSAGES,
               where=lambda: t.notes.c.kind.in_(MESSAGE_NOTES)),
    TextColumn(t.notices, "text", TextKind.MESSAGES,
               where=lambda: t.notices.c.status != str(NoticeStatus.PENDING)),
    TextColumn(t.notices, "last_error", TextKind.MESSAGES),
)


def _still_there(col: sa.Column[Any]) -> ColumnElement[bool]:
    return sa.and_(col.is_not(None), col != "", sa.not_(col.startswith(MARKER_PREFIX)))


def _json_text(col: sa.Column[Any]) -> ColumnElement[str]:
    return sa.cast(col, sa.Text)


def _like(col: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
    return col.contains(needle, autoescape=True)


@dataclass
class Found:
    """Where a person is in the database: row ids per role."""

    about: list[int] = field(default_factory=list)  # cases about them
    reported: list[int] = field(default_factory=list)  # reports they filed (plain or sealed)
    nudged_about: list[int] = field(default_factory=list)
    nudged_by: list[int] = field(default_factory=list)
    notices_to: list[int] = field(default_factory=list)
    consulted: list[int] = field(default_factory=list)
    hurt_in: list[int] = field(default_factory=list)  # reports naming them as hurt
    audit: list[int] = field(default_factory=list)  # entries naming them
    accounts: list[int] = field(default_factory=list)
    unchecked: int = 0  # sealed ids that could not be opened (no key)

    @property
    def anything(self) -> bool:
        return any((self.about, self.reported, self.nudged_about, self.nudged_by,
                    self.notices_to, self.consulted, self.hurt_in, self.audit, self.accounts))


class SqlPersonalData:
    """Finds, exports and erases a person's data; removes texts past their retention."""

    def __init__(self, conn: Connection, sealer: Sealer | None = None) -> None:
        self.conn = conn
        self.sealer = sealer

    # -- the salt --------------------------------------------------------------------------
    def salt(self) -> bytes:
        """The pseudonyms' salt, made the first time a person is erased."""
        query = sa.select(t.web_secrets.c.value).where(t.web_secrets.c.name == SALT_NAME)
        value = self.conn.execute(query).scalar()
        if value is None:
            self.conn.execute(t.web_secrets.insert().values(name=SALT_NAME,
                                                            value=secrets.token_hex(32)))
            value = self.conn.execute(query).scalar_one()
        return bytes.fromhex(str(value))

    # -- finding ---------------------------------------------------------------------------
    def _sealed_ids(self, table: sa.Table, column: str, person: PersonRef,
                    found: Found) -> list[int]:
        rows = self.conn.execute(sa.select(table.c.id, table.c[column])
                                 .where(table.c[column].is_not(None))).all()
        if rows and self.sealer is None:
            found.unchecked += len(rows)
            return []
        assert self.sealer is not None or not rows
        return [r[0] for r in rows if self.sealer is not None and self.sealer.open(r[1]) == person]

    def find(self, person: PersonRef, aliases: Iterable[PersonRef] = ()) -> Found:
        """Every row that names ``person`` (or, for cases about them, one of ``aliases``:
        their pseudonym once erased)."""
        found = Found()
        who = [person, *aliases]

        def ids(query: Any) -> list[int]:
            return sorted({int(i) for i in self.conn.execute(query).scalars()})

        c = t.cases.c
        found.about = ids(sa.select(c.id).where(sa.or_(*(
            sa.and_(c.subject_platform == p.platform, c.subject_id == p.user_id) for p in who))))
        r = t.reports.c
        found.reported = sorted(set(ids(sa.select(r.id).where(
            r.reporter_platform == person.platform, r.reporter_id == person.user_id)))
            | set(self._sealed_ids(t.reports, "reporter_sealed", person, found)))
        found.hurt_in = ids(sa.select(r.id).where(_like(_json_text(r.harmed), person.key)))
        n = t.nudges.c
        found.nudged_about = ids(sa.select(n.id).where(
            n.subject_platform == person.platform, n.subject_id == person.user_id))
        found.nudged_by = sorted(set(ids(sa.select(n.id).where(
            n.reporter_platform == person.platform, n.reporter_id == person.user_id)))
            | set(self._sealed_ids(t.nudges, "reporter_sealed", person, found)))
        o = t.notices.c
        found.notices_to = sorted(set(ids(sa.select(o.id).where(
            o.to_platform == person.platform, o.to_id == person.user_id)))
            | set(self._sealed_ids(t.notices, "to_sealed", person, found)))
        k = t.consultations.c
        found.consulted = ids(sa.select(k.id).where(
            k.person_platform == person.platform, k.person_id == person.user_id))
        a = t.audit.c
        found.audit = ids(sa.select(a.id).where(a.redacted == sa.false(), sa.or_(
            _like(a.actor, person.user_id), _like(a.summary, person.user_id),
            _like(_json_text(a.detail), person.user_id))))
        ad = t.admins.c
        found.accounts = ids(sa.select(ad.id).where(_like(_json_text(ad.identities), person.key)))
        return found

    # -- export ----------------------------------------------------------------------------
    def rows(self, table_name: str, ids: list[int],
             columns: Iterable[str]) -> list[dict[str, Any]]:
        """Some columns of some rows of a table, as dicts, in id order."""
        table = t.metadata.tables[table_name]
        if not ids:
            return []
        query = (sa.select(*(table.c[name] for name in columns)).where(table.c.id.in_(ids))
                 .order_by(table.c.id))
        return [dict(m) for m in self.conn.execute(query).mappings()]

    # -- erasure ---------------------------------------------------------------------------
    def erase(self, person: PersonRef, stand_in: PersonRef, found: Holdings,
              marker: str) -> Counter[str]:
        """Erase ``person``: ids become ``stand_in`` where a fact must stay attached to
        someone (a case about them, a hurt person, a consultation), or go; their texts become
        ``marker``; audit entries naming them are redacted (their hashes kept)."""
        done: Counter[str] = Counter()
        about = found.about
        if about:
            # every text on the cases about them: the words quoted, the reports, the notes,
            # the messages; the facts stay
            for spec in TEXTS:
                done[spec.kind.value] += self._replace(spec, spec.case_col().in_(about), marker)
            c = t.cases.c
            self.conn.execute(t.cases.update().where(c.id.in_(about)).values(
                subject_id=stand_in.user_id, subject_token=None, message_id=None))
            r = t.reports.c
            self.conn.execute(t.reports.update().where(r.case_id.in_(about)).values(
                subject_id=stand_in.user_id, message_id=None, message_link=None))
            done["cases pseudonymised"] += len(about)
        n = t.nudges.c
        if found.nudged_about:
            for name in ("message_text", "note", "apology"):
                done[TextKind.REPORT_TEXTS.value] += self._replace(
                    _spec(t.nudges, name), n.id.in_(found.nudged_about), marker)
            self.conn.execute(t.nudges.update().where(n.id.in_(found.nudged_about)).values(
                subject_id=stand_in.user_id, message_id=marker, message_link=None))
        if found.reported:
            r = t.reports.c
            for name in ("note", "account"):
                done[TextKind.REPORT_TEXTS.value] += self._replace(
                    _spec(t.reports, name), r.id.in_(found.reported), marker)
            self.conn.execute(t.reports.update().where(r.id.in_(found.reported)).values(
                reporter_platform=None, reporter_id=None, reporter_sealed=None,
                status_token=None))
            done["reports unnamed"] += len(found.reported)
        if found.nudged_by:
            done[TextKind.REPORT_TEXTS.value] += self._replace(
                _spec(t.nudges, "note"), n.id.in_(found.nudged_by), marker)
            self.conn.execute(t.nudges.update().where(n.id.in_(found.nudged_by)).values(
                reporter_id=None, reporter_sealed=None))
        if found.notices_to:
            o = t.notices.c
            done[TextKind.MESSAGES.value] += self._replace(
                _spec(t.notices, "text"), o.id.in_(found.notices_to), marker)
            self.conn.execute(t.notices.update().where(o.id.in_(found.notices_to)).values(
                to_id=None, to_sealed=None, last_error=None))
            self.conn.execute(t.notices.update().where(
                o.id.in_(found.notices_to), o.status == str(NoticeStatus.PENDING)).values(
                status=str(NoticeStatus.FAILED)))
        if found.consulted:
            k = t.consultations.c
            done[TextKind.NOTES.value] += self._replace(
                _spec(t.consultations, "summary"), k.id.in_(found.consulted), marker)
            self.conn.execute(t.consultations.update().where(k.id.in_(found.consulted))
                              .values(person_id=stand_in.user_id))
        self._rename_in_json(t.reports, "harmed", person, stand_in)
        self._rename_in_json(t.nudges, "harmed", person, stand_in)
        no = t.notes.c
        self.conn.execute(t.notes.update().where(no.by == person.key).values(by=stand_in.key))
        self.conn.execute(t.notes.update().where(no.kind == str(NoteKind.HURT_CONFIRMED),
                                                 no.text == person.key).values(text=stand_in.key))
        # any other text that names them (a line to the admins, a reason) goes as well
        for spec in TEXTS:
            done[spec.kind.value] += self._replace(spec, _like(spec.col, person.user_id), marker,
                                                   narrow=False)
        # the audit log: entries naming them and every entry of a case about them lose their
        # words; their place, time, kind and hash stay
        a = t.audit.c
        redact = set(found.audit)
        if about:
            redact |= set(self.conn.execute(sa.select(a.id).where(
                a.case_id.in_(about), a.redacted == sa.false())).scalars())
        if redact:
            done["audit entries redacted"] += int(self.conn.execute(
                t.audit.update().where(a.id.in_(sorted(redact)), a.redacted == sa.false())
                .values(actor=REDACTED_ACTOR, summary="(erased)", detail={}, redacted=True)
            ).rowcount)
        return done

    def _replace(self, spec: TextColumn, which: ColumnElement[bool], marker: str, *,
                 narrow: bool = True) -> int:
        conds = [which, _still_there(spec.col)]
        if narrow and spec.where is not None:
            conds.append(spec.where())
        result = self.conn.execute(spec.table.update().where(*conds)
                                   .values({spec.column: marker, **spec.also}))
        return int(result.rowcount)

    def _rename_in_json(self, table: sa.Table, column: str, person: PersonRef,
                        stand_in: PersonRef) -> None:
        col = table.c[column]
        for row_id, keys in self.conn.execute(sa.select(table.c.id, col).where(
                _like(_json_text(col), person.key))).all():
            renamed = [stand_in.key if k == person.key else k for k in keys or []]
            self.conn.execute(table.update().where(table.c.id == row_id)
                              .values({column: renamed}))

    # -- retention -------------------------------------------------------------------------
    def expire(self, cutoffs: dict[TextKind, datetime],
               markers: dict[TextKind, str]) -> dict[int | None, Counter[TextKind]]:
        """Replace every text of each kind on cases resolved before that kind's cutoff (and
        of private words that ended, with no case, before it) by the kind's marker. Returns
        what went, per case (None: not on a case)."""
        out: dict[int | None, Counter[TextKind]] = {}
        c = t.cases.c
        for spec in TEXTS:
            cutoff = cutoffs[spec.kind]
            resolved = sa.select(c.id).where(c.is_open == sa.false(), c.resolved_at <= cutoff)
            conds = [spec.case_col().in_(resolved.scalar_subquery()), _still_there(spec.col)]
            if spec.where is not None:
                conds.append(spec.where())
            if spec.table is t.nudges:  # a private word that never became a case
                n = t.nudges.c
                conds[0] = sa.or_(conds[0], sa.and_(
                    n.case_id.is_(None), n.state != str(NudgeState.WAITING), n.due_at <= cutoff))
            rows = self.conn.execute(spec.table.update().where(*conds)
                                     .values({spec.column: markers[spec.kind], **spec.also})
                                     .returning(spec.case_col())).scalars().all()
            for case_id in rows:
                out.setdefault(case_id, Counter())[spec.kind] += 1
        return out


def _spec(table: sa.Table, column: str) -> TextColumn:
    return next(s for s in TEXTS if s.table is table and s.column == column)


def text_columns() -> list[tuple[sa.Table, sa.Column[Any]]]:
    """Every column of every table that can hold words or names (for checks and tests)."""
    return [(table, col) for table in t.metadata.sorted_tables for col in table.columns
            if isinstance(col.type, sa.String | sa.Text | sa.JSON)]


__all__ = ["TEXTS", "Found", "SqlPersonalData", "TextColumn", "is_marker", "text_columns"]
