"""The audit log's proofs: verify every entry, make signed checkpoints, prove a report is in.

``verify_log`` reads the whole log once: each entry's hash from its content (a redacted entry's
kept hash is trusted), the ids between entries, the root at every checkpoint the desk made and
at the one given. ``make_checkpoint`` extends the latest checkpoint's frontier with the stored
leaf hashes of the entries since, so it costs the new entries only.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from conduct_desk.domain.audit import Checkpoint, LogFault, entry_leaf
from conduct_desk.domain.errors import DeskError
from conduct_desk.domain.merkle import Frontier, inclusion_proof
from conduct_desk.service.ports import StoredCheckpoint, UnitOfWork
from conduct_desk.service.views import report_by_token

MAX_NAMED = 20  # entries named one by one in a fault; the rest are counted


class Signer(Protocol):
    """Signs checkpoints (ed25519); the private key never leaves it."""

    @property
    def public_key(self) -> bytes: ...
    def sign(self, message: bytes) -> bytes: ...


class LogBroken(DeskError):
    """The log cannot be checkpointed as it is: ``conduct audit verify`` says what is wrong."""

    exit_code = 1


@dataclass
class Verification:
    """What ``verify`` found: the log's size and root, and each fault, naming its entry."""

    size: int
    root: bytes
    redacted: int
    checkpoints: int  # the desk's own checkpoints checked
    faults: list[LogFault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults


def _when(c: Checkpoint) -> str:
    return f"the checkpoint of {c.signed_at:%Y-%m-%d %H:%M:%S} UTC" if c.signed_at else \
        "the checkpoint given"


def _named(ids: list[int], what: str) -> list[LogFault]:
    faults = [LogFault(what, entry_id=i) for i in ids[:MAX_NAMED]]
    if len(ids) > MAX_NAMED:
        faults.append(LogFault(f"and {len(ids) - MAX_NAMED} more entries up to #{ids[-1]}: "
                               f"{what}"))
    return faults


def _settled(uow: UnitOfWork) -> int:
    with uow:
        last = uow.audit.settled_last_id()
        uow.commit()  # ends the transaction, and so the wait on writers in flight
    return last


def verify_log(uow: UnitOfWork, against: Checkpoint | None = None,
               signature_valid: Callable[[Checkpoint], bool] | None = None) -> Verification:
    """Check every entry, the desk's checkpoints and ``against``; name what is wrong."""
    upto = _settled(uow)
    with uow:
        stored = uow.audit.checkpoints()
        sizes = {s.checkpoint.size for s in stored} | ({against.size} if against else set())
        at_size: dict[int, Frontier] = {0: Frontier()} if 0 in sizes else {}
        frontier, ids, faults, redacted = Frontier(), array("q"), [], 0
        for logged in uow.audit.logged(upto):
            e = logged.entry
            assert e.id is not None
            position = frontier.size
            leaf = logged.leaf_hash
            if logged.redacted:
                redacted += 1
                if leaf is None:
                    faults.append(LogFault("redacted, and its hash is gone", e.id, position))
            else:
                computed = entry_leaf(e.at, e.actor, e.kind, e.case_id, e.summary, e.detail)
                if leaf is None:
                    faults.append(LogFault("has no hash: it was written around the desk",
                                           e.id, position))
                elif leaf != computed:
                    faults.append(LogFault(
                        f"its content ({e.kind}, {e.at:%Y-%m-%d %H:%M:%S}) no longer matches "
                        "the hash written with it: it was edited", e.id, position))
                leaf = leaf or computed
            frontier.append(leaf or b"")
            ids.append(e.id)
            if frontier.size in sizes:
                at_size[frontier.size] = frontier.copy()
    known_gaps = {g for s in stored for g in s.gaps}
    if signature_valid is not None:
        for s in stored:
            if s.checkpoint.signature is not None and not signature_valid(s.checkpoint):
                faults.append(LogFault(f"{_when(s.checkpoint)} (size {s.checkpoint.size}) "
                                       "has a signature that does not verify: it was altered"))
    latest = max(stored, key=lambda s: s.last_id, default=None)
    if latest is not None:
        faults += _ids_against(latest, ids, known_gaps)
    if latest is not None and not faults:
        # the earliest checkpoint whose root today's log no longer gives: later ones differ too
        for s in stored:
            then = at_size.get(s.checkpoint.size)
            if then is not None and then.root() != s.checkpoint.root:
                faults.append(_rewritten(s.checkpoint, then, s.frontier, ids))
                break
    if against is not None and not any(s.checkpoint.size == against.size
                                       and s.checkpoint.root == against.root for s in stored):
        faults += _against_given(against, ids, at_size.get(against.size), stored)
    return Verification(frontier.size, frontier.root(), redacted, len(stored),
                        list(dict.fromkeys(faults)))


def _ids_against(s: StoredCheckpoint, ids: array[int], known_gaps: set[int]) -> list[LogFault]:
    """The latest checkpoint the desk made knows the ids it covered (and the ids missing then,
    rolled back): an entry deleted, cut off or slipped in below it is named by its id."""
    c = s.checkpoint
    covered = bisect_right(ids, s.last_id)
    present = set(ids[:covered])
    missing = [i for i in range(1, s.last_id + 1) if i not in present and i not in known_gaps]
    added = [i for i in ids[:covered] if i in known_gaps]
    last = ids[-1] if ids else 0
    faults = _named([i for i in missing if i <= last],
                    f"missing: deleted from the log ({_when(c)} had it)")
    gone = [i for i in missing if i > last]
    if gone:
        faults.append(LogFault(
            f"the log ends at entry #{last} but {_when(c)} went on to #{s.last_id}: "
            f"{len(gone)} entries from #{gone[0]} on were cut off (truncated)",
            entry_id=gone[0], position=len(ids)))
    return faults + _named(added, f"was added below {_when(c)}, which did not have it")


def _rewritten(c: Checkpoint, now: Frontier, then: Frontier, ids: array[int]) -> LogFault:
    """Where today's first ``c.size`` entries stop giving the checkpoint's root: the first
    perfect subtree whose root differs, as a range of positions and entry ids."""
    start = 0
    for bit in reversed(range(c.size.bit_length())):
        width = 1 << bit
        if not c.size & width:
            continue
        k = bin(c.size >> (bit + 1)).count("1")  # subtrees before this one
        if k >= len(then.hashes) or now.hashes[k] != then.hashes[k]:
            end = start + width - 1
            return LogFault(f"entries at positions {start}..{end} (#{ids[start]}..#{ids[end]}) "
                            f"no longer give the root of {_when(c)}: one of them was rewritten "
                            "with its hash", entry_id=ids[start], position=start)
        start += width
    return LogFault(f"the first {c.size} entries no longer give the root of {_when(c)}")


def _against_given(c: Checkpoint, ids: array[int], then: Frontier | None,
                   stored: list[StoredCheckpoint]) -> list[LogFault]:
    if c.size > len(ids):
        last = f"entry #{ids[-1]}" if ids else "no entry"
        return [LogFault(f"the log has {len(ids)} entries but {_when(c)} has {c.size}: the last "
                         f"{c.size - len(ids)} are gone (truncated or deleted); the log now ends "
                         f"at {last}", position=len(ids))]
    assert then is not None
    if then.root() == c.root:
        return []
    same = next((s for s in stored if s.checkpoint.size == c.size), None)
    if same is not None and then.root() == same.checkpoint.root:
        return [LogFault(f"the log's first {c.size} entries do not give the root of {_when(c)}, "
                         f"but still give the root of the desk's own checkpoint of that size "
                         f"({_when(same.checkpoint)}): the checkpoint given was altered or forged")]
    if same is not None:
        return [_rewritten(same.checkpoint, then, same.frontier, ids)]
    return [LogFault(f"the log's first {c.size} entries do not give the root of {_when(c)}: "
                     "an entry among them was edited or deleted, or the checkpoint is forged")]


def make_checkpoint(uow: UnitOfWork, signer: Signer | None, now: datetime) -> StoredCheckpoint:
    """The latest checkpoint, made now (signed when there is a key) if the log has grown."""
    upto = _settled(uow)
    public_key = signer.public_key if signer is not None else None
    with uow:
        stored = uow.audit.checkpoints()
        latest = max(stored, key=lambda s: s.last_id, default=None)
        if latest is not None and latest.last_id == upto \
                and latest.checkpoint.public_key == public_key:
            return latest
        frontier = latest.frontier.copy() if latest else Frontier()
        gaps = list(latest.gaps) if latest else []
        previous = latest.last_id if latest else 0
        for entry_id, leaf in uow.audit.leaf_hashes(previous, upto):
            if leaf is None:
                raise LogBroken(f"entry #{entry_id} has no hash; run `conduct audit verify`")
            gaps += range(previous + 1, entry_id)
            frontier.append(leaf)
            previous = entry_id
        checkpoint = Checkpoint(frontier.size, frontier.root(), now, public_key)
        if signer is not None:
            checkpoint = replace(checkpoint, signature=signer.sign(checkpoint.message()))
        made = StoredCheckpoint(checkpoint, upto, tuple(gaps), frontier)
        uow.audit.add_checkpoint(made)
        uow.commit()
    return made


@dataclass(frozen=True)
class InclusionProof:
    """That one entry is in the log: its place, its leaf hash, the audit path to a checkpoint.
    Nothing about the entry's content or about any other entry beyond the path's hashes."""

    leaf_index: int
    leaf_hash: bytes
    audit_path: list[bytes]
    checkpoint: Checkpoint

    def as_json(self) -> dict[str, Any]:
        return {"leaf_index": self.leaf_index, "leaf_hash": self.leaf_hash.hex(),
                "tree_size": self.checkpoint.size,
                "audit_path": [h.hex() for h in self.audit_path],
                "checkpoint": self.checkpoint.as_json(),
                "hashing": "RFC 6962: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || "
                           "left || right)"}


def prove_entry(uow: UnitOfWork, entry_id: int, signer: Signer | None,
                now: datetime) -> InclusionProof | None:
    """An inclusion proof of one entry against the latest checkpoint (made now if needed);
    None when the stored leaves do not add up to it (``verify`` says why)."""
    made = make_checkpoint(uow, signer, now)
    with uow:
        leaves = uow.audit.leaf_hashes(0, made.last_id)
    hashes = [h for _, h in leaves if h is not None]
    index = next((i for i, (got, _) in enumerate(leaves) if got == entry_id), None)
    if index is None or len(hashes) != made.checkpoint.size:
        return None
    return InclusionProof(index, hashes[index], inclusion_proof(hashes, index), made.checkpoint)


def proof_for_report(uow: UnitOfWork, token: str, signer: Signer | None,
                     now: datetime) -> InclusionProof | None:
    """The proof that the report behind a reporter's status link is in the log."""
    found = report_by_token(uow, token)
    if found is None:
        return None
    case, report_id = found
    assert case.id is not None
    with uow:
        entry_id = uow.audit.report_entry(case.id, report_id)
    return None if entry_id is None else prove_entry(uow, entry_id, signer, now)


def describe(faults: Iterable[LogFault]) -> list[str]:
    return [str(f) for f in faults]
