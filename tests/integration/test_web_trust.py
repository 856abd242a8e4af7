"""The web desk attacked from outside (issue 8, items 11-15): stored links, security headers,
sessions, CSRF, forwarded addresses, sign-in lockouts and bounds."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import count_rows
from tests.support.web import PASSWORD, advance, csrf_of, file_case, sign_in, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.cli import uvicorn_proxy_options
from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import accounts, commands
from conduct_desk.service.clock import FakeClock
from conduct_desk.storage import tables
from conduct_desk.web.app import create_app
from conduct_desk.web.security import SESSION_COOKIE

GOOD = {"subject": "sam", "what": "Called my code garbage written by a garbage person."}


@pytest.fixture
def token(app: App, web: FastAPI) -> TestClient:
    raw = accounts.create_token(app.uow(), app.desk.clock, "bot", "admin")
    return TestClient(web, headers={"Authorization": f"Bearer {raw}"})


def _report_form(visitor: TestClient, clock: FakeClock) -> dict[str, str]:
    page = visitor.get("/report").text
    advance(clock, 10)
    return {"csrf": csrf_of(page), "stamp": stamp_of(page)}


# -- 11. links -------------------------------------------------------------------------------

@pytest.mark.parametrize("link", ["javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)",
                                  "data:text/html,<script>alert(1)</script>", "//evil.example",
                                  "https://", "https://ex ample.org", "vbscript:msgbox(1)"])
def test_the_api_refuses_a_link_that_is_not_a_web_address(
        app: App, engine: object, token: TestClient, link: str) -> None:
    r = token.post("/api/v1/reports", json={"subject": "sam", "message_link": link})
    assert r.status_code == 422, r.text
    assert "https://" in r.json()["error"]["message"]
    assert count_rows(engine, tables.reports) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("link", ["javascript:alert(1)", "https://ex\tample.org/x"])
def test_the_form_refuses_the_same_links_in_its_own_words(
        app: App, engine: object, clock: FakeClock, visitor: TestClient, link: str) -> None:
    r = visitor.post("/report", data={**_report_form(visitor, clock), **GOOD, "link": link})
    assert r.status_code == 422 and "The link should start with https://" in r.text
    assert count_rows(engine, tables.reports) == 0  # type: ignore[arg-type]


def test_a_stored_javascript_link_is_never_rendered_as_a_link(
        app: App, engine: object, clients: dict[str, TestClient]) -> None:
    file_case(app, message_link="https://chat.example/m/1")
    with engine.begin() as conn:  # type: ignore[attr-defined]  # a row from before the check
        conn.execute(tables.reports.update().values(message_link="javascript:alert(1)"))
    page = clients["ana"].get("/cases/1").text
    assert "javascript:" not in page and "Open the message" not in page
    assert "not a web address" in page


def test_a_web_link_is_kept_and_shown(app: App, token: TestClient,
                                      clients: dict[str, TestClient]) -> None:
    r = token.post("/api/v1/reports", json={"subject": "sam",
                                            "message_link": "https://chat.example/m/1"})
    assert r.status_code == 201
    assert 'href="https://chat.example/m/1"' in clients["ana"].get("/cases/1").text


# -- 12. headers -----------------------------------------------------------------------------

def _assert_secure_headers(r: object) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp  # no inline, no other hosts
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")


def test_every_kind_of_answer_has_the_security_headers(
        app: App, web: FastAPI, token: TestClient, visitor: TestClient,
        clients: dict[str, TestClient]) -> None:
    answers = {
        "page": clients["ana"].get("/queue"),
        "public page": visitor.get("/report"),
        "api": token.get("/api/v1/cases"),
        "api error": visitor.get("/api/v1/cases"),
        "404": visitor.get("/no/such/page"),
        "api 404": token.get("/api/v1/cases/99"),
        "static": visitor.get("/static/desk.css"),
        "redirect": visitor.get("/queue"),
        "docs": visitor.get("/api/v1/docs"),
        "schema": visitor.get("/api/v1/openapi.json"),
    }
    assert answers["redirect"].status_code == 303 and answers["404"].status_code == 404
    for what, r in answers.items():
        try:
            _assert_secure_headers(r)
        except (AssertionError, KeyError) as exc:
            raise AssertionError(f"{what} ({r.status_code}) lacks a security header") from exc


def test_a_server_error_has_the_headers_too(app: App, web: FastAPI,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from conduct_desk.web.routes import public

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(public, "_report_form", boom)
    r = TestClient(web, raise_server_exceptions=False).get("/report")
    assert r.status_code == 500
    _assert_secure_headers(r)


def test_no_template_or_static_file_has_inline_script_or_style() -> None:
    from pathlib import Path

    import conduct_desk.web as w

    root = Path(w.__file__).parent
    for path in [*(root / "templates").glob("*.html"), root / "charts.py"]:
        text = path.read_text("utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert not re.search(r"\bstyle\s*=|<style", text), path
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path  # no other hosts
    assert '"includeIndicatorStyles":false' in (root / "templates" / "base.html").read_text()


def test_the_api_docs_are_served_by_the_desk_without_scripts(visitor: TestClient) -> None:
    r = visitor.get("/api/v1/docs")
    assert r.status_code == 200
    assert "<script" not in r.text.replace('<script src="/static/htmx.min.js" defer></script>', "")
    assert "cdn" not in r.text.lower()
    assert "POST /api/v1/reports" in r.text and "ReportIn" in r.text


# -- 13. sessions ----------------------------------------------------------------------------

def test_the_old_cookie_is_refused_after_sign_out(web: FastAPI) -> None:
    ana = sign_in(web, "ana")
    cookie = ana.cookies[SESSION_COOKIE]
    r = ana.post("/signout", data={"csrf": csrf_of(ana.get("/queue").text)})
    assert r.status_code == 303
    thief = TestClient(web, follow_redirects=False, cookies={SESSION_COOKIE: cookie})
    r = thief.get("/queue")
    assert r.status_code == 303 and "why=invalid" in r.headers["location"]


def test_the_old_cookie_is_refused_after_a_password_change(app: App, web: FastAPI) -> None:
    ana = sign_in(web, "ana")
    cookie = ana.cookies[SESSION_COOKIE]
    accounts.set_password(app.uow(), app.desk.clock, "ana", "another long password")
    thief = TestClient(web, follow_redirects=False, cookies={SESSION_COOKIE: cookie})
    assert thief.get("/queue").status_code == 303
    with app.engine.connect() as conn:
        kept = list(conn.execute(tables.web_sessions.select()))
    assert all(cookie not in str(row) for row in kept)  # only the id's SHA-256 is stored


def test_a_csrf_token_from_another_session_is_refused(app: App, web: FastAPI) -> None:
    file_case(app)
    ana, mo = sign_in(web, "ana"), sign_in(web, "mo")
    mo_csrf = csrf_of(mo.get("/cases/1").text)
    r = ana.post("/cases/1/take", data={"csrf": mo_csrf})
    assert r.status_code == 403 and "nothing was saved" in r.text
    # an attacker who planted their own CSRF cookie in ana's browser (e.g. from a sibling
    # domain) and sends its token along: the token must match ana's session, not the cookie
    attacker = TestClient(web, follow_redirects=False)
    token = csrf_of(attacker.get("/signin").text)
    ana.cookies.set("cd_csrf", attacker.cookies["cd_csrf"])
    r = ana.post("/cases/1/take", data={"csrf": token})
    assert r.status_code == 403
    with app.uow() as uow:
        assert uow.cases.get(1).taken_by is None
    r = ana.post("/cases/1/take", data={"csrf": csrf_of(ana.get("/cases/1").text)})
    assert r.status_code == 303


def test_a_csrf_cookie_the_visitor_chose_is_replaced(web: FastAPI, clock: FakeClock) -> None:
    visitor = TestClient(web, follow_redirects=False, cookies={"cd_csrf": "chosen-by-attacker"})
    r = visitor.get("/signin")
    assert "cd_csrf=" in r.headers["set-cookie"] and "chosen" not in r.headers["set-cookie"]
    r = TestClient(web, follow_redirects=False, cookies={"cd_csrf": "chosen-by-attacker"}).post(
        "/signin", data={"csrf": csrf_of(r.text), "name": "ana", "password": PASSWORD})
    assert r.status_code == 403


def test_cookies_are_secure_over_https_from_a_trusted_proxy(app: App, web: FastAPI) -> None:
    trusted = create_app(dataclasses.replace(
        app, settings=app.settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})))
    via_proxy = TestClient(trusted, follow_redirects=False, client=("10.0.0.5", 4000),
                           headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in via_proxy.get("/signin").headers["set-cookie"]
    forged = TestClient(web, follow_redirects=False, client=("10.0.0.5", 4000),
                        headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in forged.get("/signin").headers["set-cookie"]  # not trusted there
    https = TestClient(web, base_url="https://desk.example", follow_redirects=False)
    r = https.get("/signin")
    assert "Secure" in r.headers["set-cookie"]
    r = https.post("/signin", data={"csrf": csrf_of(r.text), "name": "ana",
                                    "password": PASSWORD})
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


# -- 14. client addresses and lockouts -------------------------------------------------------

def _send_reports(client: TestClient, clock: FakeClock, n: int, xff: Iterator[str]) -> list[int]:
    codes = []
    for i in range(n):
        page = client.get("/report").text
        advance(clock, 10)
        r = client.post("/report", headers={"X-Forwarded-For": next(xff)},
                        data={"csrf": csrf_of(page), "stamp": stamp_of(page), **GOOD,
                              "subject": f"s{i}"})
        codes.append(r.status_code)
    return codes


def test_a_forged_forwarded_for_does_not_lift_the_report_limit(web: FastAPI,
                                                               clock: FakeClock) -> None:
    client = TestClient(web, follow_redirects=False, client=("127.0.0.1", 5000))
    addresses = (f"203.0.113.{i}" for i in range(100))
    assert _send_reports(client, clock, 11, addresses)[-1] == 429


def test_forwarded_for_is_honoured_from_a_trusted_proxy(app: App, web: FastAPI,
                                                        clock: FakeClock) -> None:
    trusted = create_app(dataclasses.replace(
        app, settings=app.settings.model_copy(update={"trusted_proxies": "127.0.0.1"})))
    proxy = TestClient(trusted, follow_redirects=False, client=("127.0.0.1", 5000))
    addresses = (f"203.0.113.{i}" for i in range(100))
    assert set(_send_reports(proxy, clock, 12, addresses)) == {303}  # twelve people
    same = iter(["198.51.100.7"] * 20)
    assert _send_reports(proxy, clock, 11, same)[-1] == 429  # one person, forwarded


def test_serve_starts_uvicorn_trusting_only_the_configured_proxies(app: App) -> None:
    assert uvicorn_proxy_options(app.settings) == {"proxy_headers": False,
                                                   "forwarded_allow_ips": []}
    settings = app.settings.model_copy(update={"trusted_proxies": "10.0.0.1, 192.168.0.0/16"})
    assert uvicorn_proxy_options(settings) == {
        "proxy_headers": True, "forwarded_allow_ips": ["10.0.0.1/32", "192.168.0.0/16"]}
    with pytest.raises(InvalidInput, match="CONDUCT_TRUSTED_PROXIES"):
        uvicorn_proxy_options(settings.model_copy(update={"trusted_proxies": "a proxy"}))


def test_wrong_passwords_do_not_lock_out_the_real_admin_who_is_told(
        web: FastAPI, clock: FakeClock) -> None:
    attacker = TestClient(web, follow_redirects=False, client=("198.51.100.9", 1))
    csrf = csrf_of(attacker.get("/signin").text)
    waits, failures = [], 0
    while failures < 8:
        r = attacker.post("/signin", data={"csrf": csrf, "name": "ana", "password": "guess!"})
        if r.status_code == 429:
            wait = re.search(r"wait (\d+) seconds?", r.text)
            assert wait, r.text
            waits.append(int(wait.group(1)))
            clock.advance(timedelta(seconds=waits[-1], milliseconds=500))
        else:
            assert r.status_code == 401
            failures += 1
    assert waits == [1, 2, 4, 8, 16]  # after two free typos, each wrong password waits longer
    r = attacker.post("/signin", data={"csrf": csrf, "name": "ana", "password": PASSWORD})
    assert r.status_code == 429  # the right password waits too, from that client
    ana = sign_in(web, "ana")  # the real admin, from elsewhere: at once
    page = ana.get("/queue").text
    assert "8 sign-in attempts" in page and "wrong password" in page
    assert "sign-in attempts" not in ana.get("/queue").text  # told once


# -- 15. bounds ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/cases/9223372036854775808",
                                  "/api/v1/cases/9223372036854775807",
                                  "/api/v1/cases/2147483648", "/api/v1/cases/0",
                                  "/api/v1/cases/-1/preview?step=remind",
                                  "/api/v1/audit?case_id=9223372036854775808"])
def test_huge_ids_in_the_api_are_a_clean_error(token: TestClient, path: str) -> None:
    r = token.get(path)
    assert r.status_code in (404, 422), r.text
    assert set(r.json()) == {"error"}


@pytest.mark.parametrize("path", ["/cases/9223372036854775808", "/cases/2147483648/compose"])
def test_huge_ids_in_pages_are_a_clean_error(clients: dict[str, TestClient], path: str) -> None:
    r = clients["ana"].get(path)
    assert r.status_code in (404, 422) and "need another look" in r.text


@pytest.mark.parametrize("duration", ["99999999999999d", "9999999999w", "3661d",
                                      "99999999999h"])
def test_an_absurd_duration_is_refused_before_any_arithmetic(
        app: App, token: TestClient, duration: str) -> None:
    file_case(app)
    r = token.get(f"/api/v1/cases/1/preview?step=suspend&duration={duration}")
    assert r.status_code == 422, r.text
    assert "shorter" in r.json()["error"]["message"] or "too long" in r.json()["error"]["message"]
    r = token.post("/api/v1/cases/1/steps", json={"step": "suspend", "duration": duration})
    assert r.status_code == 422, r.text


def test_a_huge_streamed_body_is_refused_before_it_is_read(web: FastAPI) -> None:
    fifty_mb, chunk = 50 * 1024 * 1024, b"x" * 65536
    read, sent = 0, []

    async def receive() -> dict[str, object]:
        nonlocal read
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": read < fifty_mb}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/v1/reports", "raw_path": b"",
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("127.0.0.1", 9), "headers": [(b"content-type", b"application/json"),
                                                     (b"transfer-encoding", b"chunked")]}
    asyncio.run(web(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert b"too_large" in sent[1]["body"]  # type: ignore[operator]
    assert read <= 1024 * 1024 + len(chunk)  # it stopped reading just past the cap


def test_a_declared_huge_body_is_refused_at_once(web: FastAPI) -> None:
    client = TestClient(web)
    r = client.post("/report", content=b"x" * 10,
                    headers={"Content-Length": str(50 * 1024 * 1024)})
    assert r.status_code == 413 and "larger than" in r.text
    _assert_secure_headers(r)
    r = client.post("/api/v1/reports", content=b"{}", headers={"Content-Length": "-5"})
    assert r.status_code == 400


@pytest.mark.parametrize("person", ["sam\u200b", "s\u202eam", "slack:U1\u2066", "sa\x00m",
                                    "sa\nm", "\u200dsam", "matrix:@sam:ex\u200c.org"])
def test_person_ids_with_invisible_characters_are_refused(
        app: App, engine: object, token: TestClient, clock: FakeClock, visitor: TestClient,
        person: str) -> None:
    with pytest.raises(InvalidInput, match="invisible or control character"):
        PersonRef.parse(person)
    r = token.post("/api/v1/reports", json={"subject": person})
    assert r.status_code == 422 and "invisible" in r.json()["error"]["message"]
    r = token.get("/api/v1/people/" + quote(person))
    assert r.status_code in (404, 422)
    r = visitor.post("/report", data={**_report_form(visitor, clock), **GOOD, "subject": person})
    assert r.status_code == 422 and "invisible" in r.text
    with pytest.raises(InvalidInput):
        app.bus.handle(commands.FileReport(subject=PersonRef.parse(person), source=None))  # type: ignore[arg-type]
    assert count_rows(engine, tables.reports) == 0  # type: ignore[arg-type]


def test_a_nul_character_is_a_clean_error_and_writes_nothing(
        app: App, engine: object, token: TestClient, clients: dict[str, TestClient],
        visitor: TestClient, clock: FakeClock) -> None:
    """PostgreSQL cannot store a NUL in text: every door refuses it in words, never a 500."""
    file_case(app)
    r = token.get("/api/v1/audit?actor=ana%00")
    assert r.status_code == 422 and "NUL" in r.json()["error"]["message"]
    assert clients["ana"].get("/audit?actor=%00").status_code == 422
    before = count_rows(engine, tables.reports)  # type: ignore[arg-type]
    r = token.post("/api/v1/reports", json={"subject": "sam", "account": "it hurt\u0000"})
    assert r.status_code == 422 and "NUL" in r.json()["error"]["message"]
    r = token.post("/api/v1/cases/1/steps", json={"step": "remind", "text": "hi\u0000"})
    assert r.status_code == 422
    form = {**_report_form(visitor, clock), "subject": "sam", "what": "it hurt\x00"}
    r = visitor.post("/report", data=form)
    assert r.status_code == 422 and "NUL character" in r.text
    assert count_rows(engine, tables.reports) == before  # type: ignore[arg-type]
