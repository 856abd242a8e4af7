"""ASGI middleware around the whole desk: security headers on every answer, and a cap on
request bodies enforced before they are read."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    """Adds the CSP, nosniff and referrer headers to every HTTP answer: pages, API, static
    files, errors (500s included: this wraps Starlette's error middleware) and redirects."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {HEADER for HEADER, _ in HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = [*kept, *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(Exception):
    """A chunked body went past the cap while it was read."""


class BodyLimit:
    """Answers 413 at once when Content-Length is over ``limit``, and stops reading a body
    without one (chunked) as soon as it passes ``limit``: nothing larger is ever held."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"").lower() or "\x00" in scope["path"]:
            # no database stores a NUL character in text (PostgreSQL refuses it): say so here
            await _answer(send, 422, scope, "invalid_input",
                          "the address holds a NUL character (%00); remove it")
            return
        length = _content_length(scope)
        if length is not None and length > self.limit:
            await self._too_large(scope, send)
            return
        if length == -1:
            await _answer(send, 400, scope, "bad_request",
                          "the Content-Length header is not a number")
            return
        seen, over = 0, False

        async def counting_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if not over:  # past the cap, whatever the app makes of the error is replaced
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over:
            await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await _answer(send, 413, scope, "too_large",
                      f"the request body is larger than {self.limit} bytes; send less")


def _content_length(scope: Scope) -> int | None:
    """The declared length; -1 when it is not a non-negative number."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit()):  # "¹" is a digit, not a number
                return -1
            return int(text) if len(text) <= 30 else 10**30
    return None


async def _answer(send: Send, status: int, scope: Scope, code: str, message: str) -> None:
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        kind = b"application/json"
    else:
        body = f"{message[0].upper()}{message[1:]}.\n".encode()
        kind = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
