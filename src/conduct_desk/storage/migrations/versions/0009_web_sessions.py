"""Server-side web sessions: signing out or changing a password ends them at once.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("admin_id", sa.Integer, sa.ForeignKey("admins.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("failed_signins", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_web_sessions_admin_id", "web_sessions", ["admin_id"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_admin_id", table_name="web_sessions")
    op.drop_table("web_sessions")
