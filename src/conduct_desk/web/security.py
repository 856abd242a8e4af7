"""CSRF tokens, form timestamps and client addresses for the web desk (sessions:
service.accounts, stored server-side; rate limits: service.limits).

A CSRF token is bound to what the visitor cannot choose: the signed-in session, or, on public
forms, a seed the desk made and signed itself.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from conduct_desk.domain.errors import InvalidInput

SESSION_COOKIE = "cd_session"
CSRF_COOKIE = "cd_csrf"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebConfig:
    """Knobs of the web desk; the defaults suit production, tests shorten some."""

    session_lifetime: timedelta = timedelta(hours=12)
    signin_attempts: int = 100  # failed sign-ins from one client in the window, any names
    signin_window: timedelta = timedelta(minutes=15)
    signin_backoff_cap: timedelta = timedelta(minutes=5)  # longest wait per (name, client)
    signin_notice_window: timedelta = timedelta(days=90)  # failures told at the next sign-in
    reports_per_client: int = 10  # reports from one client in the window
    report_window: timedelta = timedelta(hours=1)
    lookups_per_client: int = 30  # names looked up on the platforms from one client
    lookup_window: timedelta = timedelta(minutes=10)
    min_fill: timedelta = timedelta(seconds=3)  # faster than this is a robot
    max_fill: timedelta = timedelta(hours=6)  # older forms ask to be filled again


class Signer:
    """Signs CSRF tokens, CSRF seeds and form timestamps with one secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self._form = URLSafeSerializer(secret, salt="form")

    def _mac(self, what: str) -> str:
        return hmac.new(self._secret, what.encode(), sha256).hexdigest()

    def new_seed(self) -> str:
        """A random seed for a visitor's CSRF cookie, signed so that only the desk makes them."""
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac('seed:' + nonce)[:32]}"

    def valid_seed(self, seed: str | None) -> bool:
        if not seed or len(seed) > 100 or "." not in seed:
            return False
        nonce, _, mac = seed.partition(".")
        return hmac.compare_digest(self._mac("seed:" + nonce)[:32], mac)

    def csrf_token(self, binding: str) -> str:
        """The token forms carry; ``binding`` is ``session:<hash>`` or ``seed:<seed>``."""
        return self._mac("csrf:" + binding)

    def check_csrf(self, binding: str | None, token: Any) -> bool:
        if not binding or not isinstance(token, str):
            return False
        return hmac.compare_digest(self.csrf_token(binding), token)

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


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` the desk believes
    (``CONDUCT_TRUSTED_PROXIES``): from anyone else those headers are ignored."""

    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(networks)

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        networks = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise InvalidInput(
                    f"CONDUCT_TRUSTED_PROXIES: {part!r} is not an address or network; write "
                    "them comma separated, e.g. 127.0.0.1,10.0.0.0/8") from None
        return cls(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def as_uvicorn(self) -> list[str]:
        """For uvicorn's ``forwarded_allow_ips``."""
        return [str(n) for n in self.networks]

    def trusts(self, host: str | None) -> bool:
        if not host or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in n for n in self.networks)

    def client(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        """The client's address: the peer, unless the peer is a trusted proxy; then the
        nearest address in ``X-Forwarded-For`` that is not a trusted proxy."""
        host = peer or "unknown"
        if not self.trusts(host):
            return host
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            host = hop
            if not self.trusts(hop):
                break
        return host

    def scheme(self, peer: str | None, scheme: str, forwarded_proto: str | None) -> str:
        if forwarded_proto and self.trusts(peer):
            return forwarded_proto.split(",")[0].strip().lower()
        return scheme
