"""Sessions, CSRF tokens and form timestamps for the web desk (rate limits: service.limits).

Sessions are signed cookies (no server-side store, so several processes can serve the
same desk); they carry when they were issued, checked against the desk's clock.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

SESSION_COOKIE = "cd_session"
CSRF_COOKIE = "cd_csrf"


@dataclass(frozen=True)
class WebConfig:
    """Knobs of the web desk; the defaults suit production, tests shorten some."""

    session_lifetime: timedelta = timedelta(hours=12)
    signin_attempts: int = 5  # failed sign-ins per name, and per client, in the window
    signin_window: timedelta = timedelta(minutes=15)
    reports_per_client: int = 10  # reports from one client in the window
    report_window: timedelta = timedelta(hours=1)
    min_fill: timedelta = timedelta(seconds=3)  # faster than this is a robot
    max_fill: timedelta = timedelta(hours=6)  # older forms ask to be filled again


@dataclass(frozen=True)
class Session:
    admin_id: int
    issued_at: datetime
    password_tag: str  # changes when the password changes, ending old sessions


class Signer:
    """Signs the session cookie, CSRF tokens and form timestamps with one secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._session = URLSafeSerializer(secret, salt="session")
        self._form = URLSafeSerializer(secret, salt="form")

    def session(self, admin_id: int, now: datetime, password_hash: str) -> str:
        return self._session.dumps([admin_id, now.timestamp(), password_tag(password_hash)])

    def read_session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            admin_id, issued, tag = self._session.loads(cookie)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(admin_id, int) or not isinstance(issued, int | float):
            return None
        return Session(admin_id, datetime.fromtimestamp(issued, UTC), str(tag))

    def csrf_token(self, seed: str) -> str:
        return hmac.new(self._secret, b"csrf:" + seed.encode(), sha256).hexdigest()

    def check_csrf(self, seed: str | None, token: Any) -> bool:
        if not seed or not isinstance(token, str):
            return False
        return hmac.compare_digest(self.csrf_token(seed), token)

    def form_stamp(self, now: datetime, purpose: str) -> str:
        return self._form.dumps([purpose, now.timestamp()])

    def read_form_stamp(self, stamp: Any, purpose: str) -> datetime | None:
        if not isinstance(stamp, str) or len(stamp) > 200:
            return None
        try:
            what, at = self._form.loads(stamp)
        except (BadSignature, ValueError, TypeError):
            return None
        if what != purpose or not isinstance(at, int | float):
            return None
        return datetime.fromtimestamp(at, UTC)


def password_tag(password_hash: str) -> str:
    return sha256(password_hash.encode()).hexdigest()[:16]


def new_seed() -> str:
    return secrets.token_urlsafe(24)
