"""Email notices, against a real SMTP server on loopback (aiosmtpd).

A report that opens a case reaches the on-duty admins' inboxes with a link to the case and
nothing of the report; each admin gets only the kinds they chose, while on duty, and never
when disabled or involved; a temporary refusal (451) is tried again and delivered, a
permanent one (550) fails and shows on the case; the SMTP password is in no log line.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from tests.conftest import SECRET_KEY
from tests.support.smtp import Inbox, smtp_server
from tests.support.web import PASSWORD, csrf_of, sign_in

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.accounts import Account, Role
from conduct_desk.domain.emails import ALL_KINDS, EmailKind
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.model import Source
from conduct_desk.domain.notices import NoticeStatus
from conduct_desk.domain.people import PersonRef
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, views
from conduct_desk.service import commands as c
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.web.app import create_app

SMTP_PASSWORD = "hunter2-smtp-Secret-9f1c"
BASE = "http://desk.example.org"  # http: the test client signs in over http
SAM, RILEY = PersonRef("sandbox", "sam"), PersonRef("sandbox", "riley")
REPORT_WORDS = "told me people like me should not write code"


@pytest.fixture
def server() -> Iterator[tuple[Inbox, int]]:
    with smtp_server(user="desk", password=SMTP_PASSWORD) as found:
        yield found


def _settings(engine: Engine, port: int, password: str = SMTP_PASSWORD) -> Settings:
    return Settings(database_url=str(engine.url), secret_key=SecretStr(SECRET_KEY), base_url=BASE,
                    smtp_host="127.0.0.1", smtp_port=str(port), smtp_starttls="false",
                    smtp_user="desk", smtp_password=SecretStr(password),
                    smtp_from="conduct@example.org")


def _desk(engine: Engine, clock: FakeClock, sandbox: SandboxPlatform, policy: Policy, port: int,
          password: str = SMTP_PASSWORD) -> App:
    return bootstrap(_settings(engine, port, password), engine=engine, policy=policy, clock=clock,
                     platforms={"sandbox": sandbox})


@pytest.fixture
def mail_app(engine: Engine, clock: FakeClock, sandbox: SandboxPlatform, policy: Policy,
             server: tuple[Inbox, int]) -> App:
    return _desk(engine, clock, sandbox, policy, server[1])


def _account(app: App, name: str, email: str | None, kinds: frozenset[EmailKind] = ALL_KINDS, *,
             role: Role = Role.MODERATOR, identities: tuple[str, ...] = (),
             disabled: bool = False) -> None:
    with app.uow() as uow:
        uow.accounts.add_admin(Account(name=name, role=role, password_hash="not a hash",
                                       created_at=app.desk.clock.now(), identities=identities,
                                       disabled=disabled, email=email,
                                       email_kinds=kinds if email else frozenset()))
        uow.commit()


def _file(app: App, subject: PersonRef = SAM, message_id: str = "m1") -> int:
    return int(app.bus.handle(c.FileReport(
        subject=subject, reporter=RILEY, source=Source.CLI, channel="#general",
        message_id=message_id, message_text=REPORT_WORDS)).case_id)


def _emails(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(tables.notices).where(
            tables.notices.c.kind == "email").order_by(tables.notices.c.id)).mappings()]


def test_a_report_reaches_the_on_duty_admins_inbox_with_a_link_and_no_report(
        mail_app: App, server: tuple[Inbox, int]) -> None:
    inbox, _ = server
    _account(mail_app, "ana", "ana@example.org")
    _account(mail_app, "bo", None)  # no address: nothing
    _account(mail_app, "dee", "dee@example.org", disabled=True)  # disabled: never
    _account(mail_app, "obs", "obs@example.org", role=Role.OBSERVER)  # may not act: not on duty
    case_id = _file(mail_app)
    [mail] = inbox.messages
    assert mail["To"] == "ana@example.org" and mail["From"] == "conduct@example.org"
    assert inbox.logged_in == [True]
    assert mail["Subject"] == f"Case {case_id}: a new case waits for an admin"
    body = mail.get_content()
    assert f"{BASE}/cases/{case_id}" in body
    assert mail.get_content_type() == "text/plain"
    for private in (REPORT_WORDS, "riley", "sam", "#general"):
        assert private not in body and private not in mail["Subject"]
    [row] = _emails(mail_app.engine)
    assert row["status"] == NoticeStatus.SENT and row["to_id"] == "ana@example.org"


def test_each_admin_gets_only_what_they_chose_while_on_duty(
        engine: Engine, clock: FakeClock, sandbox: SandboxPlatform, policy: Policy,
        server: tuple[Inbox, int]) -> None:
    inbox, port = server
    duty = dataclasses.replace(policy, on_duty=("ana", "slack:UCY"), backup=("bo",))
    app = _desk(engine, clock, sandbox, duty, port)
    _account(app, "ana", "ana@example.org", frozenset({EmailKind.NEW_CASE, EmailKind.BACKUP}))
    _account(app, "cy", "cy@example.org", frozenset({EmailKind.APPEAL, EmailKind.REMINDER}),
             identities=("slack:UCY",))  # on duty by a platform identity
    _account(app, "bo", "bo@example.org", frozenset({EmailKind.BACKUP, EmailKind.NEW_CASE}))
    _account(app, "zed", "zed@example.org")  # chose everything, but not on duty

    case_id = _file(app)
    assert [m["To"] for m in inbox.messages] == ["ana@example.org"]  # bo and zed: not on duty

    clock.advance(duty.deadlines.take_within + timedelta(minutes=1))
    app.bus.handle(c.RunDueTimers(worker="w1"))
    assert [m["To"] for m in inbox.messages[1:]] == ["cy@example.org"]
    assert "reminder, nobody has taken it yet" in inbox.messages[1]["Subject"]

    clock.advance(duty.deadlines.escalate_after + timedelta(minutes=1))
    app.bus.handle(c.RunDueTimers(worker="w1"))
    assert [m["To"] for m in inbox.messages[2:]] == ["bo@example.org"]  # the backup, not ana
    assert inbox.messages[2]["Subject"] == f"Case {case_id}: you are paged as a backup admin"

    app.bus.handle(c.Appeal(case_id, SAM, "I was quoting someone else, please look again"))
    assert [m["To"] for m in inbox.messages[3:]] == ["cy@example.org"]
    assert "please look again" not in inbox.messages[3].get_content()

    # a case about ana (her platform identity) is not hers to hear about
    with app.uow() as uow:
        ana = uow.accounts.admin_by_name("ana")
        assert ana is not None
        uow.accounts.save_admin(dataclasses.replace(ana, identities=("sandbox:ana",)))
        uow.commit()
    _file(app, PersonRef("sandbox", "ana"), "m2")
    assert len(inbox.messages) == 4
    # nor a case about an account linked to hers (issue 12: a linked account is hers)
    _account(app, "lead", None, role=Role.ADMIN)  # an admin's account: another admin links it
    app.bus.handle(c.LinkAccounts(("web:ana", "slack:UANA2"), "lead"))
    _file(app, PersonRef("slack", "UANA2"), "m3")
    assert len(inbox.messages) == 4
    _file(app, PersonRef("slack", "USOMEONE"), "m4")  # while a case about anyone else is
    assert [m["To"] for m in inbox.messages[4:]] == ["ana@example.org"]


def test_a_temporary_refusal_is_tried_again_and_delivered(
        mail_app: App, server: tuple[Inbox, int], clock: FakeClock, policy: Policy) -> None:
    inbox, _ = server
    _account(mail_app, "ana", "ana@example.org")
    inbox.refuse_next.append("451 4.3.0 mailbox busy, try later")
    case_id = _file(mail_app)
    assert inbox.messages == []
    [row] = _emails(mail_app.engine)
    assert row["status"] == NoticeStatus.PENDING and row["attempts"] == 1
    assert "451" in str(row["last_error"])
    [state] = views.notice_states(mail_app.uow(), mail_app.desk, case_id, "email")
    assert state.sentence.startswith("the email to ana@example.org will be sent when the mail "
                                     "server lets us")

    clock.advance(policy.retry.wait(1) + timedelta(seconds=1))
    mail_app.bus.handle(c.RunDueTimers(worker="w1"))
    [mail] = inbox.messages
    assert f"{BASE}/cases/{case_id}" in mail.get_content()
    [row] = _emails(mail_app.engine)
    assert row["status"] == NoticeStatus.SENT and row["attempts"] == 2
    clock.advance(timedelta(hours=1))
    mail_app.bus.handle(c.RunDueTimers(worker="w1"))
    assert len(inbox.messages) == 1  # delivered once
    with mail_app.uow() as uow:
        assert any(e.kind == "notice.sent" and "ana@example.org" in e.summary
                   for e in uow.audit.entries(case_id=case_id))


def test_a_permanent_refusal_fails_and_shows_on_the_case_page(
        mail_app: App, server: tuple[Inbox, int], clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8,
                                                            parallelism=1))
    inbox, _ = server
    accounts.add_admin(mail_app.uow(), clock, "ana", "admin", PASSWORD)
    accounts.set_email(mail_app.uow(), clock, "ana", "ana@example.org", ALL_KINDS)
    inbox.refuse_next.append("550 5.1.1 no such mailbox")
    case_id = _file(mail_app)
    [row] = _emails(mail_app.engine)
    assert row["status"] == NoticeStatus.FAILED and row["attempts"] == 1
    clock.advance(mail_app.desk.policy.deadlines.take_within + timedelta(minutes=1))
    mail_app.bus.handle(c.RunDueTimers(worker="w1"))
    # the failed email is not tried again (the take reminder, a new email, goes out)
    assert [m["Subject"] for m in inbox.messages] == [
        f"Case {case_id}: reminder, nobody has taken it yet"]
    assert [r["status"] for r in _emails(mail_app.engine)] == [NoticeStatus.FAILED,
                                                               NoticeStatus.SENT]
    page = sign_in(create_app(mail_app), "ana").get(f"/cases/{case_id}").text
    assert "Messages not delivered" in page
    assert "the email to ana@example.org could not be sent" in page and "550 5.1.1" in page


def test_the_smtp_password_is_in_no_log_line_nor_error(
        engine: Engine, clock: FakeClock, sandbox: SandboxPlatform, policy: Policy,
        server: tuple[Inbox, int], caplog: pytest.LogCaptureFixture) -> None:
    inbox, port = server
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + SMTP_PASSWORD  # refused at login (535): the error is kept, not the password
    app = _desk(engine, clock, sandbox, policy, port, password=wrong)
    _account(app, "ana", "ana@example.org")
    _file(app)
    assert inbox.messages == []
    [row] = _emails(engine)
    assert row["status"] == NoticeStatus.FAILED and "535" in str(row["last_error"])
    app = _desk(engine, clock, sandbox, policy, port)
    _file(app, message_id="m2")
    assert len(inbox.messages) == 1
    ours = [r for r in caplog.records if r.name != "mail.log"]  # aiosmtpd, the server, aside
    assert ours, "the desk logged nothing: the test would prove nothing"
    for record in ours:
        assert SMTP_PASSWORD not in record.getMessage()
    assert all(SMTP_PASSWORD not in str(r) for r in _emails(engine))
    assert SMTP_PASSWORD not in repr(_settings(engine, port))
    assert SMTP_PASSWORD not in repr(_settings(engine, port).smtp())


@pytest.mark.parametrize(("env", "named"), [
    ({"smtp_host": "mail.example.org"}, "CONDUCT_SMTP_FROM"),
    ({"smtp_from": "desk@example.org"}, "CONDUCT_SMTP_HOST"),
    ({"smtp_host": "h", "smtp_from": "desk@example.org", "smtp_port": "smtp"}, "CONDUCT_SMTP_PORT"),
    ({"smtp_host": "h", "smtp_from": "desk@example.org", "smtp_starttls": "maybe"},
     "CONDUCT_SMTP_STARTTLS"),
    ({"smtp_host": "h", "smtp_from": "desk@example.org", "smtp_user": "desk"},
     "CONDUCT_SMTP_PASSWORD"),
    ({"smtp_host": "h", "smtp_from": "not an address"}, "CONDUCT_SMTP_FROM"),
    ({"smtp_host": "h", "smtp_from": "desk@example.org", "smtp_user": "desk",
      "smtp_password_file": "/nonexistent/smtp-password"}, "CONDUCT_SMTP_PASSWORD_FILE"),
])
def test_a_missing_or_malformed_smtp_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        Settings(**env).smtp()  # type: ignore[arg-type]


def test_the_password_can_come_from_a_file(tmp_path: object) -> None:
    from pathlib import Path
    assert isinstance(tmp_path, Path)
    secret = tmp_path / "smtp-password"
    secret.write_text(SMTP_PASSWORD + "\n", "utf-8")
    config = Settings(smtp_host="mail.example.org", smtp_from="desk@example.org",
                      smtp_user="desk", smtp_password_file=secret).smtp()
    assert config is not None and config.password == SMTP_PASSWORD
    assert (config.port, config.starttls) == (587, True)


def test_an_admin_chooses_their_emails_on_the_web(mail_app: App, monkeypatch: pytest.MonkeyPatch,
                                                 server: tuple[Inbox, int]) -> None:
    from argon2 import PasswordHasher
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8,
                                                            parallelism=1))
    inbox, _ = server
    accounts.add_admin(mail_app.uow(), mail_app.desk.clock, "mo", "moderator", PASSWORD)
    mo: TestClient = sign_in(create_app(mail_app), "mo")
    page = mo.get("/settings/email")
    assert page.status_code == 200 and "Email me about" in page.text
    r = mo.post("/settings/email", data={"csrf": csrf_of(page.text), "email": "not-an-address",
                                         "kinds": ["new-case"]})
    assert r.status_code == 422 and "(change the email address)" in r.text
    r = mo.post("/settings/email", data={"csrf": csrf_of(page.text), "email": "mo@example.org",
                                         "kinds": ["appeal"]})
    assert r.status_code == 303
    _file(mail_app)
    assert inbox.messages == []  # mo chose appeals only
    r = mo.post("/settings/email", data={"csrf": csrf_of(page.text), "email": "mo@example.org",
                                         "kinds": ["new-case", "appeal"]})
    _file(mail_app, message_id="m2", subject=PersonRef("sandbox", "kim"))
    assert [m["To"] for m in inbox.messages] == ["mo@example.org"]
    assert 'id="waiting"' in mo.get("/queue").text
