"""Which ingest partition is a source's home: Kafka's Java default partitioner, in pure Python.

The validator keeps each source's dedup and bet state with the partition the source's records
land on. A source whose records land on two partitions would be deduplicated twice (a retry
counted again) and its WINs could miss their BETs, so every source has exactly one home:
``murmur2(key) & 0x7fffffff % partitions``, what Kafka's Java client, franz-go's and
librdkafka's ``murmur2_random`` partitioners compute for a keyed record. ``partitions`` is the
topic's partition count when it was created (a setting), not its count today: adding
partitions to a live topic must not move a source's home away from its state.
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` (MurmurHash2, seed 0x9747b28c), as an unsigned 32-bit int."""
    n = len(data)
    h = (_SEED ^ n) & _MASK
    whole = n - n % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def home_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` among ``partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
