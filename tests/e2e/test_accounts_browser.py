"""Joining the desk in Chromium (issue 11, items 11 and 9): the setup link makes the first
admin, who invites a moderator; the moderator chooses a password, signs in, chooses a time
zone and reads a time in it, with UTC on hover. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from tests.e2e.test_web_browser import base_url, browser, page, shot  # noqa: F401
from tests.support.web import PASSWORD, file_case

from conduct_desk.bootstrap import App
from conduct_desk.service import invites

MO_PASSWORD = "mo's very own password"


def both_widths(page: Page, name: str) -> None:  # noqa: F811 (a page, not the fixture)
    """A screenshot at 1280 px and at 390 px; at 390 nothing scrolls sideways."""
    shot(page, f"{name}-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    wide = page.evaluate("document.documentElement.scrollWidth")
    shot(page, f"{name}-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert wide <= 390, f"{name} scrolls sideways at 390 px ({wide} px wide)"


def test_setup_link_first_admin_invite_and_a_time_in_my_zone(
        app: App, page: Page, browser: Browser, base_url: str) -> None:  # noqa: F811
    page.goto("/signin")
    expect(page.locator("#first-admin")).to_be_visible()
    expect(page.get_by_text("prints a one-time setup link")).to_be_visible()
    raw = invites.new_setup_link(app.uow(), app.desk.clock)
    assert raw is not None

    page.goto(f"/setup/{raw}")
    expect(page.get_by_role("heading", name="Set up the desk")).to_be_visible()
    both_widths(page, "setup-link")
    page.get_by_label("Name").fill("ana")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD + "!")
    page.get_by_role("button", name="Become the first admin").click()
    expect(page.get_by_role("alert")).to_contain_text("Password again")  # nothing made yet
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Become the first admin").click()
    expect(page.get_by_role("heading", name="Queue", exact=True)).to_be_visible()
    expect(page.locator(".signout")).to_contain_text("ana (admin)")

    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Role", exact=True).select_option("moderator")
    page.get_by_role("button", name="Make an invitation link").click()
    link = page.get_by_label("The invitation link").input_value()
    assert re.fullmatch(re.escape(base_url) + r"/invite/[A-Za-z0-9_-]{40,}", link), link
    both_widths(page, "settings-invitation")

    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    mo = context.new_page()
    try:
        mo.goto(link)
        expect(mo.get_by_role("heading", name="Join the desk")).to_be_visible()
        expect(mo.get_by_text("ana invited you")).to_be_visible()
        both_widths(mo, "invitation")
        mo.get_by_label("Name").fill("mo")
        mo.get_by_label("Password", exact=True).fill(MO_PASSWORD)
        mo.get_by_label("Password again").fill(MO_PASSWORD)
        mo.get_by_role("button", name="Join and sign in").click()
        expect(mo.get_by_role("heading", name="Queue", exact=True)).to_be_visible()
        expect(mo.locator(".signout")).to_contain_text("mo (moderator)")
        mo.get_by_role("button", name="Sign out").click()  # and back in with that password
        mo.get_by_label("Name").fill("mo")
        mo.get_by_label("Password").fill(MO_PASSWORD)
        mo.get_by_role("button", name="Sign in").click()
        expect(mo.get_by_role("heading", name="Queue", exact=True)).to_be_visible()

        mo.get_by_role("link", name="Settings").click()
        mo.get_by_label("Time zone", exact=True).fill("Asia/Tokyo")
        mo.get_by_role("button", name="Save the time zone").click()
        expect(mo.get_by_role("status")).to_contain_text("Your time zone is saved")
        both_widths(mo, "settings-time-zone")
        case_id = file_case(app)
        mo.goto(f"/cases/{case_id}")
        opened = mo.locator(".facts time").first
        expect(opened).to_contain_text("JST")
        expect(opened).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
        opened.hover()
        both_widths(mo, "case-time-in-my-zone")
    finally:
        context.close()
    page.reload()  # the invitation is used: ana sees it so
    expect(page.get_by_text("used by mo")).to_be_visible()
