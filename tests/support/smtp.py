"""A real SMTP server on loopback (aiosmtpd) for the email tests: it keeps what it receives,
can refuse the next messages with a reply code (451: try later; 550: refused for good), and
can ask for a login."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Inbox:
    """What the server received, and the replies it is told to give next."""

    messages: list[EmailMessage] = field(default_factory=list)
    logged_in: list[bool] = field(default_factory=list)  # per message: did the sender log in
    refuse_next: list[str] = field(default_factory=list)  # e.g. "451 4.3.0 try later"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_next:
            return self.refuse_next.pop(0)
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.logged_in.append(bool(session.authenticated))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(*, user: str | None = None, password: str | None = None) -> Iterator[tuple[Inbox, int]]:
    """Serve SMTP on 127.0.0.1 until the block ends; with ``user``, a login is offered and
    checked (``Inbox.logged_in`` says whether each message came after one)."""
    inbox = Inbox()
    kwargs: dict[str, Any] = {}
    if user is not None:
        def check(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() \
                and auth_data.password == (password or "").encode()
            return AuthResult(success=ok, handled=False)
        # AUTH offered without TLS, on loopback only; a wrong login is refused with 535
        kwargs = {"authenticator": check, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), **kwargs)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()
