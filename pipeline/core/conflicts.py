"""Conflicting re-sends: a decided event ID sent again with other content.

Dedup (``dedup.py``) knows which seqs of a source were decided, not what they said, and
remembering every event's content would grow without bound. So each source keeps a bounded
window: an 8-byte content digest of each of its last ``limit`` decided events (accepted or
rejected; an event's digest is the first 8 bytes of the SHA-256 of its Avro body, the bytes
the hash chain covers, which strict decoding makes canonical), with where it was decided
(record offset and index in the record, hence its receipt ID). A repeat of a seq still in
the window with another digest is a conflicting re-send (``conflicting_duplicate``); a
byte-identical one, or a repeat of an older seq, is a plain repeat: counted nowhere, and
answered with a DUPLICATE receipt naming the first's receipt ID while it is in the window
(receipt IDs derive from where an event was decided, so the window's runs are all it takes).

The digests live in a ring (8 bytes each); ``runs`` say where they were decided: events
``index .. index + length - 1`` of the record at ``offset`` decided seqs ``seq .. seq +
length - 1``, in the order they were decided (oldest first). In-order traffic costs one run
per record. The compiled engine keeps the same (``pipeline/native/src/validator/conflicts.rs``).
"""

from __future__ import annotations

import hashlib
from collections import deque

DIGEST_BYTES = 8
# The window's default length (``ValidationSettings.conflict_window_per_source``).
DEFAULT_WINDOW = 4096


def content_digest(body: bytes) -> bytes:
    """The digest of an event's Avro body: the first 8 bytes of its SHA-256."""
    return hashlib.sha256(body).digest()[:DIGEST_BYTES]


def conflict_detail(seq: int, first_receipt_id: str) -> str:
    """The ``conflicting_duplicate`` detail, naming the receipt of the event that stands."""
    return (f"seq {seq} was already decided with other content (receipt {first_receipt_id}); "
            "that first event stands: a changed event needs a new seq")


def duplicate_detail(seq: int, first_receipt_id: str | None, window: int) -> str:
    """The DUPLICATE receipt's detail: the first receipt, or why it is not named."""
    if first_receipt_id is not None:
        return f"seq {seq} was already decided (receipt {first_receipt_id}); this repeat counts nowhere"
    return (f"seq {seq} was decided before the last {window} events dsom keeps per source, so its "
            "receipt is not named here (find it by source_id and seq); this repeat counts nowhere")


Run = list[int]  # [offset, index, seq, length]


class ContentWindow:
    """Digests of one source's last ``limit`` decided events, and where each was decided."""

    __slots__ = ("_head", "_ring", "gone", "limit", "runs")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._ring = bytearray()  # DIGEST_BYTES per event; once full, a ring whose oldest is at _head
        self._head = 0  # 0 until full
        self.runs: deque[Run] = deque()  # oldest first
        # Records all of whose events have left the window since the caller last cleared it.
        self.gone: list[int] = []

    def __len__(self) -> int:
        return len(self._ring) // DIGEST_BYTES

    def digests(self) -> bytes:
        """Every digest, oldest first."""
        at = self._head * DIGEST_BYTES
        return bytes(self._ring[at:] + self._ring[:at])

    def find(self, seq: int) -> tuple[bytes, int, int] | None:
        """(digest, record offset, index in the record) of decided ``seq``, if still in the window."""
        end = len(self)
        for offset, index, first, length in reversed(self.runs):
            end -= length
            if first <= seq < first + length:
                at = (self._head + end + seq - first) % len(self) * DIGEST_BYTES
                return bytes(self._ring[at:at + DIGEST_BYTES]), offset, index + seq - first
        return None

    def add(self, offset: int, index: int, seq: int, digest: bytes) -> None:
        """Remember event ``index`` of the record at ``offset``, which decided ``seq``.

        Records come in offset order. When the window is full the oldest event leaves it.
        """
        if len(self) < self.limit:
            self._ring += digest
        else:
            run = self.runs[0]
            run[1] += 1
            run[2] += 1
            run[3] -= 1
            if run[3] == 0:
                self.runs.popleft()
                if run[0] != offset and not (self.runs and self.runs[0][0] == run[0]):
                    self.gone.append(run[0])
            at = self._head * DIGEST_BYTES
            self._ring[at:at + DIGEST_BYTES] = digest
            self._head = (self._head + 1) % self.limit
        last = self.runs[-1] if self.runs else None
        if last is not None and last[0] == offset and last[1] + last[3] == index and last[2] + last[3] == seq:
            last[3] += 1
        else:
            self.runs.append([offset, index, seq, 1])

    def record(self, offset: int) -> tuple[list[list[int]], bytes]:
        """The runs ([index, seq, length]) and digests of the record at ``offset`` still in the window."""
        runs: list[list[int]] = []
        n = 0
        for run in reversed(self.runs):
            if run[0] != offset:
                break
            runs.append(run[1:])
            n += run[3]
        runs.reverse()
        return runs, self.digests()[len(self) * DIGEST_BYTES - n * DIGEST_BYTES:] if n else b""

    # -- restore --

    def load(self, offset: int, runs: list[list[int]], digests: bytes) -> None:
        """Put back what ``record`` returned for ``offset``, then keep the newest ``limit``.

        Records this pushes out whole go to ``gone``, and leave it again when their tombstone
        is applied: after a whole changelog, only those whose tombstones were never written
        (the window was made shorter) stay, for the source's next record to write.
        """
        if self.runs and self.runs[-1][0] >= offset:  # out of order: rebuild in order
            self._rebuild([r for r in self._items() if r[0] != offset]
                          + list(_items(offset, runs, digests)))
            return
        for item in _items(offset, runs, digests):
            self.add(*item)

    def drop(self, offset: int) -> None:
        """Forget the events of the record at ``offset`` (its tombstone was applied)."""
        if offset in self.gone:
            self.gone.remove(offset)
        if any(r[0] == offset for r in self.runs):
            self._rebuild([r for r in self._items() if r[0] != offset])

    def _items(self) -> list[tuple[int, int, int, bytes]]:
        digests = self.digests()
        items = []
        k = 0
        for offset, index, seq, length in self.runs:
            for i in range(length):
                items.append((offset, index + i, seq + i, digests[k * DIGEST_BYTES:(k + 1) * DIGEST_BYTES]))
                k += 1
        return items

    def _rebuild(self, items: list[tuple[int, int, int, bytes]]) -> None:
        self._ring, self._head, self.runs = bytearray(), 0, deque()
        for item in sorted(items, key=lambda it: (it[0], it[1])):
            self.add(*item)


def _items(offset: int, runs: list[list[int]], digests: bytes) -> list[tuple[int, int, int, bytes]]:
    out = []
    k = 0
    for index, seq, length in runs:
        for i in range(length):
            out.append((offset, index + i, seq + i, digests[k * DIGEST_BYTES:(k + 1) * DIGEST_BYTES]))
            k += 1
    return out
