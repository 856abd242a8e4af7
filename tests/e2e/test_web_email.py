"""Email notices in Chromium: an admin chooses their emails on the desk, the next report reaches
their inbox (a real SMTP server on loopback), and the header counts the cases not yet taken.
Screenshots at 1280 and 390 px."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from tests.conftest import SECRET_KEY
from tests.e2e.test_web_browser import base_url, browser, page, shot, sign_in  # noqa: F401
from tests.support.smtp import Inbox, smtp_server
from tests.support.web import PASSWORD, file_case

from conduct_desk.bootstrap import App, bootstrap
from conduct_desk.config import Settings
from conduct_desk.domain.policy import Policy
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands
from conduct_desk.service.clock import FakeClock


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as found:
        yield found


@pytest.fixture
def app(engine: Engine, clock: FakeClock, sandbox: SandboxPlatform, policy: Policy,
        inbox: tuple[Inbox, int]) -> App:
    """The desk with a mail server (no TLS, no login: loopback only)."""
    settings = Settings(database_url=str(engine.url), secret_key=SecretStr(SECRET_KEY),
                        base_url="http://desk.example.org", smtp_host="127.0.0.1",
                        smtp_port=str(inbox[1]), smtp_starttls="false",
                        smtp_from="conduct@example.org")
    return bootstrap(settings, engine=engine, policy=policy, clock=clock,
                     platforms={"sandbox": sandbox})


def _fits(page: Page) -> bool:  # noqa: F811
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_an_admin_chooses_emails_and_the_header_counts_cases_waiting(
        app: App, page: Page, inbox: tuple[Inbox, int]) -> None:  # noqa: F811
    received, _ = inbox
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    file_case(app)
    taken = file_case(app, subject="kim")
    app.bus.handle(commands.TakeCase(taken, "ana"))
    sign_in(page, "ana")
    waiting = page.locator("#waiting")
    expect(waiting).to_have_text("Not yet taken: 1 case")  # the taken one is not waiting

    page.get_by_role("link", name="Email notices").click()
    expect(page.get_by_role("heading", name="Email notices")).to_be_visible()
    expect(page.locator("#you-on-duty")).to_contain_text("on duty")
    page.get_by_label("Your email address").fill("ana@example.org")
    page.get_by_label("New cases").check()
    page.get_by_label("Appeals").check()
    page.get_by_role("button", name="Save email choices").click()
    expect(page.get_by_role("status")).to_have_text("Your email choices are saved.")
    expect(page.get_by_label("New cases")).to_be_checked()
    expect(page.get_by_label("Deadline reminders")).not_to_be_checked()
    shot(page, "email-settings-1280")

    case_id = file_case(app, subject="lee")
    [mail] = received.messages
    assert mail["To"] == "ana@example.org"
    assert f"http://desk.example.org/cases/{case_id}" in mail.get_content()
    page.reload()
    expect(waiting).to_have_text("Not yet taken: 2 cases")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(waiting).to_be_visible()
    assert _fits(page), "the email notices page scrolls sideways at 390 px"
    shot(page, "email-settings-390")
    waiting.click()
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()
