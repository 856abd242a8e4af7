"""The web desk: admins' dashboard, members' report form and the ``/api/v1`` REST API."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduct_desk.bootstrap import App
from conduct_desk.domain import errors
from conduct_desk.service import accounts
from conduct_desk.web import filters
from conduct_desk.web.deps import (
    CsrfFailed,
    Forbidden,
    SignInRequired,
    Unauthorized,
    WebState,
    is_https,
)
from conduct_desk.web.middleware import BodyLimit, SecurityHeaders
from conduct_desk.web.pages import error_fix, error_text, render, status_of
from conduct_desk.web.routes import (
    api,
    api_docs,
    audit,
    auth,
    cases,
    health,
    people,
    public,
    queue,
    settings,
    stats,
    transparency,
    welcome,
)
from conduct_desk.web.security import CSRF_COOKIE, Signer, TrustedProxies, WebConfig

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
NO_COOKIE_PATHS = ("/healthz", "/readyz", "/metrics")  # probes and scrapers: no CSRF seed

def error_code(exc: BaseException) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def api_error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The one JSON shape of every API error."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # where the JSON breaks, and what to send
            at = err.get("loc", ("body", 0))[-1]
            return (f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'broken')} "
                    f"at character {at}); send one JSON object in UTF-8, e.g. "
                    '{"subject": "slack:U123"}')
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{where or 'the request'}: {err.get('msg', 'is not valid')}")
    return "; ".join(parts) or "the request is not valid"


class CsrfSeedMiddleware:
    """Gives every visitor a CSRF seed cookie made and signed by the desk (a cookie the visitor
    or another site set is replaced); public forms carry a token made from it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/api/", "/static/")) \
                or scope["path"] in NO_COOKIE_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        web: WebState = request.app.state.web
        seed = request.cookies.get(CSRF_COOKIE)
        fresh = not web.signer.valid_seed(seed)
        if fresh:
            seed = web.signer.new_seed()
        scope.setdefault("state", {})["csrf_seed"] = seed
        secure = is_https(request)

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                cookie = f"{CSRF_COOKIE}={seed}; Path=/; HttpOnly; SameSite=Lax"
                if secure:
                    cookie += "; Secure"
                message.setdefault("headers", []).append((b"set-cookie", cookie.encode()))
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class DeskApp(FastAPI):
    """The FastAPI app, wrapped whole (Starlette's error pages included) in the body cap and
    the security headers."""

    max_body_bytes = 1024 * 1024

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(BodyLimit(super().build_middleware_stack(), self.max_body_bytes))


def create_app(app: App, config: WebConfig | None = None) -> FastAPI:
    """The FastAPI application serving the desk ``app`` (its database must be migrated)."""
    app.check_secret_key()  # sealed anonymous reporters' ids need the key: refuse without it
    https_base = bool(app.settings.base_url and app.settings.base_url.startswith("https://"))
    templates = Jinja2Templates(directory=HERE / "templates")
    filters.install(templates.env)
    web = WebState(app=app, signer=Signer(accounts.signing_secret(app.uow())),
                   config=config or WebConfig(), templates=templates,
                   proxies=TrustedProxies.parse(app.settings.trusted_proxies),
                   https_base=https_base, metrics_token=app.settings.metrics_secret())
    api_app = DeskApp(
        title="Conduct Desk", version="1", docs_url=None, redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        description="Reports, cases, people and the audit log of a Conduct Desk. "
                    "Authenticate with `Authorization: Bearer <token>` "
                    "(`conduct token create --account NAME`).",
    )
    api_app.max_body_bytes = app.settings.max_body_bytes
    api_app.state.web = web
    api_app.add_middleware(CsrfSeedMiddleware)
    api_app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (health, auth, queue, cases, people, audit, stats, settings, public, transparency,
                   welcome, api, api_docs):
        api_app.include_router(module.router)
    _install_error_handlers(api_app)
    return api_app


def _install_error_handlers(api_app: FastAPI) -> None:
    @api_app.exception_handler(errors.DeskError)
    async def desk_error(request: Request, exc: errors.DeskError) -> Response:
        status = status_of(exc)
        if is_api(request):
            # the problem without the command line's fix; the field and the fix as data (a
            # storage failure: without the server's file or address)
            extra: dict[str, Any] = {}
            if exc.field is not None:
                extra["field"] = exc.field
            if exc.hint is not None:
                extra["fix"] = {"verb": exc.hint.verb, "case_id": exc.hint.case_id,
                                "step_id": exc.hint.step_id}
            plain = bool(extra) or isinstance(exc, errors.StorageUnavailable)
            message = exc.problem if plain else str(exc)
            if exc.hint is not None and exc.hint.verb == "list":  # "…; the open cases" ends
                message += " are listed by GET /api/v1/cases"
            return api_error(status, error_code(exc), message, **extra)
        return render(request, "error.html", {
            "title": "That did not work", "message": error_text(exc), "fix": error_fix(exc),
            # the admin holds a case they are involved in: they may step aside (privately)
            "step_aside": exc.holds_case if isinstance(exc, errors.Recused) else None}, status)

    @api_app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        message = validation_message(exc)
        if is_api(request):
            return api_error(422, "invalid_input", message)
        return render(request, "error.html", {"title": "Some fields need another look",
                                              "message": message}, 422)

    @api_app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.status_code != 404 else "there is no page at this address"
        if exc.status_code == 400 and "parsing the body" in message:  # FastAPI: not UTF-8 text
            message = ("the body could not be read; send one JSON object in UTF-8 with "
                       "Content-Type: application/json")
        if is_api(request):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            return api_error(exc.status_code, code, message)
        return render(request, "error.html", {"title": "Not found" if exc.status_code == 404
                                              else "That did not work", "message": message},
                      exc.status_code)

    @api_app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path if request.method == "GET" else "/queue"
        return RedirectResponse(f"/signin?why={exc.why}&next={target}", status_code=303)

    @api_app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> Response:
        response = api_error(401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @api_app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if is_api(request):
            return api_error(403, "forbidden", str(exc))
        return render(request, "error.html", {"title": "Not allowed", "message": str(exc)}, 403)

    @api_app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", {
            "title": "Please send the form again",
            "message": "This form was too old or did not come from this desk, so nothing was "
                       "saved. Go back, reload the page and send it again."}, 403)
