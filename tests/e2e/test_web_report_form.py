"""The members' report form in Chromium: a name that matches several people, the pick list,
the serious path, what would help, an error at the field, and the status link to copy; at
1280 and at 390 px (no sideways scrolling). Each test saves screenshots."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.e2e.test_web_browser import base_url, browser, page, shot  # noqa: F401

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform

PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(tab: Page) -> None:
    wide = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide}px"


def fill_report(tab: Page, who: str) -> None:
    tab.goto("/report")
    tab.get_by_label("Who is it about?").fill(who)
    tab.get_by_label("What happened?").fill("Told me people like me shouldn't write code.")
    tab.get_by_label("This is serious, or someone is in danger").check()
    tab.get_by_label("What would help you? (optional)").fill("An apology in #general.")
    tab.get_by_role("button", name="Send to the admins").click()


@pytest.mark.parametrize("width", [1280, 390])
def test_a_member_picks_who_they_mean_and_copies_the_status_link(
        app: App, page: Page, people: SandboxPlatform, base_url: str, width: int) -> None:  # noqa: F811
    page.set_viewport_size(PHONE if width == 390 else {"width": 1280, "height": 900})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    fill_report(page, "sam")
    expect(page.get_by_role("status")).to_contain_text("Several people match “sam”")
    choices = page.get_by_role("radio")
    expect(choices).to_have_count(2)
    expect(page.locator("fieldset.pick")).to_contain_text("Sam @samd on the sandbox")
    # nothing typed is lost on the way
    expect(page.get_by_label("What would help you? (optional)")).to_have_value(
        "An apology in #general.")
    expect(page.get_by_label("This is serious, or someone is in danger")).to_be_checked()
    no_sideways_scroll(page)
    shot(page, f"report-form-pick-{width}")
    page.get_by_label(re.compile("@samr")).check()
    page.get_by_role("button", name="Send to the admins").click()
    expect(page.get_by_role("heading", name="Thank you for telling us")).to_be_visible()
    link = page.get_by_label("Your private link")
    expect(link).to_have_value(re.compile(rf"^{re.escape(base_url)}/r/[\w-]+$"))
    expect(link).to_have_attribute("readonly", "")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link.input_value()
    no_sideways_scroll(page)
    shot(page, f"report-status-link-{width}")
    with app.uow() as uow:
        case = uow.cases.get(1)
    assert case.subject == PersonRef("sandbox", "U2") and case.flagrant
    assert case.reports[0].hoped_for == "An apology in #general."


@pytest.mark.parametrize("width", [1280, 390])
def test_no_match_points_at_the_field(page: Page, people: SandboxPlatform,  # noqa: F811
                                      width: int) -> None:
    page.set_viewport_size(PHONE if width == 390 else {"width": 1280, "height": 900})
    fill_report(page, "Morgan")
    who = page.get_by_label("Who is it about?")
    expect(who).to_have_attribute("aria-invalid", "true")
    expect(who).to_have_value("Morgan")
    expect(page.locator(".field-error")).to_contain_text("handle as it appears in the chat")
    page.get_by_role("link", name=re.compile("Nobody called “Morgan” was found")).click()
    assert page.evaluate("location.hash") == "#subject"
    expect(page.get_by_label("What would help you? (optional)")).to_have_value(
        "An apology in #general.")
    no_sideways_scroll(page)
    shot(page, f"report-form-no-match-{width}")


def test_without_javascript_the_status_link_is_selectable_text(
        browser: Browser, base_url: str, people: SandboxPlatform) -> None:  # noqa: F811
    context = browser.new_context(base_url=base_url, java_script_enabled=False,
                                  viewport=PHONE)
    tab = context.new_page()
    fill_report(tab, "@jo")
    link = tab.get_by_label("Your private link")
    expect(link).to_have_value(re.compile(rf"^{re.escape(base_url)}/r/"))
    expect(tab.get_by_role("button", name="Copy")).to_be_hidden()  # no button that does nothing
    link.select_text()  # as a person selects it to copy
    assert link.evaluate("e => e.value.substring(e.selectionStart, e.selectionEnd)") == \
        link.input_value()
    no_sideways_scroll(tab)
    shot(tab, "report-status-link-nojs-390")
    context.close()
