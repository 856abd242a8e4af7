"""Notices: what the desk promised to tell someone, kept until delivered or failed.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Integer),
        sa.Column("to_platform", sa.String(64)),
        sa.Column("to_id", sa.String(255)),
        sa.Column("to_sealed", sa.Text),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("reply_to", sa.String(2000)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_notices_case_id", "notices", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_notices_case_id", table_name="notices")
    op.drop_table("notices")
