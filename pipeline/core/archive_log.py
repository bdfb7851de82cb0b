"""The archive as Merkle logs: one log per archive partition, one leaf per archive record.

Why one log per partition: Kafka orders records within a partition only, so a partition's
offset order is the one order every reader agrees on, and the checkpointer that owns a
partition (its consumer group spreads them over workers) can extend that log alone, with no
coordination. One log over the whole archive would need a single writer to fix an order.

A leaf is the whole record as stored: partition, offset, key and value (the ArchiveBatch
with its operator, source, sequence numbers, ingest position, receipt IDs and event bodies).
So a record re-attributed to another operator, moved, dropped, reordered or inserted gives
another tree, whatever its hash chain says.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

from pipeline.core.checkpoint import Checkpoint
from pipeline.core.merkle import CompactRange


def archive_partition(operator_id: str, partitions: int) -> int:
    """The archive partition holding all of an operator's records (its chains and its leaves).

    One partition per operator: the agents that total per operator (GGR, tax statements) then
    own each operator whole, and a receipt's leaf is found by reading one partition.
    """
    return zlib.crc32(operator_id.encode()) % partitions


def leaf_data(partition: int, offset: int, key: bytes, value: bytes) -> bytes:
    """The leaf: partition (4 bytes) || offset (8) || key length (4) || key || value, big-endian."""
    return (partition.to_bytes(4, "big") + offset.to_bytes(8, "big") + len(key).to_bytes(4, "big")
            + key + value)


def parse_leaf_data(data: bytes) -> tuple[int, int, bytes, bytes]:
    """(partition, offset, key, value) of :func:`leaf_data`'s output."""
    if len(data) < 16:
        raise ValueError(f"archive leaf of {len(data)} bytes is shorter than its header")
    klen = int.from_bytes(data[12:16], "big")
    if 16 + klen > len(data):
        raise ValueError("archive leaf's key runs past its end")
    return (int.from_bytes(data[:4], "big"), int.from_bytes(data[4:12], "big"), data[16:16 + klen],
            data[16 + klen:])


def record_leaf(partition: int, offset: int, key: bytes, value: bytes) -> bytes:
    """``leaf_hash(leaf_data(...))`` without copying the value (a record can be 1 MB): half the CPU."""
    h = hashlib.sha256(b"\x00")
    h.update(partition.to_bytes(4, "big") + offset.to_bytes(8, "big") + len(key).to_bytes(4, "big") + key)
    h.update(value)
    return h.digest()


def log_origin(origin: str, archive_topic: str, partition: int) -> str:
    """The C2SP origin line of one partition's log, e.g. ``dsom.local/dsom/dsom.archive/3``."""
    return f"{origin}/{archive_topic}/{partition}"


def partition_of_origin(origin: str, log_prefix: str) -> int | None:
    """The partition an origin names, if it is one of this archive's logs (``log_prefix``/N)."""
    head, _, tail = origin.rpartition("/")
    return int(tail) if head == log_prefix and tail.isdigit() else None


@dataclass
class PartitionLog:
    """What the checkpointer keeps per archive partition: the log's frontier and its last signature.

    Changelog value: signed size (8 bytes) || signed at, µs (8) || the compact range.
    """

    tree: CompactRange = field(default_factory=CompactRange)
    signed_size: int = 0
    signed_at_us: int = 0

    def append(self, partition: int, offset: int, key: bytes, value: bytes) -> None:
        self.tree.append(record_leaf(partition, offset, key, value))

    def due(self, now_us: int, interval_us: int, every_records: int) -> bool:
        grown = self.tree.size - self.signed_size
        return grown > 0 and (grown >= every_records or now_us - self.signed_at_us >= interval_us)

    def checkpoint(self, origin: str, now_us: int) -> Checkpoint:
        """The checkpoint of the log as it is now, marked as signed."""
        self.signed_size, self.signed_at_us = self.tree.size, now_us
        return Checkpoint(origin, self.tree.size, self.tree.root())

    def to_bytes(self) -> bytes:
        head = self.signed_size.to_bytes(8, "big") + self.signed_at_us.to_bytes(8, "big")
        return head + self.tree.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> PartitionLog:
        if len(data) < 16:
            raise ValueError(f"not a partition log state: {len(data)} bytes")
        return cls(CompactRange.from_bytes(data[16:]), int.from_bytes(data[:8], "big"),
                   int.from_bytes(data[8:16], "big"))

    def apply(self, key: bytes, value: bytes | None) -> None:
        """Replay one changelog entry (the latest wins; there is one key per partition)."""
        restored = PartitionLog() if value is None else PartitionLog.from_bytes(value)
        self.tree, self.signed_size = restored.tree, restored.signed_size
        self.signed_at_us = restored.signed_at_us
