"""Archive records as leaves, and the checkpointer's per-partition state."""

from __future__ import annotations

from pipeline.core.archive_log import (
    PartitionLog,
    leaf_data,
    log_origin,
    parse_leaf_data,
    partition_of_origin,
    record_leaf,
)
from pipeline.core.merkle import MerkleTree, leaf_hash


def test_a_leaf_commits_to_position_key_and_value() -> None:
    base = record_leaf(2, 10, b"dsom.ingest.op-1/0", b"value")
    assert parse_leaf_data(leaf_data(2, 10, b"k", b"v")) == (2, 10, b"k", b"v")
    assert base == leaf_hash(leaf_data(2, 10, b"dsom.ingest.op-1/0", b"value"))  # the fast path
    # moved to another partition or offset, re-keyed, or edited: another leaf
    assert len({base, record_leaf(3, 10, b"dsom.ingest.op-1/0", b"value"),
                record_leaf(2, 11, b"dsom.ingest.op-1/0", b"value"),
                record_leaf(2, 10, b"dsom.ingest.op-2/0", b"value"),
                record_leaf(2, 10, b"dsom.ingest.op-1/0", b"valuE"),
                # the key/value boundary is part of the leaf
                record_leaf(2, 10, b"dsom.ingest.op-1/0v", b"alue")}) == 6


def test_origins_name_their_partition() -> None:
    origin = log_origin("dsom.local/x", "x.archive", 4)
    assert origin == "dsom.local/x/x.archive/4"
    assert partition_of_origin(origin, "dsom.local/x/x.archive") == 4
    assert partition_of_origin("other.example/x.archive/4", "dsom.local/x/x.archive") is None


def test_the_state_survives_its_changelog_and_signs_when_due() -> None:
    log, tree = PartitionLog(), MerkleTree()
    for offset in range(0, 20, 2):
        log.append(1, offset, b"k", bytes([offset]))
        tree.append(record_leaf(1, offset, b"k", bytes([offset])))
    assert not log.due(now_us=5, interval_us=10, every_records=11)
    assert log.due(now_us=10, interval_us=10, every_records=11)  # by time
    assert log.due(now_us=5, interval_us=10, every_records=10)  # by count
    cp = log.checkpoint("o/1", now_us=10)
    assert (cp.size, cp.root) == (10, tree.root())
    assert not log.due(now_us=10**9, interval_us=10, every_records=1)  # nothing new: no checkpoint
    restored = PartitionLog()
    restored.apply(b"t|1|log", log.to_bytes())
    assert (restored.tree, restored.signed_size, restored.signed_at_us) == (log.tree, 10, 10)
    restored.apply(b"t|1|log", None)
    assert restored.tree.size == 0
