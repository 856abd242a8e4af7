"""The audit log, filterable by actor, case and time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.service import views
from conduct_desk.web.deps import SignedIn, Web
from conduct_desk.web.pages import error_text, render

router = APIRouter(include_in_schema=False)


def parse_day(text: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a date; write it like 2026-11-24") from None


def parse_case_id(text: str) -> int | None:
    text = text.strip().lstrip("#")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) < 2**31:
        raise InvalidInput(f"case {text!r} is not a case number; write it like 12")
    return int(text)


@router.get("/audit")
def audit_page(
    request: Request, web: Web, admin: SignedIn,
    actor: Annotated[str, Query(max_length=300)] = "",
    case: Annotated[str, Query(max_length=20)] = "",
    since: Annotated[str, Query(max_length=20)] = "",
    until: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    form = {"actor": actor, "case": case, "since": since, "until": until}
    try:
        case_id, start, end = parse_case_id(case), parse_day(since, "from"), parse_day(until, "to")
    except InvalidInput as exc:
        return render(request, "audit.html", {"entries": [], "error": error_text(exc), **form}, 422)
    entries = views.audit_log(
        web.app.uow(), actor=actor.strip() or None, case_id=case_id,
        since=datetime.combine(start, time.min, UTC) if start else None,
        until=datetime.combine(end, time.min, UTC) + timedelta(days=1) if end else None,
        limit=500, viewer=admin.name, aliases=admin.identities)
    return render(request, "audit.html", {"entries": entries, **form})
