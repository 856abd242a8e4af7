"""Settings (admins only): the policy in force and who has an account."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from conduct_desk.service import accounts
from conduct_desk.web.deps import FullAdmin, Web
from conduct_desk.web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/settings")
def settings_page(request: Request, web: Web, admin: FullAdmin) -> Response:
    return render(request, "settings.html", {
        "policy": web.app.desk.policy, "accounts": accounts.account_list(web.app.uow()),
    })
