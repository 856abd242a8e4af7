"""Dependencies shared by the routes, as ``Annotated`` aliases (one place for all of them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from conduct_desk.bootstrap import App
from conduct_desk.domain.accounts import Account, Role
from conduct_desk.domain.policy import Action
from conduct_desk.service import accounts
from conduct_desk.service.limits import RateLimit
from conduct_desk.web.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Signer,
    WebConfig,
    password_tag,
)


@dataclass
class WebState:
    """Everything the routes share, built once by :func:`conduct_desk.web.app.create_app`."""

    app: App
    signer: Signer
    config: WebConfig
    templates: Jinja2Templates
    secure_cookies: bool
    signin_by_client: RateLimit = field(init=False)
    signin_by_name: RateLimit = field(init=False)
    reports_by_client: RateLimit = field(init=False)

    def __post_init__(self) -> None:
        c, uow = self.config, self.app.uow
        self.signin_by_client = RateLimit(uow, "signin-client", c.signin_attempts * 4,
                                          c.signin_window)
        self.signin_by_name = RateLimit(uow, "signin-name", c.signin_attempts, c.signin_window)
        self.reports_by_client = RateLimit(uow, "report-client", c.reports_per_client,
                                           c.report_window)


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


def get_web(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


Web = Annotated[WebState, Depends(get_web)]


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def current_admin(request: Request, web: Web) -> Account:
    cookie = request.cookies.get(SESSION_COOKIE)
    session = web.signer.read_session(cookie)
    if session is None:
        raise SignInRequired("invalid" if cookie else "required")
    if web.app.desk.clock.now() - session.issued_at > web.config.session_lifetime:
        raise SignInRequired("expired")
    account = accounts.account_by_id(web.app.uow(), session.admin_id)
    if account is None or account.disabled or password_tag(account.password_hash) \
            != session.password_tag:
        raise SignInRequired("invalid")
    request.state.admin = account
    return account


SignedIn = Annotated[Account, Depends(current_admin)]


def acting_admin(admin: SignedIn) -> Account:
    if not admin.role.may_act:
        raise Forbidden("Your role is observer: you can read cases but not act on them. "
                        "Ask an admin for the moderator role if you need to.")
    return admin


Acting = Annotated[Account, Depends(acting_admin)]


def full_admin(admin: SignedIn) -> Account:
    if admin.role is not Role.ADMIN:
        raise Forbidden("Only admins can see this page.")
    return admin


FullAdmin = Annotated[Account, Depends(full_admin)]


async def check_csrf(request: Request, web: Web) -> None:
    form = await request.form()
    if not web.signer.check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf")):
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


def api_actor(caller: ApiCaller) -> Caller:
    if not caller.role.may_act:
        raise Forbidden("this token has the observer role: it can read but not act")
    return caller


ApiActor = Annotated[Caller, Depends(api_actor)]


def require_step_role(role: Role, action: Action, step: str) -> None:
    if not role.may_take(action):
        raise Forbidden(f"a {step} needs the admin role; ask an admin to take it")
