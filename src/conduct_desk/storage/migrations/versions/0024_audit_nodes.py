"""The audit tree's perfect subtrees of 256 leaves and up, kept: an inclusion proof (a
reporter's /r/TOKEN/proof) reads a few hundred rows instead of every leaf of the log. Derived
from the leaf hashes; the first proof after this migration fills it.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("first_id", sa.BigInteger),
        sa.Column("last_id", sa.BigInteger),
    )
    op.create_index("ix_audit_nodes_first_id", "audit_nodes", ["level", "first_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_nodes_first_id", "audit_nodes")
    op.drop_table("audit_nodes")
