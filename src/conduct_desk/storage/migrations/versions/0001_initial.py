"""The first schema: cases, reports, steps, consultations, notes, timers, audit, cursors.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The audit log is append-only: the database itself refuses changes and deletions.
SQLITE_GUARDS = [
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
]
POSTGRES_GUARDS = [
    """CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
    """CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
       FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
]


# Frozen: the tables of this revision. Later revisions create their own tables.
TABLES = ("cases", "reports", "steps", "consultations", "notes", "timers", "audit", "cursors")
# Frozen too: the indexes of this revision. Later revisions add theirs, on these tables too,
# so this one does not use create_all (it would make every index the tables have today).
INDEXES = (
    "ix_cases_subject", "ix_cases_open_queue", "ux_cases_open_message", "ix_reports_case_id",
    "ix_reports_reporter", "ix_steps_case_id", "ix_consultations_case_id", "ix_notes_case_id",
    "ix_timers_case_id", "ix_timers_due", "ix_audit_at", "ix_audit_actor", "ix_audit_case_id",
)


# Columns later revisions add to these tables: this one must not make them.
LATER_COLUMNS = {"reports": ("said_from", "account",  # 0007
                             "reporter_sealed",  # 0008
                             "hoped_for"),  # 0018
                 "cases": ("appeal_due_at",),  # 0015
                 "steps": ("overturned_at",  # 0015
                           "giving_back_at"),  # 0020
                 "audit": ("leaf_hash", "redacted")}  # 0016


def _frozen(tables: list[sa.Table]) -> list[sa.Table]:
    """The tables as this revision made them: today's, less the columns added later."""
    frozen = sa.MetaData()
    return [sa.Table(t.name, frozen,
                     *(c._copy() for c in t.columns if c.name not in LATER_COLUMNS.get(t.name, ())),
                     *(sa.ForeignKeyConstraint([c.name for c in fk.columns],
                                               [e.target_fullname for e in fk.elements])
                       for fk in t.foreign_key_constraints))
            for t in tables]


def upgrade() -> None:
    bind = op.get_bind()
    tables = [table for table in metadata.sorted_tables if table.name in TABLES]
    for table in _frozen(tables):
        op.execute(sa.schema.CreateTable(table))
    for table in tables:
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            if index.name in INDEXES:
                op.execute(sa.schema.CreateIndex(index))
    for statement in SQLITE_GUARDS if bind.dialect.name == "sqlite" else POSTGRES_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_no_change ON audit")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    metadata.drop_all(bind, tables=[metadata.tables[name] for name in TABLES])
