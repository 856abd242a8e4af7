"""Joining the desk from a one-time link: the first admin's setup link and admins' invitations.

The person chooses their name (unless the invitation names them) and their own password; the
account is made with the link's role, the link is used up, and they are signed in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from conduct_desk.domain.accounts import InviteKind
from conduct_desk.domain.errors import DeskError
from conduct_desk.service import invites
from conduct_desk.web.deps import Csrf, Web, WebState
from conduct_desk.web.pages import error_text, render, status_of
from conduct_desk.web.routes.auth import signed_in

router = APIRouter(include_in_schema=False)

# the service's names for this form's inputs -> their labels on the page
FIELDS = {"name": "the Name field", "password": "the Password field",
          "again": "the “Password again” field"}
GONE_STATUS = {"unknown": 404}  # used, revoked, expired or superseded: 410 Gone


def _page(request: Request, web: WebState, kind: InviteKind, token: str, *,
          error: str | None = None, name: str = "", status: int = 200) -> Response:
    found = invites.check_link(web.app.uow(), web.app.desk.clock, kind, token)
    if found.invite is None:
        why = invites.GONE.get(found.why, "This address is not a link the desk made.")
        ask = ("Ask whoever runs the desk for a fresh setup link: the desk prints one where "
               "it was started." if kind is InviteKind.SETUP and found.why != "has-admin"
               else "Sign in, or ask an admin for a new invitation."
               if kind is InviteKind.INVITE else "Sign in with your account.")
        return render(request, "welcome.html", {"gone": why, "ask": ask, "kind": str(kind)},
                      GONE_STATUS.get(found.why, 410))
    return render(request, "welcome.html", {
        "invite": found.invite, "kind": str(kind), "token": token, "error": error,
        "name": found.invite.name or name}, status)


def _accept(request: Request, web: WebState, kind: InviteKind, token: str, name: str,
            password: str, again: str) -> Response:
    try:
        account = invites.accept(web.app.uow(), web.app.desk.clock, kind, token, name,
                                 password, again)
    except DeskError as exc:
        if exc.field == "link":  # the link stopped working meanwhile: say why
            return _page(request, web, kind, token)
        return _page(request, web, kind, token, error=error_text(exc, FIELDS), name=name,
                     status=status_of(exc))
    return signed_in(request, web, account, "/queue?welcome=1")


Name = Annotated[str, Form(max_length=300)]
Password = Annotated[str, Form(max_length=1000)]


def _link_routes(kind: InviteKind, prefix: str) -> None:
    """The page of a link and its form, for one kind of link."""

    def page(request: Request, web: Web, token: str) -> Response:
        return _page(request, web, kind, token)

    def join(request: Request, web: Web, _csrf: Csrf, token: str, name: Name = "",
             password: Password = "", again: Password = "") -> Response:
        return _accept(request, web, kind, token, name, password, again)

    router.add_api_route(prefix + "{token}", page, methods=["GET"])
    router.add_api_route(prefix + "{token}", join, methods=["POST"])


_link_routes(InviteKind.SETUP, invites.SETUP_PATH)
_link_routes(InviteKind.INVITE, invites.INVITE_PATH)
