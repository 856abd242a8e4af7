"""Follow-ups in Chromium: an admin asks the reporter (answering is optional) and writes to
the subject; the reporter answers on their status page, the subject on their page; the
admin reads both on the case page. Screenshots at 1280 and 390 px; no sideways scrolling."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from tests.e2e import test_web_browser as browser_tests
from tests.support.web import PASSWORD, file_case

from conduct_desk.bootstrap import App
from conduct_desk.service import accounts

# the browser fixtures of the web desk's Chromium suite, shared (not copied)
browser, base_url, page = browser_tests.browser, browser_tests.base_url, browser_tests.page
shot, sign_in = browser_tests.shot, browser_tests.sign_in

QUESTION = "Did anyone else see it happen, and would you like us to reach out to them?"
ANSWER = "Yes, two people in the evening call saw it. Please do not name me."


def _both_widths(page: Page, name: str) -> None:
    """Screenshots at 1280 and 390 px; at 390 px nothing scrolls sideways."""
    shot(page, f"{name}-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at 390 px"
    shot(page, f"{name}-390")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_follow_ups_both_ways(app: App, page: Page) -> None:
    accounts.add_admin(app.uow(), app.desk.clock, "ana", "admin", PASSWORD)
    case_id = file_case(app, reporter="kim", hurt=(), anonymous=True)
    with app.uow() as uow:
        case = uow.cases.get(case_id)
    status, subject = f"/r/{case.reports[0].status_token}", f"/s/{case.subject_token}"

    sign_in(page, "ana")
    page.goto(f"/cases/{case_id}")
    expect(page.get_by_label("Which report")).to_contain_text("the reporter (anonymous)")
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_role("button", name="Ask the reporter").click()
    expect(page.get_by_role("status")).to_contain_text("answering is up to them")
    # a message naming the reporter is refused at its field, with what was typed kept
    page.get_by_label("Your message").fill("kim told us what you wrote.")
    page.get_by_role("button", name="Send to the person").click()
    expect(page.locator("#write-error")).to_contain_text("names someone involved")
    expect(page.get_by_label("Your message")).to_have_value("kim told us what you wrote.")
    page.get_by_label("Your message").fill("Could you tell us how you saw that evening?")
    page.get_by_role("button", name="Send to the person").click()
    expect(page.get_by_role("status")).to_contain_text("on its way to the person")

    page.goto(status)
    expect(page.get_by_role("heading", name="Questions from the admins")).to_be_visible()
    expect(page.locator("#questions")).to_contain_text("You don't have to answer")
    expect(page.locator("#questions")).to_contain_text(QUESTION)
    page.get_by_label("Your answer (optional)").fill(ANSWER)
    page.get_by_role("button", name="Send my answer to the admins").click()
    expect(page.get_by_role("status")).to_contain_text("your answer is with the admins")
    expect(page.locator("#questions")).to_contain_text(ANSWER)
    _both_widths(page, "followups-reporter-status")

    page.goto(subject)
    expect(page.locator("#messages")).to_contain_text("how you saw that evening")
    expect(page.locator("body")).not_to_contain_text(ANSWER)
    expect(page.locator("body")).not_to_contain_text("kim")
    page.get_by_label("Your message to the admins").fill("I was upset that night; sorry.")
    page.get_by_role("button", name="Send to the admins").click()
    expect(page.get_by_role("status")).to_contain_text("Your message is with the admins")
    _both_widths(page, "followups-subject")

    page.goto(f"/cases/{case_id}#follow-ups")
    follow_ups = page.locator("#follow-ups")
    expect(follow_ups).to_contain_text("the reporter (anonymous) answered")
    expect(follow_ups).to_contain_text(ANSWER)
    expect(follow_ups).to_contain_text("the person it is about wrote")
    expect(page.locator("body")).not_to_contain_text("kim")
    _both_widths(page, "followups-case")
