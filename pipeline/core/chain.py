"""The archive's hash chain: each accepted event commits to everything before it in its chain."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = bytes(32)


def link_hash(prev_hash: bytes, index: int, receipt_id: str, event_body: bytes) -> bytes:
    """SHA-256(prev_hash || index as 8 bytes big-endian || receipt_id UTF-8 || event Avro bytes)."""
    h = hashlib.sha256(prev_hash)
    h.update(index.to_bytes(8, "big"))
    h.update(receipt_id.encode())
    h.update(event_body)
    return h.digest()


@dataclass
class ChainHead:
    index: int = 0
    hash: bytes = GENESIS

    def append(self, receipt_id: str, event_body: bytes) -> tuple[int, bytes, bytes]:
        """Advance the head; return (index, prev_hash, hash) of the new link."""
        prev = self.hash
        self.index += 1
        self.hash = link_hash(prev, self.index, receipt_id, event_body)
        return self.index, prev, self.hash


@dataclass(frozen=True)
class Link:
    index: int
    prev_hash: bytes
    hash: bytes
    receipt_id: str
    event_body: bytes


class ChainBroken(ValueError):
    """The chain does not verify: something was edited, removed, inserted or reordered."""


def verify(links: Iterable[Link], head: ChainHead | None = None) -> ChainHead:
    """Check that links continue ``head`` (genesis by default) without a break; return the new head."""
    cur = ChainHead(head.index, head.hash) if head else ChainHead()
    for link in links:
        if link.index != cur.index + 1:
            raise ChainBroken(f"expected link {cur.index + 1}, found {link.index}")
        if link.prev_hash != cur.hash:
            raise ChainBroken(f"link {link.index}: prev_hash does not match link {cur.index}")
        expected = link_hash(cur.hash, link.index, link.receipt_id, link.event_body)
        if link.hash != expected:
            raise ChainBroken(f"link {link.index}: hash does not match its content")
        cur = ChainHead(link.index, link.hash)
    return cur
