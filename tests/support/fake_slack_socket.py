"""Slack's Socket Mode endpoint, faked on 127.0.0.1 for tests.

A Socket Mode app asks ``apps.connections.open`` (with its ``xapp-`` token) for a WebSocket URL,
connects, and receives envelopes; it acknowledges each by sending back its ``envelope_id``,
optionally with a response ``payload``. This server hands out those URLs (through
:class:`~tests.support.fake_slack.FakeSlack`), greets each connection with Slack's ``hello``,
sends the envelopes a test gives it, and records every acknowledgement::

    envelope = socket.send("events_api", event_callback_body)
    ack = socket.wait_for_ack(envelope)

Envelope shapes follow Slack's Socket Mode documentation: ``{"envelope_id", "type",
"payload", "accepts_response_payload", "retry_attempt", "retry_reason"}``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import uuid
from typing import Any

from aiohttp import WSMsgType, web

JsonDict = dict[str, Any]


class FakeSocketMode:
    """WebSocket server in its own thread and event loop; driven from test threads."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._lock = threading.Condition()
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, JsonDict] = {}
        self.connections = 0  # connections accepted so far
        self.unknown_frames: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-slack-socket",
                                        daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeSocketMode:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._connect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp keeps the bound socket here
        assert server is not None and server.sockets
        self._port = int(server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    # -- what apps.connections.open hands out -------------------------------------------------
    def new_url(self) -> str:
        ticket = secrets.token_hex(8)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self._port}/link/?ticket={ticket}&app_id={self.app_id}"

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            known = request.query.get("ticket", "") in self._tickets
        if not known:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            self._sockets.append(ws)
            self.connections += 1
            self._lock.notify_all()
        await ws.send_str(json.dumps({
            "type": "hello", "num_connections": len(self._sockets),
            "debug_info": {"host": "applink-fake", "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id}}))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                body = json.loads(message.data)
                envelope_id = str(body["envelope_id"])
            except (ValueError, KeyError, TypeError):
                with self._lock:
                    self.unknown_frames.append(str(message.data))
                continue
            with self._lock:
                self._acks[envelope_id] = body
                self._lock.notify_all()
        with self._lock:
            self._sockets.remove(ws)
        return ws

    # -- driving it from a test ---------------------------------------------------------------
    def wait_for_connections(self, count: int = 1, timeout: float = 10.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self.connections >= count and self._sockets,
                                       timeout):
                raise TimeoutError(f"{self.connections} Socket Mode connection(s), "
                                   f"expected {count} within {timeout}s")

    def send(self, kind: str, payload: JsonDict, *, accepts_response_payload: bool = False,
             retry_attempt: int = 0) -> str:
        """Send one envelope to the newest connection; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        frame = json.dumps({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else ""})
        self.send_raw(frame)
        return envelope_id

    def send_raw(self, frame: str) -> None:
        with self._lock:
            if not self._sockets:
                raise RuntimeError("no app is connected over Socket Mode")
            ws = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(ws.send_str(frame), self._loop).result(timeout=5)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's ``disconnect`` message: the app should open a new connection."""
        self.send_raw(json.dumps({"type": "disconnect", "reason": reason,
                                  "debug_info": {"host": "applink-fake"}}))

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> JsonDict:
        with self._lock:
            if not self._lock.wait_for(lambda: envelope_id in self._acks, timeout):
                raise TimeoutError(f"envelope {envelope_id} was not acknowledged within {timeout}s")
            return self._acks[envelope_id]

    def sockets(self) -> int:
        """How many connections are open now."""
        with self._lock:
            return len(self._sockets)

    def acked(self, envelope_id: str) -> bool:
        with self._lock:
            return envelope_id in self._acks
