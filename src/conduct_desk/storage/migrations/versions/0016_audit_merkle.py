"""The audit log as a Merkle tree: each entry's leaf hash, a redacted flag, checkpoints.

Existing entries get their leaf hash in entry order. The append-only guards are made again so
that the one change ever allowed is erasure's: an entry's words redacted, marked so, with its
time, kind, case and leaf hash unchanged (``verify`` then trusts the kept hash).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conduct_desk.domain.audit import entry_leaf
from conduct_desk.storage.tables import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

REFUSED = "the audit log is append-only"
# the one update allowed: redacting an entry's words, keeping its place and its hash
REDACTION = ("NOT OLD.redacted AND NEW.redacted AND NEW.id = OLD.id AND NEW.at = OLD.at "
             "AND NEW.kind = OLD.kind AND NEW.case_id IS NOT DISTINCT FROM OLD.case_id "
             "AND NEW.leaf_hash = OLD.leaf_hash")
SQLITE_REDACTION = (REDACTION.replace("NOT OLD.redacted", "OLD.redacted = 0")
                    .replace("NEW.redacted AND", "NEW.redacted = 1 AND")
                    .replace("IS NOT DISTINCT FROM", "IS"))

SQLITE_GUARDS = [
    f"""CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit WHEN NOT ({SQLITE_REDACTION})
       BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
]
POSTGRES_GUARD = f"""CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND {REDACTION} THEN RETURN NEW; END IF;
      RAISE EXCEPTION '{REFUSED}';
    END $$"""
POSTGRES_OLD_GUARD = f"""CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{REFUSED}'; END $$"""
SQLITE_OLD_GUARDS = [
    f"""CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
]

# frozen: the audit table's columns as this revision reads and writes them
audit = sa.table("audit", sa.column("id", sa.Integer), sa.column("at", UTCDateTime),
                 sa.column("actor", sa.String), sa.column("kind", sa.String),
                 sa.column("case_id", sa.Integer), sa.column("summary", sa.Text),
                 sa.column("detail", sa.JSON), sa.column("leaf_hash", sa.LargeBinary))
BATCH = 5000


def _drop_sqlite_guards() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_no_delete")


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.add_column("audit", sa.Column("leaf_hash", sa.LargeBinary(32)))
    op.add_column("audit", sa.Column("redacted", sa.Boolean, nullable=False,
                                     server_default=sa.false()))
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        sa.Column("gaps", sa.JSON, nullable=False),
        sa.Column("frontier", sa.JSON, nullable=False),
        sa.Column("signed_at", UTCDateTime, nullable=False),
        sa.Column("public_key", sa.LargeBinary),
        sa.Column("signature", sa.LargeBinary),
    )
    # the entries written so far get their leaf hash (the guards step aside meanwhile)
    if sqlite:
        _drop_sqlite_guards()
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_no_change ON audit")
    after = 0
    while True:
        rows = bind.execute(sa.select(audit).where(audit.c.id > after)
                            .order_by(audit.c.id).limit(BATCH)).mappings().all()
        if not rows:
            break
        bind.execute(audit.update().where(audit.c.id == sa.bindparam("row_id"))
                     .values(leaf_hash=sa.bindparam("hash")),
                     [{"row_id": r["id"], "hash": entry_leaf(r["at"], r["actor"], r["kind"],
                                                             r["case_id"], r["summary"],
                                                             r["detail"])} for r in rows])
        after = rows[-1]["id"]
    if sqlite:
        for statement in SQLITE_GUARDS:
            op.execute(statement)
    else:
        op.execute(POSTGRES_GUARD)
        op.execute("""CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
                      FOR EACH ROW EXECUTE FUNCTION audit_append_only()""")


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_table("audit_checkpoints")
    if bind.dialect.name == "sqlite":
        _drop_sqlite_guards()
        op.drop_column("audit", "redacted")
        op.drop_column("audit", "leaf_hash")
        for statement in SQLITE_OLD_GUARDS:
            op.execute(statement)
    else:
        op.execute(POSTGRES_OLD_GUARD)
        op.drop_column("audit", "redacted")
        op.drop_column("audit", "leaf_hash")
