"""Signing in and out; the home page."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.domain.accounts import Account
from conduct_desk.domain.durations import humanize_span
from conduct_desk.service import accounts
from conduct_desk.web.deps import Csrf, SignedIn, Web, WebState, client_key, is_https
from conduct_desk.web.pages import render
from conduct_desk.web.security import SESSION_COOKIE

router = APIRouter(include_in_schema=False)

WHY = {
    "required": "Please sign in to use the desk.",
    "expired": "Your session ended, so you were signed out. Please sign in again.",
    "invalid": "Your session is no longer valid. Please sign in again.",
    "signed-out": "You are signed out.",
}


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and len(value) < 500:
        return value
    return "/queue"


@router.get("/")
def home(request: Request, web: Web) -> Response:
    return render(request, "home.html")


@router.get("/signin")
def signin_page(request: Request, web: Web, why: str | None = None,
                next: str | None = None) -> Response:
    return render(request, "signin.html", {
        "notice": WHY.get(why or ""), "next": _safe_next(next),
        "no_admins": not accounts.has_admins(web.app.uow()),
    })


FREE_TRIES = 2  # typos cost nothing; from the third wrong password on, each one waits longer


def backoff(failures: int, cap: timedelta) -> timedelta:
    """How long one (name, client) waits after ``failures`` wrong passwords: nothing for the
    first two, then 1 s, 2 s, 4 s … up to ``cap``. Other clients are not slowed down."""
    if failures <= FREE_TRIES:
        return timedelta(0)
    return min(cap, timedelta(seconds=2 ** min(failures - FREE_TRIES - 1, 30)))


@router.post("/signin")
def signin(request: Request, web: Web, _csrf: Csrf,
           name: Annotated[str, Form(max_length=200)] = "",
           password: Annotated[str, Form(max_length=1000)] = "",
           next: Annotated[str, Form(max_length=500)] = "/queue") -> Response:
    now, c = web.app.desk.clock.now(), web.config
    client, who = client_key(request), name.strip().lower()
    pair = f"{who}\0{client}"

    def refused(error: str, status: int) -> Response:
        return render(request, "signin.html", {"error": error, "name": name,
                                               "next": _safe_next(next)}, status)

    if web.signin_by_client.blocked(client, now):
        minutes = int(c.signin_window.total_seconds() // 60)
        return refused("Too many sign-in attempts came from here. Please wait "
                       f"{minutes} minutes, then try again.", 429)
    wait = backoff(web.signin_by_pair.count(pair, now - c.signin_window), c.signin_backoff_cap)
    if wait and web.signin_by_pair.count(pair, now - wait):
        return refused("That name had a wrong password from here just now. Please wait "
                       f"{humanize_span(wait)}, then try again.", 429)
    account = accounts.authenticate(web.app.uow(), name, password)
    if account is None:
        web.signin_by_client.hit(client, now)
        web.signin_by_pair.hit(pair, now)
        web.signin_missed.hit(who, now)
        return refused("That name and password do not match an account. Check both and "
                       "try again.", 401)
    missed = web.signin_missed.count(who, now - c.signin_notice_window)
    web.signin_missed.clear(who)
    web.signin_by_pair.clear(pair)
    return signed_in(request, web, account, _safe_next(next), missed)


def signed_in(request: Request, web: WebState, account: Account, to: str,
              missed: int = 0) -> Response:
    """Open a session for ``account`` and go to ``to`` with its cookie set."""
    c = web.config
    raw = accounts.start_session(web.app.uow(), account, web.app.desk.clock.now(),
                                 c.session_lifetime, missed)
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(SESSION_COOKIE, raw, max_age=int(c.session_lifetime.total_seconds()),
                        httponly=True, samesite="lax", secure=is_https(request), path="/")
    return response


@router.post("/signout")
def signout(request: Request, web: Web, admin: SignedIn, _csrf: Csrf) -> Response:
    """Sign out: the session is deleted on the server, so its cookie is worthless now."""
    accounts.end_session(web.app.uow(), request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/signin?why=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=is_https(request))
    return response
