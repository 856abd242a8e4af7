"""Anonymous reporters' ids sealed at rest; API tokens belong to an account.

Existing anonymous reports and nudges keep their reporter's id only sealed: with a key set
(CONDUCT_SECRET_KEY or CONDUCT_SECRET_KEY_FILE) the upgrade seals them; without one it
refuses while there are any, and says how to make a key.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("reporter_sealed", sa.Text))
    op.add_column("nudges", sa.Column("reporter_sealed", sa.Text))
    with op.batch_alter_table("nudges") as batch:
        batch.alter_column("reporter_id", existing_type=sa.String(255), nullable=True)
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer))
        batch.create_foreign_key("fk_api_tokens_account", "admins", ["account_id"], ["id"])
    _seal_existing()


def _seal_existing() -> None:
    from conduct_desk.config import Settings
    from conduct_desk.domain.errors import SecretKeyError
    from conduct_desk.domain.people import PersonRef
    from conduct_desk.storage.sealing import FIX, Sealer

    conn = op.get_bind()
    # frozen: only the columns this revision reads and writes
    tables = {name: sa.table(name, sa.column("id", sa.Integer), sa.column("anonymous", sa.Boolean),
                             sa.column("reporter_platform", sa.String),
                             sa.column("reporter_id", sa.String),
                             sa.column("reporter_sealed", sa.Text),
                             sa.column("harmed", sa.JSON))
              for name in ("reports", "nudges")}
    found = {name: conn.execute(sa.select(t.c.id, t.c.reporter_platform, t.c.reporter_id,
                                          t.c.harmed).where(
        t.c.anonymous == sa.true(), t.c.reporter_id.is_not(None))).all()
        for name, t in tables.items()}
    if not any(found.values()):
        return
    key = Settings().sealing_key()
    if key is None:
        raise SecretKeyError(f"the database has anonymous reports whose reporter ids must be "
                             f"sealed before this upgrade; {FIX}, then run `conduct db upgrade` "
                             "again")
    sealer = Sealer(key)
    for name, rows in found.items():
        t = tables[name]
        for row in rows:
            reporter = PersonRef(row.reporter_platform, row.reporter_id)
            # naming themself hurt named them to the admins: they count as the reporter
            harmed = [k for k in row.harmed or () if k != reporter.key]
            values: dict[str, object] = {"reporter_id": None, "harmed": harmed,
                                         "reporter_sealed": sealer.seal(reporter)}
            if name == "reports":
                values["reporter_platform"] = None
            conn.execute(t.update().where(t.c.id == row.id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("fk_api_tokens_account", type_="foreignkey")
        batch.drop_column("account_id")
    with op.batch_alter_table("nudges") as batch:
        batch.drop_column("reporter_sealed")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("reporter_sealed")
