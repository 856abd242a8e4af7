"""Email notices: each admin's address and the kinds of email they chose.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("admins", sa.Column("email", sa.String(254)))
    op.add_column("admins", sa.Column("email_kinds", sa.JSON, nullable=False,
                                      server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("admins") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("email_kinds")
        batch.drop_column("email")
