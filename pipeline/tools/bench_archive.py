"""Figures for the verifiable archive (make bench-archive): what the Merkle logs cost, proof sizes and times.

Offline (no broker): the checkpointer's CPU per archive record, signing, and proofs on real
in-memory trees of up to 2^20 leaves. A real tree of 100 M leaves does not fit a laptop's
memory in Python (two 32-byte hashes per leaf, as Python objects about 150 bytes), so at
100 M the figures are: the exact proof sizes (they depend on the size alone), verification
timed on a tree of that size whose leaves are all equal (verifying costs the same for any
content), and generation extrapolated from the measured trees by proof length. Printed as such.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.core.archive_log import PartitionLog
from pipeline.core.checkpoint import Checkpoint, Signer, verify_checkpoint
from pipeline.core.merkle import (
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

HUNDRED_M = 100_000_000


def _per_call(fn: Callable[[], object], n: int) -> float:
    """CPU seconds per call: on a shared machine wall time measures the neighbours too."""
    started = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - started) / n


class UniformTree:
    """A tree of ``size`` equal leaves: every subtree's hash depends on its size alone."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._leaf = leaf_hash(b"x")
        self._by_size: dict[int, bytes] = {1: self._leaf}

    def subtree(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n not in self._by_size:
            k = 1 << ((n - 1).bit_length() - 1)
            self._by_size[n] = node_hash(self.subtree(0, k), self.subtree(0, n - k))
        return self._by_size[n]

    def root(self) -> bytes:
        return self.subtree(0, self.size)


def main() -> int:
    print("== checkpointer, per archive record (a batch of events), pure CPU ==")
    for events, size in ((500, 500 * 260), (1, 260)):  # ~260 bytes per archived event (Avro, with chain)
        value = os.urandom(size)
        log = PartitionLog()
        n = 20_000 if events == 1 else 2_000
        per = _per_call(lambda: log.append(0, log.tree.size, b"dsom.ingest.op-1/0", value), n)  # noqa: B023
        print(f"  record of {events:>3} events ({size:>6} B): {per * 1e6:7.1f} µs per record, "
              f"{per / events * 1e9:7.1f} ns per event (leaf hash + frontier append)")
    signer = Signer("dsom.local/dsom", Ed25519PrivateKey.generate())
    cp = Checkpoint("dsom.local/dsom/dsom.archive/0", 123_456, bytes(32))
    note = signer.sign(cp.body())
    print(f"  sign a checkpoint: {_per_call(lambda: signer.sign(cp.body()), 2000) * 1e6:.0f} µs; verify: "
          f"{_per_call(lambda: verify_checkpoint(note, signer.verifier), 2000) * 1e6:.0f} µs; "
          f"{len(note)} bytes; frontier state at 100 M leaves: {8 + 16 + 32 * HUNDRED_M.bit_count()} bytes")

    print("== proofs on real in-memory trees ==")
    for exp in (14, 17, 20):
        n = (1 << exp) - 3  # not a power of two: the right edge is computed, as in a live log
        tree = MerkleTree()
        started = time.perf_counter()
        for i in range(n):
            tree.append(leaf_hash(i.to_bytes(8, "big")))
        built = time.perf_counter() - started
        root, index, old = tree.root(), n // 3, n // 2 + 1
        inc = inclusion_proof(tree, index, n)
        con = consistency_proof(tree, old, n)
        t_inc = _per_call(lambda: inclusion_proof(tree, index, n), 200)  # noqa: B023
        t_con = _per_call(lambda: consistency_proof(tree, old, n), 200)  # noqa: B023
        old_root = tree.root(old)
        t_vi = _per_call(lambda: verify_inclusion(tree.leaf(index), index, n, inc, root), 2000)  # noqa: B023
        t_vc = _per_call(lambda: verify_consistency(old, n, old_root, root, con), 2000)  # noqa: B023
        print(f"  {n:>9} leaves (built in {built:5.1f} s): inclusion {len(inc) * 32} B, made in "
              f"{t_inc * 1e6:5.0f} µs, verified in {t_vi * 1e6:4.0f} µs; consistency {len(con) * 32} B, "
              f"made in {t_con * 1e6:5.0f} µs, verified in {t_vc * 1e6:4.0f} µs")
    last_inc, last_t = len(inc), t_inc

    print(f"== {HUNDRED_M:,} leaves ==")
    big = UniformTree(HUNDRED_M)
    root, index, old = big.root(), HUNDRED_M // 3, HUNDRED_M // 2 + 1
    inc = inclusion_proof(big, index, HUNDRED_M)
    con = consistency_proof(big, old, HUNDRED_M)
    t_vi = _per_call(lambda: verify_inclusion(big._leaf, index, HUNDRED_M, inc, root), 2000)
    old_root = big.subtree(0, old)
    t_vc = _per_call(lambda: verify_consistency(old, HUNDRED_M, old_root, root, con), 2000)
    print(f"  inclusion proof: {len(inc)} hashes = {len(inc) * 32} B (exact); "
          f"verified in {t_vi * 1e6:.0f} µs (measured)")
    print(f"  consistency proof {old:,} -> {HUNDRED_M:,}: {len(con)} hashes = {len(con) * 32} B (exact); "
          f"verified in {t_vc * 1e6:.0f} µs (measured)")
    made = last_t * len(inc) / last_inc
    print(f"  making an inclusion proof from a stored tree: about {made * 1e6:.0f} µs "
          f"(extrapolated from 2^20 by proof length; the tree itself needs ~{HUNDRED_M * 64 / 1e9:.1f} GB "
          f"of hashes, so dsom proof rebuilds it from the archive partition instead)")
    print("  with 500-event records, 100 M events are 200,000 leaves: proofs of 18 hashes (576 B)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
