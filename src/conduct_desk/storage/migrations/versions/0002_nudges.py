"""Peer nudges: a reporter asks the desk to raise a message privately with its author first.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen: the table as this revision made it (0006 adds the reporter's note and more).
    op.create_table(
        "nudges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject_platform", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(255), nullable=False),
        sa.Column("reporter_platform", sa.String(64), nullable=False),
        sa.Column("reporter_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(2000), nullable=False),
        sa.Column("message_id", sa.String(2000), nullable=False),
        sa.Column("message_text", sa.Text),
        sa.Column("message_link", sa.String(2000)),
        sa.Column("asked_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("answer", sa.String(16)),
        sa.Column("case_id", sa.Integer),
    )
    op.create_index("ix_nudges_message", "nudges",
                    ["subject_platform", "subject_id", "channel", "message_id"])


def downgrade() -> None:
    op.drop_table("nudges")
