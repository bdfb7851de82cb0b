"""What the validator remembers per ingest partition, and its changelog encoding.

State is partitioned like the input (one ingest topic partition), so any worker in the
consumer group can take a partition over by replaying that partition's changelog entries.
Entries are keyed ``<topic>|<partition>|<kind>|<id>`` on a compacted topic: the latest value
per key is the state; ``None`` (a tombstone) deletes.

Keys after the prefix, and their values:

- ``seq|<source_id>``: the source's decided seqs, ``{"s": starts, "e": ends, "x": expired_below}``;
- ``chain``: the hash chain head, ``{"i": index, "h": hex hash}``;
- ``bets|<offset>``: the bets the record at ``offset`` placed,
  ``[[source_id, bet_ref, occurred_at_us, stake], ...]`` (stake: the BET's amount, kopecks);
- ``refund|<offset>|<bet_ref>``: kopecks refunded so far on the bet ``bet_ref`` placed by the
  record at ``offset`` (written only once something is refunded).

A record has one source, so ``<offset>`` and ``bet_ref`` name one bet. A ``bets`` entry written
before stakes were kept has three fields per bet: its stake is unknown, and refunds on it are
not bounded (as before; such bets are gone a bet horizon after the upgrade). The ``refund``
keys of a bets batch are tombstoned with it when it expires.
"""

from __future__ import annotations

import base64
import heapq
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from pipeline.core.chain import ChainHead
from pipeline.core.conflicts import DEFAULT_WINDOW, ContentWindow
from pipeline.core.dedup import SeqSet

ChangelogEntry = tuple[bytes, bytes | None]
BetKey = tuple[str, str]  # (source_id, bet_ref)


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
    bets: dict[BetKey, int] = field(default_factory=dict)
    # open bet -> its stake (the BET's amount, kopecks); absent: unknown (an old-format entry)
    stakes: dict[BetKey, int] = field(default_factory=dict)
    # open bet -> kopecks refunded on it so far; only bets refunded at least once
    refunded: dict[BetKey, int] = field(default_factory=dict)
    bet_batches: dict[int, list[BetKey]] = field(default_factory=dict)
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

    def place_bet(self, offset: int, key: BetKey, stake: int) -> None:
        """An accepted BET, visible to the record's later events at once (``add_bets`` follows)."""
        self.bets[key] = offset
        self.stakes[key] = stake

    def refundable(self, key: BetKey) -> tuple[int, int] | None:
        """(stake, refunded so far) of an open bet, or None if its stake is unknown."""
        stake = self.stakes.get(key)
        return None if stake is None else (stake, self.refunded.get(key, 0))

    def refund(self, key: BetKey, amount: int) -> None:
        """An accepted REFUND of an open bet whose stake is known."""
        self.refunded[key] = self.refunded.get(key, 0) + amount

    def refund_entry(self, key: BetKey) -> ChangelogEntry:
        """The entry of what has been refunded on ``key`` so far."""
        return self._refund_key(self.bets[key], key[1]), orjson.dumps(self.refunded[key])

    def add_bets(self, offset: int, bets: list[tuple[str, str, int, int]]) -> ChangelogEntry:
        """Remember bets placed by the record at ``offset``: (source_id, bet_ref, occurred_at_us, stake)."""
        self._add_bets(offset, bets)
        return self.prefix + b"bets|" + str(offset).encode(), orjson.dumps(bets)

    def expire_bets(self, older_than_us: int) -> list[ChangelogEntry]:
        """Forget bet batches whose newest bet is older than ``older_than_us``.

        Each batch's tombstone is followed by those of its bets' refund entries.
        """
        out: list[ChangelogEntry] = []
        while self.bet_expiry and self.bet_expiry[0][0] < older_than_us:
            _, offset = heapq.heappop(self.bet_expiry)
            out.append((self.prefix + b"bets|" + str(offset).encode(), None))
            out.extend((self._refund_key(offset, ref), None) for ref in self._drop_batch(offset))
        return out

    def _refund_key(self, offset: int, bet_ref: str) -> bytes:
        return self.prefix + b"refund|" + str(offset).encode() + b"|" + bet_ref.encode()

    def _drop_batch(self, offset: int) -> list[str]:
        """Forget the batch at ``offset`` (its bets still placed there); the refunded ones' bet_refs."""
        refunded: list[str] = []
        for key in self.bet_batches.pop(offset, ()):
            if self.bets.get(key) == offset:
                del self.bets[key]
                self.stakes.pop(key, None)
                if self.refunded.pop(key, None) is not None:
                    refunded.append(key[1])
        return refunded

    def _add_bets(self, offset: int, bets: Sequence[tuple[str, str, int, int | None]]) -> None:
        keys: list[BetKey] = []
        for src, ref, _, stake in bets:
            key = (src, ref)
            keys.append(key)
            if self.bets.get(key, offset) != offset:
                self.refunded.pop(key, None)  # placed again elsewhere: a new bet, nothing refunded
            self.bets[key] = offset
            if stake is None:
                self.stakes.pop(key, None)
            else:
                self.stakes[key] = stake
        self.bet_batches[offset] = keys
        heapq.heappush(self.bet_expiry, (max(bet[2] for bet in bets), offset))

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
                self._drop_batch(offset)
            else:  # [source, bet_ref, time, stake]; [source, bet_ref, time] before stakes were kept
                self._add_bets(offset, [(s, r, t, rest[0] if rest else None)
                                        for s, r, t, *rest in orjson.loads(value)])
        elif kind == b"refund":
            at, _, ref = ident.partition(b"|")
            offset = int(at)
            batch = self.bet_batches.get(offset)
            bet = (batch[0][0], ref.decode()) if batch else None  # a record has one source
            if bet is None or self.bets.get(bet) != offset:
                return  # the bet is not open (any more): nothing to bound
            if value is None:
                self.refunded.pop(bet, None)
            else:
                self.refunded[bet] = orjson.loads(value)

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
