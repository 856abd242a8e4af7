"""The :class:`~conduct_desk.service.ports.Mailer` over SMTP, with the standard library.

One connection per email (emails to admins are few), STARTTLS when asked, a login when a user
is set. The mail server's answer becomes an :class:`Effect`: a 4xx reply or a connection that
fails is temporary (the outbox tries again later), a 5xx reply permanent (the notice fails and
shows on the case). The password is never logged, nor kept in an error.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from conduct_desk.service.ports import Effect

logger = logging.getLogger(__name__)

TIMEOUT = 20.0  # seconds one SMTP conversation may wait for the server at each step


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send (``CONDUCT_SMTP_*``, read by :mod:`conduct_desk.config`)."""

    host: str
    port: int
    sender: str
    starttls: bool = True
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr, log or error
    timeout: float = TIMEOUT


class SmtpMailer:
    """Sends plain-text emails through one SMTP server."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, to: str, subject: str, body: str) -> Effect:
        cfg = self.config
        message = EmailMessage()
        message["From"] = cfg.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=cfg.sender.rpartition("@")[2] or None)
        message.set_content(body)  # text/plain; utf-8
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.user:
                    smtp.login(cfg.user, cfg.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:  # the only recipient was refused
            code, reply = next(iter(exc.recipients.values()))
            return self._refused(code, reply)
        except smtplib.SMTPResponseException as exc:  # sender, data, login, a 421 at connect
            return self._refused(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:  # refused, lost, timed out, TLS failed
            logger.warning("the mail server %s:%s could not be reached (%s)", cfg.host, cfg.port,
                           type(exc).__name__)
            return Effect.failed(f"the mail server {cfg.host}:{cfg.port} could not be reached "
                                 f"({type(exc).__name__}); the desk tries again", retryable=True)
        return Effect.done()

    def _refused(self, code: int, reply: bytes | str) -> Effect:
        """A reply of the server: 4xx temporary, anything else (5xx) permanent."""
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        if self.config.password:  # a server that echoes what it was sent must not leak it
            text = text.replace(self.config.password, "***")
        text = " ".join(text.split())[:300]
        temporary = 400 <= code < 500
        logger.warning("the mail server refused an email (%s, %s)", code,
                       "temporary" if temporary else "permanent")
        then = "the desk tries again" if temporary else "the desk does not try again"
        return Effect.failed(f"the mail server refused it: {code} {text}; {then}",
                             retryable=temporary)
