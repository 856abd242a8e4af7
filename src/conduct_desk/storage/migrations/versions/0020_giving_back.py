"""Steps remember when the desk began giving an account back (``steps.giving_back_at``).

Set in its own transaction before the platform is asked to end a suspension: a worker killed
between the platform's answer and the record leaves it set, and the run that takes over asks
the platform whether the account is already back instead of giving it back (and welcoming the
person) a second time.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.storage.tables import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("steps", sa.Column("giving_back_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("giving_back_at")
