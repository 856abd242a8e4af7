"""A person's history across cases and platforms."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.domain.accounts import Account
from conduct_desk.domain.errors import DeskError, InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import commands, views
from conduct_desk.web.deps import Acting, Csrf, SignedIn, Web, WebState
from conduct_desk.web.pages import render, status_of

router = APIRouter(include_in_schema=False)


def parse_person(text: str, default_platform: str) -> PersonRef:
    if len(text) > 300:
        raise InvalidInput("a person's id has at most 300 characters, e.g. slack:U123")
    return PersonRef.parse(text, default_platform)


DONE = {"linked": "Linked: these accounts are one person now; the audit log has it.",
        "unlinked": "Unlinked; the audit log has it."}


@router.get("/people/{person:path}")
def person_page(request: Request, web: Web, admin: SignedIn, person: str,
                done: str = "") -> Response:
    return _page(request, web, admin, person, notice=DONE.get(done))


def _page(request: Request, web: WebState, admin: Account, person: str, *,
          error: str | None = None, typed: str = "", status: int = 200,
          notice: str | None = None) -> Response:
    ref = parse_person(person, web.app.settings.default_platform)
    history = views.person_history(web.app.uow(), ref, (admin.name, *admin.identities),
                                   now=web.app.desk.clock.now())
    return render(request, "person.html", {"history": history, "error": error,
                                           "typed": typed, "notice": notice}, status=status)


@router.post("/people/{person:path}/link")
def link(request: Request, web: Web, admin: Acting, _csrf: Csrf, person: str,
         accounts: Annotated[str, Form(max_length=5000)] = "") -> Response:
    """Link this person's account with the accounts typed (one per line or space)."""
    ref = parse_person(person, web.app.settings.default_platform)
    try:
        web.app.bus.handle(commands.LinkAccounts((ref.key, *accounts.split()), admin.name))
    except DeskError as exc:
        return _page(request, web, admin, person, error=exc.problem, typed=accounts,
                     status=status_of(exc))
    return RedirectResponse(f"/people/{quote(ref.key)}?done=linked", status_code=303)


@router.post("/people/{person:path}/unlink")
def unlink(request: Request, web: Web, admin: Acting, _csrf: Csrf, person: str,
           account: Annotated[str, Form(max_length=300)] = "") -> Response:
    """Take one account out of this person (this one, or one linked to it)."""
    ref = parse_person(person, web.app.settings.default_platform)
    try:
        web.app.bus.handle(commands.UnlinkAccount(account, admin.name))
    except DeskError as exc:
        return _page(request, web, admin, person, error=exc.problem, status=status_of(exc))
    return RedirectResponse(f"/people/{quote(ref.key)}?done=unlinked", status_code=303)
