"""Slack's HTTP mode without the SDK: a small server and an ASGI app around one handler.

Each request is read whole (Slack's are small: a larger one is refused unread) and handed to
``handle(body, headers, query) -> (status, headers, body)``, the transport's signature check
and dispatch. :func:`sign` and :func:`form_body` build requests as Slack does, for tests,
benchmarks and local tools.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

logger = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # bytes: Slack's payloads are far smaller; larger bodies are refused unread
READ_TIMEOUT = 10.0  # seconds the HTTP listener waits for a request's bytes

Handle = Callable[[bytes, Mapping[str, str], str], tuple[int, dict[str, str], bytes]]


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with ``body`` (for tests, benchmarks and local tools)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def form_body(payload: dict[str, Any]) -> bytes:
    """An interactivity body as Slack sends it: ``payload=<json>``, form-encoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def asgi_app(handle: Handle) -> Callable[..., Any]:
    """An ASGI app for Slack's request URL (mount it at ``CONDUCT_SLACK_HTTP_PATH``)."""

    async def asgi(scope: dict[str, Any], receive: Callable[..., Any],
                   send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BODY:
                # Slack's own requests are small: a bigger one is not from Slack (400)
                await send({"type": "http.response.start", "status": 400, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status, out, body = await asyncio.to_thread(
            handle, b"".join(chunks), headers, scope.get("query_string", b"").decode("latin-1"))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in out.items()]})
        await send({"type": "http.response.body", "body": body})

    return asgi


class Server:
    """A standalone HTTP listener for Slack's requests, on a daemon thread."""

    def __init__(self, host: str, port: int, path: str, handle: Handle) -> None:
        class Handler(BaseHTTPRequestHandler):
            timeout = READ_TIMEOUT  # a sender that stops half-way does not hold a thread

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                where, _, query = self.path.partition("?")
                if where != path:
                    self.send_error(404)
                    return
                raw = (self.headers.get("Content-Length") or "").strip()
                if not (raw.isascii() and raw.isdigit()):  # missing, negative or not a number
                    self.send_error(400, "Content-Length must be a whole number of bytes")
                    return
                if int(raw) > MAX_BODY:
                    self.send_error(400, f"Slack's requests are at most {MAX_BODY} bytes")
                    return
                try:
                    body = self.rfile.read(int(raw))
                except TimeoutError:
                    self.close_connection = True
                    return
                status, headers, out = handle(body, dict(self.headers.items()), query)
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("slack http: %s", format % args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-http",
                                        daemon=True)
        self._thread.start()
        self.path = path

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
