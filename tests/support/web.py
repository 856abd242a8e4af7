"""Helpers for the web desk's tests: accounts per role, signed-in clients, CSRF tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from conduct_desk.bootstrap import App
from conduct_desk.domain.model import Source
from conduct_desk.domain.people import PersonRef
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands
from conduct_desk.service.clock import FakeClock
from conduct_desk.web.app import create_app

PASSWORD = "a long enough password"
# name -> (role, identities); riley reported case 1, "jo-admin" is jo (hurt) on the platform
ACCOUNTS = {
    "ana": ("admin", ()),
    "mo": ("moderator", ()),
    "obs": ("observer", ()),
    "riley": ("admin", ()),
    "jo-admin": ("admin", ("sandbox:jo",)),
}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_INPUT = re.compile(r"<input\b[^>]*>")
_VALUE = re.compile(r'\svalue="[^"]*"')


def for_people(html: str) -> str:
    """A page without its comments and its hidden inputs' values (random tokens, which may
    hold "--"): the text to search for words meant for the reader."""
    html = _COMMENT.sub("", html)
    return _INPUT.sub(lambda m: _VALUE.sub("", m.group(0)) if 'type="hidden"' in m.group(0)
                      else m.group(0), html)


def stamp_of(html: str) -> str:
    match = re.search(r'name="stamp" value="([^"]+)"', html)
    assert match
    return match.group(1)


def file_case(app: App, subject: str = "sam", reporter: str | None = "riley",
              hurt: tuple[str, ...] = ("jo",), message_id: str | None = None,
              **kw: object) -> int:
    filed = app.bus.handle(commands.FileReport(
        subject=PersonRef.parse(subject), reporter=PersonRef.parse(reporter) if reporter else None,
        source=Source.CLI, channel="#general", message_id=message_id or f"m-{subject}-{reporter}",
        message_text="People like you shouldn't be writing code.",
        harmed=tuple(PersonRef.parse(h) for h in hurt), **kw))  # type: ignore[arg-type]
    return int(filed.case_id)


def try_sign_in(client: TestClient, name: str, password: str = PASSWORD) -> Response:
    """Post the sign-in form as a person would: the CSRF token from the page, then the form."""
    page = client.get("/signin")
    return client.post("/signin", data={"csrf": csrf_of(page.text), "name": name,
                                        "password": password, "next": "/queue"})


def sign_in(web: FastAPI, name: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(web, follow_redirects=False)
    r = try_sign_in(client, name, password)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def web(app: App, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    # argon2 at its lightest: the same code path, a fraction of the time
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8,
                                                            parallelism=1))
    for name, (role, ids) in ACCOUNTS.items():
        with app.uow() as uow:
            exists = uow.accounts.admin_by_name(name) is not None
        if exists:  # made by the test to act
            accounts.set_password(app.uow(), app.desk.clock, name, PASSWORD)
            continue
        accounts.add_admin(app.uow(), app.desk.clock, name, role, PASSWORD, ids)
    return create_app(app)


@pytest.fixture
def people(sandbox: SandboxPlatform) -> SandboxPlatform:
    """The sandbox as a chat whose members can be looked up: two called Sam, and Jo."""
    sandbox.add_person("U1", "Sam", "@samd")
    sandbox.add_person("U2", "Sam", "@samr")
    sandbox.add_person("U3", "Jo Park", "@jo")
    return sandbox


@pytest.fixture
def visitor(web: FastAPI) -> TestClient:
    return TestClient(web, follow_redirects=False)


@pytest.fixture
def clients(web: FastAPI) -> dict[str, TestClient]:
    return {name: sign_in(web, name) for name in ACCOUNTS}


def advance(clock: object, seconds: float) -> None:
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(seconds=seconds))
