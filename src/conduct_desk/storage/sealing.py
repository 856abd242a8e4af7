"""Anonymous reporters' platform ids, sealed at rest with a key only the desk's processes hold.

The id is kept only so that the desk can deliver that reporter's own notices (the thanks, the
outcome) and recuse them from the case; it is never shown. Sealing uses Fernet (AES-128-CBC
with HMAC-SHA256), so a copy of the database alone reveals nobody.
"""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine

from conduct_desk.domain.errors import SecretKeyError
from conduct_desk.domain.people import PersonRef
from conduct_desk.storage import tables

FIX = ("set CONDUCT_SECRET_KEY (or CONDUCT_SECRET_KEY_FILE) to the desk's key, e.g. "
       "`conduct secret-key > /etc/conduct/key` then CONDUCT_SECRET_KEY_FILE=/etc/conduct/key")


def new_key() -> str:
    """A fresh key, as `conduct secret-key` prints it."""
    return Fernet.generate_key().decode()


class Sealer:
    """Seals and opens people's ids with one key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.strip().encode())
        except (ValueError, TypeError):
            raise SecretKeyError(
                "CONDUCT_SECRET_KEY is not a key the desk made (44 characters of base64); "
                "make one with `conduct secret-key`"
            ) from None

    def seal(self, person: PersonRef) -> str:
        return self._fernet.encrypt(person.key.encode()).decode()

    def open(self, sealed: str) -> PersonRef:
        try:
            key = self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "CONDUCT_SECRET_KEY is not the key the anonymous reporters' ids were sealed "
                "with; set the key that was used before (the old key file or value)"
            ) from None
        return PersonRef.from_key(key)


def open_sealed(sealer: Sealer | None, sealed: str) -> PersonRef:
    """Open a sealed id; without a key, refuse with the one-line fix."""
    if sealer is None:
        raise SecretKeyError(f"the database holds sealed ids of anonymous reporters; {FIX}")
    return sealer.open(sealed)


def check_sealing(engine: Engine, sealer: Sealer | None) -> None:
    """Refuse to start when sealed ids exist and no key is set, or the key does not open them."""
    with engine.connect() as conn:
        sealed = None
        for column in (tables.reports.c.reporter_sealed, tables.nudges.c.reporter_sealed,
                       tables.notices.c.to_sealed):
            sealed = conn.execute(sa.select(column).where(column.is_not(None)).limit(1)).scalar()
            if sealed is not None:
                break
    if sealed is not None:
        open_sealed(sealer, sealed)
