"""RFC 9162 trees and proofs against transparency-dev/merkle's vectors, and fast paths against the batch."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "merkle_vectors.json").read_text())
# transparency-dev/merkle testonly/constants.go: LeafInputs and RootHashes (by tree size).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]


def _b(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def _tree(n: int) -> MerkleTree:
    tree = MerkleTree()
    for data in LEAVES[:n]:
        tree.append(leaf_hash(data))
    return tree


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_reference_for_every_size(size: int) -> None:
    hashes = [leaf_hash(d) for d in LEAVES[:size]]
    compact = CompactRange()
    for h in hashes:
        compact.append(h)
    assert root_of(hashes) == ROOTS[size]
    assert compact.root() == ROOTS[size]
    assert _tree(size).root() == ROOTS[size]


@pytest.mark.parametrize("name", sorted(VECTORS["inclusion"]))
def test_inclusion_vectors(name: str) -> None:
    v: dict[str, Any] = VECTORS["inclusion"][name]
    args = (base64.b64decode(v["leafHash"] or ""), v["leafIdx"], v["treeSize"], _b(v["proof"]),
            base64.b64decode(v["root"] or ""))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
        return
    verify_inclusion(*args)
    # and the proof we generate for the same leaf is the published one
    assert inclusion_proof(_tree(v["treeSize"]), v["leafIdx"], v["treeSize"]) == _b(v["proof"])


@pytest.mark.parametrize("name", sorted(VECTORS["consistency"]))
def test_consistency_vectors(name: str) -> None:
    v: dict[str, Any] = VECTORS["consistency"][name]
    args = (v["size1"], v["size2"], base64.b64decode(v["root1"] or ""), base64.b64decode(v["root2"] or ""),
            _b(v["proof"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
        return
    verify_consistency(*args)
    assert consistency_proof(_tree(v["size2"]), v["size1"], v["size2"]) == _b(v["proof"])


def test_random_trees_agree_with_the_batch_definition_and_prove_every_leaf() -> None:
    rng = random.Random(9162)
    for _ in range(30):
        n = rng.randint(1, 300)
        hashes = [leaf_hash(rng.randbytes(rng.randint(0, 40))) for _ in range(n)]
        tree, compact = MerkleTree(), CompactRange()
        for i, h in enumerate(hashes):
            tree.append(h)
            compact.append(h)
            if rng.random() < 0.1:  # the serialised state restores to the same tree
                compact = CompactRange.from_bytes(compact.to_bytes())
                assert compact.root() == root_of(hashes[:i + 1])
        root = root_of(hashes)
        assert compact.root() == tree.root() == root
        assert len(compact.to_bytes()) == 8 + 32 * n.bit_count()
        for index in rng.sample(range(n), min(n, 10)):
            proof = inclusion_proof(tree, index, n)
            verify_inclusion(hashes[index], index, n, proof, root)
            with pytest.raises(ProofError):
                verify_inclusion(hashes[index], (index + 1) % n if n > 1 else 1, n, proof, root)
        old = rng.randint(1, n)
        proof = consistency_proof(tree, old, n)
        verify_consistency(old, n, root_of(hashes[:old]), root, proof)
        if old < n:
            forged = [leaf_hash(b"forged"), *hashes[1:]]  # leaf 0 rewritten
            with pytest.raises(ProofError):
                verify_consistency(old, n, root_of(forged[:old]), root, proof)


def test_a_compact_range_with_the_wrong_number_of_nodes_is_refused() -> None:
    with pytest.raises(ValueError, match="has 2 nodes"):
        CompactRange(3, [EMPTY_ROOT])
    with pytest.raises(ValueError, match="not a compact range"):
        CompactRange.from_bytes(b"\x00" * 7)


def test_proofs_outside_the_tree_are_refused() -> None:
    tree = _tree(5)
    with pytest.raises(ProofError):
        inclusion_proof(tree, 5, 5)
    with pytest.raises(ProofError):
        consistency_proof(tree, 6, 5)
