"""The web desk in Chromium: an admin, a member and a subject, each with a real browser
against a real uvicorn server on loopback. Each test saves a screenshot."""

from __future__ import annotations

import re
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.support.accounts import add_admins
from tests.support.web import PASSWORD, file_case

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands
from conduct_desk.web.app import create_app
from conduct_desk.web.routes import queue
from conduct_desk.web.security import WebConfig

CHROMIUM = "/usr/bin/chromium"
# a busy CI machine can take longer than Playwright's 5 s to render a page: wait up to 15 s
expect.set_options(timeout=15_000)
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install chromium`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def base_url(app: App) -> Iterator[str]:
    """Serve the desk with uvicorn in a thread, on a socket bound before it starts (so no
    waiting: connections queue until the server accepts them)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    web = create_app(app, WebConfig(min_fill=timedelta(0)))  # the fake clock does not move
    server = uvicorn.Server(uvicorn.Config(web, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    if thread.is_alive():  # a connection kept open: stop without waiting for it
        server.force_exit = True
        thread.join(timeout=10)
    sock.close()
    assert not thread.is_alive(), "the web server did not stop; it would outlive the database"


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused: list[str] = []  # the CSP refusing something a page needs (an inline style, a script)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text
            or "Refused to" in m.text else None)
    yield page
    context.close()
    assert refused == [], refused


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, name: str) -> None:
    page.goto("/signin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()


def test_an_admin_walks_one_case_up_every_rung(app: App, page: Page) -> None:
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    file_case(app)
    sign_in(page, "ana")
    page.get_by_role("link", name="Case 1").click()
    page.get_by_role("button", name="Take this case").click()
    expect(page.get_by_role("status")).to_contain_text("The case is yours now")
    for step in ("remind", "suggest", "remove", "warn", "suspend", "ban"):
        if step == "ban":
            page.get_by_label("Person you talked with").fill("sandbox:jo")
            page.get_by_label("What they said, or why it was not possible").fill(
                "jo would feel safer if sam left for good")
            page.get_by_role("button", name="Record the consultation").click()
            expect(page.get_by_role("status")).to_contain_text("consultation is recorded")
        expect(page.get_by_role("heading", name=f"Recommended next: {step}")).to_be_visible()
        page.get_by_role("link", name=f"{step.capitalize()}…").click()
        message = page.get_by_label("The exact message that will be sent")
        expect(message).to_be_visible()
        if step == "suggest":
            page.get_by_label("The alternative to suggest").fill(
                "talk about the code, not the person who wrote it")
            page.get_by_role("button", name="Update the message").click()
            expect(message).to_have_value(re.compile("talk about the code, not the person"))
        if step == "warn":
            message.fill(message.input_value() + "\nThanks for taking this seriously.")
        page.get_by_role("button", name=f"Send: {step}").click()
        expect(page.get_by_role("status")).to_contain_text("The step is recorded")
        expect(page.locator("#steps tbody tr").last).to_contain_text(step)
    expect(page.locator("#steps")).to_contain_text("done")
    shot(page, "admin-every-rung")


def test_a_member_reports_anonymously_and_follows_the_link(app: App, page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Report a problem").first.click()
    page.get_by_label("Who is it about?").fill("sam")
    page.get_by_label("What happened?").fill("Told me people like me shouldn't write code.")
    page.get_by_label("Keep me anonymous").check()
    page.get_by_label("Others who were hurt").fill("jo")
    page.get_by_role("button", name="Send to the admins").click()
    expect(page.get_by_role("heading", name="Thank you for telling us")).to_be_visible()
    page.locator("#status-link").click()
    expect(page.get_by_role("heading", name="Your report")).to_be_visible()
    expect(page.locator("#where")).to_contain_text("Waiting for an admin")
    add_admins(app, "ana")
    app.bus.handle(commands.TakeStep(1, "remind", "ana"))
    page.reload()
    expect(page.locator("#where")).to_contain_text("acting on it")
    expect(page.locator("main")).not_to_contain_text("sam")
    shot(page, "member-status")


def test_a_subject_confirms_rereading_and_appeals(app: App, page: Page) -> None:
    file_case(app)
    add_admins(app, "ana")
    app.bus.handle(commands.TakeStep(1, "warn", "ana", reason="a harsh one"))
    with app.uow() as uow:
        token = uow.cases.get(1).subject_token
    page.goto(f"/s/{token}")
    expect(page.get_by_role("heading", name="What the admins sent you")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("riley")
    page.get_by_role("button", name="I have re-read the Code of Conduct").click()
    expect(page.get_by_role("status")).to_contain_text("re-read it")
    page.get_by_label("What should the admins know?").fill("I was quoting someone; I see now "
                                                          "it read badly.")
    page.get_by_role("button", name="Send my appeal").click()
    expect(page.get_by_role("status")).to_contain_text("Your appeal is with the admins")
    shot(page, "subject-appeal")
    with app.uow() as uow:
        assert [n.kind for n in uow.cases.get(1).notes] == ["reread", "appeal"]


def test_the_queue_works_with_the_keyboard_alone(app: App, page: Page) -> None:
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    file_case(app, subject="lee", reporter=None, hurt=())
    file_case(app, subject="sam", reporter="kim", hurt=())
    file_case(app, subject="max", reporter=None, hurt=(), flagrant=True)
    page.goto("/signin")
    # the name field has focus on arrival (wait for it: keys sent before it lands are lost)
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type("ana")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # past the filters and the search, straight to the cases
    expect(page.get_by_role("link", name="Skip to the cases")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Select case 3")).to_be_focused()  # flagrant: first in the queue
    page.keyboard.press("Tab")
    first = page.get_by_role("link", name="Case 3")
    expect(first).to_be_focused()
    shot(page, "queue-keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Case 3 about sandbox:max")).to_be_visible()



def test_the_queue_pages_with_the_keyboard_alone(app: App, page: Page,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    for name in ("lee", "sam", "max"):
        file_case(app, subject=name, reporter=None, hurt=())
    sign_in(page, "ana")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the cases")).to_be_focused()
    page.keyboard.press("Enter")
    reached: list[str] = []  # the links the keyboard reaches, in order, until the pager's
    for _ in range(30):
        page.keyboard.press("Tab")
        name = page.evaluate("document.activeElement.tagName === 'A' ? "
                             "document.activeElement.innerText : ''")
        if name:
            reached.append(name)
        if name == "Next 1":
            break
    assert [n for n in reached if n in ("Case 1", "Case 2", "Next 1")] == [
        "Case 1", "Case 2", "Next 1"]  # the pager comes after the cases
    page.keyboard.press("Enter")
    expect(page).to_have_title(re.compile(r"^Queue, page 2"))
    expect(page.get_by_role("navigation", name="Queue pages")).to_contain_text("Case 3 of 3 (page 2 of 2)")
    shot(page, "queue-page-2")
    page.get_by_role("link", name="Case 3", exact=True).focus()
    for _ in range(10):  # past the row's Take button to the pager
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.innerText") == "Previous 2":
            break
    expect(page.get_by_role("link", name="Previous 2")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Case 1", exact=True)).to_be_visible()


SMALLEST_TEXT = """() => {
  let smallest = Infinity;
  for (const svg of document.querySelectorAll("figure.chart svg")) {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    for (const t of svg.querySelectorAll("text")) {
      smallest = Math.min(smallest, parseFloat(getComputedStyle(t).fontSize) * scale);
    }
  }
  return smallest;
}"""


@pytest.mark.parametrize("width", [390, 1280])
def test_stats_are_readable_at_every_width(app: App, page: Page, width: int) -> None:
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    for name in ("lee", "sam", "max"):
        case_id = file_case(app, subject=name, reporter=None, hurt=())
        app.bus.handle(commands.TakeStep(case_id, "remind", "ana"))
    app.bus.handle(commands.TakeStep(3, "warn", "ana", reason="a second message, same day"))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, "ana")
    page.goto("/stats")
    expect(page.get_by_role("heading", name="Steps by rung")).to_be_visible()
    assert page.evaluate(SMALLEST_TEXT) >= 12  # every label and value, as drawn
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # the figures, for a screen reader, in a table of their own
    steps = page.get_by_role("table", name="Steps taken, by rung")
    expect(steps.get_by_role("row", name="remind 3")).to_be_attached()
    expect(steps.get_by_role("row", name="warn 1")).to_be_attached()
    expect(page.get_by_role("table", name="Time until a case was taken")).to_be_attached()
    shot(page, f"stats-{width}")


def test_preparing_a_step_puts_the_keyboard_in_the_draft(app: App, page: Page) -> None:
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    file_case(app)
    sign_in(page, "ana")
    page.get_by_role("link", name="Case 1").click()
    page.get_by_role("button", name="Take this case").click()
    page.get_by_role("link", name="Remind…").click()
    draft = page.get_by_label("The exact message that will be sent")
    expect(draft).to_be_focused()
    page.keyboard.type("Thank you for reading this. ")  # straight into the message, no click
    expect(draft).to_have_value(re.compile(r"^Thank you for reading this\. Hi sam"))
    shot(page, "compose-focus")


def _fits(page: Page, selector: str, width: int) -> None:
    """Nothing in ``selector`` reaches past the window: no sideways scrolling for it."""
    right = page.eval_on_selector(selector, "e => Math.max(...[e, ...e.querySelectorAll('*')]"
                                            ".map(x => x.getBoundingClientRect().right))")
    assert right <= width + 0.5, (selector, right)


def test_an_appeal_in_the_queue_and_its_decision(app: App, page: Page,
                                                 sandbox: SandboxPlatform) -> None:
    for name in ("ana", "bo"):
        accounts.add_admin(app.uow(), app.desk.clock, name, "admin", PASSWORD)
    file_case(app)
    file_case(app, subject="lee", reporter="kim")
    app.bus.handle(commands.TakeStep(1, "remind", "ana"))
    app.bus.handle(commands.TakeStep(1, "warn", "ana", reason="it went on"))
    app.bus.handle(commands.Appeal(1, PersonRef("sandbox", "sam"), "I was quoting a film."))
    sign_in(page, "bo")
    expect(page.locator("tr", has_text="Case 1")).to_contain_text("appeal waiting")
    page.get_by_role("link", name="Appeals waiting").click()
    expect(page.get_by_role("heading", name="Queue: appeals")).to_be_visible()
    expect(page.get_by_role("link", name="Case 1", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Case 2", exact=True)).to_have_count(0)
    shot(page, "queue-appeals-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page, "main", 390)
    shot(page, "queue-appeals-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="Case 1", exact=True).click()
    appeal = page.locator("#appeal")
    expect(appeal.get_by_role("heading", name="Appeal waiting for a decision")).to_be_visible()
    expect(appeal).to_contain_text("I was quoting a film.")
    expect(appeal).to_contain_text("at the warn ana took")
    # a changed decision without the step to change to: the error is at that list
    appeal.get_by_role("radio", name=re.compile("Changed")).check()
    appeal.get_by_role("button", name="Show the message").click()
    replace = page.get_by_label("Replace it with (only for “changed”)")
    expect(replace).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#to-error")).to_contain_text("the “Replace it with” list")
    replace.select_option("remind")
    page.locator("#appeal").get_by_role("button", name="Show the message").click()
    message = page.get_by_label("The exact message the person will get")
    expect(message).to_have_value(re.compile("replaced it with a reminder"))
    expect(page.locator("main")).not_to_contain_text("--")
    shot(page, "appeal-decision-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page, "#appeal", 390)
    shot(page, "appeal-decision-390")
    message.fill(message.input_value() + " Thank you for writing to us.")
    page.get_by_role("button", name="Decide: changed").click()
    expect(page.get_by_role("status")).to_contain_text("The appeal is decided")
    expect(page.locator("#steps")).to_contain_text("set aside on appeal")
    told = [c.text or "" for c in sandbox.calls if c.method == "send_dm"]
    assert told[-1].endswith("Thank you for writing to us.") and "riley" not in told[-1]
    page.goto("/queue?appeals=1")
    expect(page.get_by_text("No appeals are waiting for a decision.")).to_be_visible()
    with app.uow() as uow:
        token = uow.cases.get(1).subject_token
    page.goto(f"/s/{token}")
    expect(page.get_by_role("heading", name=re.compile("Your appeal was changed"))).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("riley")
    shot(page, "subject-appeal-decided-390")
