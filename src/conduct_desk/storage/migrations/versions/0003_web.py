"""The web desk: admin accounts, API tokens, the signing secret.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from conduct_desk.storage.tables import metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("admins", "api_tokens", "web_secrets")


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=[metadata.tables[name] for name in TABLES])


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[metadata.tables[name] for name in TABLES])
