"""The system's own immutable receipt IDs, derived from where the event entered Kafka.

A Kafka (topic, partition, offset) is assigned once by the broker and never reused, so an ID
derived from it plus the event's position in its batch is unique, and the same if the record
is ever processed again (after a crash or rebalance): replays cannot mint a second ID.
"""

from __future__ import annotations

import hashlib
import uuid


def receipt_id(topic: str, partition: int, offset: int, index: int) -> str:
    """UUID (RFC 9562 version 8) for event ``index`` of a record; index -1 names the record."""
    digest = hashlib.blake2b(f"{topic}|{partition}|{offset}|{index}".encode(), digest_size=16)
    raw = bytearray(digest.digest())
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))
