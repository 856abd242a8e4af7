"""`conduct person export | erase` as an admin runs them, real processes, on SQLite and
PostgreSQL: the export file, the confirmation, what erasure says it kept, and the log still
verifying afterwards."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from tests.e2e.test_cli import Conduct, add_accounts, one_line

from conduct_desk.storage.db import create_engine
from conduct_desk.storage.privacy import text_columns


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Conduct:
    c = Conduct(tmp_path, db_url)
    c.env["CONDUCT_SECRET_KEY"] = Fernet.generate_key().decode()
    return c


def _held(db_url: str, needle: str) -> list[str]:
    engine = create_engine(db_url)
    hits = []
    with engine.connect() as conn:
        for table, col in text_columns():
            for value in conn.execute(sa.select(col).where(col.is_not(None))).scalars():
                if needle in json.dumps(value, ensure_ascii=False):
                    hits.append(f"{table.name}.{col.name}")
                    break
    engine.dispose()
    return hits


def test_export_and_erase_from_the_command_line(cli: Conduct, db_url: str,
                                                tmp_path: Path) -> None:
    cli("db", "upgrade")
    add_accounts(cli, ana="admin", mo="moderator")
    cli("report", "--subject", "U0SAMCLI", "--reporter", "riley", "--channel", "#general",
        "--message-id", "m1", "--said", "SAMSAID you lot", "--text", "RILEYTEXT it stung",
        "--hurt", "jo")
    cli("report", "--subject", "U0SAMCLI", "--reporter", "U0ANONCLI", "--anonymous",
        "--channel", "#general", "--message-id", "m1", "--note", "ANONNOTE same here")
    cli("case", "take", "1", "--admin", "ana")
    cli("case", "consult", "1", "--admin", "ana", "--person", "jo", "--summary", "wants a ban")
    assert "ban: done" in cli("case", "step", "1", "ban", "--admin", "ana", "--reason",
                              "STEPREASON flagrant")

    err = cli("person", "erase", "U0SAMCLI", "--admin", "ana", "--yes", code=2)
    assert one_line(err) == ("error: case 1 about sandbox:U0SAMCLI is open; resolve it first "
                             "(`conduct case resolve`), then erase")
    cli("case", "resolve", "1", "--admin", "ana", "--outcome", "steps-taken")

    out = cli("person", "export", "U0SAMCLI", "--admin", "ana", "--out", "sam.json")
    assert out.strip() == "wrote what the desk holds about sandbox:U0SAMCLI to sam.json"
    assert stat.S_IMODE((tmp_path / "sam.json").stat().st_mode) == 0o600
    exported = json.loads((tmp_path / "sam.json").read_text())
    assert exported["cases_about_them"][0]["reports"][0]["words_said"] == "SAMSAID you lot"
    assert "riley" not in json.dumps(exported) and "RILEYTEXT" not in json.dumps(exported)
    assert "exists already" in one_line(cli("person", "export", "U0SAMCLI", "--admin", "ana",
                                            "--out", "sam.json", code=2))
    # the anonymous reporter's export, on stdout, has their own report (their sealed id)
    # only when it is for them: else it names no anonymous reporter
    assert "holds nothing about" in one_line(
        cli("person", "export", "U0ANONCLI", "--admin", "ana", code=2))
    anon = json.loads(cli("person", "export", "U0ANONCLI", "--admin", "ana", "--anonymous-too"))
    assert [r["note"] for r in anon["reports_they_made"]] == ["ANONNOTE same here"]
    # an export that cannot be written says so, before anything is read or audited
    assert "cannot write" in one_line(cli("person", "export", "U0SAMCLI", "--admin", "ana",
                                          "--out", "nodir/x.json", code=2))

    assert one_line(cli("person", "export", "nobody", "--admin", "ana", code=2)) == (
        "error: the desk holds nothing about sandbox:nobody; check the id (platform:user, "
        "e.g. slack:U024BE7LH)")
    assert "only an admin may export or erase" in one_line(
        cli("person", "erase", "U0SAMCLI", "--admin", "mo", "--yes", code=2))

    cli("person", "erase", "U0SAMCLI", "--admin", "ana", code=1)  # not confirmed: nothing done
    assert _held(db_url, "U0SAMCLI") != []
    out = cli("person", "erase", "U0SAMCLI", "--admin", "ana", "--yes")
    assert out.startswith("erased sandbox:U0SAMCLI; now known only as sandbox:erased:")
    assert "  kept: a ban (ban, " in out and "in case 1 (safety" in out
    assert "  removed: " in out and "report texts" in out
    for trace in ("U0SAMCLI", "SAMSAID", "RILEYTEXT", "STEPREASON"):
        assert _held(db_url, trace) == [], trace
    assert "audit log OK" in cli("audit", "verify")
    assert "U0SAMCLI" not in cli("audit") + cli("case", "show", "1") + cli("case", "list",
                                                                            "--state", "all")
    # the ladder still knows: the same id is still banned
    assert "now: banned" in cli("person", "show", "U0SAMCLI")
    assert one_line(cli("person", "erase", "U0SAMCLI", "--admin", "ana", "--yes", code=2)) \
        .startswith("error: the desk holds nothing about sandbox:U0SAMCLI")
    assert "worker stopped" in cli("worker", "--once")  # the retention sweep runs with it
