"""What the validator remembers per ingest partition, and its changelog encoding.

State is partitioned like the input (one ingest topic partition), so any worker in the
consumer group can take a partition over by replaying that partition's changelog entries.
Entries are keyed ``<topic>|<partition>|<kind>|<id>`` on a compacted topic: the latest value
per key is the state; ``None`` (a tombstone) deletes.
"""

from __future__ import annotations

import base64
import heapq
import zlib
from dataclasses import dataclass, field

import orjson

from pipeline.core.chain import ChainHead
from pipeline.core.conflicts import DEFAULT_WINDOW, ContentWindow
from pipeline.core.dedup import SeqSet

ChangelogEntry = tuple[bytes, bytes | None]


def state_key_prefix(topic: str, partition: int) -> bytes:
    return f"{topic}|{partition}|".encode()


def state_partition(topic: str, partition: int, partitions: int) -> int:
    """The changelog partition holding an ingest partition's state (stable across workers)."""
    return zlib.crc32(state_key_prefix(topic, partition)) % partitions


@dataclass
class PartitionState:
    """Dedup, bet references and chain head of one ingest topic partition."""

    topic: str
    partition: int
    sources: dict[str, SeqSet] = field(default_factory=dict)
    # (source_id, bet_ref) -> ingest offset of the batch that placed the bet
    bets: dict[tuple[str, str], int] = field(default_factory=dict)
    bet_batches: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    bet_expiry: list[tuple[int, int]] = field(default_factory=list)  # heap of (max time, offset)
    chain: ChainHead = field(default_factory=ChainHead)
    # Content digests of each source's last decided events (``conflicts.py``); 0: none kept.
    conflict_window: int = DEFAULT_WINDOW
    windows: dict[str, ContentWindow] = field(default_factory=dict)

    @property
    def prefix(self) -> bytes:
        return state_key_prefix(self.topic, self.partition)

    @property
    def chain_id(self) -> str:
        return f"{self.topic}/{self.partition}"

    def seqs(self, source_id: str) -> SeqSet:
        found = self.sources.get(source_id)
        if found is None:
            found = self.sources[source_id] = SeqSet()
        return found

    def window(self, source_id: str) -> ContentWindow | None:
        """The source's content window (None when no window is kept)."""
        if not self.conflict_window:
            return None
        found = self.windows.get(source_id)
        if found is None:
            found = self.windows[source_id] = ContentWindow(self.conflict_window)
        return found

    # -- changes, each returning the changelog entry that records it --

    def window_changes(self, source_id: str, offset: int) -> list[ChangelogEntry]:
        """The entries of the source's window after the record at ``offset``.

        Tombstones of the records all of whose events left the window, then what the record
        added: ``{"r": [[index, seq, length], ...], "d": base64 of the digests}``.
        """
        window = self.windows.get(source_id)
        if window is None:
            return []
        out: list[ChangelogEntry] = [(self._digests_key(gone, source_id), None) for gone in window.gone]
        window.gone.clear()
        runs, digests = window.record(offset)
        if runs:
            out.append((self._digests_key(offset, source_id),
                        orjson.dumps({"r": runs, "d": base64.b64encode(digests).decode()})))
        if not len(window):
            del self.windows[source_id]
        return out

    def _digests_key(self, offset: int, source_id: str) -> bytes:
        return self.prefix + b"dig|" + str(offset).encode() + b"|" + source_id.encode()

    def seq_entry(self, source_id: str) -> ChangelogEntry:
        key = self.prefix + b"seq|" + source_id.encode()
        return key, orjson.dumps(self.sources[source_id].to_state())

    def chain_entry(self) -> ChangelogEntry:
        return self.prefix + b"chain", orjson.dumps({"i": self.chain.index, "h": self.chain.hash.hex()})

    def add_bets(self, offset: int, bets: list[tuple[str, str, int]]) -> ChangelogEntry:
        """Remember bets placed by the record at ``offset``: (source_id, bet_ref, occurred_at_us)."""
        self._add_bets(offset, bets)
        return self.prefix + b"bets|" + str(offset).encode(), orjson.dumps(bets)

    def expire_bets(self, older_than_us: int) -> list[ChangelogEntry]:
        """Forget bet batches whose newest bet is older than ``older_than_us``."""
        out: list[ChangelogEntry] = []
        while self.bet_expiry and self.bet_expiry[0][0] < older_than_us:
            _, offset = heapq.heappop(self.bet_expiry)
            for key in self.bet_batches.pop(offset, ()):
                if self.bets.get(key) == offset:
                    del self.bets[key]
            out.append((self.prefix + b"bets|" + str(offset).encode(), None))
        return out

    def _add_bets(self, offset: int, bets: list[tuple[str, str, int]]) -> None:
        keys = [(src, ref) for src, ref, _ in bets]
        for key in keys:
            self.bets[key] = offset
        self.bet_batches[offset] = keys
        heapq.heappush(self.bet_expiry, (max(t for _, _, t in bets), offset))

    # -- restore --

    def apply(self, key: bytes, value: bytes | None) -> None:
        """Replay one changelog entry of this partition (key includes the prefix)."""
        kind, _, ident = key[len(self.prefix):].partition(b"|")
        if kind == b"seq":
            if value is None:
                self.sources.pop(ident.decode(), None)
            else:
                self.sources[ident.decode()] = SeqSet.from_state(orjson.loads(value))
        elif kind == b"dig":
            offset_text, _, source = ident.partition(b"|")
            self._apply_digests(int(offset_text), source.decode(), value)
        elif kind == b"chain" and value is not None:
            doc = orjson.loads(value)
            self.chain = ChainHead(doc["i"], bytes.fromhex(doc["h"]))
        elif kind == b"bets":
            offset = int(ident)
            if value is None:
                for k in self.bet_batches.pop(offset, ()):
                    if self.bets.get(k) == offset:
                        del self.bets[k]
            else:
                self._add_bets(offset, [(s, r, t) for s, r, t in orjson.loads(value)])

    def _apply_digests(self, offset: int, source_id: str, value: bytes | None) -> None:
        if value is None:
            window = self.windows.get(source_id)
            if window is not None:
                window.drop(offset)
        elif (window := self.window(source_id)) is not None:
            doc = orjson.loads(value)
            window.load(offset, doc["r"], base64.b64decode(doc["d"]))
        if window is not None and not len(window) and not window.gone:
            del self.windows[source_id]
