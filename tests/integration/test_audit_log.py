"""The tamper-evident audit log (issue 12, item 4), on SQLite and PostgreSQL.

An attacker with the database edits, deletes and cuts off rows in SQL, after dropping the
append-only guards as a superuser would: ``verify`` fails and names the entry. The checkpoints
the desk signs and publishes, and the proof a reporter's status page offers, are checked with
the domain's own functions, as anyone holding them would.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from tests.support.web import csrf_of, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.domain.audit import Checkpoint, entry_leaf
from conduct_desk.domain.merkle import inclusion_proof, root, verify_inclusion
from conduct_desk.service.audit import Verification, make_checkpoint, prove_entry, verify_log
from conduct_desk.service.clock import FakeClock
from conduct_desk.service.ports import AuditEntry
from conduct_desk.storage import tables
from conduct_desk.storage.signing import CheckpointSigner, new_signing_key, signature_valid

N = 12


def fill(app: App, n: int = N, start: int = 0) -> None:
    """Entries written the one way the desk writes them: through storage, in one place."""
    now = app.desk.clock.now()
    with app.uow() as uow:
        uow.audit.append_all([AuditEntry(
            at=now + timedelta(seconds=i), actor=f"admin{i % 3}", kind="case.taken",
            summary=f"admin{i % 3} took case {i}", case_id=i, detail={"n": i, "who": ["x"]})
            for i in range(start, start + n)])
        uow.commit()


def attack(engine: Engine, *statements: str) -> None:
    """Run SQL as a superuser would, with the audit log's guards out of the way."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_no_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE audit DISABLE TRIGGER audit_no_change")
        for statement in statements:
            conn.exec_driver_sql(statement)
        if engine.dialect.name != "sqlite":  # back on, as the attacker leaves it (and the
            # next test on this database finds it)
            conn.exec_driver_sql("ALTER TABLE audit ENABLE TRIGGER audit_no_change")


def verify(app: App, against: Checkpoint | None = None) -> Verification:
    return verify_log(app.uow(), against, signature_valid)


def faults(v: Verification) -> str:
    return "\n".join(str(f) for f in v.faults)


def test_an_untouched_log_verifies_and_its_root_is_the_trees(app: App) -> None:
    fill(app)
    v = verify(app)
    assert v.ok and v.size == N
    with app.uow() as uow:
        entries = uow.audit.entries()
    assert v.root == root([entry_leaf(e.at, e.actor, e.kind, e.case_id, e.summary, e.detail)
                           for e in entries])


def test_the_database_still_refuses_changes(app: App, engine: Engine) -> None:
    """Only redaction is let through: words erased, marked so, place and hash unchanged."""
    fill(app, 2)
    zero = "X'00'" if engine.dialect.name == "sqlite" else "'\\x00'::bytea"
    for statement in ("UPDATE audit SET summary = 'x' WHERE id = 1", "DELETE FROM audit",
                      f"UPDATE audit SET redacted = true, leaf_hash = {zero} WHERE id = 1",
                      "UPDATE audit SET redacted = true, kind = 'other' WHERE id = 1",
                      "UPDATE audit SET redacted = false WHERE id = 1"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit SET redacted = true, summary = '' WHERE id = 1")
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit SET summary = 'again' WHERE id = 1")


@pytest.mark.parametrize("edit", [
    "UPDATE audit SET summary = 'nothing happened' WHERE id = 5",
    "UPDATE audit SET actor = 'someone else' WHERE id = 5",
    "UPDATE audit SET case_id = NULL WHERE id = 5",
    "UPDATE audit SET at = at + INTERVAL '1 hour' WHERE id = 5",
])
def test_an_edited_entry_is_named(app: App, engine: Engine, edit: str) -> None:
    fill(app)
    if engine.dialect.name == "sqlite" and "INTERVAL" in edit:
        edit = "UPDATE audit SET at = datetime(at, '+1 hour') WHERE id = 5"
    attack(engine, edit)
    v = verify(app)
    assert not v.ok
    assert faults(v) == ("entry #5, position 4: its content (case.taken, "
                         f"{faults(v).split('case.taken, ')[1].split(')')[0]}) no longer "
                         "matches the hash written with it: it was edited")


def test_a_deleted_entry_is_named(app: App, engine: Engine, clock: FakeClock) -> None:
    fill(app)
    make_checkpoint(app.uow(), None, clock.now())  # the desk published it
    fill(app, 3, start=N)
    attack(engine, "DELETE FROM audit WHERE id = 7")
    v = verify(app)
    assert "entry #7: missing: deleted from the log (the checkpoint of" in faults(v)
    assert len(v.faults) == 1 and v.size == N + 2


def test_a_truncated_log_is_named(app: App, engine: Engine, clock: FakeClock) -> None:
    fill(app)
    kept = make_checkpoint(app.uow(), None, clock.now()).checkpoint
    attack(engine, "DELETE FROM audit WHERE id > 9")
    v = verify(app, against=kept)
    text = faults(v)
    assert "the log ends at entry #9 but the checkpoint of" in text
    assert "3 entries from #10 on were cut off (truncated)" in text
    # and with the desk's own checkpoints gone too, the one kept elsewhere still says it
    attack(engine, "DELETE FROM audit_checkpoints")
    assert faults(verify(app, against=kept)) == (
        f"position 9: the log has 9 entries but the checkpoint of {kept.signed_at:%Y-%m-%d %H:%M:%S}"
        " UTC has 12: the last 3 are gone (truncated or deleted); the log now ends at entry #9")


def test_an_entry_rewritten_with_its_hash_is_placed_by_the_checkpoints(
        app: App, engine: Engine, clock: FakeClock) -> None:
    """A careful attacker recomputes the hash too: the published checkpoint catches it, and the
    desk's own checkpoint narrows it to the smallest subtree that changed."""
    fill(app)
    kept = make_checkpoint(app.uow(), None, clock.now()).checkpoint
    with app.uow() as uow:
        e = next(x for x in uow.audit.entries() if x.id == 11)
    forged = entry_leaf(e.at, e.actor, e.kind, e.case_id, "nothing happened", e.detail)
    attack(engine, "UPDATE audit SET summary = 'nothing happened', leaf_hash = "
                   + (f"X'{forged.hex()}'" if engine.dialect.name == "sqlite"
                      else f"'\\x{forged.hex()}'::bytea") + " WHERE id = 11")
    v = verify(app, against=kept)
    # 12 = 8 + 4: entry #11 is at position 10, in the subtree of positions 8..11
    assert faults(v).startswith("entry #9, position 8: entries at positions 8..11 (#9..#12) no "
                                "longer give the root of the checkpoint of")
    attack(engine, "DELETE FROM audit_checkpoints")
    assert "do not give the root of the checkpoint of" in faults(verify(app, against=kept))


def test_against_an_earlier_checkpoint_and_a_forged_one(app: App, clock: FakeClock) -> None:
    fill(app, 5)
    earlier = make_checkpoint(app.uow(), None, clock.now()).checkpoint
    fill(app, 6, start=5)
    assert verify(app, against=earlier).ok
    assert verify(app, against=Checkpoint(0, root([]))).ok
    assert verify(app, against=Checkpoint(3, earlier.root)).faults  # wrong size for that root
    forged = Checkpoint(5, bytes(32))
    assert "the checkpoint given was altered or forged" in faults(verify(app, against=forged))
    assert "an entry among them was edited or deleted, or the checkpoint is forged" in \
        faults(verify(app, against=Checkpoint(6, bytes(32))))
    assert "the last 4 are gone" in faults(verify(app, against=Checkpoint(15, earlier.root)))


def test_a_signed_checkpoint_verifies_with_the_public_key_and_fails_when_altered(
        app: App, clock: FakeClock) -> None:
    signer = CheckpointSigner(new_signing_key())
    fill(app, 3)
    c = make_checkpoint(app.uow(), signer, clock.now()).checkpoint
    assert c.public_key == signer.public_key and signature_valid(c, signer.public_key)
    published = Checkpoint.from_json(json.loads(json.dumps(c.as_json())))
    assert signature_valid(published, signer.public_key)
    for altered in (replace(c, size=2), replace(c, root=bytes(32)),
                    replace(c, signed_at=clock.now() + timedelta(days=1))):
        assert not signature_valid(altered, signer.public_key)
    other = CheckpointSigner(new_signing_key())
    assert not signature_valid(c, other.public_key)
    assert "CheckpointSigner(public_key=" in repr(signer)
    # the same size again is not signed again; a new key signs anew
    assert make_checkpoint(app.uow(), signer, clock.now()).checkpoint == c
    assert make_checkpoint(app.uow(), other, clock.now()).checkpoint.public_key == other.public_key


def test_an_altered_stored_checkpoint_is_caught(app: App, engine: Engine,
                                                clock: FakeClock) -> None:
    fill(app, 3)
    make_checkpoint(app.uow(), CheckpointSigner(new_signing_key()), clock.now())
    with engine.begin() as conn:
        conn.execute(tables.audit_checkpoints.update().values(size=2))
    assert "has a signature that does not verify" in faults(verify(app))


def test_redacted_entries_keep_their_hash_and_the_log_verifies(
        app: App, engine: Engine, clock: FakeClock) -> None:
    """Erasure (item 5) redacts an entry's words through storage; the guards allow that one
    change, and ``verify`` trusts the kept hash."""
    fill(app)
    kept = make_checkpoint(app.uow(), None, clock.now()).checkpoint
    with app.uow() as uow:
        assert uow.audit.redact([3, 4]) == 2
        uow.commit()
    v = verify(app, against=kept)
    assert v.ok and v.redacted == 2 and v.root == kept.root
    with app.uow() as uow:
        e = next(x for x in uow.audit.entries() if x.id == 3)
    assert (e.actor, e.summary, e.detail, e.case_id) == ("(erased)", "(erased)", {}, 2)


def _report(visitor: TestClient, clock: FakeClock, what: str) -> str:
    page = visitor.get("/report").text
    clock.advance(timedelta(seconds=10))
    r = visitor.post("/report", data={"csrf": csrf_of(page), "stamp": stamp_of(page),
                                      "subject": "sam", "what": what, "reporter": "riley"})
    assert r.status_code == 303
    return str(r.headers["location"]).split("?")[0]


def test_the_status_page_proves_the_report_is_in_the_log_without_its_content(
        app: App, visitor: TestClient, clock: FakeClock) -> None:
    fill(app, 5)
    status = _report(visitor, clock, "Called my code garbage written by a garbage person.")
    _report(visitor, clock, "Mocked my accent in the standup thread.")  # another entry, after
    page = visitor.get(status).text
    assert f'href="{status}/proof"' in page and "tamper-evident log" in page
    r = visitor.get(f"{status}/proof")
    assert r.status_code == 200
    proof = r.json()
    c = Checkpoint.from_json(proof["checkpoint"])
    assert verify_inclusion(proof["leaf_index"], c.size, bytes.fromhex(proof["leaf_hash"]),
                            [bytes.fromhex(h) for h in proof["audit_path"]], c.root)
    with app.uow() as uow:
        entries = uow.audit.entries()
    filed = [e for e in entries if e.kind == "report.filed"]
    assert entries.index(filed[0]) == proof["leaf_index"]
    assert set(proof) == {"leaf_index", "leaf_hash", "tree_size", "audit_path", "checkpoint",
                          "hashing"}
    for secret in ("garbage", "accent", "sam", "riley", "report.filed", "case"):
        assert secret not in r.text.replace("RFC 6962", "")
    # the published checkpoint is the one the proof is against, unsigned and saying so
    published = visitor.get("/audit/checkpoint").json()
    assert published == proof["checkpoint"]
    assert published["signed"] is False and "not signed" in published["note"]
    assert visitor.get("/r/not-a-token/proof").status_code == 404


def test_the_desk_publishes_its_signed_checkpoint(app: App, visitor: TestClient,
                                                  clock: FakeClock) -> None:
    app.signer = CheckpointSigner(new_signing_key())
    fill(app, 4)
    published = visitor.get("/audit/checkpoint").json()
    c = Checkpoint.from_json(published)
    assert published["signed"] is True and published["algorithm"] == "ed25519"
    assert published["public_key"] == app.signer.public_key.hex()
    assert signature_valid(c, app.signer.public_key)
    assert verify(app, against=c).ok and c.size == verify(app).size


# going down through the later migrations reflects tables with expression indexes (SQLite)
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_the_migration_hashes_the_entries_written_before_it(app: App, engine: Engine,
                                                            clock: FakeClock) -> None:
    """Entries written before 0016 get their leaf hash in entry order, and the guards are back
    after it (and after going down again)."""
    from alembic import command

    from conduct_desk.storage.db import alembic_config, upgrade

    command.downgrade(alembic_config(engine), "0015")
    old = sa.table("audit", *(sa.column(c.name, c.type) for c in tables.audit.columns
                              if c.name not in ("leaf_hash", "redacted")))
    rows = [{"at": clock.now() + timedelta(minutes=i), "actor": "ana", "kind": "case.taken",
             "case_id": i or None, "summary": f"ana took case {i} — «ok»", "detail": {"i": i}}
            for i in range(7)]
    with engine.begin() as conn:
        conn.execute(old.insert(), rows)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit")
    upgrade(engine)
    v = verify(app)
    assert v.ok and v.size == 7
    assert v.root == root([entry_leaf(r["at"], r["actor"], r["kind"], r["case_id"], r["summary"],
                                      r["detail"]) for r in rows])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit")


def test_a_proof_reads_kept_subtrees_and_a_few_leaves_and_is_the_whole_logs(
        app: App, engine: Engine, clock: FakeClock) -> None:
    """On a log of several blocks of 256 entries, each entry's proof is the one computed from
    every leaf, verifies against the checkpoint, and reads at most two blocks of leaves (the
    entry's and the unfinished last one); as the log grows, only the new subtrees are kept."""
    fill(app, 1300)
    reads: list[int] = []  # leaves read, at most, by each statement reading some

    def count_leaves(conn: object, cursor: object, statement: str, parameters: Any,
                     *_: object) -> None:
        if "audit.leaf_hash" in statement and "FROM audit" in statement:
            limit = parameters[-1] if isinstance(parameters, tuple) else parameters.get(
                "param_1")
            reads.append(limit if isinstance(limit, int) and "LIMIT" in statement else 10**9)

    for size, more in ((1300, 700), (2000, 0)):
        prove_entry(app.uow(), 1, None, clock.now())  # the checkpoint, the new subtrees kept
        sa.event.listen(engine, "before_cursor_execute", count_leaves)
        try:
            proofs = {e: prove_entry(app.uow(), e, None, clock.now())
                      for e in (1, 2, 255, 256, 257, 700, 1024, 1025, 1280, 1281, size)}
        finally:
            sa.event.remove(engine, "before_cursor_execute", count_leaves)
        assert len(reads) <= 2 * len(proofs) and max(reads) <= 256, reads
        reads.clear()
        with app.uow() as uow:
            leaves = [h for _, h in uow.audit.leaf_hashes(0, size)]
        for entry_id, proof in proofs.items():
            assert proof is not None and proof.checkpoint.size == size
            assert proof.leaf_index == entry_id - 1 and proof.leaf_hash == leaves[entry_id - 1]
            assert proof.audit_path == inclusion_proof(leaves, entry_id - 1)
            assert verify_inclusion(proof.leaf_index, size, proof.leaf_hash, proof.audit_path,
                                    proof.checkpoint.root)
        with engine.connect() as conn:
            kept = conn.execute(sa.select(tables.audit_nodes.c.level,
                                          sa.func.count()).group_by(
                tables.audit_nodes.c.level)).all()
        assert dict(kept) == {8: size // 256, 9: size // 512, 10: size // 1024}
        fill(app, more, start=size)
    assert prove_entry(app.uow(), 99_999, None, clock.now()) is None  # no such entry
