"""Exact deduplication by event ID (source, seq) in memory bounded by sequence gaps, not events.

Each source numbers its events 1, 2, 3, ... The seqs already decided are kept as a sorted
list of disjoint closed intervals: in-order traffic only extends the last interval, so a
source costs one interval plus one per gap still open. When a source has more open gaps
than allowed, the oldest region (its first interval and gap) is forgotten, and an event that later arrives
there is rejected (``sequence_gap_expired``): a gap is never silently treated as decided.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from enum import Enum


class Seen(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    GAP_EXPIRED = "gap_expired"


@dataclass
class SeqSet:
    """Decided seqs of one source: ``starts[i]..ends[i]`` inclusive, sorted and disjoint.

    ``expired_below``: seqs under it that are not in an interval were forgotten.
    """

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    expired_below: int = 0

    def check(self, seq: int) -> Seen:
        i = bisect_right(self.starts, seq) - 1
        if i >= 0 and seq <= self.ends[i]:
            return Seen.DUPLICATE
        if seq < self.expired_below:
            return Seen.GAP_EXPIRED
        return Seen.NEW

    def take(self, seq: int) -> Seen:
        """``check`` and, when NEW, ``add``: the in-order case (the next seq) costs no search."""
        if self.ends and seq == self.ends[-1] + 1:
            self.ends[-1] = seq
            return Seen.NEW
        seen = self.check(seq)
        if seen is Seen.NEW:
            self.add(seq)
        return seen

    def add(self, seq: int) -> None:
        """Mark ``seq`` decided (it must be NEW)."""
        i = bisect_right(self.starts, seq) - 1
        joins_left = i >= 0 and self.ends[i] == seq - 1
        joins_right = i + 1 < len(self.starts) and self.starts[i + 1] == seq + 1
        if joins_left and joins_right:
            self.ends[i] = self.ends[i + 1]
            del self.starts[i + 1], self.ends[i + 1]
        elif joins_left:
            self.ends[i] = seq
        elif joins_right:
            self.starts[i + 1] = seq
        else:
            self.starts.insert(i + 1, seq)
            self.ends.insert(i + 1, seq)

    @property
    def open_gaps(self) -> int:
        if not self.starts:
            return 0
        # Seqs start at 1: a first interval above 1 (and above the expired mark) has a gap before it.
        leading = 1 if self.starts[0] > max(1, self.expired_below) else 0
        return len(self.starts) - 1 + leading

    def close_oldest_gaps(self, max_open: int) -> int:
        """Forget the oldest region until at most ``max_open`` gaps stay open; return seqs expired.

        Seqs in a forgotten region, decided or not, are then answered GAP_EXPIRED.
        """
        expired = 0
        while self.open_gaps > max_open:
            lo = max(1, self.expired_below)
            if self.starts[0] > lo:
                expired += self.starts[0] - lo
            else:
                expired += self.starts[1] - self.ends[0] - 1
                del self.starts[0], self.ends[0]
            self.expired_below = self.starts[0]
        return expired

    def to_state(self) -> dict[str, object]:
        return {"s": self.starts, "e": self.ends, "x": self.expired_below}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> SeqSet:
        starts, ends, expired = state["s"], state["e"], state["x"]
        assert isinstance(starts, list) and isinstance(ends, list) and isinstance(expired, int)
        return cls(list(starts), list(ends), expired)
