"""The system's own immutable receipt IDs, derived from where the event entered Kafka.

A Kafka (topic, partition, offset) is assigned once by the broker and never reused, so an ID
derived from it plus the event's position in its batch is unique, and the same if the record
is ever processed again (after a crash or rebalance): replays cannot mint a second ID.
"""

from __future__ import annotations

import hashlib


def receipt_id(topic: str, partition: int, offset: int, index: int) -> str:
    """UUID (RFC 9562 version 8) for event ``index`` of a record; index -1 names the record."""
    digest = hashlib.blake2b(f"{topic}|{partition}|{offset}|{index}".encode(), digest_size=16)
    return _uuid8(digest.hexdigest())


def _uuid8(h: str) -> str:
    # version nibble 8, variant bits 10 (RFC 9562); formatted by hand: uuid.UUID costs 3x more
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


class RecordReceiptIds:
    """``receipt_id(topic, partition, offset, index)`` for the events of one record, cheaper.

    The hash state after the record's part of the input is computed once and copied per event.
    """

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._prefix = hashlib.blake2b(f"{topic}|{partition}|{offset}|".encode(), digest_size=16)

    def __call__(self, index: int) -> str:
        h = self._prefix.copy()
        h.update(b"%d" % index)
        return _uuid8(h.hexdigest())
