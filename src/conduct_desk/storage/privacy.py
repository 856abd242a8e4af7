"""What the desk holds about a person, found, exported, erased; and texts past their retention.

Every text column the desk removes is one :class:`TextColumn` in :data:`TEXTS`; every place a
person's id is kept is handled in :class:`SqlPersonalData`. A new table that holds texts (a
``messages`` table, say) is one more entry in :data:`TEXTS`, and each way it names people (from,
to) one more entry in :data:`PEOPLE`: finding, exporting and erasing follow from the lists.

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
    TextColumn(t.reports, "hoped_for", TextKind.REPORT_TEXTS),
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
    TextColumn(t.timers, "error", TextKind.MESSAGES),  # a platform's error may name someone
    TextColumn(t.step_effects, "detail", TextKind.MESSAGES),
    # follow-ups: the admins' questions and messages, and the answers
    TextColumn(t.messages, "text", TextKind.MESSAGES),
)


@dataclass(frozen=True)
class PersonColumns:
    """One place a table names a person: its platform and id columns, and the column holding
    the id sealed when the person asked to stay anonymous.

    On erasure the id becomes the pseudonym when ``keep`` (a fact stays attached to someone:
    who was consulted, who a private word was about), or goes (with ``forget``'s further
    values); the person's words in ``texts`` are removed. ``export`` names the columns their
    export shows, under the key ``role``."""

    role: str
    table: sa.Table
    platform: str
    user_id: str
    export: tuple[str, ...]
    texts: tuple[str, ...] = ()
    sealed: str | None = None
    keep: bool = False
    forget: dict[str, Any] = field(default_factory=dict)

    def plain(self, person: PersonRef) -> ColumnElement[bool]:
        return sa.and_(self.table.c[self.platform] == person.platform,
                       self.table.c[self.user_id] == person.user_id)


_REPORTER = ("id", "case_id", "subject_platform", "subject_id", "anonymous")
PEOPLE: tuple[PersonColumns, ...] = (
    PersonColumns("reports_they_made", t.reports, "reporter_platform", "reporter_id",
                  _REPORTER + ("filed_at", "source", "channel", "message_text", "message_link",
                               "note", "account", "hoped_for", "harmed", "flagrant"),
                  texts=("note", "account", "hoped_for"), sealed="reporter_sealed",
                  forget={"reporter_platform": None, "status_token": None}),
    PersonColumns("private_words_they_asked_for", t.nudges, "reporter_platform", "reporter_id",
                  _REPORTER + ("asked_at", "state", "channel", "message_text", "note",
                               "harmed"),
                  texts=("note",), sealed="reporter_sealed"),
    PersonColumns("private_words_to_them", t.nudges, "subject_platform", "subject_id",
                  ("id", "case_id", "asked_at", "state", "channel", "message_text", "apology"),
                  texts=("message_text", "note", "apology"), keep=True,
                  forget={"message_id": "(erased)", "message_link": None}),
    PersonColumns("consultations_with_them", t.consultations, "person_platform", "person_id",
                  ("id", "case_id", "admin", "at", "summary"), texts=("summary",), keep=True),
    PersonColumns("messages_to_them", t.notices, "to_platform", "to_id",
                  ("id", "case_id", "platform", "kind", "purpose", "created_at", "sent_at",
                   "status", "text"),
                  texts=("text",), sealed="to_sealed",
                  # a notice that can no longer reach anyone is not waiting any more
                  forget={"last_error": None, "status": sa.case(
                      (t.notices.c.status == str(NoticeStatus.PENDING), str(NoticeStatus.FAILED)),
                      else_=t.notices.c.status)}),
    # one person across platforms: the links stay (under the pseudonym), so a step taken
    # everywhere still counts for every account if they come back
    PersonColumns("accounts_linked", t.person_links, "platform", "user_id",
                  ("id", "person_id", "linked_at"), keep=True),
    PersonColumns("link_codes_sent", t.link_codes, "platform", "user_id",
                  ("id", "created_at", "expires_at", "used_at"), keep=True),
    PersonColumns("steps_on_linked_accounts", t.step_effects, "platform", "user_id",
                  ("id", "case_id", "step_id", "action", "target", "status", "at", "detail"),
                  texts=("detail",), keep=True),
)


def _still_there(col: sa.Column[Any]) -> ColumnElement[bool]:
    return sa.and_(col.is_not(None), col != "", sa.not_(col.startswith(MARKER_PREFIX)))


def _json_text(col: sa.Column[Any]) -> ColumnElement[str]:
    return sa.cast(col, sa.Text)


def _like(col: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
    return col.contains(needle, autoescape=True)


@dataclass
class Found:
    """Where a person is in the database: row ids per place (see :data:`PEOPLE`)."""

    about: list[int] = field(default_factory=list)  # cases about them
    rows: dict[str, list[int]] = field(default_factory=dict)  # PersonColumns.role -> ids
    hurt_in: list[int] = field(default_factory=list)  # reports naming them as hurt
    audit: list[int] = field(default_factory=list)  # entries naming them
    accounts: list[int] = field(default_factory=list)
    unchecked: int = 0  # sealed ids that could not be opened (no key)

    @property
    def anything(self) -> bool:
        return any((self.about, *self.rows.values(), self.hurt_in, self.audit, self.accounts))


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
    def _sealed_ids(self, place: PersonColumns, person: PersonRef, found: Found) -> list[int]:
        if place.sealed is None:
            return []
        column = place.table.c[place.sealed]
        rows = self.conn.execute(sa.select(place.table.c.id, column)
                                 .where(column.is_not(None))).all()
        if rows and self.sealer is None:
            found.unchecked += len(rows)
            return []
        assert self.sealer is not None or not rows
        return [r[0] for r in rows if self.sealer is not None and self.sealer.open(r[1]) == person]

    def find(self, person: PersonRef, aliases: Iterable[PersonRef] = (), *,
             sealed: bool = True) -> Found:
        """Every row that names ``person`` (or, for cases about them, one of ``aliases``:
        their pseudonym once erased); without ``sealed``, none that names them only sealed
        (what they did anonymously)."""
        found = Found()
        who = [person, *aliases]

        def ids(query: Any) -> list[int]:
            return sorted({int(i) for i in self.conn.execute(query).scalars()})

        c = t.cases.c
        found.about = ids(sa.select(c.id).where(sa.or_(*(
            sa.and_(c.subject_platform == p.platform, c.subject_id == p.user_id) for p in who))))
        for place in PEOPLE:
            found.rows[place.role] = sorted(
                set(ids(sa.select(place.table.c.id).where(place.plain(person))))
                | set(self._sealed_ids(place, person, found) if sealed else ()))
        r = t.reports.c
        found.hurt_in = ids(sa.select(r.id).where(_like(_json_text(r.harmed), person.key)))
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
    def exported(self, found: Holdings) -> dict[str, list[dict[str, Any]]]:
        """The rows of each place that names them, with the columns their export shows."""
        return {place.role: self.rows(place.table.name, found.rows.get(place.role, []),
                                      place.export) for place in PEOPLE}

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
        for place in PEOPLE:
            row_ids = found.rows.get(place.role, [])
            if not row_ids:
                continue
            which = place.table.c.id.in_(row_ids)
            for name in place.texts:
                done[_spec(place.table, name).kind.value] += self._replace(
                    _spec(place.table, name), which, marker, narrow=False)
            values: dict[str, Any] = dict(place.forget)
            values[place.user_id] = stand_in.user_id if place.keep else None
            if place.sealed is not None:
                values[place.sealed] = None
            self.conn.execute(place.table.update().where(which).values(values))
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
    def expiring_window(self, after: int, cutoff: datetime, cases: int) -> int | None:
        """The id of the ``cases``-th case after ``after`` (by id) resolved before
        ``cutoff``, or the last one when fewer are left; None when none is."""
        c = t.cases.c
        ids = (sa.select(c.id).where(c.is_open == sa.false(), c.resolved_at <= cutoff,
                                     c.id > after).order_by(c.id).limit(cases).subquery())
        last = self.conn.execute(sa.select(sa.func.max(ids.c.id))).scalar()
        return None if last is None else int(last)

    def expire(self, cutoffs: dict[TextKind, datetime], markers: dict[TextKind, str],
               window: tuple[int, int] | None = None) -> dict[int | None, Counter[TextKind]]:
        """Replace every text of each kind on cases resolved before that kind's cutoff (and
        of private words that ended, with no case, before it) by the kind's marker; with a
        ``window`` (``after``, ``upto``), only on the cases whose id is in it (and the
        private words with no case only in the first window, ``after`` 0). Returns what
        went, per case (None: not on a case)."""
        out: dict[int | None, Counter[TextKind]] = {}
        c = t.cases.c
        for spec in TEXTS:
            cutoff = cutoffs[spec.kind]
            resolved = sa.select(c.id).where(c.is_open == sa.false(), c.resolved_at <= cutoff)
            if window is not None:
                resolved = resolved.where(c.id > window[0], c.id <= window[1])
            conds = [spec.case_col().in_(resolved.scalar_subquery()), _still_there(spec.col)]
            if spec.where is not None:
                conds.append(spec.where())
            if spec.table is t.nudges and (window is None or window[0] == 0):
                # a private word that never became a case
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


__all__ = ["PEOPLE", "TEXTS", "Found", "PersonColumns", "SqlPersonalData", "TextColumn",
           "is_marker", "text_columns"]
