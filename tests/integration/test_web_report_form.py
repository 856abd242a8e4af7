"""The report form as members use it: who by name or handle (a pick list when several match),
the serious path, what would help, and the status link as a full address."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.web import advance, csrf_of, for_people, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.web.app import create_app
from conduct_desk.web.security import WebConfig

WHAT = "Called my code garbage written by a garbage person."


def _form(visitor: TestClient, clock: FakeClock) -> dict[str, str]:
    page = visitor.get("/report").text
    advance(clock, 10)
    return {"csrf": csrf_of(page), "stamp": stamp_of(page)}


def _subject_of(app: App, case_id: int = 1) -> PersonRef:
    with app.uow() as uow:
        return uow.cases.get(case_id).subject


@pytest.mark.parametrize(("typed", "extra", "meant", "looked_up"), [
    ("jo park", {}, PersonRef("sandbox", "U3"), True),  # one match: that person
    ("@samr", {}, PersonRef("sandbox", "U2"), True),  # a handle, though names overlap
    # the name was changed after a pick list: the new name counts, not the old pick
    ("jo", {"pick": "sandbox:U1", "picked_for": "sam"}, PersonRef("sandbox", "U3"), True),
    ("slack:U123", {}, PersonRef("slack", "U123"), False),  # raw ids need no look-up
])
def test_who_it_is_about_is_resolved(app: App, clock: FakeClock, people: SandboxPlatform,
                                     visitor: TestClient, typed: str, extra: dict[str, str],
                                     meant: PersonRef, looked_up: bool) -> None:
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": typed, "what": WHAT,
                                      **extra})
    assert r.status_code == 303, r.text
    assert _subject_of(app) == meant
    assert any(c.method == "find_people" for c in people.calls) is looked_up


def test_several_matches_give_a_pick_list_that_keeps_everything(
        app: App, engine: object, clock: FakeClock, people: SandboxPlatform,
        visitor: TestClient, clients: dict[str, TestClient]) -> None:
    typed = {"subject": "sam", "what": WHAT, "said": "you people ruin everything",
             "hurt": "jo", "note": "third time", "hoped_for": "an apology in the channel",
             "reporter": "rae", "serious": "true"}
    r = visitor.post("/report", data={**_form(visitor, clock), **typed})
    assert r.status_code == 200, r.text
    assert count_rows(engine, tables.reports) == 0  # type: ignore[arg-type]
    assert "Several people match" in r.text and "Which one do you mean?" in r.text
    radios = re.findall(r'<input type="radio" name="pick" value="([^"]+)"', r.text)
    assert radios == ["sandbox:U1", "sandbox:U2"]
    for shown in ("@samd", "@samr"):
        assert shown in r.text
    assert "Jo Park" not in r.text  # only the people who match
    for value in ("you people ruin everything", "third time", "an apology in the channel",
                  "rae"):
        assert value in r.text  # nothing typed is lost
    assert re.search(r'id="serious"[^>]*checked', r.text)
    stamp = stamp_of(r.text)
    r = visitor.post("/report", data={"csrf": csrf_of(r.text), "stamp": stamp, **typed,
                                      "pick": "sandbox:U2", "picked_for": "sam"})
    assert r.status_code == 303, r.text
    assert _subject_of(app) == PersonRef("sandbox", "U2")
    case = clients["ana"].get("/cases/1").text
    assert "flagrant" in case and "an apology in the channel" in case


def test_no_match_points_at_the_field_and_says_what_to_try(engine: object, clock: FakeClock,
                                                           people: SandboxPlatform,
                                                           visitor: TestClient) -> None:
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": "Morgan",
                                      "what": WHAT, "hoped_for": "to feel safe here"})
    assert r.status_code == 422
    assert count_rows(engine, tables.reports) == 0  # type: ignore[arg-type]
    assert "Nobody called “Morgan” was found" in r.text
    assert "handle as it appears in the chat" in r.text
    assert "(change “Who is it about?”)" in r.text and 'href="#subject"' in r.text
    assert re.search(r'id="subject"[^>]*aria-invalid="true"', r.text)
    assert re.search(r'id="subject"[^>]*aria-describedby="report-error subject-help"', r.text)
    assert "to feel safe here" in r.text and 'value="Morgan"' in r.text
    assert "--" not in re.sub(r"--[a-z]+:", "", for_people(r.text))  # no command-line flags


def test_without_a_platform_that_looks_up_the_form_asks_for_the_handle(
        app: App, clock: FakeClock, visitor: TestClient) -> None:
    page = visitor.get("/report").text
    assert "Their handle as it appears in the chat" in page
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": "sam", "what": WHAT})
    assert r.status_code == 303
    assert _subject_of(app) == PersonRef("sandbox", "sam")


def test_a_platform_that_does_not_answer_keeps_the_name_as_typed(
        app: App, clock: FakeClock, people: SandboxPlatform, visitor: TestClient) -> None:
    people.fail_next("find_people", "the platform is down")
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": "Sam Doe",
                                      "what": WHAT})
    assert r.status_code == 303, r.text
    assert _subject_of(app) == PersonRef("sandbox", "Sam Doe")


def test_the_serious_choice_says_what_it_does_and_marks_the_case(
        app: App, clock: FakeClock, people: SandboxPlatform, visitor: TestClient,
        clients: dict[str, TestClient]) -> None:
    page = visitor.get("/report").text
    assert "This is serious, or someone is in danger" in page
    assert "alerted at once" in page and "without the usual earlier steps" in page
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": "@jo", "what": WHAT,
                                      "serious": "true"})
    assert r.status_code == 303
    with app.uow() as uow:
        assert uow.cases.get(1).flagrant
    case = clients["ana"].get("/cases/1").text
    assert "reported as flagrant" in case.lower() or "flagrant" in case
    assert re.search(r"ban", case)  # the ladder recommends a ban at once
    told = [c.text for c in people.calls if c.method == "notify_admins"]
    assert any("flagrant" in (t or "") for t in told)


def test_what_would_help_is_optional_kept_and_shown_to_admins_only(
        app: App, clock: FakeClock, people: SandboxPlatform, visitor: TestClient,
        clients: dict[str, TestClient]) -> None:
    page = visitor.get("/report").text
    assert "What would help you? (optional)" in page
    assert not re.search(r'id="hoped_for"[^>]*required', page)
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": "@jo", "what": WHAT})
    assert r.status_code == 303  # empty is fine
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": "@samd",
                                      "what": WHAT, "hoped_for": "hopemark: them to stop"})
    assert r.status_code == 303
    status = visitor.get(r.headers["location"]).text
    assert "hopemark" not in status
    with app.uow() as uow:
        case = uow.cases.get(2)
    assert case.reports[0].hoped_for == "hopemark: them to stop"
    assert "hopemark: them to stop" in clients["ana"].get("/cases/2").text
    token = case.subject_token
    assert "hopemark" not in visitor.get(f"/s/{token}").text


def test_the_status_link_is_a_full_copyable_address(app: App, clock: FakeClock,
                                                   visitor: TestClient) -> None:
    r = visitor.post("/report", data={**_form(visitor, clock), "subject": "sam", "what": WHAT})
    page = visitor.get(r.headers["location"]).text
    token = r.headers["location"].split("/r/")[1].split("?")[0]
    field = re.search(r'<input id="status-url" type="text" readonly value="([^"]+)"', page)
    assert field is not None and field.group(1) == f"http://testserver/r/{token}"
    assert '<label for="status-url">' in page and "data-copy=\"status-url\"" in page
    assert '<script src="/static/copy.js"' in page
    assert visitor.get("/static/copy.js").status_code == 200


def test_the_status_link_uses_the_public_address_when_set(app: App, clock: FakeClock) -> None:
    app.settings.base_url = "https://desk.example.org"
    with TestClient(create_app(app), base_url="https://testserver",
                    follow_redirects=False) as visitor:
        r = visitor.post("/report", data={**_form(visitor, clock), "subject": "sam",
                                          "what": WHAT})
        page = visitor.get(r.headers["location"]).text
    assert 'value="https://desk.example.org/r/' in page


def test_look_ups_are_rate_limited_per_visitor(app: App, web: FastAPI, clock: FakeClock,
                                               people: SandboxPlatform) -> None:
    strict = create_app(app, WebConfig(lookups_per_client=3))
    with TestClient(strict, follow_redirects=False) as visitor:
        for _ in range(3):
            r = visitor.post("/report", data={**_form(visitor, clock), "subject": "Morgan",
                                              "what": WHAT})
            assert "Nobody called" in r.text
        looked = len([c for c in people.calls if c.method == "find_people"])
        r = visitor.post("/report", data={**_form(visitor, clock), "subject": "Morgan",
                                          "what": WHAT, "note": "kept"})
        assert r.status_code == 422
        assert "Many names were looked up from here" in r.text and "kept" in r.text
        assert 'href="#subject"' in r.text
        assert len([c for c in people.calls if c.method == "find_people"]) == looked
        # a raw id needs no look-up, so it still goes through
        r = visitor.post("/report", data={**_form(visitor, clock), "subject": "sandbox:U3",
                                          "what": WHAT})
        assert r.status_code == 303
