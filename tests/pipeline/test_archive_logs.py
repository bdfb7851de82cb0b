"""The tree check over records as read back: each kind of tampering found and bounded."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline.archive_logs import SignedHead, TreeCheck
from pipeline.core.archive_log import log_origin, record_leaf
from pipeline.core.checkpoint import Checkpoint, Signer
from pipeline.core.merkle import MerkleTree

RECORDS = [(o, b"k", f"record {o}".encode()) for o in range(0, 40, 2)]  # offsets 0, 2, ... 38


def _heads(sizes: list[int]) -> dict[int, list[SignedHead]]:
    signer = Signer("dsom.test/t", Ed25519PrivateKey.generate())
    tree = MerkleTree()
    for offset, key, value in RECORDS:
        tree.append(record_leaf(1, offset, key, value))
    out = []
    for size in sizes:
        cp = Checkpoint(log_origin("dsom.test/t", "t.archive", 1), size, tree.root(size))
        out.append(SignedHead(cp, signer.sign(cp.body()), f"cp{size}"))
    return {1: out}


def _check(records: list[tuple[int, bytes, bytes]], sizes: list[int]) -> list[str]:
    check = TreeCheck(_heads(sizes))
    for offset, key, value in records:
        check.add(1, offset, key, value)
    check.finish()
    return check.findings


def test_the_untouched_log_matches_every_checkpoint() -> None:
    check = TreeCheck(_heads([0, 5, 12, 20]))
    for offset, key, value in RECORDS:
        check.add(1, offset, key, value)
    assert check.finish().verified == {1: 20} and check.findings == []


@pytest.mark.parametrize(("tamper", "finding"), [
    ("swap", "first 12 records do not match checkpoint cp12: a record among leaves 5..11 "
             "(offsets 10..22 as read now)"),
    ("delete", "first 12 records do not match checkpoint cp12: a record among leaves 5..11"),
    ("edit", "first 12 records do not match checkpoint cp12: a record among leaves 5..11"),
    ("insert", "first 12 records do not match checkpoint cp12: a record among leaves 5..11"),
])
def test_tampering_between_two_checkpoints_is_bounded_by_them(tamper: str, finding: str) -> None:
    records = list(RECORDS)
    if tamper == "swap":
        records[7], records[8] = records[8], records[7]
    elif tamper == "delete":
        del records[7]
    elif tamper == "edit":
        records[7] = (records[7][0], b"k", b"record 99")
    else:
        records.insert(7, (13, b"k", b"forged"))
    found = _check(records, [5, 12, 20])
    assert finding in found[0] and "(the log matched its checkpoint of size 5)" in found[0]
    assert len([f for f in found if "do not match" in f]) == 1  # later checkpoints say the same


def test_a_truncated_log_names_the_missing_leaves() -> None:
    assert _check(RECORDS[:15], [5, 12, 20]) == [
        "archive partition 1: 15 records, but checkpoint cp20 signed 20: leaves 15..19 are missing "
        "(truncated, deleted or lost)"]
