"""One person across platforms: people, their linked accounts, one-time link codes, and
what a step did on each linked account.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(300), nullable=False),
    )
    op.create_table(
        "person_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("linked_at", UTCDateTime, nullable=False),
        sa.Column("linked_by", sa.String(300), nullable=False),
        sa.UniqueConstraint("platform", "user_id", name="uq_person_links_account"),
    )
    op.create_index("ix_person_links_person_id", "person_links", ["person_id"])
    op.create_table(
        "link_codes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
    )
    op.create_table(
        "step_effects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("step_id", sa.Integer, sa.ForeignKey("steps.id"), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("detail", sa.Text),
        sa.UniqueConstraint("step_id", "platform", "user_id", "target",
                            name="uq_step_effects_target"),
    )
    op.create_index("ix_step_effects_step_id", "step_effects", ["step_id"])
    op.create_index("ix_step_effects_case_id", "step_effects", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_step_effects_case_id", table_name="step_effects")
    op.drop_index("ix_step_effects_step_id", table_name="step_effects")
    op.drop_table("step_effects")
    op.drop_table("link_codes")
    op.drop_index("ix_person_links_person_id", table_name="person_links")
    op.drop_table("person_links")
    op.drop_table("people")
