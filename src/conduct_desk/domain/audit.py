"""The audit log as a verifiable record: an entry's canonical bytes, checkpoints, faults.

An entry's leaf in the Merkle tree is ``leaf_hash(canonical_entry(...))``. The encoding is
defined here once and never changes for entries already written: a new encoding would get a
new ``v``. A checkpoint (size, root) is what the desk signs and publishes; anyone who kept one
can later check that today's log still starts with exactly those entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conduct_desk.domain.errors import InvalidInput
from conduct_desk.domain.merkle import leaf_hash

ENCODING = 1
SIGNED_WHAT = "conduct-desk audit checkpoint v1"


def canonical_entry(at: datetime, actor: str, kind: str, case_id: int | None, summary: str,
                    detail: Mapping[str, Any]) -> bytes:
    """The bytes an entry's leaf hashes: JSON with sorted keys, no spaces, UTF-8, the time in
    UTC to the microsecond. The entry's row id is not part of it (the database gives it after
    the hash is made); its place in the log is the tree's order."""
    if at.tzinfo is None:
        raise ValueError("an audit entry's time must be aware")
    return json.dumps(
        {"v": ENCODING, "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
         "actor": actor, "kind": kind, "case": case_id, "summary": summary, "detail": detail},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
    ).encode("utf-8")


def entry_leaf(at: datetime, actor: str, kind: str, case_id: int | None, summary: str,
               detail: Mapping[str, Any]) -> bytes:
    """The leaf hash of an entry: SHA-256(0x00 || canonical bytes)."""
    return leaf_hash(canonical_entry(at, actor, kind, case_id, summary, detail))


def key_id(public_key: bytes) -> str:
    """A short name for a signing key: the first 16 hex digits of SHA-256 of its public bytes."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """The log's size and root at a moment, signed when the desk has a key."""

    size: int
    root: bytes
    signed_at: datetime | None = None
    public_key: bytes | None = None  # raw ed25519 public key
    signature: bytes | None = None

    def message(self) -> bytes:
        """What the signature covers: the size, the root and the time, one per line."""
        at = self.signed_at.astimezone(UTC).isoformat() if self.signed_at else ""
        return f"{SIGNED_WHAT}\n{self.size}\n{self.root.hex()}\n{at}\n".encode()

    def as_json(self) -> dict[str, Any]:
        signed = self.signature is not None and self.public_key is not None
        return {
            "size": self.size, "root": self.root.hex(),
            "signed_at": self.signed_at.astimezone(UTC).isoformat() if self.signed_at else None,
            "signed": signed,
            "algorithm": "ed25519" if signed else None,
            "key_id": key_id(self.public_key) if self.public_key else None,
            "public_key": self.public_key.hex() if self.public_key else None,
            "signature": self.signature.hex() if self.signature else None,
            "note": None if signed else "not signed: this desk has no signing key set",
        }

    @staticmethod
    def from_json(data: object) -> Checkpoint:
        """A checkpoint from its JSON (as published, or just {"size": .., "root": ..})."""
        if not isinstance(data, dict):
            raise InvalidInput("a checkpoint is a JSON object with size and root",
                               field="against")
        try:
            size, root_hex = data["size"], data["root"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError("size")
            root = bytes.fromhex(root_hex)
            if len(root) != 32:
                raise ValueError("root")
            at = data.get("signed_at")
            signed_at = datetime.fromisoformat(at) if at else None
            if signed_at is not None and signed_at.tzinfo is None:
                raise ValueError("signed_at")
            pub, sig = data.get("public_key"), data.get("signature")
            return Checkpoint(size, root, signed_at, bytes.fromhex(pub) if pub else None,
                              bytes.fromhex(sig) if sig else None)
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("the checkpoint needs a size (a whole number) and a root (64 hex "
                               "digits); signed_at, public_key and signature are optional",
                               field="against") from None


@dataclass(frozen=True)
class LogFault:
    """One thing wrong with the log, naming the entry (its id, and its place when known)."""

    problem: str
    entry_id: int | None = None
    position: int | None = None

    def __str__(self) -> str:
        where = []
        if self.entry_id is not None:
            where.append(f"entry #{self.entry_id}")
        if self.position is not None:
            where.append(f"position {self.position}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem
