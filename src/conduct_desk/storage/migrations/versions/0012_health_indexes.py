"""Indexes for ``/metrics``: each figure a range or index scan, not a scan of the table.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_cases_taken_at", "cases", ["taken_at"]),
    ("ix_cases_first_step_at", "cases", ["first_step_at"]),
    ("ix_steps_status_rung", "steps", ["status", "rung"]),
    ("ix_notices_status", "notices", ["status"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
