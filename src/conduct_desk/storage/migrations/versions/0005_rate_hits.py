"""Rate limits shared by every process on the database: one row per counted attempt.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_hits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_rate_hits_key", "rate_hits", ["scope", "key_hash", "at"])


def downgrade() -> None:
    op.drop_index("ix_rate_hits_key", table_name="rate_hits")
    op.drop_table("rate_hits")
