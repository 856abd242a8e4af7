"""The Merkle functions against RFC 6962's definitions written out naively (lists sliced as
the RFC writes them), over generated logs; and the canonical bytes of an entry."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conduct_desk.domain import merkle
from conduct_desk.domain.audit import Checkpoint, canonical_entry, entry_leaf


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """RFC 6962 2.1, over the leaves' data (not their hashes)."""
    if not d:
        return sha(b"")
    if len(d) == 1:
        return sha(b"\x00" + d[0])
    k = k_of(len(d))
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = k_of(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 6962 2.1.2 SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


# distinct leaves: with equal ones, a proof can hold for another size by coincidence
datas = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)
FEW = settings(max_examples=60, deadline=None)


@FEW
@given(datas)
def test_the_root_is_the_rfcs_and_the_frontier_extends_it(d: list[bytes]) -> None:
    leaves = [merkle.leaf_hash(x) for x in d]
    assert merkle.root(leaves) == mth(d)
    frontier = merkle.Frontier()
    for i, leaf in enumerate(leaves):
        frontier.append(leaf)
        assert frontier.root() == mth(d[:i + 1])
        assert len(frontier.hashes) == bin(i + 1).count("1")
    assert merkle.root([]) == sha(b"")


@FEW
@given(datas, st.data())
def test_an_inclusion_proof_is_the_rfcs_and_verifies_only_for_its_leaf(
        d: list[bytes], data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(x) for x in d]
    m = data.draw(st.integers(0, len(d) - 1))
    proof = merkle.inclusion_proof(leaves, m)
    assert proof == path(m, d)
    root = mth(d)
    assert merkle.verify_inclusion(m, len(d), leaves[m], proof, root)
    assert not merkle.verify_inclusion(m, len(d), merkle.leaf_hash(d[m] + b"!"), proof, root)
    assert not merkle.verify_inclusion(m, len(d), leaves[m], proof, sha(b"another root"))
    if len(d) > 1:
        assert not merkle.verify_inclusion((m + 1) % len(d), len(d), leaves[m], proof, root)
        bent = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
        assert not merkle.verify_inclusion(m, len(d), leaves[m], bent, root)
        assert not merkle.verify_inclusion(m, len(d), leaves[m], proof[:-1], root)


@FEW
@given(st.integers(1, 700), st.sampled_from([1, 2, 4, 16]), st.data())
def test_a_proof_from_kept_subtrees_and_a_few_leaves_is_the_rfcs(
        size: int, block: int, data: st.DataObject) -> None:
    """The audit path from the perfect subtrees of ``block`` leaves and up that lie whole
    within the tree (as the desk keeps them), reading leaves only for the rest: the same as
    RFC 6962's, and no leaf outside the entry's block and the last, unfinished one is read."""
    d = [i.to_bytes(4, "big") for i in range(size)]
    leaves = [merkle.leaf_hash(x) for x in d]
    m = data.draw(st.integers(0, size - 1))
    whole = size // block * block
    read: set[int] = set()

    def node(level: int, idx: int) -> bytes | None:
        width = 1 << level
        if width < block or (idx + 1) * width > whole:
            return None
        return merkle.root(leaves[idx * width:(idx + 1) * width])

    def some(a: int, b: int) -> list[bytes]:
        read.update(range(a, b))
        return leaves[a:b]

    got = merkle.inclusion_path(m, size, lambda a, b: merkle.subtree_root(a, b, node, some,
                                                                           block))
    assert got == path(m, d)
    own = range(m // block * block, min(m // block * block + block, size))
    assert read <= set(own) | set(range(whole, size))


@FEW
@given(datas, st.data())
def test_a_consistency_proof_is_the_rfcs_and_verifies_only_a_true_prefix(
        d: list[bytes], data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(x) for x in d]
    m = data.draw(st.integers(0, len(d)))
    proof = merkle.consistency_proof(leaves, m)
    assert proof == ([] if m in (0, len(d)) else subproof(m, d, True))
    assert merkle.verify_consistency(m, len(d), mth(d[:m]), mth(d), proof)
    if 0 < m < len(d):
        edited = [*d[:m - 1], d[m - 1] + b"!"]  # the old tree was not this one's prefix
        assert not merkle.verify_consistency(m, len(d), mth(edited), mth(d), proof)
        assert not merkle.verify_consistency(m, len(d), mth(d[:m]), sha(b"x"), proof)


def test_known_values() -> None:
    """Fixed values, so that the hashing never changes under entries already written."""
    assert merkle.leaf_hash(b"").hex() == \
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(7)]
    assert merkle.root(leaves) == mth([bytes([i]) for i in range(7)])


def test_the_canonical_bytes_of_an_entry() -> None:
    at = datetime(2026, 12, 1, 9, 30, 5, 120, tzinfo=UTC)
    same_moment = at.astimezone(timezone(timedelta(hours=2)))
    data = canonical_entry(at, "ana", "case.taken", 4, "ana took the case — ok", {"b": 1, "a": [2]})
    assert data == ('{"actor":"ana","at":"2026-12-01T09:30:05.000120Z","case":4,'
                    '"detail":{"a":[2],"b":1},"kind":"case.taken",'
                    '"summary":"ana took the case — ok","v":1}').encode()
    assert canonical_entry(same_moment, "ana", "case.taken", 4, "ana took the case — ok",
                           {"a": [2], "b": 1}) == data
    assert entry_leaf(at, "ana", "case.taken", 4, "x", {}) != \
        entry_leaf(at, "ana", "case.taken", None, "x", {})
    with pytest.raises(ValueError, match="aware"):
        canonical_entry(datetime(2026, 1, 1), "a", "k", None, "s", {})  # noqa: DTZ001


def test_a_checkpoint_read_from_json() -> None:
    c = Checkpoint(3, b"\x01" * 32, datetime(2026, 12, 1, tzinfo=UTC))
    assert Checkpoint.from_json(c.as_json()) == c
    assert c.as_json()["signed"] is False and "not signed" in c.as_json()["note"]
    for bad in ({"size": -1, "root": "00" * 32}, {"size": 1, "root": "zz"}, {"root": "00" * 32},
                [], {"size": True, "root": "00" * 32}):
        with pytest.raises(Exception, match="size"):
            Checkpoint.from_json(bad)
