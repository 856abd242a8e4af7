"""The schema, as SQLAlchemy Core tables. Alembic migrations create exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to storage; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

cases = sa.Table(
    "cases", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subject_platform", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(255), nullable=False),
    sa.Column("channel", sa.String(2000)),
    sa.Column("message_id", sa.String(2000)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("taken_by", sa.String(200)),
    sa.Column("taken_at", UTCDateTime),
    sa.Column("first_step_at", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("outcome", sa.String(32)),
    sa.Column("outcome_reason", sa.Text),
    sa.Column("subject_token", sa.String(64), unique=True),
    sa.Column("take_due_at", UTCDateTime),
    sa.Column("step_due_at", UTCDateTime),
    # read-side summaries, kept current on every save so the queue needs no joins
    sa.Column("flagrant", sa.Boolean, nullable=False, default=False),
    sa.Column("hurt", sa.Integer, nullable=False, default=0),
    sa.Column("report_count", sa.Integer, nullable=False, default=0),
    sa.Column("last_step", sa.String(64)),
    sa.Column("is_open", sa.Boolean, nullable=False, default=True),
    sa.Column("appeal_due_at", UTCDateTime),  # an appeal waits for a decision (migration 0015)
)
sa.Index("ix_cases_subject", cases.c.subject_platform, cases.c.subject_id)
sa.Index("ix_cases_open_queue", cases.c.is_open, cases.c.flagrant, cases.c.opened_at)
# /metrics' histograms read the cases taken / first acted on lately (migration 0012)
sa.Index("ix_cases_taken_at", cases.c.taken_at)
sa.Index("ix_cases_first_step_at", cases.c.first_step_at)
# The queue's order among open cases (see SqlCaseRepository.summaries), as expressions the
# query and the index below share: PostgreSQL uses an expression index only for the same
# expression, so ``hurt > 0`` has a literal 0, not a bound parameter.
case_due = sa.case((cases.c.taken_by.is_(None), cases.c.take_due_at),
                   (cases.c.first_step_at.is_(None), cases.c.step_due_at), else_=None)
case_hurt = cases.c.hurt > sa.literal_column("0")
# Open cases in queue order: a page of the queue reads its rows and stops, with no sort.
# (Made by migration 0004; an ascending index keeps NULLs last on PostgreSQL, as the queue does.)
sa.Index(
    "ix_cases_queue", cases.c.flagrant.desc(), sa.Grouping(case_hurt).desc(),
    sa.Grouping(case_due), cases.c.opened_at, cases.c.id,
    sqlite_where=sa.text("is_open = 1"),
    postgresql_where=sa.text("is_open"),
)
# Open cases by state and person: the queue's total and the header's count of untaken cases
# (both leaving out the cases about the reader) read this index alone (migration 0023)
sa.Index("ix_cases_open_people", cases.c.state, cases.c.subject_platform, cases.c.subject_id,
         sqlite_where=sa.text("is_open = 1"), postgresql_where=sa.text("is_open"))
# the queue's appeals: only cases with an appeal waiting (few), by their deadline (0015)
sa.Index("ix_cases_appeal_due", cases.c.appeal_due_at,
         sqlite_where=sa.text("appeal_due_at IS NOT NULL"),
         postgresql_where=sa.text("appeal_due_at IS NOT NULL"))
# one open case per message: concurrent reports of the same message join it
sa.Index(
    "ux_cases_open_message", cases.c.subject_platform, cases.c.subject_id, cases.c.channel,
    cases.c.message_id, unique=True,
    sqlite_where=sa.text("is_open = 1 AND message_id IS NOT NULL"),
    postgresql_where=sa.text("is_open AND message_id IS NOT NULL"),
)

reports = sa.Table(
    "reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("subject_platform", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(255), nullable=False),
    sa.Column("reporter_platform", sa.String(64)),
    sa.Column("reporter_id", sa.String(255)),
    sa.Column("anonymous", sa.Boolean, nullable=False),
    sa.Column("filed_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(2000)),
    sa.Column("message_id", sa.String(2000)),
    sa.Column("message_text", sa.Text),
    sa.Column("message_link", sa.String(2000)),
    sa.Column("harmed", sa.JSON, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("flagrant", sa.Boolean, nullable=False),
    sa.Column("status_token", sa.String(64), unique=True),
    # an anonymous reporter's id, sealed (storage/sealing.py); reporter_* are then NULL
    sa.Column("reporter_sealed", sa.Text),
    sa.Column("said_from", sa.String(16)),  # where message_text came from; None: not quotable
    sa.Column("account", sa.Text),  # the reporter's own account, for admins only
    sa.Column("hoped_for", sa.Text),  # what would help the reporter, for admins only
)
sa.Index("ix_reports_reporter", reports.c.reporter_platform, reports.c.reporter_id)


def _text_or_blank(column: sa.Column[str]) -> sa.ColumnElement[str]:
    return sa.func.coalesce(column, sa.literal_column("''", sa.Text))


# A report's words for the queue's search: what was said, the reporter's note and account.
# On PostgreSQL migration 0022 indexes ``report_words`` (GIN), so the query must use this very
# expression (literals, no bound parameters); SQLite has no such index and reads every report.
SPACE = sa.literal_column("' '", sa.Text)
report_text = (_text_or_blank(reports.c.message_text) + SPACE + _text_or_blank(reports.c.note)
               + SPACE + _text_or_blank(reports.c.account))
report_words = sa.func.to_tsvector(sa.literal_column("'simple'"), report_text)
# the search by person: lower(subject_id), indexed on PostgreSQL for prefixes (0022)
subject_lower = sa.func.lower(cases.c.subject_id)

steps = sa.Table(
    "steps", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("rung", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("until", UTCDateTime),
    sa.Column("recommended", sa.String(64)),
    sa.Column("reason", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("notified", sa.Boolean, nullable=False),
    sa.Column("completed_at", UTCDateTime),
    sa.Column("restored_at", UTCDateTime),
    sa.Column("overturned_at", UTCDateTime),  # set aside on appeal (migration 0015)
    sa.Column("giving_back_at", UTCDateTime),  # a restore under way (migration 0020)
)
# /metrics: steps by status and rung, the failed ones (migration 0012)
sa.Index("ix_steps_status_rung", steps.c.status, steps.c.rung)

consultations = sa.Table(
    "consultations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("admin", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("person_platform", sa.String(64)),
    sa.Column("person_id", sa.String(255)),
)

notes = sa.Table(
    "notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(300), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)

timers = sa.Table(
    "timers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("case_id", sa.Integer, index=True),
    sa.Column("step_id", sa.Integer),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claimed_by", sa.String(100)),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("done_at", UTCDateTime),
    sa.Column("error", sa.Text),
)
sa.Index("ix_timers_due", timers.c.status, timers.c.due_at)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(300), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("case_id", sa.Integer, index=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    # the entry's Merkle leaf, SHA-256(0x00 || canonical bytes) (migration 0016); erasure
    # redacts an entry's words but keeps this hash, and marks it ``redacted``
    sa.Column("leaf_hash", sa.LargeBinary(32)),
    sa.Column("redacted", sa.Boolean, nullable=False, server_default=sa.false()),
)

# The log's checkpoints the desk made (size, root, signature), and for its own diagnostics
# the last entry each covers, the ids missing below it then (rolled back inserts) and the
# roots of its perfect subtrees, from which the next checkpoint extends the tree.
audit_checkpoints = sa.Table(
    "audit_checkpoints", metadata,
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

# Hashes of the audit tree's perfect subtrees of 256 leaves and up (level 8 and up: the
# subtree of leaves [idx * 2**level, (idx + 1) * 2**level)), derived from the leaf hashes,
# so that an inclusion proof reads a few hundred rows, not the whole log. A block (level 8)
# row also keeps the ids of its first and last entries.
audit_nodes = sa.Table(
    "audit_nodes", metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Column("first_id", sa.BigInteger),
    sa.Column("last_id", sa.BigInteger),
)
sa.Index("ix_audit_nodes_first_id", audit_nodes.c.level, audit_nodes.c.first_id)

# Platform adapters keep small bits of state here (e.g. the last event report read).
cursors = sa.Table(
    "cursors", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

nudges = sa.Table(
    "nudges", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subject_platform", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(255), nullable=False),
    sa.Column("reporter_platform", sa.String(64), nullable=False),
    sa.Column("reporter_id", sa.String(255)),  # NULL when anonymous (migration 0008)
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(2000), nullable=False),
    sa.Column("message_id", sa.String(2000), nullable=False),
    sa.Column("message_text", sa.Text),
    sa.Column("message_link", sa.String(2000)),
    sa.Column("asked_at", UTCDateTime, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("answer", sa.String(16)),
    sa.Column("case_id", sa.Integer),
    # the reporter's note, the people hurt and "keep me anonymous" (migration 0006)
    sa.Column("note", sa.Text),
    sa.Column("harmed", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reporter_sealed", sa.Text),  # as reports.reporter_sealed (migration 0008)
    # what the author wrote that looked like an apology, and when (migration 0010)
    sa.Column("apology", sa.Text),
    sa.Column("apology_at", UTCDateTime),
)
sa.Index("ix_nudges_message", nudges.c.subject_platform, nudges.c.subject_id, nudges.c.channel,
         nudges.c.message_id)

# Notices the desk promised (migration 0011): kept until delivered, or failed for all to see.
# A DM to an anonymous reporter keeps the person only sealed (to_sealed; to_* are then NULL),
# as reports.reporter_sealed, and no platform error (it may name them).
notices = sa.Table(
    "notices", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("platform", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("case_id", sa.Integer, index=True),
    sa.Column("to_platform", sa.String(64)),
    sa.Column("to_id", sa.String(255)),
    sa.Column("to_sealed", sa.Text),
    sa.Column("anonymous", sa.Boolean, nullable=False),
    sa.Column("reply_to", sa.String(2000)),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("due_at", UTCDateTime),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
)
sa.Index("ix_notices_status", notices.c.status)  # /metrics: notices waiting, failed (0012)

# Follow-up messages (migration 0019): the admins and a reporter (one report) or the subject
# writing to each other. ``by`` is an admin's name, or only "reporter" / "subject": an
# anonymous reporter is known through their report (sealed there), never here.
messages = sa.Table(
    "messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("party", sa.String(16), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id")),
    sa.Column("reply_to", sa.Integer, index=True),
    sa.Column("by", sa.String(300), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("read_at", UTCDateTime),
)

# -- the web desk (migration 0003) ----------------------------------------------------------

admins = sa.Table(
    "admins", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(300), nullable=False),
    # platform identities (e.g. slack:U123) used for recusal besides the name
    sa.Column("identities", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    # where and about what (EmailKind values) the desk emails the admin (migration 0013)
    sa.Column("email", sa.String(254)),
    sa.Column("email_kinds", sa.JSON, nullable=False, server_default="[]"),
    # the IANA time zone the pages show times in (migration 0017)
    sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"),
)

# One-time links that make an account (migration 0017): the first admin's setup link and
# admins' invitations. Only the token's SHA-256 is stored.
account_invites = sa.Table(
    "account_invites", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200)),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
    sa.Column("used_by", sa.String(200)),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
)

api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256, hex
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    # the account the token acts for (migration 0008); NULL: a role-only token made before
    sa.Column("account_id", sa.Integer, sa.ForeignKey("admins.id")),
)

# Signed-in web sessions (migration 0009): the cookie holds a random id, the row only its
# SHA-256. Deleted on sign-out, on a password change and when the account is disabled.
web_sessions = sa.Table(
    "web_sessions", metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("admin_id", sa.Integer, sa.ForeignKey("admins.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    # wrong passwords for this account since its previous sign-in, shown once, then 0
    sa.Column("failed_signins", sa.Integer, nullable=False, server_default="0"),
)

# Values every web process must share, e.g. the key that signs session cookies.
web_secrets = sa.Table(
    "web_secrets", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

# -- rate limits shared by every process on the database (migration 0005) --------------------

# One row per counted attempt (a failed sign-in, a report sent from the form), kept only for
# the limit's window. The key (a client address, a name) is stored as a SHA-256, never as is.
rate_hits = sa.Table(
    "rate_hits", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)
sa.Index("ix_rate_hits_key", rate_hits.c.scope, rate_hits.c.key_hash, rate_hits.c.at)

# -- leases: which replica runs each platform listener (migration 0014) ----------------------

# One row per listener. ``epoch`` goes up by one each time another holder takes the lease
# over, so a write fenced with an older epoch is refused.
leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# -- one person across platforms (migration 0021) --------------------------------------------

# A person: the accounts an admin linked, or the member linked by a one-time code.
people = sa.Table(
    "people", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(300), nullable=False),
)

# One row per linked account; an account belongs to at most one person.
person_links = sa.Table(
    "person_links", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id"), nullable=False, index=True),
    sa.Column("platform", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("linked_at", UTCDateTime, nullable=False),
    sa.Column("linked_by", sa.String(300), nullable=False),
    sa.UniqueConstraint("platform", "user_id", name="uq_person_links_account"),
)

# One-time codes a member links their accounts with: only the SHA-256 is kept.
link_codes = sa.Table(
    "link_codes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("platform", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
)

# What a suspension or ban with scope "everywhere" did on each linked account, and its
# giving back (target "restore"): each effect on its own.
step_effects = sa.Table(
    "step_effects", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("step_id", sa.Integer, sa.ForeignKey("steps.id"), nullable=False, index=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, index=True),
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
