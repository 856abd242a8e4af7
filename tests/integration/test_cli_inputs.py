"""What the command line says to input it cannot use: one line naming the fix, exit code 2,
nothing written. Each case here printed a Python traceback, or did the wrong thing quietly,
when an outside tester tried it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conduct_desk import cli
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine, upgrade

BINARY = bytes(range(256)) * 2  # no UTF-8 text


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated SQLite desk in a folder of its own, with admin ana."""
    monkeypatch.chdir(tmp_path)
    for name in ("CONDUCT_POLICY", "CONDUCT_SECRET_KEY", "CONDUCT_SECRET_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CONDUCT_DATABASE_URL", url)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    (tmp_path / "pw").write_text("correct horse battery staple\n")
    (tmp_path / "bin").write_bytes(BINARY)
    run("admin", "add", "ana", "--role", "admin", "--password-file", "pw")
    return tmp_path


def run(*args: str, code: int = 0) -> str:
    r = CliRunner().invoke(cli.app, list(args))
    assert r.exit_code == code, (args, r.output, r.exception)
    return r.output


def one_line(*args: str) -> str:
    """A refusal: exit code 2, and exactly one line, starting with "error:"."""
    out = run(*args, code=2).strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    assert out.startswith("error: "), out
    return out


def cases(folder: Path) -> int:
    engine = create_engine(f"sqlite:///{folder / 'c.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(tables.cases))
                       .scalar_one())
    finally:
        engine.dispose()


def test_files_that_are_not_text_or_not_there(desk: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert "not UTF-8 text" in one_line("policy", "check", "bin")
    assert "not UTF-8 text" in one_line("admin", "add", "bo", "--role", "admin",
                                        "--password-file", "bin")
    assert "cannot write nodir/x.toml" in one_line("init", "--path", "nodir/x.toml")
    (desk / "d").mkdir()
    assert "cannot write d" in one_line("init", "--path", "d", "--force")
    monkeypatch.setenv("CONDUCT_POLICY", str(desk / "bin"))
    assert "not UTF-8 text" in one_line("case", "list")
    monkeypatch.delenv("CONDUCT_POLICY")
    monkeypatch.setenv("CONDUCT_SECRET_KEY_FILE", str(desk / "bin"))
    assert "not UTF-8 text" in one_line("case", "list")


@pytest.mark.parametrize("number", [str(2**63), "99999999999999999999"])
def test_a_case_number_no_database_can_hold_is_no_case(desk: Path, number: str) -> None:
    for args in (("case", "show", number), ("case", "take", number, "--admin", "ana"),
                 ("audit", "--case", number)):
        assert f"there is no case {number}" in one_line(*args)


@pytest.mark.parametrize(("url", "said"), [
    ("mysql://u:p@127.0.0.1:1/y", "SQLite or PostgreSQL only"),
    ("postgresql://u:p@127.0.0.1:abc/db", "is not a database URL"),
    ("postgresql://u:p@127.0.0.1:99999/db", "port 99999 is not a port number"),
    ("sqlite:///", "names no file"),
    ("sqlite:///:memory:", "names no file"),
])
def test_a_database_url_the_desk_cannot_use(desk: Path, monkeypatch: pytest.MonkeyPatch,
                                            url: str, said: str) -> None:
    monkeypatch.setenv("CONDUCT_DATABASE_URL", url)
    for args in (("db", "upgrade"), ("case", "list")):
        out = one_line(*args)
        assert said in out and ":p@" not in out  # and never the password


def test_a_file_that_is_not_a_database(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCT_DATABASE_URL", f"sqlite:///{desk / 'bin'}")
    assert "is not a SQLite database" in one_line("case", "list")


def test_an_anonymous_report_needs_the_key_the_others_were_sealed_with(desk: Path) -> None:
    run("secret-key")  # prints a key; two of them, to files
    for name in ("a", "b"):
        (desk / name).write_text(run("secret-key").strip())
    report = ("report", "--subject", "sam", "--reporter", "riley", "--anonymous",
              "--channel", "#g")
    env = CliRunner(env={"CONDUCT_SECRET_KEY_FILE": str(desk / "a")})
    assert env.invoke(cli.app, [*report, "--message-id", "m1"]).exit_code == 0
    assert cases(desk) == 1
    for key in ("b", None):  # another key, or none: refused before anything is written
        r = CliRunner(env={"CONDUCT_SECRET_KEY_FILE": str(desk / key) if key else None}) \
            .invoke(cli.app, [*report, "--message-id", "m2"])
        assert r.exit_code == 2 and "CONDUCT_SECRET_KEY" in r.output, r.output
        assert cases(desk) == 1


def test_an_empty_message_id_is_no_message_id(desk: Path) -> None:
    for reporter in ("riley", "jo"):
        out = run("report", "--subject", "sam", "--reporter", reporter, "--channel", "#g",
                  "--message-id", "")
        assert "opened" in out
    assert cases(desk) == 2


def test_a_disabled_admin_is_named_as_such(desk: Path) -> None:
    run("admin", "add", "gg", "--role", "admin", "--password-file", "pw")
    run("admin", "disable", "gg")
    run("report", "--subject", "sam", "--reporter", "riley")
    out = one_line("case", "take", "1", "--admin", "gg")
    assert "gg's account is disabled" in out and "conduct admin enable gg" in out


def test_a_backup_of_a_mistyped_database_is_refused(desk: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCT_DATABASE_URL", f"sqlite:///{desk / 'typo.db'}")
    assert "there is no database file" in one_line("db", "backup", "b.db")
    assert not (desk / "typo.db").exists() and not (desk / "b.db").exists()
    empty = sa.create_engine(f"sqlite:///{desk / 'empty.db'}")
    with empty.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE other (x INTEGER)")
    empty.dispose()
    monkeypatch.setenv("CONDUCT_DATABASE_URL", f"sqlite:///{desk / 'empty.db'}")
    assert "not the desk's database" in one_line("db", "backup", "b.db")
    monkeypatch.setenv("CONDUCT_DATABASE_URL", f"sqlite:///{desk / 'bin'}")
    assert "not the desk's database" in one_line("db", "backup", "b.db")
    assert not (desk / "b.db").exists()


@pytest.mark.parametrize("person", [":sam", "slack:", "sam:", "s" * 301])
def test_a_person_id_the_desk_cannot_read_opens_no_case(desk: Path, person: str) -> None:
    for flag in ("--subject", "--reporter", "--hurt"):
        args = {"--subject": "sam", "--reporter": "riley", flag: person}
        out = one_line("report", *(x for kv in args.items() for x in kv), "--message-id", "m1")
        assert "slack:U123" in out  # says how an id is written
    assert cases(desk) == 0
    assert "slack:U123" in one_line("admin", "add", "hh", "--role", "admin", "--password-file",
                                    "pw", "--identity", person)


def test_a_platform_account_belongs_to_one_desk_account(desk: Path) -> None:
    run("admin", "add", "hh3", "--role", "admin", "--password-file", "pw",
        "--identity", "sandbox:riley")
    out = one_line("admin", "add", "hh4", "--role", "admin", "--password-file", "pw",
                   "--identity", "sandbox:riley")
    assert "sandbox:riley is hh3's already" in out
    # spaces around either part are no part of the id
    run("report", "--subject", "slack: U1", "--reporter", "riley")
    assert "slack:U1" in run("case", "list")


def test_a_setting_set_empty_is_unset(desk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUCT_POLICY", "")
    monkeypatch.setenv("CONDUCT_SECRET_KEY_FILE", " ")
    out = run("case", "list")  # the default policy, and no key: as when they are unset
    assert "not found" not in out and "cannot be read" not in out
    run("report", "--subject", "sam", "--reporter", "riley")
    assert "sandbox:sam" in run("case", "list")


def test_account_commands_say_what_to_give(desk: Path) -> None:
    # CliRunner's stdin is no terminal, as in a script or a pipe
    out = one_line("admin", "add", "bo", "--role", "admin")
    assert "--password-file" in out
    out = one_line("admin", "email", "ana", "--address", "a@example.org", "--off")
    assert "one at a time" in out
