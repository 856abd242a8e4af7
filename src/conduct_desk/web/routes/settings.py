"""Settings: every account's own (its time zone); for admins also the policy in force, the
accounts, invitations and the API tokens.

An admin can disable or enable an account, change its role and revoke a token here, as with
``conduct admin`` and ``conduct token``, and invite people by one-time link (they choose their
own password). API tokens are made on the command line, where a token is never shown in a
browser.

Email notices (``/settings/email``): every signed-in account chooses its own address and what
the desk emails it about, as ``conduct admin email`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.domain.accounts import Account, Role
from conduct_desk.domain.emails import EmailKind
from conduct_desk.domain.errors import DeskError
from conduct_desk.service import accounts, emails, invites
from conduct_desk.web.deps import MAX_ID, Csrf, FullAdmin, SignedIn, Web, WebState
from conduct_desk.web.pages import error_text, render, status_of

router = APIRouter(include_in_schema=False)
DONE = {
    "disabled": "The account is disabled: it cannot sign in, and its sessions have ended.",
    "enabled": "The account can sign in again.",
    "role": "The role is changed; it applies from the account's next request.",
    "revoked": "The token is revoked: the API refuses it from now on.",
    "unchanged": "Nothing needed to change.",
    "time-zone": "Your time zone is saved: the pages show times in it now.",
    "invite-revoked": "The invitation is revoked: its link no longer works.",
}


def _page(request: Request, web: WebState, *, error: str | None = None,
          status: int = 200, **more: Any) -> Response:
    uow = web.app.uow
    admin = getattr(request.state, "admin", None)
    ctx: dict[str, Any] = {"done": DONE.get(request.query_params.get("done", "")),
                           "error": error, "time_zones": sorted(accounts.time_zones()), **more}
    if admin is not None and admin.role is Role.ADMIN:
        found = accounts.account_list(uow())
        ctx.update(policy=web.app.desk.policy, accounts=found,
                   emailed={a.name: accounts.email_summary(a) for a in found},
                   tokens=accounts.token_list(uow()), roles=["observer", "moderator", "admin"],
                   **invitations_context(web))
    return render(request, "settings.html", ctx, status)


@router.get("/settings")
def settings_page(request: Request, web: Web, admin: SignedIn) -> Response:
    """Every account sees its own settings; admins see the desk's too."""
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


@router.post("/settings/accounts/{name:path}/disable")
def disable(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str) -> Response:
    return _change(request, web, lambda: accounts.set_disabled(
        web.app.uow(), web.app.desk.clock, name, True, admin.name, by_account=admin.name),
        "disabled")


@router.post("/settings/accounts/{name:path}/enable")
def enable(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str) -> Response:
    return _change(request, web, lambda: accounts.set_disabled(
        web.app.uow(), web.app.desk.clock, name, False, admin.name), "enabled")


@router.post("/settings/accounts/{name:path}/role")
def role(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str,
         role: Annotated[str, Form(max_length=20)] = "") -> Response:
    return _change(request, web, lambda: accounts.set_role(
        web.app.uow(), web.app.desk.clock, name, role, admin.name, by_account=admin.name), "role")


@router.post("/settings/tokens/{name:path}/revoke")
def revoke(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf, name: str) -> Response:
    return _change(request, web, lambda: accounts.revoke_token(
        web.app.uow(), web.app.desk.clock, name, admin.name), "revoked")


EXPLAIN = {
    EmailKind.NEW_CASE: "When a report opens a case that nobody has taken yet.",
    EmailKind.REMINDER: "When a case passes a deadline: not taken in time, no first step yet, "
                        "or a step still waiting to be done by hand.",
    EmailKind.BACKUP: "When you are paged as a backup admin: a reminder went unanswered, or "
                      "every other admin is involved in the case.",
    EmailKind.APPEAL: "When the person a case is about appeals.",
}


def _email_page(request: Request, web: WebState, admin: Account, *, address: str | None = None,
                kinds: frozenset[EmailKind] | None = None, error: DeskError | None = None,
                done: bool = False) -> Response:
    policy = web.app.desk.policy
    return render(request, "settings_email.html", {
        "kinds": list(EmailKind), "explain": EXPLAIN,
        "form_email": admin.email if address is None else address,
        "form_kinds": admin.email_kinds if kinds is None else kinds,
        "on_duty": policy.on_duty, "backup": policy.backup,
        "you_on_duty": admin in emails.on_duty([admin], policy, EmailKind.NEW_CASE),
        "you_backup": admin in emails.on_duty([admin], policy, EmailKind.BACKUP),
        "mail_ready": web.app.desk.mailer is not None,
        "done": "Your email choices are saved." if done else None,
        "error": error_text(error, {"email": "the email address"}) if error else None,
        "error_field": error.field if error else None,
    }, status_of(error) if error else 200)


@router.get("/settings/email")
def email_page(request: Request, web: Web, admin: SignedIn) -> Response:
    return _email_page(request, web, admin, done=request.query_params.get("done") == "saved")


@router.post("/settings/email")
def save_email(request: Request, web: Web, admin: SignedIn, _csrf: Csrf,
               email: Annotated[str, Form(max_length=300)] = "",
               kinds: Annotated[list[str] | None, Form()] = None) -> Response:
    """An account changes its own email choices (never another's)."""
    try:
        chosen = frozenset(EmailKind.parse(k) for k in kinds or ())
        accounts.set_email(web.app.uow(), web.app.desk.clock, admin.name, email, chosen,
                           admin.name)
    except DeskError as exc:
        return _email_page(request, web, admin, address=email,
                           kinds=frozenset(k for k in EmailKind if k in (kinds or ())),
                           error=exc)
    return RedirectResponse("/settings/email?done=saved", status_code=303)


# -- your time zone (every account) ---------------------------------------------------------

SETTINGS_FIELDS = {"time_zone": "the Time zone field", "role": "the Role list of the invitation",
                   "name": "the Name field of the invitation"}


@router.post("/settings/time-zone")
def time_zone(request: Request, web: Web, admin: SignedIn, _csrf: Csrf,
              time_zone: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        accounts.set_time_zone(web.app.uow(), web.app.desk.clock, admin.name, time_zone)
    except DeskError as exc:
        return _page(request, web, error=error_text(exc, SETTINGS_FIELDS), status=status_of(exc),
                     time_zone_typed=time_zone)
    return RedirectResponse("/settings?done=time-zone", status_code=303)


# -- invitations (admins) -------------------------------------------------------------------


InviteId = Annotated[int, Path(ge=1, le=MAX_ID)]


def invitations_context(web: WebState) -> dict[str, Any]:
    now = web.app.desk.clock.now()
    return {"invites": [(i, i.state(now)) for i in invites.invitations(web.app.uow())]}


def _base_url(request: Request, web: WebState) -> str:
    return web.app.settings.base_url or str(request.base_url)


@router.post("/settings/invites")
def make_invite(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf,
                role: Annotated[str, Form(max_length=20)] = "",
                name: Annotated[str, Form(max_length=300)] = "") -> Response:
    """Make an invitation and show its link once, on this page (never in an address)."""
    try:
        made, raw = invites.invite(web.app.uow(), web.app.desk.clock, admin, role, name)
    except DeskError as exc:
        return _page(request, web, error=error_text(exc, SETTINGS_FIELDS),
                     status=status_of(exc))
    return _page(request, web, new_invite=made,
                 new_link=invites.link(_base_url(request, web), made.kind, raw))


@router.post("/settings/invites/{invite_id}/revoke")
def revoke_invite(request: Request, web: Web, admin: FullAdmin, _csrf: Csrf,
                  invite_id: InviteId) -> Response:
    return _change(request, web, lambda: invites.revoke(
        web.app.uow(), web.app.desk.clock, invite_id, admin), "invite-revoked")
