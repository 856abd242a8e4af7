"""A Merkle tree over the audit log, hashed as RFC 6962 (and 9162) say: pure functions.

Leaves are given as their leaf hashes (``leaf_hash(data)``); a tree of ``n`` leaves splits at
the largest power of two below ``n``. ``Frontier`` keeps only the roots of the perfect subtrees
of a growing log (at most log2(n) hashes), so a root is extended, never recomputed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): a leaf never hashes like a node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The tree head of ``leaves`` (leaf hashes, in log order)."""
    frontier = Frontier()
    for h in leaves:
        frontier.append(h)
    return frontier.root()


def _subtree(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    n = end - start
    if n == 1:
        return leaves[start]
    k = _split(n)
    return node_hash(_subtree(leaves, start, start + k), _subtree(leaves, start + k, end))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of all ``leaves`` (RFC 6962, 2.1.1)."""
    return inclusion_path(index, len(leaves), lambda start, end: _subtree(leaves, start, end))


def inclusion_path(index: int, size: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in a tree of ``size`` leaves, with the hash of the
    subtree of leaves ``[start, end)`` from ``subtree(start, end)``: each one asked for is a
    perfect subtree (a power of two in size, aligned to it) or the tree's right edge."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()  # the sibling nearest the leaf first
    return path


def subtree_root(start: int, end: int, node: Callable[[int, int], bytes | None],
                 leaves: Callable[[int, int], Sequence[bytes]], block: int) -> bytes:
    """The hash of leaves ``[start, end)``, from the perfect subtrees ``node(level, index)``
    knows (the one of leaves ``[index * 2**level, (index + 1) * 2**level)``; None: not kept),
    and from ``leaves(start, end)`` for a part of at most ``block`` leaves it does not."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        kept = node(n.bit_length() - 1, start // n)
        if kept is not None:
            return kept
    if n <= block:
        return _subtree(leaves(start, end), 0, n)
    k = _split(n)
    return node_hash(subtree_root(start, start + k, node, leaves, block),
                     subtree_root(start + k, end, node, leaves, block))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the tree of the first ``old_size`` leaves is a prefix (RFC 6962, 2.1.2)."""
    if not 0 <= old_size <= len(leaves):
        raise ValueError(f"a tree of {len(leaves)} has no prefix of {old_size}")
    if old_size in (0, len(leaves)):
        return []
    return _subproof(leaves, old_size, 0, len(leaves), True)


def _subproof(leaves: Sequence[bytes], m: int, start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [_subtree(leaves, start, end)]
    k = _split(n)
    if m <= k:
        return _subproof(leaves, m, start, start + k, whole) + [_subtree(leaves, start + k, end)]
    return _subproof(leaves, m - k, start + k, end, False) + [_subtree(leaves, start, start + k)]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    """True when ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with that root
    (RFC 9162, 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size,
    new_root) (RFC 9162, 2.1.4.2)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return old_root == new_root and not proof
    if old_size == 0:
        return not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass
class Frontier:
    """The roots of the perfect subtrees of a log, largest (leftmost) first: enough to append
    a leaf and to give the root, in O(log n) hashes and memory."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        self.hashes.append(leaf)
        self.size += 1
        n = self.size
        while not n & 1:  # each trailing zero of the size is one merge of two equal subtrees
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)
            n >>= 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.hashes))
