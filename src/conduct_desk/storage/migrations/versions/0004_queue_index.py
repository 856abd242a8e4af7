"""The queue's index: open cases in the order the queue shows them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen here, as tables.py has it (tables.case_hurt, tables.case_due): PostgreSQL uses an
# expression index only for a query with the same expressions.
COLUMNS = [
    sa.text("flagrant DESC"),
    sa.text("(hurt > 0) DESC"),
    sa.text("(CASE WHEN taken_by IS NULL THEN take_due_at "
            "WHEN first_step_at IS NULL THEN step_due_at END)"),
    sa.text("opened_at"),
    sa.text("id"),
]


def upgrade() -> None:
    # Only open cases are in it, so it is small and quick to build even beside many old cases.
    op.create_index("ix_cases_queue", "cases", COLUMNS,
                    sqlite_where=sa.text("is_open = 1"), postgresql_where=sa.text("is_open"))


def downgrade() -> None:
    op.drop_index("ix_cases_queue", table_name="cases")
