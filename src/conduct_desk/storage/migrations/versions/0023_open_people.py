"""Open cases by state and person, in one small index: the queue's total and the header's
count of untaken cases (both leaving out the cases about the admin reading) read this index
alone instead of every open case's row.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_open_people", "cases", ["state", "subject_platform", "subject_id"],
                    sqlite_where=sa.text("is_open = 1"), postgresql_where=sa.text("is_open"))


def downgrade() -> None:
    op.drop_index("ix_cases_open_people", "cases")
