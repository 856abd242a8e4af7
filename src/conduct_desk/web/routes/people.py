"""A person's history across cases and platforms."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.people import PersonRef
from conduct_desk.service import views
from conduct_desk.web.deps import SignedIn, Web
from conduct_desk.web.pages import render

router = APIRouter(include_in_schema=False)


def parse_person(text: str, default_platform: str) -> PersonRef:
    if len(text) > 300:
        raise InvalidInput("a person's id has at most 300 characters, e.g. slack:U123")
    return PersonRef.parse(text, default_platform)


@router.get("/people/{person:path}")
def person_page(request: Request, web: Web, admin: SignedIn, person: str) -> Response:
    ref = parse_person(person, web.app.settings.default_platform)
    history = views.person_history(web.app.uow(), ref, (admin.name, *admin.identities),
                                   now=web.app.desk.clock.now())
    return render(request, "person.html", {"history": history})
