"""Every route of the desk, web and API, against every kind of viewer (issue 8, "Tests").

The routes are read from the app itself: a route added later without a row here fails
``test_the_table_covers_every_route``. The cases are all alike: about sam (the account
sam-admin), reported by rae, jo named as hurt (jo-admin), lee confirmed as hurt (lee-admin).
Viewers refused share one case; a viewer allowed to change a case changes one of their own, so
one viewer's change does not decide another's answer. A refused request writes nothing; a case about the viewer is
not shown to them, and no list they read names it or its reporter.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from starlette.routing import Mount
from tests.support.accounts import add_admins
from tests.support.web import PASSWORD, csrf_of, file_case, stamp_of

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Account, Invite, InviteKind, Role
from conduct_desk.platforms.sandbox import SandboxPlatform
from conduct_desk.service import accounts, commands, invites
from conduct_desk.storage import tables
from conduct_desk.web.app import create_app
from conduct_desk.web.security import SESSION_COOKIE, WebConfig

# the table is large: SQLite only (the storage it exercises is tested on PostgreSQL elsewhere)
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

REPORTER = "sandbox:U0RAEREPORTS"  # rae's platform id: no page the subject reads may hold it
METRICS_TOKEN = "the scraper's own token"  # /metrics is served, to none of the viewers
CONFIG = WebConfig(reports_per_client=10_000, min_fill=timedelta(0))


class Is(Enum):
    OK = "allowed"
    SIGN_IN = "sent to sign in"
    UNAUTHORIZED = "401"
    FORBIDDEN = "403"
    HIDDEN = "not visible"  # the case is about the viewer: 403/404, or left out of the list
    GONE = "410"  # a setup link once the desk has an admin: it works for nobody


@dataclass(frozen=True)
class Viewer:
    key: str
    account: str | None  # whose session or token it is
    api: bool  # a bearer token (or none) rather than a web session
    live: bool = True  # a session or token the desk accepts
    role: str = "admin"
    subject: bool = False  # the account is the case's subject
    recused: bool = False  # the account reported the case or was confirmed as hurt

    @property
    def may_act(self) -> bool:
        return self.live and self.role != "observer" and not self.subject and not self.recused


VIEWERS = [
    Viewer("visitor", None, api=False, live=False),
    Viewer("observer", "obs", api=False, role="observer"),
    Viewer("moderator", "mo", api=False, role="moderator"),
    Viewer("admin", "ana", api=False),
    Viewer("admin-subject", "sam-admin", api=False, subject=True),
    Viewer("admin-reporter", "rae", api=False, recused=True),
    Viewer("admin-named-hurt", "jo-admin", api=False),
    Viewer("admin-confirmed-hurt", "lee-admin", api=False, recused=True),
    Viewer("disabled-session", "gone", api=False, live=False),
    Viewer("no-token", None, api=True, live=False),
    Viewer("token-observer", "obs", api=True, role="observer"),
    Viewer("token-moderator", "mo", api=True, role="moderator"),
    Viewer("token-admin", "ana", api=True),
    Viewer("token-subject", "sam-admin", api=True, subject=True),
    Viewer("token-revoked", "ana", api=True, live=False),
    Viewer("token-disabled", "gone", api=True, live=False),
]
MORE_ACCOUNTS = {"sam-admin": ("admin", ("sandbox:sam",)), "rae": ("admin", (REPORTER,)),
                 "lee-admin": ("admin", ("sandbox:lee",)), "gone": ("admin", ())}


@dataclass
class Ctx:
    """A case a route is called on, and what the route needs of it."""

    app: App
    case_id: int
    actor: str  # who prepares the case: the viewer's account when it may act, else ana
    sandbox: SandboxPlatform
    extra: dict[str, str] = field(default_factory=dict)

    def path(self, template: str) -> str:
        values = {"case_id": str(self.case_id), "person:path": "sandbox:sam", **self.extra}
        # "{name:path}": the value of "name" (a converter names no value of its own)
        return re.sub(r"\{([^}]+)\}",
                      lambda m: values.get(m.group(1)) or values[m.group(1).split(":")[0]],
                      template)


Prep = Callable[[Ctx], None]


def _take(c: Ctx) -> None:
    c.app.bus.handle(commands.TakeCase(c.case_id, c.actor))


def _resolved(c: Ctx) -> None:
    _take(c)
    c.app.bus.handle(commands.ResolveCase(c.case_id, c.actor, "no-action", "we talked"))


def _step(name: str, *, fails: str = "", **kw: str) -> Prep:
    def prep(c: Ctx) -> None:
        _take(c)
        if fails:  # the platform refuses: the step waits to be done by hand
            c.sandbox.fail_next(fails)
        step_id = c.app.bus.handle(commands.TakeStep(c.case_id, name, c.actor, reason="harsh",
                                                     **kw))  # type: ignore[arg-type]
        c.extra["step_id"] = str(step_id)
    return prep


def _subject_link(c: Ctx) -> None:
    _step("warn")(c)
    with c.app.uow() as uow:
        c.extra["token"] = str(uow.cases.get(c.case_id).subject_token)


def _appealed(c: Ctx) -> None:
    """A warning an admin who is none of the viewers gave (so each viewer may decide its
    appeal, as far as their role lets them), appealed by sam."""
    add_admins(c.app, "cy")
    c.app.bus.handle(commands.TakeStep(c.case_id, "warn", "cy", reason="harsh"))
    with c.app.uow() as uow:
        subject = uow.cases.get(c.case_id).subject
    c.app.bus.handle(commands.Appeal(c.case_id, subject, "I was quoting a film."))


def _status_link(c: Ctx) -> None:
    with c.app.uow() as uow:
        c.extra["token"] = str(uow.cases.get(c.case_id).reports[0].status_token)


def _report_id(c: Ctx) -> dict[str, Any]:
    with c.app.uow() as uow:
        return {"report": uow.cases.get(c.case_id).reports[0].id, "text": "Did others see it?"}


def _question(c: Ctx) -> None:
    _status_link(c)
    asked = _report_id(c)
    c.extra["question"] = str(c.app.bus.handle(commands.AskReporter(
        c.case_id, c.actor, asked["report"], asked["text"])))


def _own_link(c: Ctx) -> None:
    """An account of sam's own to link or unlink (each viewer allowed gets their own)."""
    c.extra["account"] = f"slack:U{c.case_id}"


def _linked(c: Ctx) -> None:
    _own_link(c)
    c.app.bus.handle(commands.LinkAccounts(("sandbox:sam", c.extra["account"]), "ana"))


def _target_account(disabled: bool = False) -> Prep:
    def prep(c: Ctx) -> None:
        name = f"kit{c.case_id}"
        accounts.add_admin(c.app.uow(), c.app.desk.clock, name, "moderator", PASSWORD, ())
        if disabled:
            accounts.set_disabled(c.app.uow(), c.app.desk.clock, name, True)
        c.extra["name"] = name
    return prep


def _target_token(c: Ctx) -> None:
    c.extra["name"] = f"kit-t{c.case_id}"
    accounts.create_token(c.app.uow(), c.app.desk.clock, c.extra["name"], None, account="mo")


def _invite_link(c: Ctx) -> None:
    made, raw = invites.invite(c.app.uow(), c.app.desk.clock, _ana(c), "moderator")
    c.extra.update(token=raw, invite_id=str(made.id))


def _setup_link(c: Ctx) -> None:
    """A setup link made before the first admin; the desk has admins now."""
    raw = f"setup-{c.case_id}"
    now = c.app.desk.clock.now()
    with c.app.uow() as uow:
        uow.accounts.add_invite(Invite(InviteKind.SETUP, Role.ADMIN, invites.link_hash(raw), now,
                                       now + invites.SETUP_LIFETIME, "desk"))
        uow.commit()
    c.extra["token"] = raw


def _ana(c: Ctx) -> Account:
    with c.app.uow() as uow:
        found = accounts.account_named(uow, "ana")
    assert found is not None
    return found


def _joining(c: Ctx) -> dict[str, Any]:
    return {"name": f"newcomer{c.case_id}", "password": PASSWORD, "again": PASSWORD}


def _hand_to(c: Ctx) -> dict[str, Any]:
    return {"to": "mo" if c.actor == "ana" else "ana"}


@dataclass(frozen=True)
class Row:
    """How a route is guarded and how to call it."""

    guard: str  # public | signed | acting | full | api-open | api-read | api-act | metrics | gone
    case: bool = False  # the route is about one case (the viewer's)
    listing: str | None = None  # a list a case about the viewer must be left out of
    prep: Prep | None = None
    data: dict[str, Any] | Callable[[Ctx], dict[str, Any]] = field(default_factory=dict)
    query: str = ""
    # the accounts linked or unlinked include an admin's own (sandbox:sam is sam-admin's):
    # another admin with the admin role does that, never that admin nor a moderator
    owned: bool = False


# every case is about sam, so the recommendation moves on as steps are taken: say why
STEP = {"step": "remind", "reason": "a first reminder"}
WEB_CASE: dict[str, Any] = {"guard": "acting", "case": True}
TABLE: dict[tuple[str, str], Row] = {
    # public pages
    ("GET", "/"): Row("public"),
    ("GET", "/report"): Row("public"),
    ("POST", "/report"): Row("public", data={"subject": "kim", "what": "They mocked my accent."}),
    ("GET", "/r/{token}"): Row("public", prep=_status_link),
    ("GET", "/r/{token}/proof"): Row("public", prep=_status_link),
    ("GET", "/audit/checkpoint"): Row("public"),
    ("GET", "/s/{token}"): Row("public", prep=_subject_link),
    ("POST", "/s/{token}/confirm"): Row("public", prep=_subject_link),
    ("POST", "/s/{token}/appeal"): Row("public", prep=_subject_link,
                                       data={"text": "I was quoting a film."}),
    ("POST", "/r/{token}/answer"): Row("public", prep=_question, data=lambda c: {
        "question": c.extra["question"], "text": "Yes, two others."}),
    ("POST", "/s/{token}/write"): Row("public", prep=_subject_link,
                                      data={"text": "I see it differently."}),
    ("GET", "/signin"): Row("public"),
    ("GET", "/setup/{token}"): Row("gone", prep=_setup_link),
    ("POST", "/setup/{token}"): Row("gone", prep=_setup_link, data=_joining),
    ("GET", "/invite/{token}"): Row("public", prep=_invite_link),
    ("POST", "/invite/{token}"): Row("public", prep=_invite_link, data=_joining),
    ("POST", "/signin"): Row("public", data={"name": "mo", "password": PASSWORD}),
    ("GET", "/static"): Row("public", query="/desk.css"),
    ("GET", "/api/v1/docs"): Row("public"),
    ("GET", "/api/v1/openapi.json"): Row("api-open"),
    # probes and the scraper: no session; /metrics opens to its own token only (none of these)
    ("GET", "/healthz"): Row("public"),
    ("GET", "/readyz"): Row("public"),
    ("GET", "/metrics"): Row("metrics"),
    # the transparency report: public, counts only
    ("GET", "/transparency"): Row("public"),
    ("GET", "/transparency.json"): Row("public"),
    # the desk's pages
    ("POST", "/signout"): Row("signed"),
    ("GET", "/queue"): Row("signed", listing="web"),
    ("GET", "/audit"): Row("signed", listing="web"),
    ("GET", "/people/{person:path}"): Row("signed", listing="web"),
    ("POST", "/people/{person:path}/link"): Row(
        "acting", prep=_own_link, owned=True, data=lambda c: {"accounts": c.extra["account"]}),
    ("POST", "/people/{person:path}/unlink"): Row(
        "acting", prep=_linked, owned=True, data=lambda c: {"account": c.extra["account"]}),
    ("GET", "/stats"): Row("signed"),
    ("GET", "/cases/{case_id}"): Row("signed", case=True),
    ("GET", "/cases/{case_id}/compose"): Row(**WEB_CASE, query="?step=remind"),
    ("POST", "/cases/{case_id}/take"): Row(**WEB_CASE),
    ("POST", "/cases/{case_id}/hand-over"): Row(**WEB_CASE, prep=_take, data=_hand_to),
    ("POST", "/cases/{case_id}/steps"): Row(**WEB_CASE, data=STEP),
    ("POST", "/cases/{case_id}/consult"): Row(**WEB_CASE, data={"person": "sandbox:jo",
                                                                "summary": "jo agrees"}),
    ("POST", "/cases/{case_id}/resolve"): Row(**WEB_CASE, prep=_take,
                                              data={"outcome": "no-action", "reason": "talked"}),
    ("POST", "/cases/{case_id}/reopen"): Row(**WEB_CASE, prep=_resolved),
    ("POST", "/cases/{case_id}/recuse"): Row("signed", case=True),
    ("POST", "/cases/{case_id}/confirm-hurt"): Row(**WEB_CASE, data={"person": "sandbox:jo"}),
    ("POST", "/cases/{case_id}/steps/{step_id}/done"): Row(**WEB_CASE, prep=_step("remove", fails="remove_from_channel")),
    ("POST", "/cases/{case_id}/steps/{step_id}/lift"): Row(**WEB_CASE,
                                                           prep=_step("suspend", duration="24h")),
    ("POST", "/cases/{case_id}/appeal"): Row(**WEB_CASE, prep=_appealed,
                                             data={"decision": "upheld"}),
    ("POST", "/queue/cases/{case_id}/take"): Row(**WEB_CASE),
    ("POST", "/queue/resolve"): Row(**WEB_CASE, prep=_take, data=lambda c: {
        "cases": [c.case_id], "outcome": "no-action", "reason": "talked"}),
    ("GET", "/settings"): Row("signed"),
    ("POST", "/settings/time-zone"): Row("signed", data={"time_zone": "Europe/Paris"}),
    ("POST", "/settings/invites"): Row("full", data={"role": "moderator"}),
    ("POST", "/settings/invites/{invite_id}/revoke"): Row("full", prep=_invite_link),
    ("POST", "/cases/{case_id}/ask"): Row(**WEB_CASE, data=_report_id),
    ("POST", "/cases/{case_id}/write"): Row(**WEB_CASE, data={"text": "How did you see it?"}),
    ("POST", "/settings/accounts/{name:path}/disable"): Row("full", prep=_target_account()),
    ("POST", "/settings/accounts/{name:path}/enable"): Row("full", prep=_target_account(True)),
    ("POST", "/settings/accounts/{name:path}/role"): Row("full", prep=_target_account(),
                                                    data={"role": "observer"}),
    ("POST", "/settings/tokens/{name:path}/revoke"): Row("full", prep=_target_token),
    ("GET", "/settings/email"): Row("signed"),
    ("POST", "/settings/email"): Row("signed", data={"email": "me@example.org",
                                                     "kinds": ["appeal"]}),
    # the API
    ("POST", "/api/v1/reports"): Row("api-read", data={"subject": "kim", "account": "rude"}),
    ("GET", "/api/v1/cases"): Row("api-read", listing="cases", query="?state=all"),
    ("GET", "/api/v1/cases/{case_id}"): Row("api-read", case=True),
    ("GET", "/api/v1/cases/{case_id}/preview"): Row("api-act", case=True, query="?step=remind"),
    ("POST", "/api/v1/cases/{case_id}/take"): Row("api-act", case=True),
    ("POST", "/api/v1/cases/{case_id}/hand-over"): Row("api-act", case=True, prep=_take,
                                                       data=_hand_to),
    ("POST", "/api/v1/cases/{case_id}/steps"): Row("api-act", case=True, data=STEP),
    ("POST", "/api/v1/cases/{case_id}/consultations"): Row(
        "api-act", case=True, data={"person": "sandbox:jo", "summary": "jo agrees"}),
    ("POST", "/api/v1/cases/{case_id}/resolve"): Row(
        "api-act", case=True, prep=_take, data={"outcome": "no-action", "reason": "talked"}),
    ("POST", "/api/v1/cases/{case_id}/reopen"): Row("api-act", case=True, prep=_resolved),
    ("POST", "/api/v1/cases/{case_id}/recuse"): Row("api-read", case=True),
    ("POST", "/api/v1/cases/{case_id}/confirm-hurt"): Row("api-act", case=True,
                                                          data={"person": "sandbox:jo"}),
    ("GET", "/api/v1/cases/{case_id}/appeal/preview"): Row("api-act", case=True, prep=_appealed,
                                                          query="?decision=upheld"),
    ("POST", "/api/v1/cases/{case_id}/appeal/decide"): Row("api-act", case=True, prep=_appealed,
                                                          data={"decision": "upheld"}),
    ("POST", "/api/v1/cases/{case_id}/messages"): Row(
        "api-act", case=True, data={"to": "subject", "text": "How did you see it?"}),
    ("GET", "/api/v1/people/{person:path}"): Row("api-read", listing="people"),
    ("GET", "/api/v1/audit"): Row("api-read", listing="audit"),
    ("POST", "/api/v1/people/links"): Row(
        "api-act", prep=_own_link, owned=True,
        data=lambda c: {"accounts": ["sandbox:sam", c.extra["account"]]}),
    ("POST", "/api/v1/people/unlink"): Row(
        "api-act", prep=_linked, owned=True, data=lambda c: {"account": c.extra["account"]}),
}


def expected(route: tuple[str, str], v: Viewer) -> Is:
    """What the desk promises ``v`` on ``route``."""
    row = TABLE[route]
    if row.guard in ("public", "api-open"):
        return Is.OK
    if row.guard == "metrics":  # neither a session nor an API token is the metrics token
        return Is.UNAUTHORIZED
    if row.guard == "gone":
        return Is.GONE
    if row.guard.startswith("api-"):
        if not (v.api and v.live):  # a session is no API credential
            return Is.UNAUTHORIZED
        if row.guard == "api-act" and v.role == "observer":
            return Is.FORBIDDEN
    else:
        if v.api or not v.live:
            return Is.SIGN_IN
        if row.guard == "full":
            return Is.OK if v.role == "admin" else Is.FORBIDDEN
        if row.guard == "acting" and v.role == "observer":
            return Is.FORBIDDEN
    if row.owned:
        return Is.OK if v.role == "admin" and not v.subject else Is.FORBIDDEN
    if v.subject and (row.case or row.listing):
        return Is.HIDDEN
    if v.recused and row.listing == "web" and route[1] == "/audit":
        return Is.HIDDEN  # the audit log leaves out the cases its reader is in
    if v.recused and row.case and not route[1].endswith("/recuse"):
        return Is.FORBIDDEN  # the one thing an involved admin may do is step aside
    return Is.OK


def app_routes(web: FastAPI) -> set[tuple[str, str]]:
    """Method and path of every route the app serves (included routers flattened)."""
    found = set()
    for route in iter_route_contexts(web.routes):
        if isinstance(route.original_route, Mount):
            found.add(("GET", str(route.path)))
        else:
            found |= {(m, str(route.path)) for m in route.methods or () if m != "HEAD"}
    return found


WRITTEN = (tables.steps, tables.consultations, tables.audit, tables.notes, tables.cases,
           tables.reports, tables.admins, tables.api_tokens, tables.messages)


def _written(engine: Engine) -> tuple[int, ...]:
    """The rows a request could add, in one query (:func:`count_rows` per table, batched)."""
    query = sa.select(*(sa.select(sa.func.count()).select_from(t).scalar_subquery()
                        for t in WRITTEN))
    with engine.connect() as conn:
        return tuple(conn.execute(query).one())


@pytest.fixture
def desk(app: App, web: FastAPI) -> FastAPI:
    """The desk with the viewers' accounts; ``web`` made the shared ones (ana, mo, obs, …)."""
    for name, (role, ids) in MORE_ACCOUNTS.items():
        accounts.add_admin(app.uow(), app.desk.clock, name, role, PASSWORD, ids)
    app.settings = app.settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    return create_app(app, CONFIG)


def _clients(app: App, desk: FastAPI) -> list[TestClient]:
    out = []
    for v in VIEWERS:
        if v.api:
            headers = {}
            if v.account:
                raw = accounts.create_token(app.uow(), app.desk.clock, f"t-{v.key}", None,
                                            account=v.account)
                headers = {"Authorization": f"Bearer {raw}"}
                if v.key == "token-revoked":
                    accounts.revoke_token(app.uow(), app.desk.clock, f"t-{v.key}")
            out.append(TestClient(desk, headers=headers, follow_redirects=False))
        else:
            client = TestClient(desk, follow_redirects=False)
            if v.account:  # a session as signing in opens one (sign-in itself: its own tests)
                with app.uow() as uow:
                    account = accounts.account_named(uow, v.account)
                assert account is not None
                client.cookies.set(SESSION_COOKIE, accounts.start_session(
                    app.uow(), account, app.desk.clock.now(), CONFIG.session_lifetime))
            out.append(client)
    accounts.set_disabled(app.uow(), app.desk.clock, "gone", True)  # its session and token die
    return out


def _case(app: App, n: int) -> int:
    case_id = file_case(app, reporter=REPORTER, hurt=("jo", "lee"), message_id=f"m{n}")
    app.bus.handle(commands.ConfirmHurt(case_id, "ana", "sandbox:lee"))
    return case_id


def _call(client: TestClient, method: str, path: str, row: Row, c: Ctx) -> Response:
    data = row.data(c) if callable(row.data) else dict(row.data)
    if method == "GET":
        return client.get(path)
    if path.startswith("/api/"):
        return client.post(path, json=data)
    page = client.get("/report").text  # a real form: its CSRF token (and stamp)
    data.update(csrf=csrf_of(page), stamp=stamp_of(page))
    return client.post(path, data=data)


def _shows_case(r: Response, row: Row, case_id: int) -> bool:
    if row.listing == "web":
        return f'href="/cases/{case_id}"' in r.text
    body = r.json()
    if row.listing in ("cases", "people"):
        return any(c["id"] == case_id for c in body["cases"])
    return any(e.get("case_id") == case_id for e in body["entries"])


def _said(r: Response) -> str:
    """The error a page or an API answer shows, for a failing cell's message."""
    return " ".join(re.findall(r'class="(?:error|flash)[^>]*>([^<]*)', r.text)) or r.text[:300]


def check(route: tuple[str, str], v: Viewer, c: Ctx, r: Response, before: tuple[int, ...],
          engine: Engine) -> None:
    row, want, where = TABLE[route], expected(route, v), f"{route} as {v.key}"
    code = r.status_code
    if want is Is.OK or (want is Is.HIDDEN and row.listing):
        assert 200 <= code < 400, f"{where}: {code} {_said(r)}"
        if code >= 300 and not route[1].startswith(("/signin", "/signout")):
            assert not r.headers["location"].startswith("/signin"), where
    elif want is Is.SIGN_IN:
        assert code == 303 and r.headers["location"].startswith("/signin?why="), \
            f"{where}: {code}"
    elif want is Is.UNAUTHORIZED:
        assert code == 401 and r.json()["error"]["code"] == "unauthorized", f"{where}: {code}"
    elif want is Is.GONE:
        assert code == 410, f"{where}: {code} {_said(r)}"
    elif want is Is.FORBIDDEN:
        assert code == 403, f"{where}: {code} {r.text[:300]}"
    else:
        assert code in (403, 404), f"{where}: {code} {r.text[:300]}"
    if want not in (Is.OK,) and not (want is Is.HIDDEN and row.listing):
        assert _written(engine) == before, f"{where} wrote something when refused"
        assert "shouldn&#39;t be writing code" not in r.text, where
    if row.listing and want in (Is.OK, Is.HIDDEN):
        shown = _shows_case(r, row, c.case_id)
        assert shown is (want is Is.OK), f"{where}: the case is {'not ' * (not shown)}listed"
        if want is Is.HIDDEN:
            assert REPORTER.split(":")[1] not in r.text and "/cases/" not in r.text, where


ROUTES = sorted(TABLE)


@SQLITE_ONLY
@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_each_viewer_gets_what_the_table_says(app: App, engine: Engine, desk: FastAPI,
                                              sandbox: SandboxPlatform,
                                              route: tuple[str, str]) -> None:
    clients, (method, template), row = _clients(app, desk), route, TABLE[route]
    shared = Ctx(app, _case(app, 0), "ana", sandbox)
    if row.prep:
        row.prep(shared)
    contexts = []
    for n, v in enumerate(VIEWERS, start=1):
        c = shared
        if method == "POST" and (row.case or row.prep) and expected(route, v) is Is.OK:
            # a case (or an account, a token, a link) of its own to change
            c = Ctx(app, _case(app, n), v.account if v.may_act and v.account else "ana",
                    sandbox)
            if row.prep:
                row.prep(c)
        contexts.append(c)
    for v, client, c in zip(VIEWERS, clients, contexts, strict=True):
        path = c.path(template) + row.query
        before = _written(engine) if expected(route, v) is not Is.OK else ()
        r = _call(client, method, path, row, c)
        check(route, v, c, r, before, engine)

@SQLITE_ONLY
def test_the_table_covers_every_route(desk: FastAPI) -> None:
    assert sorted(app_routes(desk)) == ROUTES


def test_the_table_size() -> None:
    """The figures for the closing note: routes × viewers covered, and what they get."""
    api = {r for r in TABLE if r[1].startswith("/api/v1/") and r[1] != "/api/v1/docs"}
    assert (len(TABLE), len(api), len(VIEWERS)) == (78, 20, 16)
    outcomes = Counter(expected(r, v) for r in TABLE for v in VIEWERS)
    assert sum(outcomes.values()) == 1248
    assert outcomes[Is.HIDDEN] == 38 and outcomes[Is.FORBIDDEN] == 82 and outcomes[Is.GONE] == 32
