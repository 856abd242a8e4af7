"""Signing in and out; the home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.service import accounts
from conduct_desk.web.deps import Csrf, SignedIn, Web, client_key
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


@router.post("/signin")
def signin(request: Request, web: Web, _csrf: Csrf,
           name: Annotated[str, Form(max_length=200)] = "",
           password: Annotated[str, Form(max_length=1000)] = "",
           next: Annotated[str, Form(max_length=500)] = "/queue") -> Response:
    now = web.app.desk.clock.now()
    client, who = client_key(request), name.strip().lower()
    if web.signin_by_client.blocked(client, now) or web.signin_by_name.blocked(who, now):
        minutes = int(web.config.signin_window.total_seconds() // 60)
        return render(request, "signin.html", {
            "error": f"Too many sign-in attempts. Please wait {minutes} minutes, then try again.",
            "name": name, "next": _safe_next(next)}, 429)
    account = accounts.authenticate(web.app.uow(), name, password)
    if account is None:
        web.signin_by_client.hit(client, now)
        web.signin_by_name.hit(who, now)
        return render(request, "signin.html", {
            "error": "That name and password do not match an account. Check both and try again.",
            "name": name, "next": _safe_next(next)}, 401)
    web.signin_by_name.clear(who)
    assert account.id is not None
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, web.signer.session(account.id, now, account.password_hash),
                        max_age=int(web.config.session_lifetime.total_seconds()), httponly=True,
                        samesite="lax", secure=web.secure_cookies, path="/")
    return response


@router.post("/signout")
def signout(request: Request, web: Web, admin: SignedIn, _csrf: Csrf) -> Response:
    response = RedirectResponse("/signin?why=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=web.secure_cookies)
    return response
