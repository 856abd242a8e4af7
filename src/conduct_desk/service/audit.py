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
from conduct_desk.domain.merkle import Frontier, inclusion_path, node_hash, subtree_root
from conduct_desk.domain.merkle import root as merkle_root
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
    None when the stored leaves do not add up to it (``verify`` says why).

    It reads the kept perfect subtrees (:func:`keep_nodes`) and at most two blocks of leaves
    (the entry's, and the last one, not yet whole): a few hundred rows at any size of log."""
    made = make_checkpoint(uow, signer, now)
    size, upto = made.checkpoint.size, made.last_id
    if not 0 < entry_id <= upto:
        return None
    with uow:
        blocks, last_kept = keep_nodes(uow, made)
        uow.commit()
    with uow.reading():
        found = uow.audit.block_of(BLOCK_LEVEL, entry_id) if entry_id <= last_kept else None
        if found is not None:  # in a kept block: its first entry's place is known
            block = uow.audit.leaves_from(found[1], upto, BLOCK)
            start = found[0] * BLOCK
        else:  # in the last block, not yet whole
            start = blocks * BLOCK
            block = uow.audit.leaves_from(last_kept + 1, upto, size - start)
        ids = [i for i, _ in block]
        if entry_id not in ids or any(h is None for _, h in block):
            return None
        index = start + ids.index(entry_id)
        tail_start = blocks * BLOCK
        tail = block if start == tail_start else uow.audit.leaves_from(
            last_kept + 1, upto, size - tail_start)
        have = {start + n: h for n, (_, h) in enumerate(block)}
        have.update((tail_start + n, h) for n, (_, h) in enumerate(tail))

        def leaves(a: int, b: int) -> list[bytes]:
            got = [have.get(i) for i in range(a, b)]
            if any(h is None for h in got):  # a kept node is missing: the log is not whole
                raise LogBroken("the audit log's kept subtrees do not cover it; run "
                                "`conduct audit verify`")
            return [h for h in got if h is not None]

        def node(level: int, idx: int) -> bytes | None:
            if level < BLOCK_LEVEL or (idx + 1) << level > blocks * BLOCK:
                return None
            return uow.audit.node(level, idx)

        try:
            path = inclusion_path(index, size, lambda a, b: subtree_root(a, b, node, leaves,
                                                                          BLOCK))
        except LogBroken:
            return None
    leaf = have[index]
    assert leaf is not None
    return InclusionProof(index, leaf, path, made.checkpoint)


BLOCK_LEVEL = 8  # perfect subtrees of 2**8 = 256 leaves and up are kept (audit_nodes)
BLOCK = 1 << BLOCK_LEVEL
READ_BLOCKS = 64  # blocks of leaves read at a time while keeping nodes


def keep_nodes(uow: UnitOfWork, made: StoredCheckpoint) -> tuple[int, int]:
    """Inside a transaction: keep the hashes of the perfect subtrees of :data:`BLOCK` leaves
    and up that the checkpoint ``made`` holds whole and are not kept yet (the first time on a
    log of a million entries, every leaf is read once; after, the new ones only). Returns
    (the whole blocks kept, the id of the last entry in them)."""
    kept = uow.audit.last_block(BLOCK_LEVEL)
    blocks, last_id = (kept[0] + 1, kept[1]) if kept else (0, 0)
    target = made.checkpoint.size // BLOCK
    if target <= blocks:
        return blocks, last_id
    new: dict[tuple[int, int], bytes] = {}
    ends: dict[int, tuple[int, int]] = {}
    after = last_id
    for first in range(blocks, target, READ_BLOCKS):  # a bounded number of leaves at a time
        count = min(READ_BLOCKS, target - first)
        rows = uow.audit.leaves_from(after + 1, made.last_id, count * BLOCK)
        if len(rows) < count * BLOCK or any(h is None for _, h in rows):
            raise LogBroken("the audit log's leaves do not add up to its checkpoint; run "
                            "`conduct audit verify`")
        for n in range(count):
            chunk = rows[n * BLOCK:(n + 1) * BLOCK]
            new[BLOCK_LEVEL, first + n] = merkle_root([h for _, h in chunk if h is not None])
            ends[first + n] = (chunk[0][0], chunk[-1][0])
        after = rows[-1][0]
    level = BLOCK_LEVEL
    while True:  # a parent is whole when its right child is: level by level, up
        level += 1
        width = 1 << (level - BLOCK_LEVEL)  # in blocks
        first, last = blocks // width, target // width - 1
        if last < first:
            break
        for idx in range(first, last + 1):
            left = new.get((level - 1, 2 * idx)) or uow.audit.node(level - 1, 2 * idx)
            right = new[level - 1, 2 * idx + 1]
            if left is None:
                raise LogBroken("the audit log's kept subtrees have a hole; run "
                                "`conduct audit verify`")
            new[level, idx] = node_hash(left, right)
    uow.audit.add_nodes([(lv, idx, h, *(ends.get(idx, (None, None)) if lv == BLOCK_LEVEL
                                        else (None, None)))
                         for (lv, idx), h in sorted(new.items())])
    return target, after


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
