"""Nudges keep what the reporter gave besides the message: a note, the people hurt, and
"keep me anonymous", for the case that opens if no apology or edit comes.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("nudges", sa.Column("note", sa.Text))
    op.add_column("nudges", sa.Column("harmed", sa.JSON, nullable=False, server_default="[]"))
    op.add_column("nudges", sa.Column("anonymous", sa.Boolean, nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("nudges") as batch:
        batch.drop_column("anonymous")
        batch.drop_column("harmed")
        batch.drop_column("note")
