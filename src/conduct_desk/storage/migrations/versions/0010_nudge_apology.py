"""Nudges keep what the author wrote that looked like an apology, and when: it no longer
closes the nudge, it is shown to the reporter and, if a case opens, to the admins.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("nudges", sa.Column("apology", sa.Text))
    op.add_column("nudges", sa.Column("apology_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("nudges") as batch:
        batch.drop_column("apology_at")
        batch.drop_column("apology")
