"""The queue's search on PostgreSQL: words in reports (GIN on a tsvector) and a person by the
start of their id, each an index lookup at a million cases rather than a scan.

SQLite gets neither: its search reads every report (the embedded desk's sizes allow it).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Frozen here, as tables.py has them (tables.report_words, tables.subject_lower): PostgreSQL
# uses an expression index only for a query with the same expression.
WORDS = ("to_tsvector('simple', coalesce(message_text, '') || ' ' || coalesce(note, '') "
         "|| ' ' || coalesce(account, ''))")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"CREATE INDEX ix_reports_words ON reports USING gin ({WORDS})")
    # text_pattern_ops: a prefix (LIKE 'sam%') uses it whatever the database's collation
    op.execute("CREATE INDEX ix_cases_subject_lower ON cases (lower(subject_id) text_pattern_ops)")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_cases_subject_lower")
    op.execute("DROP INDEX ix_reports_words")
