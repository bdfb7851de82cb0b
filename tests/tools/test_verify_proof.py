"""The standalone verifier, run as an operator would: a subprocess with a key file and a proof file."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.core.archive_log import leaf_data, log_origin, record_leaf
from pipeline.core.checkpoint import Checkpoint, Signer
from pipeline.core.merkle import MerkleTree, consistency_proof, inclusion_proof
from pipeline.settings import REPO_ROOT

TOOL = REPO_ROOT / "tools" / "verify_proof.py"


def _run(tmp: Path, vkey: str, doc: dict[str, object]) -> subprocess.CompletedProcess[str]:
    (tmp / "k.vkey").write_text(vkey)
    (tmp / "p.json").write_text(json.dumps(doc))
    return subprocess.run([sys.executable, str(TOOL), "--vkey", str(tmp / "k.vkey"), str(tmp / "p.json")],
                          capture_output=True, text=True, timeout=30, check=False)


def test_inclusion_and_consistency_proofs_verify_and_forgeries_do_not(tmp_path: Path) -> None:
    signer = Signer("dsom.test/t", Ed25519PrivateKey.generate())
    origin = log_origin("dsom.test/t", "t.archive", 0)
    records = [(o * 2, b"t.ingest.op/0", f"rcpt-{o}".encode() * 3) for o in range(37)]
    tree = MerkleTree()
    for offset, key, value in records:
        tree.append(record_leaf(0, offset, key, value))
    note = signer.sign(Checkpoint(origin, 37, tree.root()).body())
    b64 = lambda hs: [base64.b64encode(h).decode() for h in hs]  # noqa: E731
    doc = {"kind": "inclusion", "receipt_id": "rcpt-11", "checkpoint": note, "leaf_index": 11,
           "tree_size": 37, "leaf": base64.b64encode(leaf_data(0, *records[11])).decode(),
           "proof": b64(inclusion_proof(tree, 11, 37))}
    ok = _run(tmp_path, signer.verifier.vkey(), doc)
    assert ok.returncode == 0 and "rcpt-11 is in record 11" in ok.stdout, ok.stderr

    wrong_receipt = _run(tmp_path, signer.verifier.vkey(), {**doc, "receipt_id": "rcpt-12"})
    assert wrong_receipt.returncode == 1 and "does not hold receipt rcpt-12" in wrong_receipt.stderr
    other_leaf = {**doc, "leaf": base64.b64encode(leaf_data(0, *records[12])).decode(), "receipt_id": ""}
    assert _run(tmp_path, signer.verifier.vkey(), other_leaf).returncode == 1
    forger = Signer("dsom.test/t", Ed25519PrivateKey.generate())
    body = note.split("\n\n")[0] + "\n"
    forged = _run(tmp_path, signer.verifier.vkey(), {**doc, "checkpoint": forger.sign(body)})
    assert forged.returncode == 1 and "not signed by dsom.test/t" in forged.stderr

    old = signer.sign(Checkpoint(origin, 20, tree.root(20)).body())
    cons = {"kind": "consistency", "old": old, "new": note, "proof": b64(consistency_proof(tree, 20, 37))}
    ok = _run(tmp_path, signer.verifier.vkey(), cons)
    assert ok.returncode == 0 and "extends its signed tree of 20" in ok.stdout, ok.stderr
    rewritten = MerkleTree()  # the same log with record 3 rewritten, re-signed by the real key
    for i, (offset, key, value) in enumerate(records):
        rewritten.append(record_leaf(0, offset, key, b"forged" if i == 3 else value))
    forked = signer.sign(Checkpoint(origin, 37, rewritten.root()).body())
    bad = _run(tmp_path, signer.verifier.vkey(), {**cons, "new": forked,
                                                  "proof": b64(consistency_proof(rewritten, 20, 37))})
    assert bad.returncode == 1 and "was rewritten" in bad.stderr
    assert _run(tmp_path, "garbage", cons).returncode == 2
