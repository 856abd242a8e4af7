"""`conduct audit verify | checkpoint | keygen` as an admin runs them, on SQLite and PostgreSQL:
real processes; the entries written through storage, the attacks in SQL."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from tests.e2e.test_cli import Conduct
from tests.integration.test_audit_log import attack, fill

from conduct_desk.bootstrap import App
from conduct_desk.domain.audit import Checkpoint
from conduct_desk.storage.signing import signature_valid


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Conduct:
    return Conduct(tmp_path, db_url)


def test_verify_a_signed_checkpoint_and_an_edited_entry(cli: Conduct, app: App, engine: Engine,
                                                        tmp_path: Path) -> None:
    fill(app, 10)
    ok = cli("audit", "verify")
    assert re.fullmatch(r"audit log OK: 10 entries, root [0-9a-f]{64}, checked in \d+\.\d\d s "
                        r"\(0 checkpoint\(s\) of the desk's agree; 0 entries redacted, their "
                        r"hashes kept\)\n", ok)
    out = cli("audit", "keygen", "desk.key")
    key_file = tmp_path / "desk.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert "wrote the signing key to desk.key" in out and key not in out
    assert "exists already" in cli("audit", "keygen", "desk.key", code=2)
    signed = {"CONDUCT_AUDIT_SIGNING_KEY_FILE": str(key_file)}
    published = json.loads(cli("audit", "checkpoint", env=signed))
    c = Checkpoint.from_json(published)
    assert c.size == 10 and signature_valid(c) and published["public_key"] in out
    (tmp_path / "kept.json").write_text(json.dumps(published))
    fill(app, 5, start=10)
    assert "it starts with the checkpoint given (size 10)" in cli(
        "audit", "verify", "--against", "kept.json", env=signed)
    forged = {**published, "root": "ab" * 32}
    out = cli("audit", "verify", "--against", json.dumps(forged), code=1)
    assert "the checkpoint given has a signature that does not verify" in out
    assert "the checkpoint given was altered or forged" in out
    assert "--against: the checkpoint needs a size" in cli("audit", "verify", "--against", "{}",
                                                           code=2)
    attack(engine, "UPDATE audit SET summary = 'nothing happened' WHERE id = 3")
    out = cli("audit", "verify", code=1)
    assert out.startswith("audit log NOT OK: 1 problem(s) in 15 entries\n  entry #3, position 2: "
                          "its content (case.taken, ")
    assert "it was edited" in out
    assert all(key not in printed for printed in cli.printed)


def test_verify_names_a_deleted_and_a_cut_off_entry(cli: Conduct, app: App,
                                                    engine: Engine) -> None:
    fill(app, 10)
    cli("audit", "checkpoint")  # unsigned: no key set, and it says so
    attack(engine, "DELETE FROM audit WHERE id = 4", "DELETE FROM audit WHERE id > 8")
    out = cli("audit", "verify", code=1)
    assert "  entry #4: missing: deleted from the log (the checkpoint of " in out
    assert "  entry #9, position 7: the log ends at entry #8 but the checkpoint of " in out
    assert "2 entries from #9 on were cut off (truncated)" in out
