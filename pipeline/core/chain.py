"""The archive's hash chain: each accepted event commits to everything before it in its chain.

Two link rules, told apart by the ArchiveBatch's ``link_rule`` field (docs/archive.md):

- **Rule 1** (archives written before ArchiveBatch version 2, which has no such field and
  reads as 1): ``SHA-256(prev_hash || index || receipt_id || event body)``. The operator, the
  source and the ingest position are outside the link: a record re-attributed to another
  operator still chains.
- **Rule 2** (every link written now): the link also covers everything the event is accounted
  by: the operator, the source, the ingest topic, partition and offset, and the sequence
  number. Its record-level part comes first, so it is hashed once per record
  (:class:`Provenance`) and copied per event.

A chain never goes back from rule 2 to rule 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import encode_event_body

GENESIS = bytes(32)
LINK_RULE = 2  # the rule new links are made with


def link_hash(prev_hash: bytes, index: int, receipt_id: str, event_body: bytes) -> bytes:
    """Rule 1: SHA-256(prev_hash || index as 8 bytes big-endian || receipt_id UTF-8 || event Avro bytes)."""
    h = hashlib.sha256(prev_hash)
    h.update(index.to_bytes(8, "big"))
    h.update(receipt_id.encode())
    h.update(event_body)
    return h.digest()


def _text(s: str) -> bytes:
    b = s.encode()
    return len(b).to_bytes(4, "big") + b


@dataclass(frozen=True)
class Provenance:
    """Who sent a record's events and where they entered Kafka: rule 2's record-level input.

    Rule 2's link is SHA-256 of, in order: the byte 0x02; operator ID, source ID and ingest
    topic, each as a 4-byte big-endian length and UTF-8; the ingest partition (4 bytes) and
    offset (8); then per event prev_hash (32), index (8), seq (8), the receipt ID (length and
    UTF-8) and the event's Avro bytes. Integers are big-endian two's complement.
    """

    operator_id: str
    source_id: str
    ingest_topic: str
    ingest_partition: int
    ingest_offset: int
    _prefix: Any = field(init=False, repr=False, compare=False)  # hashlib's state after the above

    def __post_init__(self) -> None:
        h = hashlib.sha256(b"\x02")
        h.update(_text(self.operator_id) + _text(self.source_id) + _text(self.ingest_topic)
                 + self.ingest_partition.to_bytes(4, "big", signed=True)
                 + self.ingest_offset.to_bytes(8, "big", signed=True))
        object.__setattr__(self, "_prefix", h)

    def link_hash(self, prev_hash: bytes, index: int, seq: int, receipt_id: str, event_body: bytes) -> bytes:
        """Rule 2's link of one event of this record."""
        h = self._prefix.copy()
        h.update(prev_hash + index.to_bytes(8, "big", signed=True) + seq.to_bytes(8, "big", signed=True)
                 + _text(receipt_id))
        h.update(event_body)
        return bytes(h.digest())


@dataclass
class ChainHead:
    index: int = 0
    hash: bytes = GENESIS
    rule: int = 1  # of the last link; not kept in the validator's state (it only ever appends rule 2)

    def append(self, provenance: Provenance, seq: int, receipt_id: str,
               event_body: bytes) -> tuple[int, bytes, bytes]:
        """Advance the head by a rule-2 link; return (index, prev_hash, hash) of the new link."""
        prev = self.hash
        self.index += 1
        self.hash = provenance.link_hash(prev, self.index, seq, receipt_id, event_body)
        self.rule = LINK_RULE
        return self.index, prev, self.hash


@dataclass(frozen=True)
class Link:
    """One archived link; ``provenance`` None means rule 1 (which does not cover it or ``seq``)."""

    index: int
    prev_hash: bytes
    hash: bytes
    receipt_id: str
    event_body: bytes
    seq: int = 0
    provenance: Provenance | None = None

    @property
    def rule(self) -> int:
        return 1 if self.provenance is None else 2

    def expected_hash(self, prev_hash: bytes) -> bytes:
        if self.provenance is None:
            return link_hash(prev_hash, self.index, self.receipt_id, self.event_body)
        return self.provenance.link_hash(prev_hash, self.index, self.seq, self.receipt_id, self.event_body)


class ChainBroken(ValueError):
    """The chain does not verify: something was edited, removed, inserted or reordered."""


def verify(links: Iterable[Link], head: ChainHead | None = None) -> ChainHead:
    """Check that links continue ``head`` (genesis by default) without a break; return the new head."""
    cur = ChainHead(head.index, head.hash, head.rule) if head else ChainHead()
    for link in links:
        if link.index != cur.index + 1:
            raise ChainBroken(f"expected link {cur.index + 1}, found {link.index}")
        if link.prev_hash != cur.hash:
            raise ChainBroken(f"link {link.index}: prev_hash does not match link {cur.index}")
        if link.rule < cur.rule:
            raise ChainBroken(f"link {link.index}: made by link rule {link.rule} after a rule {cur.rule} "
                              "link")
        if link.hash != link.expected_hash(cur.hash):
            covered = "receipt ID or event" if link.rule == 1 else (
                "operator, source, ingest position, seq, receipt ID or event")
            raise ChainBroken(f"link {link.index}: hash does not match its content ({covered})")
        cur = ChainHead(link.index, link.hash, link.rule)
    return cur


def links_of(batch: dict[str, Any]) -> list[Link]:
    """The links of a decoded ArchiveBatch, each to be checked by the batch's link rule."""
    rule = batch["link_rule"]
    if rule not in (1, 2):
        raise ValueError(f"link rule {rule} is not one this verifier knows (1 or 2)")
    provenance = None if rule == 1 else Provenance(
        batch["operator_id"], batch["source_id"], batch["ingest_topic"], batch["ingest_partition"],
        batch["ingest_offset"])
    return [Link(e["chain_index"], e["prev_hash"], e["hash"], e["receipt_id"],
                 encode_event_body(e["event"]), e["event"]["seq"], provenance) for e in batch["events"]]
