"""Settings (admins only): the policy in force, the accounts and the API tokens.

An admin can disable or enable an account, change its role and revoke a token here, as with
``conduct admin`` and ``conduct token``; making accounts and tokens stays on the command
line, where a password or a token is never shown in a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.domain.errors import DeskError
from conduct_desk.service import accounts
from conduct_desk.web.deps import Csrf, FullAdmin, Web, WebState
from conduct_desk.web.pages import error_text, render, status_of

router = APIRouter(include_in_schema=False)
DONE = {
    "disabled": "The account is disabled: it cannot sign in, and its sessions have ended.",
    "enabled": "The account can sign in again.",
    "role": "The role is changed; it applies from the account's next request.",
    "revoked": "The token is revoked: the API refuses it from now on.",
    "unchanged": "Nothing needed to change.",
}


def _page(request: Request, web: WebState, *, error: str | None = None,
          status: int = 200) -> Response:
    uow = web.app.uow
    return render(request, "settings.html", {
        "policy": web.app.desk.policy, "accounts": accounts.account_list(uow()),
        "tokens": accounts.token_list(uow()), "roles": ["observer", "moderator", "admin"],
        "done": DONE.get(request.query_params.get("done", "")), "error": error,
    }, status)


@router.get("/settings")
def settings_page(request: Request, web: Web, admin: FullAdmin) -> Response:
    return _page(request, web)


def _change(request: Request, web: WebState, change: Callable[[], Any], done: str) -> Response:
    """Run one change. The service refuses one on the admin's own account, however its name is
    spelled in the address (" ana", "ANA", "ａｎａ")."""
    try:
        changed = change()
    except DeskError as exc:
        return _page(request, web, error=error_text(exc), status=status_of(exc))
    return RedirectResponse(f"/settings?done={done if changed is not None else 'unchanged'}",
                            status_code=303)


@router.post("/settings/accounts/{name}/disable")
def disable(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str) -> Response:
    return _change(request, web, lambda: accounts.set_disabled(
        web.app.uow(), web.app.desk.clock, name, True, admin.name, by_account=admin.name),
        "disabled")


@router.post("/settings/accounts/{name}/enable")
def enable(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str) -> Response:
    return _change(request, web, lambda: accounts.set_disabled(
        web.app.uow(), web.app.desk.clock, name, False, admin.name), "enabled")


@router.post("/settings/accounts/{name}/role")
def role(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str,
         role: Annotated[str, Form(max_length=20)] = "") -> Response:
    return _change(request, web, lambda: accounts.set_role(
        web.app.uow(), web.app.desk.clock, name, role, admin.name, by_account=admin.name), "role")


@router.post("/settings/tokens/{name}/revoke")
def revoke(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str) -> Response:
    return _change(request, web, lambda: accounts.revoke_token(
        web.app.uow(), web.app.desk.clock, name, admin.name), "revoked")
