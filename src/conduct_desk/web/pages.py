"""Rendering a page: every template gets the request, the signed-in admin and a CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from conduct_desk.domain import errors
from conduct_desk.web.deps import WebState, csrf_binding

STATUS = {
    errors.NotFound: 404,
    errors.InvalidInput: 422,
    errors.ConfidentialityError: 422,
    errors.InvalidPolicy: 422,
    errors.Recused: 403,
    errors.IllegalTransition: 409,
    errors.ConsultationNeeded: 409,
    errors.Conflict: 409,
    errors.NotMigrated: 503,
}


def status_of(exc: errors.DeskError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 422 if "Invalid" in type(exc).__name__ else 400


def error_text(exc: errors.DeskError) -> str:
    """The message for a page; a refused text says which field on the page to change."""
    if isinstance(exc, errors.ConfidentialityError):
        where = {"text": "the message box", "suggestion": "the suggestion field"}.get(
            exc.field, f"{exc.field} in the policy file")
        return f"{exc} (change {where})"
    return str(exc)


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           status: int = 200) -> HTMLResponse:
    web: WebState = request.app.state.web
    binding = csrf_binding(request)
    ctx = {
        "admin": getattr(request.state, "admin", None),
        "signin_notice": getattr(request.state, "signin_notice", 0),
        "csrf": web.signer.csrf_token(binding) if binding else "",
        "community": web.app.desk.policy.community,
        "now": web.app.desk.clock.now(),
        **(context or {}),
    }
    response = web.templates.TemplateResponse(request, template, ctx, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # the security headers: web.middleware
    return response
