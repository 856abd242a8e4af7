"""What would help the reporter: an optional answer kept with the report, for admins only.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("hoped_for", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("hoped_for")
