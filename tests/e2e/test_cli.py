"""The ``conduct`` command as an admin uses it: real processes, a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

import conduct_desk
from conduct_desk.storage import tables
from conduct_desk.storage.db import create_engine, head_revision


class Conduct:
    def __init__(self, cwd: Path, db_url: str) -> None:
        self.cwd = cwd
        # the processes run the code this test imported, whatever the working directory
        here = str(Path(conduct_desk.__file__).parents[1])
        self.env = {**os.environ, "CONDUCT_DATABASE_URL": db_url,
                    "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
        self.env.pop("CONDUCT_POLICY", None)
        self.printed: list[str] = []  # everything every call wrote, stdout and stderr

    def __call__(self, *args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([sys.executable, "-m", "conduct_desk", *args], cwd=self.cwd,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=120)
        self.printed += [done.stdout, done.stderr]
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done.stdout if code == 0 else done.stderr

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))


@pytest.fixture
def conduct(tmp_path: Path) -> Conduct:
    return Conduct(tmp_path, f"sqlite:///{tmp_path / 'conduct.db'}")


def add_accounts(conduct: Conduct, **roles: str) -> None:
    """Accounts the commands can name with --admin (the desk acts only for admins it knows),
    written straight to the database: `conduct admin add` is tested on its own below."""
    engine = create_engine(conduct.env["CONDUCT_DATABASE_URL"])
    with engine.begin() as conn:
        for name, role in roles.items():
            conn.execute(tables.admins.insert().values(
                name=name, role=role, password_hash="not a hash", identities=[],
                created_at=datetime.now(UTC), disabled=False))
    engine.dispose()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_an_admin_works_a_case_from_the_command_line(conduct: Conduct) -> None:
    err = conduct("case", "list", code=2)
    assert one_line(err).startswith("error: the database sqlite:///")
    assert "run `conduct db upgrade` first" in err
    head = f"revision {head_revision()}"
    assert head in conduct("db", "upgrade")
    assert head in conduct("db", "upgrade")  # safe to run again
    add_accounts(conduct, ana="admin", bo="admin", riley="moderator", mo="moderator")

    out = conduct("report", "--subject", "sam", "--reporter", "riley", "--channel", "#general",
                  "--message-id", "m1", "--said", "you people are the problem",
                  "--text", "it was aimed at my team", "--hurt", "jo")
    assert out.strip() == "case 1: report 1 opened"
    out = conduct("report", "--subject", "sam", "--anonymous", "--channel", "#general",
                  "--message-id", "m1")
    assert "joined the open case" in out

    cases = conduct.json("case", "list")
    assert isinstance(cases, list) and cases[0]["id"] == 1 and cases[0]["deadline"] == "on time"
    conduct("case", "take", "1", "--admin", "bo")
    err = conduct("case", "step", "1", "remind", "--admin", "ana", code=2)
    assert "taken by bo" in one_line(err) and "hand it over" in err
    assert "case 1 is ana's now" in conduct("case", "hand-over", "1", "--admin", "bo", "--to", "ana")
    assert "involved" in one_line(conduct("case", "hand-over", "1", "--admin", "ana", "--to",
                                          "riley", code=2))  # riley reported it
    err = conduct("case", "take", "1", "--admin", "nobody", code=2)
    assert one_line(err) == ("error: unknown admin 'nobody' (--admin); known: ana, bo, mo, riley — "
                             "add one with `conduct admin add NAME --role moderator`")
    err = conduct("case", "resolve", "1", "--admin", "mo", "--outcome", "apologized", code=2)
    assert "case 1 is ana's; only they, or an admin with the admin role" in one_line(err)
    assert "case 1: step #1 remind: done" in conduct("case", "step", "1", "remind", "--admin", "ana")
    preview = conduct("case", "preview", "1", "suggest", "--admin", "ana", "--suggestion",
                      "talk about code, not people")
    assert "talk about code, not people" in preview
    conduct("case", "step", "1", "suggest", "--admin", "ana")
    conduct("case", "step", "1", "remove", "--admin", "ana")
    conduct("case", "step", "1", "warn", "--admin", "ana")

    err = conduct("case", "step", "1", "suspend", "--admin", "ana", "--duration", "3d", code=2)
    assert one_line(err) == ("error: a suspend lasts from 12h to 1d in this policy; 3d is "
                             "outside that")
    err = conduct("case", "step", "1", "suspend", "--admin", "ana", "--duration", "soon", code=2)
    assert "malformed --duration 'soon'" in one_line(err)
    assert "suspend: done" in conduct("case", "step", "1", "suspend", "--admin", "ana",
                                      "--duration", "12h")
    err = conduct("case", "step", "1", "ban", "--admin", "ana", code=2)
    assert "consult the people who were hurt before a ban" in one_line(err)
    conduct("case", "consult", "1", "--admin", "ana", "--person", "jo", "--summary", "agrees")
    assert "ban: done" in conduct("case", "step", "1", "ban", "--admin", "ana")
    conduct("case", "resolve", "1", "--admin", "ana", "--outcome", "steps-taken")

    shown = conduct.json("case", "show", "1")
    assert isinstance(shown, dict)
    assert [s["rung"] for s in shown["steps"]] == ["remind", "suggest", "remove", "warn", "suspend", "ban"]
    assert [r["reporter"] for r in shown["reports"]] == ["sandbox:riley", "anonymous"]
    assert shown["state"] == "resolved"
    text = conduct("case", "show", "1")
    assert "> you people are the problem" in text and "consultation with sandbox:jo" in text
    assert "pasted by the reporter; may be quoted" in text
    assert "the reporter's account (admins only)" in text and "aimed at my team" in text
    assert "aimed at my team" not in " ".join(s["text"] for s in shown["steps"])

    person = conduct.json("person", "show", "sam")
    assert isinstance(person, dict) and [c["id"] for c in person["cases"]] == [1]
    assert "ana" in conduct("audit", "--case", "1")


@pytest.mark.parametrize(("args", "message"), [
    (("case", "show", "42"), "error: there is no case 42; see `conduct case list`"),
    (("case", "show", "abc"), "error: case id 'abc' is not a number"),
    (("case", "reopen", "1", "--admin", "ana"), "error: case 1 is new, not resolved; nothing to reopen"),
    (("case", "resolve", "1", "--admin", "ana", "--outcome", "fixed"), "error: unknown outcome 'fixed'"),
    (("case", "take", "1", "--admin", "riley"), "error: riley is involved in case 1 and must step aside"),
    (("case", "step", "1", "kick", "--admin", "ana"), "error: no step 'kick' in the guide ladder"),
    (("person", "show", "nobody"), "error: no case is about sandbox:nobody"),
    (("case", "take", "1", "--admin", "nobody"), "error: unknown admin 'nobody' (--admin); known: "
                                                 "ana, riley — add one with `conduct admin add"),
    (("case", "hand-over", "1", "--admin", "ana", "--to", "nobody"),
     "error: unknown admin 'nobody' (--to); known: ana, riley"),
    (("case", "list", "--state", "weird"), "error: unknown state 'weird'"),
])
def test_mistakes_get_one_line_and_lose_nothing(conduct: Conduct, args: tuple[str, ...], message: str) -> None:
    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin", riley="admin")
    conduct("report", "--subject", "sam", "--reporter", "riley")
    err = conduct(*args, code=2)
    assert one_line(err).startswith(message)
    assert len(conduct.json("case", "list", "--state", "all")) == 1  # type: ignore[arg-type]


def test_an_appeal_is_listed_and_decided_from_the_command_line(conduct: Conduct) -> None:
    from conduct_desk.bootstrap import bootstrap
    from conduct_desk.config import Settings
    from conduct_desk.domain.people import PersonRef
    from conduct_desk.service import commands

    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin", bo="admin")
    conduct("report", "--subject", "sam", "--reporter", "riley", "--hurt", "jo")
    conduct("case", "consult", "1", "--admin", "ana", "--person", "jo", "--summary", "agrees")
    conduct("case", "step", "1", "ban", "--admin", "ana", "--reason", "flagrant threats")
    assert conduct("case", "list", "--appeals").strip() == "no appeals waiting"
    # the person appeals from their own page (the same service call)
    app = bootstrap(Settings(database_url=conduct.env["CONDUCT_DATABASE_URL"]))
    app.bus.handle(commands.Appeal(1, PersonRef("sandbox", "sam"), "I was quoting a film."))
    app.engine.dispose()
    assert "APPEAL (decide by" in conduct("case", "list", "--appeals")
    assert "APPEAL waiting" in conduct("case", "show", "1")
    err = conduct("case", "appeal-decide", "1", "--admin", "ana", "--decision", "overturned",
                  code=2)
    assert one_line(err) == ("error: ana took the step under appeal (ban), so another admin "
                             "decides the appeal")
    err = conduct("case", "appeal-decide", "1", "--admin", "bo", "--decision", "changed", code=2)
    assert "needs --to" in one_line(err) and "suspend" in err
    preview = conduct("case", "appeal-decide", "1", "--admin", "bo", "--decision", "changed",
                      "--to", "suspend", "--duration", "12h", "--preview")
    assert "replaced it with a suspension" in preview
    assert "no appeals" not in conduct("case", "list", "--appeals")  # a preview decides nothing
    out = conduct("case", "appeal-decide", "1", "--admin", "bo", "--decision", "changed",
                  "--to", "suspend", "--duration", "12h")
    assert out.strip() == "case 1: appeal changed; the person is told"
    assert conduct("case", "list", "--appeals").strip() == "no appeals waiting"
    shown = conduct("case", "show", "1")
    assert "ban by ana: done (set aside on appeal)" in shown
    assert "appeal-changed by bo" in shown


def test_policy_file_with_a_typo(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    assert "wrote conduct.toml" in conduct("init")
    err = conduct("init", code=2)
    assert "already exists" in err
    policy = conduct.cwd / "conduct.toml"
    policy.write_text(policy.read_text().replace("history_window", "histroy_window"))
    err = conduct("report", "--subject", "sam", code=2)
    assert one_line(err) == "error: conduct.toml: histroy_window: unknown key (did you mean 'history_window'?)"
    err = conduct("policy", "check", code=2)
    assert "histroy_window" in err
    err = conduct("policy", "check", "missing.toml", code=2)
    assert one_line(err) == "error: policy file missing.toml not found; create one with `conduct init`"


def test_covenant_preset(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin")
    conduct("init", "--preset", "contributor-covenant-2.1")
    assert "correction → warning → temporary-ban → permanent-ban" in conduct("policy", "check")
    conduct("report", "--subject", "sam", "--reporter", "riley")
    out = conduct("case", "step", "1", "correction", "--admin", "ana")
    assert "correction: done" in out


def test_worker_once_runs_due_timers(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    conduct("report", "--subject", "sam")
    assert "running 0 timer(s)" in conduct("worker", "--once")


def test_demo_tells_the_whole_story() -> None:
    done = subprocess.run([sys.executable, "-m", "conduct_desk", "demo"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for rung in ("remind", "suggest", "remove", "warn", "suspend", "ban"):
        assert f"ana takes '{rung}': done" in out
    assert "Welcome back, sam" in out
    assert "consultation with jo recorded" in out
    assert "the timeline of case 1" in out


def test_serve_says_in_one_line_when_slack_cannot_be_reached(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    err = conduct("serve", "--port", "1", code=2, env={
        "CONDUCT_SLACK_BOT_TOKEN": "xoxb-secret-bot", "CONDUCT_SLACK_APP_TOKEN": "xapp-secret-app",
        "CONDUCT_SLACK_ADMIN_CHANNEL": "C0ADMINS01",
        "CONDUCT_SLACK_API_URL": "http://127.0.0.1:9/api/"})  # nothing listens on port 9
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "cannot reach Slack at http://127.0.0.1:9/api/" in errors[0]
    assert "Traceback" not in err
    assert "secret" not in err


# -- web accounts and API tokens ---------------------------------------------------------------

PASSWORD = "a long enough password"
NEW_PASSWORD = "a brand new password"


def _rows(conduct: Conduct) -> tuple[object, ...]:
    """Every account and token row and the audit log's length, read from the file itself."""
    engine = create_engine(conduct.env["CONDUCT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(sa.select(t).order_by(t.c[first])).all()
                         for t, first in ((tables.admins, "id"), (tables.api_tokens, "id"),
                                          (tables.audit, "id")))
    finally:
        engine.dispose()


def _password_hash(conduct: Conduct, name: str) -> str:
    admins = _rows(conduct)[0]
    return next(r.password_hash for r in admins if r.name == name)  # type: ignore[attr-defined]


def _write(conduct: Conduct, file: str, text: str) -> str:
    (conduct.cwd / file).write_text(text + "\n")
    return file


def test_accounts_and_tokens_from_the_command_line(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    pw = _write(conduct, "pw", PASSWORD)
    conduct("admin", "add", "ana", "--role", "admin", "--password-file", pw)
    conduct("admin", "add", "bo", "--role", "moderator", "--identity", "slack:U1",
            "--password-file", pw)

    # ana is the only admin: neither disabled nor demoted
    for args in (("disable", "ana"), ("role", "ana", "moderator")):
        err = conduct("admin", *args, code=2)
        assert one_line(err) == ("error: ana is the last active admin; add another admin first "
                                 "(`conduct admin add NAME --role admin`)")
    assert conduct("admin", "role", "bo", "ADMIN").strip() == "account bo is now admin"
    assert "already is admin; nothing changed" in conduct("admin", "role", "bo", "admin")
    assert "account ana disabled" in conduct("admin", "disable", "ana")
    assert "already disabled" in conduct("admin", "disable", "ana")
    # a disabled admin does not count: bo is the last active one now
    err = conduct("admin", "role", "bo", "observer", code=2)
    assert one_line(err).startswith("error: bo is the last active admin; add another admin first")

    listed = conduct.json("admin", "list")
    assert isinstance(listed, list)
    assert [(a["name"], a["role"], a["identities"], a["disabled"]) for a in listed] == [
        ("ana", "admin", [], True), ("bo", "admin", ["slack:U1"], False)]
    assert all(set(a) == {"name", "role", "identities", "created_at", "disabled",
                                    "email", "email_kinds"} for a in listed)
    lines = conduct("admin", "list").splitlines()
    assert lines[0].split() == ["ana", "admin", "disabled"]
    assert lines[1].split() == ["bo", "admin", "(slack:U1)"]

    assert "account ana enabled" in conduct("admin", "enable", "ana")
    assert conduct("admin", "role", "bo", "observer").strip() == "account bo is now observer"
    old_hash = _password_hash(conduct, "bo")
    new_pw = _write(conduct, "new-pw", NEW_PASSWORD)
    out = conduct("admin", "password", "bo", "--password-file", new_pw)
    assert out.strip() == "account bo: password changed; its open sessions have ended"
    new_hash = _password_hash(conduct, "bo")
    assert new_hash != old_hash and PasswordHasher().verify(new_hash, NEW_PASSWORD)

    err = conduct("token", "create", "--role", "observer", "--name", "ci-bot", code=2)
    assert one_line(err).startswith("error: a token acts for a web account: add --account NAME")
    ci = conduct("token", "create", "--account", "bo", "--name", "ci-bot").strip()
    conduct("token", "create", "--account", "ana", "--role", "admin", "--name", "deploy")
    assert conduct("token", "revoke", "ci-bot").strip() == \
        "token ci-bot revoked; the API refuses it from now on"
    assert "already revoked; nothing changed" in conduct("token", "revoke", "ci-bot")
    tokens = conduct.json("token", "list")
    assert isinstance(tokens, list)
    assert [(t["name"], t["role"], t["revoked"]) for t in tokens] == [
        ("ci-bot", "observer", True), ("deploy", "admin", False)]
    assert [t["account"] for t in tokens] == ["bo", "ana"]
    assert all(set(t) == {"name", "role", "account", "created_at", "revoked"} for t in tokens)
    lines = conduct("token", "list").splitlines()
    assert lines[0].split()[:4] == ["ci-bot", "observer", "bo", "created"] and lines[0].endswith(" revoked")
    assert not lines[1].endswith("revoked")

    audit = conduct.json("audit")
    assert isinstance(audit, list)
    assert [(e["kind"], e["summary"]) for e in audit if e["kind"] not in (
        "admin.added", "token.created")] == [
        ("admin.role", "web account bo: role moderator -> admin"),
        ("admin.disabled", "web account ana disabled"),
        ("admin.enabled", "web account ana enabled"),
        ("admin.role", "web account bo: role admin -> observer"),
        ("admin.password", "web account bo: password changed"),
        ("token.revoked", "API token ci-bot revoked"),
    ]
    # the token was printed once, by create; no password, hash or token anywhere else
    assert sum(ci in text for text in conduct.printed) == 1
    everything = "".join(conduct.printed) + str(_rows(conduct)[2])
    for secret in (PASSWORD, NEW_PASSWORD, new_hash, "$argon2"):
        assert secret not in everything


@pytest.fixture(scope="module")
def accounts_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with one admin (ana) and one API token (ci-bot), made once and copied."""
    path = tmp_path_factory.mktemp("accounts") / "conduct.db"
    conduct = Conduct(path.parent, f"sqlite:///{path}")
    conduct("db", "upgrade")
    conduct("admin", "add", "ana", "--role", "admin", "--password-file",
            _write(conduct, "pw", PASSWORD))
    conduct("token", "create", "--account", "ana", "--role", "observer", "--name", "ci-bot")
    engine = create_engine(conduct.env["CONDUCT_DATABASE_URL"])
    engine.connect().close()
    engine.dispose()  # the last connection closing folds the WAL into the file we copy
    return path


@pytest.mark.parametrize(("args", "message"), [
    (("admin", "disable", "nobody"), "error: no account named nobody; see `conduct admin list`"),
    (("admin", "enable", "nobody"), "error: no account named nobody; see `conduct admin list`"),
    (("admin", "role", "nobody", "admin"), "error: no account named nobody; see `conduct admin list`"),
    (("admin", "password", "nobody", "--password-file", "pw"),
     "error: no account named nobody; see `conduct admin list`"),
    (("admin", "disable", "ana"), "error: ana is the last active admin; add another admin first"),
    (("admin", "role", "ana", "observer"), "error: ana is the last active admin; add another admin"),
    (("admin", "role", "ana", "boss"), "error: unknown role 'boss': use observer, moderator or admin"),
    (("admin", "password", "ana", "--password-file", "short"),
     "error: the password has 5 characters; use at least 10"),
    (("admin", "password", "ana", "--password-file", "missing"), "error: cannot read missing"),
    (("token", "revoke", "nope"), "error: no API token named nope; see `conduct token list`"),
])
def test_account_mistakes_get_one_line_and_change_nothing(
        accounts_db: Path, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    db = tmp_path / "conduct.db"
    db.write_bytes(accounts_db.read_bytes())
    conduct = Conduct(tmp_path, f"sqlite:///{db}")
    _write(conduct, "pw", PASSWORD)
    _write(conduct, "short", "short")
    before = _rows(conduct)
    err = conduct(*args, code=2)
    assert one_line(err).startswith(message)
    assert _rows(conduct) == before


def test_a_backup_is_taken_while_the_desk_writes_and_holds_every_case(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    conduct("report", "--subject", "sam", "--reporter", "riley", "--channel", "#general",
            "--message-id", "m1", "--text", "it hurt")
    # a writer holds the database open (WAL mode, as `conduct serve` does) while the copy runs
    engine = create_engine(conduct.env["CONDUCT_DATABASE_URL"])
    with engine.connect() as busy:
        busy.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
        said = conduct("db", "backup", "backup.db")
    engine.dispose()
    assert "backed up" in said and "backup.db" in said
    assert not (conduct.cwd / "backup.db.partial").exists()
    copy = conduct.env | {"CONDUCT_DATABASE_URL": f"sqlite:///{conduct.cwd / 'backup.db'}"}
    shown = json.loads(conduct("case", "list", "--json", env=copy))
    assert [(c["id"], c["subject"]) for c in shown] == [(1, "sandbox:sam")]

    # mistakes: one line each, the existing backup untouched
    before = (conduct.cwd / "backup.db").read_bytes()
    assert "--overwrite" in one_line(conduct("db", "backup", "backup.db", code=2))
    assert "does not exist" in one_line(conduct("db", "backup", "no/such/dir/b.db", code=2))
    assert "database itself" in one_line(conduct("db", "backup", "conduct.db", code=2))
    assert (conduct.cwd / "backup.db").read_bytes() == before
    conduct("db", "backup", "backup.db", "--overwrite")


def test_backup_on_postgresql_points_at_pg_dump(conduct: Conduct) -> None:
    err = conduct("db", "backup", "b.db", code=2,
                  env={"CONDUCT_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"})
    assert "pg_dump" in one_line(err)


def test_follow_ups_from_the_command_line(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin", obs="observer")
    conduct("report", "--subject", "sam", "--reporter", "riley", "--text",
            "it was aimed at my team")
    out = conduct("case", "ask", "1", "--admin", "ana", "--report", "1", "--text",
                  "Did anyone else see it?")
    assert "question sent to the reporter of report 1" in out
    err = conduct("case", "ask", "1", "--admin", "ana", "--report", "9", "--text", "x", code=2)
    assert "case 1 has no report 9" in one_line(err)
    err = conduct("case", "write", "1", "--admin", "ana", "--text", "riley was hurt", code=2)
    assert "names someone involved" in one_line(err) and "(change --text)" in err
    err = conduct("case", "write", "1", "--admin", "obs", "--text", "hello", code=2)
    assert "observer role" in one_line(err)
    assert "message sent" in conduct("case", "write", "1", "--admin", "ana", "--text",
                                     "How did you see it?")
    shown = conduct("case", "show", "1")
    assert "ana asked sandbox:riley:" in shown and "> Did anyone else see it?" in shown
    assert "ana wrote to the person it is about:" in shown and "riley was hurt" not in shown


def test_case_list_filters_and_searches(conduct: Conduct) -> None:
    conduct("db", "upgrade")
    add_accounts(conduct, ana="admin")
    conduct("report", "--subject", "sam", "--reporter", "riley", "--message-id", "m1",
            "--text", "they mocked my accent")
    conduct("report", "--subject", "kim", "--reporter", "riley", "--message-id", "m2",
            "--text", "a slur in the standup", "--flagrant")
    conduct("case", "take", "1", "--admin", "ana")
    assert conduct("case", "list", "--mine", "--admin", "ana").startswith("#1 ")
    assert conduct("case", "list", "--unassigned").startswith("#2 ")
    assert conduct("case", "list", "--flagrant").startswith("#2 ")
    assert conduct("case", "list", "--search", "accent").startswith("#1 ")
    assert conduct("case", "list", "--search", "#2").startswith("#2 ")
    assert conduct("case", "list", "--platform", "matrix").strip() == "no cases match these filters"
    assert "say whose with --admin NAME" in conduct("case", "list", "--mine", code=2)
