"""RFC 9162 Merkle trees: hashes, inclusion and consistency proofs, and the compact state a log keeps.

Pure and self-contained (hashlib only). The algorithms follow RFC 9162 section 2.1 word for
word, so that a proof made here verifies with any other implementation (they are checked
against transparency-dev/merkle's vectors in the tests). No maintained Python library
implements them: the Go reference (transparency-dev/merkle) is the one everybody tests against.

Proof generation asks a :class:`NodeSource` for the hash of a range of leaves, so the same
code serves an in-memory tree (:class:`MerkleTree`, built while reading an archive partition)
and the benchmark's virtual tree of 100 M leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): leaves and nodes differ in their first byte (second-preimage defence)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class ProofError(ValueError):
    """A proof is malformed or does not verify."""


class NodeSource(Protocol):
    """Gives the RFC 9162 hash of leaves ``[lo, hi)`` of a tree (0 <= lo < hi <= its size)."""

    def subtree(self, lo: int, hi: int) -> bytes: ...


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes (the batch definition; tests hold the fast paths to it)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1: the audit path of leaf ``index``, leaf end first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:  # descend; siblings are found root end first, so prepend
        k = _split(hi - lo)
        if index < lo + k:
            path.append(source.subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(source.subtree(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(source: NodeSource, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[new]) of RFC 9162 2.1.4.1: that the first ``old`` leaves are unchanged in ``new``."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    out: list[bytes] = []
    lo, hi, m, whole = 0, new, old, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append(source.subtree(lo + k, hi))
            hi = lo + k
        else:
            out.append(source.subtree(lo, lo + k))
            m -= k
            lo += k
            whole = False
    if not whole:
        out.append(source.subtree(lo, hi))
    out.reverse()
    return out


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 2.1.3.2; raise :class:`ProofError` unless ``leaf`` (a leaf hash) is at ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size}")
    _check_hashes([leaf, root, *proof])
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError(f"leaf {index} is not in the tree of {size} with this root")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2; raise :class:`ProofError` unless tree ``old`` is a prefix of tree ``new``."""
    if not 0 < old <= new:  # as transparency-dev/merkle: nothing to prove about the empty tree
        raise ProofError(f"no consistency to prove from a tree of {old} to one of {new}")
    if old == new:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old}")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    _check_hashes(proof)
    path = list(proof)
    if old & (old - 1) == 0:  # old is a power of two: its root is the proof's implicit first node
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the root of size {old}")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the root of size {new}")


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"hash {i} of the proof has {len(p)} bytes, not {HASH_SIZE}")


class CompactRange:
    """The right frontier of a log: the roots of its perfect subtrees, largest first.

    ``popcount(size)`` hashes (at most 64) are all a streaming writer needs to append leaves
    and compute the root, so the checkpointer's state per partition is under 2 KB, whatever
    the log's length. Serialised as 8 bytes of size (big-endian) then the hashes.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int = 0, nodes: Iterable[bytes] = ()) -> None:
        self.size = size
        self._nodes = list(nodes)
        if len(self._nodes) != size.bit_count():
            raise ValueError(f"a compact range of {size} leaves has {size.bit_count()} nodes, "
                             f"not {len(self._nodes)}")

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash: merge equal-sized subtrees, as many as the size's trailing ones."""
        h, n = leaf, self.size
        while n & 1:
            h = node_hash(self._nodes.pop(), h)
            n >>= 1
        self._nodes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        h = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._nodes)

    def to_bytes(self) -> bytes:
        return self.size.to_bytes(8, "big") + b"".join(self._nodes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        if len(data) < 8 or (len(data) - 8) % HASH_SIZE:
            raise ValueError(f"not a compact range: {len(data)} bytes")
        size = int.from_bytes(data[:8], "big")
        nodes = [data[i:i + HASH_SIZE] for i in range(8, len(data), HASH_SIZE)]
        return cls(size, nodes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompactRange) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())


class MerkleTree:
    """A whole tree in memory: every perfect subtree's hash, level by level (2 hashes per leaf).

    For proofs over an archive partition read from Kafka; :meth:`subtree` is O(log n), so a
    proof costs O(log² n) hash look-ups and at most O(log n) hash computations.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        self._levels[0].append(leaf)
        level, n = 0, len(self._levels[0])
        while n % 2 == 0:  # the new leaf completed a perfect subtree one level up
            row = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(node_hash(row[-2], row[-1]))
            level, n = level + 1, n // 2

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def subtree(self, lo: int, hi: int) -> bytes:
        if not 0 <= lo < hi <= self.size:
            raise ProofError(f"no subtree [{lo}, {hi}) in a tree of {self.size}")
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a perfect, aligned subtree: stored
            return self._levels[n.bit_length() - 1][lo // n]
        k = _split(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (all by default)."""
        size = self.size if size is None else size
        return EMPTY_ROOT if size == 0 else self.subtree(0, size)
