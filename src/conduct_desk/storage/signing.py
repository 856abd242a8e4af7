"""The desk's checkpoint key: ed25519, 32 bytes written as 64 hex digits. Never logged.

The key comes from CONDUCT_AUDIT_SIGNING_KEY or the file CONDUCT_AUDIT_SIGNING_KEY_FILE (made
by `conduct audit keygen`). Anyone can check a signature with the public key the desk publishes.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conduct_desk.domain.audit import Checkpoint
from conduct_desk.domain.errors import InvalidInput

FIX = "make one with `conduct audit keygen FILE` and set CONDUCT_AUDIT_SIGNING_KEY_FILE=FILE"


def new_signing_key() -> str:
    """A fresh private key, as 64 hex digits."""
    return Ed25519PrivateKey.generate().private_bytes_raw().hex()


class CheckpointSigner:
    """Signs checkpoints with the desk's ed25519 key."""

    def __init__(self, key: str) -> None:
        try:
            raw = bytes.fromhex(key.strip())
            self._key = Ed25519PrivateKey.from_private_bytes(raw)
        except ValueError:
            raise InvalidInput(f"CONDUCT_AUDIT_SIGNING_KEY is not an ed25519 key (64 hex digits); "
                               f"{FIX}", field="audit_signing_key") from None
        self._public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:  # the key itself never appears in a log or a traceback
        return f"CheckpointSigner(public_key={self._public.hex()})"

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def signature_valid(checkpoint: Checkpoint, public_key: bytes | None = None) -> bool:
    """True when the checkpoint's signature verifies with ``public_key`` (default: the key the
    checkpoint names; pass the desk's own to be sure whose it is)."""
    key = public_key or checkpoint.public_key
    if key is None or checkpoint.signature is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(checkpoint.signature, checkpoint.message())
    except (InvalidSignature, ValueError):
        return False
    return True
