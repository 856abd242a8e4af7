"""The queue: open cases, most urgent first, a page at a time; its filters and search, taking
a case from it, and resolving several at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from conduct_desk.domain.accounts import Account
from conduct_desk.domain.errors import DeskError
from conduct_desk.domain.model import Outcome
from conduct_desk.service import commands, views
from conduct_desk.web.deps import MAX_ID, Acting, CaseId, Csrf, SignedIn, Web, WebState
from conduct_desk.web.pages import error_text, render, status_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50  # as many as a person reads before acting; the rest are a link away
FLAGS = ("mine", "unassigned", "flagrant", "overdue", "appeals")
BULK = [(Outcome.DUPLICATE.value, "Duplicates of another case (say which in the reason)"),
        (Outcome.NO_ACTION.value, "No action needed (say why in the reason)")]
BULK_MOST = 200  # cases resolved by one click, at most


def _said(exc: DeskError) -> str:
    """An error in the queue's words: the case page's buttons ("below") are not here."""
    return exc.problem if exc.hint is not None and exc.hint.case_id is not None \
        else error_text(exc)


def _filters(params: Mapping[str, str], web: WebState) -> tuple[views.QueueFilters, str | None]:
    """The queue's filters from an address; a value the page does not offer is dropped, with
    a sentence saying so."""
    state = params.get("state", "open")
    platform = params.get("platform", "")
    problems = []
    if state not in views.STATE_CHOICES:
        problems.append("that state is not one the queue knows; choose one from the State list")
        state = "open"
    if platform and platform not in web.app.desk.platforms:
        problems.append("no platform by that name is connected; choose one from the Platform list")
        platform = ""
    on = {f: params.get(f, "") not in ("", "0", "false", "off") for f in FLAGS}
    found = views.QueueFilters(state=state, platform=platform, q=params.get("q", "")[:300], **on)
    said = "; ".join(problems)
    return found, said[:1].upper() + said[1:] + "." if problems else None


def _address(f: views.QueueFilters, group: str, drop: str = "") -> str:
    """The queue's address with these filters (``drop``: without that one)."""
    pairs = [("state", f.state if f.state != "open" else ""), *((n, "1") for n in FLAGS
             if getattr(f, n)), ("platform", f.platform), ("q", f.q.strip()), ("group", group)]
    query = urlencode([(k, v) for k, v in pairs if v and k != drop])
    return "/queue?" + query if query else "/queue"


def _page(request: Request, web: WebState, admin: Account, params: Mapping[str, str], *,
          page: int = 1, error: str | None = None, error_at: str | None = None,
          results: dict[str, Any] | None = None, form: dict[str, Any] | None = None,
          status: int = 200) -> Response:
    filters, problem = _filters(params, web)
    group = "person" if params.get("group") == "person" else ""
    desk = web.app.desk
    q = views.filtered_queue_page(web.app.uow(), desk.clock.now(), page, PAGE_SIZE,
                                  (admin.name, *admin.identities), filters)
    here = _address(filters, group)
    return render(request, "queue.html", {
        "q": q, "f": filters, "may": admin.role.may_act, "appeals": filters.appeals, "group": group,
        "groups": views.by_person(q.items) if group else None,
        "here": here + ("&" if "?" in here else "?"),
        "back": here if page == 1 else f"{here}{'&' if '?' in here else '?'}page={page}",
        "active": [(label, _address(filters, group, drop=name))
                   for name, label in filters.active()],
        "states": views.STATE_CHOICES, "platforms": sorted(desk.platforms),
        "order": views.ORDER_SENTENCE, "problem": problem, "error": error,
        "error_at": error_at, "results": results, "form": form or {}, "outcomes": BULK,
        "taken": params.get("taken", "") if params.get("taken", "").isdigit() else "",
        **({"waiting": q.waiting} if q.waiting is not None else {}),
    }, status)


@router.get("/queue")
def queue_page(request: Request, web: Web, admin: SignedIn,
               page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    """The queue; its filters (``state``, ``mine``, ``unassigned``, ``flagrant``, ``overdue``,
    ``appeals``, ``platform``), search (``q``) and ``group=person`` are in the address."""
    return _page(request, web, admin, request.query_params, page=page)


def _back(back: str) -> tuple[str, dict[str, str]]:
    """Where a queue form came from (only ever the queue), and its filters."""
    parts = urlsplit(back)
    if parts.path != "/queue" or parts.netloc or parts.scheme:
        return "/queue", {}
    params = dict(parse_qsl(parts.query))
    return "/queue" + (f"?{parts.query}" if parts.query else ""), params


@router.post("/queue/cases/{case_id}/take")
def take(request: Request, web: Web, admin: Acting, _csrf: Csrf, case_id: CaseId,
         back: Annotated[str, Form(max_length=2000)] = "/queue") -> Response:
    """Take a case from its row in the queue (the same rules as on the case page)."""
    address, params = _back(back)
    try:
        views.check_access(web.app.uow(), case_id, admin.name, admin.identities)
        web.app.bus.handle(commands.TakeCase(case_id, admin.name))
    except DeskError as exc:
        return _page(request, web, admin, params, status=status_of(exc),
                     error=f"Case {case_id} was not taken: {_said(exc)}.")
    joined = "&" if "?" in address else "?"
    return RedirectResponse(f"{address}{joined}taken={case_id}", status_code=303)


@router.post("/queue/resolve")
def resolve_many(
    request: Request, web: Web, admin: Acting, _csrf: Csrf,
    cases: Annotated[list[int] | None, Form()] = None,
    outcome: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=100_000)] = "",
    back: Annotated[str, Form(max_length=2000)] = "/queue",
) -> Response:
    """Resolve the ticked cases as duplicates or as needing no action, with one reason: each
    through the same command as on its own page (audited, its reporters told). A case this
    admin may not resolve is listed with why, and the others still go through."""
    _, params = _back(back)
    cases = [c for c in cases or [] if 1 <= c <= MAX_ID]
    form = {"outcome": outcome, "reason": reason, "cases": cases}
    error, at = None, None
    if not cases:
        error, at = "Tick the cases to resolve in the Select column; nothing was recorded.", "cases"
    elif len(set(cases)) > BULK_MOST:
        error, at = f"Resolve at most {BULK_MOST} cases at once; nothing was recorded.", "cases"
    elif outcome not in dict(BULK):
        error, at = ("Choose how the cases ended in the “Resolve the ticked cases as” list; "
                     "nothing was recorded."), "outcome"
    elif not reason.strip():
        error, at = ("Write the reason: which case they repeat, or why no action is needed; "
                     "nothing was recorded."), "reason"
    if error:
        return _page(request, web, admin, params, status=422, error=error, error_at=at,
                     form=form)
    done: list[int] = []
    failed: list[tuple[int, str]] = []
    first: DeskError | None = None
    for case_id in dict.fromkeys(cases):  # once each, in the order ticked
        try:
            views.check_access(web.app.uow(), case_id, admin.name, admin.identities)
            web.app.bus.handle(commands.ResolveCase(case_id, admin.name, outcome, reason.strip(),
                                                    may_reassign=admin.role.may_reassign))
        except DeskError as exc:
            failed.append((case_id, _said(exc)))
            first = first or exc
        else:
            done.append(case_id)
    status = status_of(first) if first is not None and not done else 200
    return _page(request, web, admin, params, status=status,
                 results={"done": done, "failed": failed},
                 form={} if not failed else {**form, "cases": [c for c, _ in failed]})
