"""Dependencies shared by the routes, as ``Annotated`` aliases (one place for all of them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.templating import Jinja2Templates

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Account, Role, WebSession
from conduct_desk.domain.policy import Action
from conduct_desk.service import accounts
from conduct_desk.service.limits import RateLimit
from conduct_desk.web.security import (
    SESSION_COOKIE,
    Signer,
    TrustedProxies,
    WebConfig,
)

MAX_ID = 2**31 - 1
# every integer id in a path: out of range is a clean 422, never a database overflow
CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="a case number")]
StepId = Annotated[int, Path(ge=1, le=MAX_ID, description="a step number")]


@dataclass
class WebState:
    """Everything the routes share, built once by :func:`conduct_desk.web.app.create_app`."""

    app: App
    signer: Signer
    config: WebConfig
    templates: Jinja2Templates
    proxies: TrustedProxies
    https_base: bool  # CONDUCT_BASE_URL is https: cookies are Secure whatever the request says
    metrics_token: str | None = None  # /metrics' bearer token; None: /metrics is not served
    signin_by_client: RateLimit = field(init=False)
    signin_by_pair: RateLimit = field(init=False)
    signin_missed: RateLimit = field(init=False)
    reports_by_client: RateLimit = field(init=False)
    lookups_by_client: RateLimit = field(init=False)

    def __post_init__(self) -> None:
        c, uow = self.config, self.app.uow
        self.signin_by_client = RateLimit(uow, "signin-client", c.signin_attempts,
                                          c.signin_window)
        # (name, client): exponential back-off after each wrong password
        self.signin_by_pair = RateLimit(uow, "signin-pair", 10**6, c.signin_window)
        # per name: told to the account at its next sign-in
        self.signin_missed = RateLimit(uow, "signin-missed", 10**6, c.signin_notice_window)
        self.reports_by_client = RateLimit(uow, "report-client", c.reports_per_client,
                                           c.report_window)
        self.lookups_by_client = RateLimit(uow, "lookup-client", c.lookups_per_client,
                                           c.lookup_window)


class SignInRequired(Exception):
    """No valid session: the page sends the visitor to sign in (``why`` says why)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class Forbidden(Exception):
    """Signed in (or a valid token), but the role does not allow this."""


class CsrfFailed(Exception):
    """A form without its CSRF token, or with someone else's."""


class Unauthorized(Exception):
    """An API call without a valid bearer token."""


@dataclass(frozen=True)
class Caller:
    """Who calls the API: the token's account (name, role, platform identities), or for a
    role-only token made before tokens had accounts, ``token:NAME`` with the bare name."""

    name: str
    role: Role
    aliases: tuple[str, ...] = ()  # recusal and "not about the viewer" match these too
    account: Account | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


async def get_web(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


Web = Annotated[WebState, Depends(get_web)]


def client_key(request: Request) -> str:
    """The client's address: ``X-Forwarded-For`` counts only from a trusted proxy."""
    web: WebState = request.app.state.web
    peer = request.client.host if request.client else None
    return web.proxies.client(peer, request.headers.getlist("x-forwarded-for"))


def is_https(request: Request) -> bool:
    """Reached over https (``X-Forwarded-Proto`` counts only from a trusted proxy), or the
    desk's public address is https: then cookies are ``Secure``."""
    web: WebState = request.app.state.web
    peer = request.client.host if request.client else None
    scheme = web.proxies.scheme(peer, request.url.scheme,
                                request.headers.get("x-forwarded-proto"))
    return web.https_base or scheme == "https"


def _session(request: Request) -> tuple[WebSession, Account] | str:
    """The live session of this request and its account, or why there is none (cached)."""
    cached = getattr(request.state, "session", None)
    if cached is not None:
        result: tuple[WebSession, Account] | str = cached
        return result
    web: WebState = request.app.state.web
    cookie = request.cookies.get(SESSION_COOKIE)
    found = accounts.session_account(web.app.uow(), cookie, web.app.desk.clock.now()) \
        if cookie else "required"
    request.state.session = found
    return found


def csrf_binding(request: Request) -> str | None:
    """What this visitor's CSRF token is bound to: the session when signed in, else the
    desk-signed seed of the CSRF cookie (never a value the visitor chose)."""
    found = _session(request)
    if not isinstance(found, str):
        session = found[0]
        return f"session:{session.id_hash}"
    seed = getattr(request.state, "csrf_seed", None)
    return f"seed:{seed}" if seed else None


def current_admin(request: Request, web: Web) -> Account:
    found = _session(request)
    if isinstance(found, str):
        raise SignInRequired(found)
    session, account = found
    failed = session.failed_signins
    if failed and request.method == "GET" and not request.headers.get("hx-request"):
        request.state.signin_notice = failed
        accounts.take_signin_notice(web.app.uow(), session)
    request.state.admin = account
    return account


SignedIn = Annotated[Account, Depends(current_admin)]


async def acting_admin(admin: SignedIn) -> Account:
    if not admin.role.may_act:
        raise Forbidden("Your role is observer: you can read cases but not act on them. "
                        "Ask an admin for the moderator role if you need to.")
    return admin


Acting = Annotated[Account, Depends(acting_admin)]


async def full_admin(admin: SignedIn) -> Account:
    if admin.role is not Role.ADMIN:
        raise Forbidden("Only admins can see this page.")
    return admin


FullAdmin = Annotated[Account, Depends(full_admin)]


async def check_csrf(request: Request, web: Web) -> None:
    form = await request.form()
    if not web.signer.check_csrf(csrf_binding(request), form.get("csrf")):
        raise CsrfFailed()


Csrf = Annotated[None, Depends(check_csrf)]


def api_caller(request: Request, web: Web) -> Caller:
    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise Unauthorized("send your API token as `Authorization: Bearer <token>`; "
                           "make one with `conduct token create --account NAME`")
    holder = accounts.token_for(web.app.uow(), raw.strip())
    if holder is None:
        raise Unauthorized("this API token is not valid (unknown, revoked, or its account is "
                           "disabled); make a new one with `conduct token create --account NAME`")
    return Caller(holder.name, holder.role, holder.aliases, holder.account)


ApiCaller = Annotated[Caller, Depends(api_caller)]


async def api_actor(caller: ApiCaller) -> Caller:
    if not caller.role.may_act:
        raise Forbidden("this token has the observer role: it can read but not act")
    return caller


ApiActor = Annotated[Caller, Depends(api_actor)]


def require_step_role(role: Role, action: Action, step: str) -> None:
    if not role.may_take(action):
        raise Forbidden(f"a {step} needs the admin role; ask an admin to take it")
