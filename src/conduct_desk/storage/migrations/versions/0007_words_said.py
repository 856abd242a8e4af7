"""Reports keep the words that were said apart from the reporter's own account.

A report's ``message_text`` is quoted to the subject only when ``said_from`` says where it
came from ("fetched" from the platform, or "pasted" by the reporter into a field that says
it may be shown). Old reports from the web form and the API held whatever the reporter wrote,
so their text becomes the ``account`` (admins only, never quoted); chat platforms' texts were
the messages themselves and are marked "fetched".

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# the table as this revision knows it (frozen: later changes to tables.py do not apply here)
_reports = sa.table(
    "reports",
    sa.column("source", sa.String(16)),
    sa.column("message_text", sa.Text),
    sa.column("said_from", sa.String(16)),
    sa.column("account", sa.Text),
)
_CHAT = ("slack", "matrix", "discord")


def upgrade() -> None:
    op.add_column("reports", sa.Column("said_from", sa.String(16)))
    op.add_column("reports", sa.Column("account", sa.Text))
    r = _reports
    op.execute(r.update().where(r.c.source.in_(_CHAT), r.c.message_text.is_not(None))
               .values(said_from="fetched"))
    op.execute(r.update().where(r.c.source.not_in(_CHAT), r.c.message_text.is_not(None))
               .values(account=r.c.message_text, message_text=None))


def downgrade() -> None:
    r = _reports
    op.execute(r.update().where(r.c.account.is_not(None), r.c.message_text.is_(None))
               .values(message_text=r.c.account))
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("account")
        batch.drop_column("said_from")
