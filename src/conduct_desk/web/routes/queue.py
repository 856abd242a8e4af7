"""The queue: open cases, most urgent first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from conduct_desk.service import views
from conduct_desk.web.deps import SignedIn, Web
from conduct_desk.web.pages import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50  # as many as a person reads before acting; the rest are a link away


@router.get("/queue")
def queue_page(request: Request, web: Web, admin: SignedIn,
               page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
               appeals: Annotated[bool, Query()] = False) -> Response:
    """The queue; ``?appeals=1``: the cases with an appeal waiting for a decision."""
    desk = web.app.desk
    q = views.queue_page(web.app.uow(), desk.clock.now(), page, PAGE_SIZE,
                         (admin.name, *admin.identities), appeals=appeals)
    return render(request, "queue.html", {"q": q, "appeals": appeals,
                                          "here": "/queue?appeals=1&" if appeals else "/queue?"})
