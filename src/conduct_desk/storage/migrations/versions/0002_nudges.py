"""Peer nudges: a reporter asks the desk to raise a message privately with its author first.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from conduct_desk.storage.tables import metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=[metadata.tables["nudges"]])


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[metadata.tables["nudges"]])
