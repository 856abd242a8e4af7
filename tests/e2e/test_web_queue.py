"""The queue in Chromium (issue 11, items 3 and 4): filters kept in the address, search, taking a
case from its row, resolving several at once, grouping by person; at 1280 and 390 px, with no
sideways scrolling on the queue or the audit log at 390 px."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.e2e.test_web_browser import base_url, browser, shot, sign_in  # noqa: F401
from tests.support.web import PASSWORD, file_case

from conduct_desk.bootstrap import App
from conduct_desk.service import accounts, commands


@pytest.fixture(params=[1280, 390], ids=["1280px", "390px"])
def page(request: pytest.FixtureRequest, browser: Browser, base_url: str) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(base_url=base_url,
                                  viewport={"width": request.param, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    refused: list[str] = []  # the CSP refusing something a page needs
    p.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text
         or "Refused to" in m.text else None)
    yield p
    context.close()
    assert refused == [], refused


def _wide(page: Page) -> int:
    """How far the page scrolls sideways (0: it fits the window)."""
    return int(page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def test_an_admin_filters_searches_takes_and_resolves_from_the_queue(app: App,
                                                                      page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    file_case(app, subject="sam", message_id="m1")
    file_case(app, subject="sam", message_id="m2", flagrant=True)
    file_case(app, subject="a-very-long-handle-that-would-push-the-page-sideways", message_id="m3")
    file_case(app, subject="kim", message_id="m4")
    app.bus.handle(commands.TakeCase(4, "ana"))
    sign_in(page, "ana")
    expect(page.locator("#queue-order")).to_contain_text("flagrant cases, then those where")
    if width == 390:
        assert _wide(page) == 0, "the queue scrolls sideways at 390 px"
        # every value is labelled when the rows stack
        label = page.locator("tr:has(a[href='/cases/1']) td[data-label='Taken by']")
        assert page.evaluate("e => getComputedStyle(e, '::before').content",
                             label.element_handle()) == '"Taken by: "'
    shot(page, f"queue-{width}")

    # filters, kept in the address, shown, and cleared
    page.get_by_label("nobody has taken").check()
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/queue\?.*unassigned=1"))
    expect(page.get_by_role("status").filter(has_text="Showing only")).to_contain_text(
        "nobody has taken")
    expect(page.locator("a.case-link")).to_have_count(3)
    page.get_by_role("link", name="Clear every filter").click()
    expect(page.locator("a.case-link")).to_have_count(4)

    # search by person, grouped by person
    page.get_by_label("Search: case number, person or words in the reports").fill("sam")
    page.get_by_label("group by person").check()
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="sandbox:sam")).to_be_visible()
    expect(page.locator("a.case-link")).to_have_count(2)
    shot(page, f"queue-search-grouped-{width}")
    page.get_by_role("link", name="Clear every filter").click()

    # take from the row
    page.get_by_role("button", name="Take case 1").click()
    expect(page.get_by_role("status").filter(has_text="is yours now")).to_contain_text("Case 1")

    # resolve two at once as duplicates
    page.get_by_label("Select case 1").check()
    page.get_by_label("Select case 3").check()
    page.get_by_label("Resolve the ticked cases as").select_option("duplicate")
    page.get_by_label("Reason (one for all of them)").fill("the same message as case 2")
    page.get_by_role("button", name="Resolve the ticked cases").click()
    expect(page.get_by_role("heading", name="Resolved together")).to_be_visible()
    expect(page.locator("section.results")).to_contain_text("Resolved: case 1, case 3")
    expect(page.locator("a.case-link")).to_have_count(2)
    if width == 390:
        assert _wide(page) == 0
    shot(page, f"queue-resolved-{width}")
    for word in ("--reason", "conduct case", "--admin"):
        assert word not in page.content()

    page.goto("/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    if width == 390:
        assert _wide(page) == 0, "the audit log scrolls sideways at 390 px"
    shot(page, f"audit-{width}")
