"""Accounts without the command line: one-time setup and invitation links; each account's
time zone.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_invites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
        sa.Column("used_by", sa.String(200)),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("admins", sa.Column("time_zone", sa.String(64), nullable=False,
                                      server_default="UTC"))


def downgrade() -> None:
    with op.batch_alter_table("admins") as batch:
        batch.drop_column("time_zone")
    op.drop_table("account_invites")
