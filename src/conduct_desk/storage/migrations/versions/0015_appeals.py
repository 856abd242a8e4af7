"""Appeals: a case's appeal deadline, and steps set aside on appeal.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("appeal_due_at", UTCDateTime))
    op.add_column("steps", sa.Column("overturned_at", UTCDateTime))
    op.create_index("ix_cases_appeal_due", "cases", ["appeal_due_at"],
                    sqlite_where=sa.text("appeal_due_at IS NOT NULL"),
                    postgresql_where=sa.text("appeal_due_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_cases_appeal_due", table_name="cases")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("overturned_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("appeal_due_at")
