"""Rendering a page: every template gets the request, the signed-in admin and a CSRF token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from conduct_desk.domain import errors
from conduct_desk.service import views
from conduct_desk.web.deps import WebState, csrf_binding

STATUS = {
    errors.NotFound: 404,
    errors.InvalidInput: 422,
    errors.ConfidentialityError: 422,
    errors.InvalidPolicy: 422,
    errors.Recused: 403,
    errors.Forbidden: 403,
    errors.IllegalTransition: 409,
    errors.ConsultationNeeded: 409,
    errors.Conflict: 409,
    errors.NotMigrated: 503,
    errors.StorageUnavailable: 503,
}


def status_of(exc: errors.DeskError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 422 if "Invalid" in type(exc).__name__ else 400


# the service's name for an input -> where it is on the desk's pages
FIELDS = {
    "reason": "the Reason field",
    "outcome": "the Outcome list",
    "duration": "the “How long” field",
    "text": "the message box",
    "suggestion": "the suggestion field",
    "summary": "the “What they said” field",
    "person": "the “Person you talked with” field",
    "to": "the list of admins to hand over to",
    "admin": "the admin's name",
}


@dataclass(frozen=True)
class Fix:
    """A button or link on an error that does what the error asks (reopen, step aside…)."""

    label: str
    href: str
    post: bool = False  # a form with the CSRF token, not a link


def error_text(exc: errors.DeskError, fields: dict[str, str] | None = None) -> str:
    """The message for a page, in the web's words: the problem, then the field to change or
    what to do on the page (never a command-line flag or command). ``fields`` names a form's
    own fields where they differ from :data:`FIELDS`."""
    names = {**FIELDS, **(fields or {})}
    if isinstance(exc, errors.ConfidentialityError):
        where = FIELDS.get(exc.field) if exc.field in ("text", "suggestion") else None
        return f"{exc.problem} (change {where or f'{exc.field} in the policy file'})"
    problem, hint = exc.problem, exc.hint
    if exc.field in names and exc.field != "admin":
        return f"{problem} (change {names[exc.field]})"
    if hint is not None and hint.verb == "list":
        return f"{problem} are in the queue"
    if hint is not None and hint.case_id is not None:
        doing = {"reopen": "reopen the case first (the button is below)",
                 "recuse": "use the “Step aside” button below",
                 "consult": "the form is under “Consultation with the people hurt” on the case page",
                 "show": "see the case page for its steps"}.get(hint.verb)
        if doing:
            return f"{problem}: {doing}"
    return problem


def error_fix(exc: errors.DeskError | None) -> Fix | None:
    """The button or link that fixes ``exc`` on the web, when there is one."""
    hint = exc.hint if exc is not None else None
    if hint is not None and hint.verb == "list":
        return Fix("Open the queue", "/queue")
    if hint is None or hint.case_id is None:
        return None
    case = hint.case_id
    return {"reopen": Fix(f"Reopen case {case}", f"/cases/{case}/reopen", post=True),
            "recuse": Fix(f"Step aside from case {case}", f"/cases/{case}/recuse", post=True),
            "consult": Fix("Record the consultation", f"/cases/{case}#consult"),
            "show": Fix(f"Open case {case}", f"/cases/{case}")}.get(hint.verb)


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           status: int = 200) -> HTMLResponse:
    web: WebState = request.app.state.web
    binding = csrf_binding(request)
    admin = getattr(request.state, "admin", None)
    context = context or {}
    ctx = {
        "admin": admin,
        # the header's count of cases nobody has taken yet, for a signed-in admin (the queue
        # page counts it with its own total)
        "waiting": context.get("waiting") if "waiting" in context
        else views.waiting_count(web.app.uow(), admin.names) if admin is not None else None,
        "signin_notice": getattr(request.state, "signin_notice", 0),
        "csrf": web.signer.csrf_token(binding) if binding else "",
        "community": web.app.desk.policy.community,
        "now": web.app.desk.clock.now(),
        **context,
    }
    response = web.templates.TemplateResponse(request, template, ctx, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # the security headers: web.middleware
    return response
