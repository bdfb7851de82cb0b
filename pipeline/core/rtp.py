"""Slot RTP control: a machine's payouts over a rolling window of spins, tested against its certification.

The test, per machine and game: over the window's spins with stakes ``s_i`` and payouts
``w_i`` (a WIN attributed to the machine; most spins pay nothing), under certification the
expected total paid is ``RTP x S`` (``S`` = the stakes). Given the stakes, the variance of the
total paid is ``sum Var(w_i) <= sum E[w_i^2]``, estimated by the window's own ``sum w_j^2``:

    z = (W - RTP x S) / sqrt(sum w_j^2)

This accounts for volume (z grows with the square root of the spins for a given deviation) and
for the game's variance (a game with rare big wins has a large ``sum w^2`` and needs more spins),
and needs no pairing of each WIN with its BET. The bound makes the test slightly conservative.
An alert opens when, over at least ``min_spins``, ``z <= -z_open`` and the observed RTP is at
least ``min_deviation_points`` below certification; it resolves when ``z > -z_resolve``. The
window is ``window_spins`` in buckets of ``bucket_spins``; it is evaluated when a bucket closes,
so the number of looks (and the false alarms over a machine's life) grows with spins / bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

Bucket = list[float]  # [spins, stakes, paid, paid squared] (kopecks; squares in float)


@dataclass
class Verdict:
    spins: int
    stakes: int
    paid: int
    observed_rtp: float
    certified_rtp: float
    z: float

    @property
    def deviation_points(self) -> float:
        return (self.certified_rtp - self.observed_rtp) * 100


def z_score(stakes: float, paid: float, paid_sq: float, rtp: float) -> float:
    """The standardised shortfall of ``paid`` against ``rtp x stakes`` (negative: pays too little)."""
    if paid_sq <= 0:
        # Nothing paid at all: the variance bound is 0; use one average win's worth as the scale.
        return -math.inf if stakes > 0 else 0.0
    return (paid - rtp * stakes) / math.sqrt(paid_sq)


@dataclass
class MachineWindow:
    """The rolling window of one machine and game: closed buckets plus the one filling."""

    closed: list[Bucket] = field(default_factory=list)
    current: Bucket = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])

    def bet(self, stake: int) -> None:
        self.current[0] += 1
        self.current[1] += stake

    def refund(self, amount: int) -> None:
        """A refunded stake was not played: it leaves the window (and so does its spin if whole)."""
        self.current[1] -= amount

    def win(self, amount: int) -> None:
        self.current[2] += amount
        self.current[3] += float(amount) * amount

    def roll(self, bucket_spins: int, window_spins: int) -> bool:
        """Close the current bucket if full (keeping ``window_spins`` worth); True if one closed."""
        if self.current[0] < bucket_spins:
            return False
        self.closed.append(self.current)
        self.current = [0.0, 0.0, 0.0, 0.0]
        keep = max(window_spins // max(bucket_spins, 1), 1)
        del self.closed[:-keep]
        return True

    def verdict(self, rtp: float) -> Verdict:
        spins = sum(b[0] for b in self.closed)
        stakes = sum(b[1] for b in self.closed)
        paid = sum(b[2] for b in self.closed)
        paid_sq = sum(b[3] for b in self.closed)
        observed = paid / stakes if stakes > 0 else 0.0
        return Verdict(int(spins), int(stakes), int(paid), observed, rtp, z_score(stakes, paid, paid_sq, rtp))

    def to_json(self) -> dict[str, Any]:
        return {"b": self.closed, "c": self.current}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MachineWindow:
        return cls([list(b) for b in doc["b"]], list(doc["c"]))


def is_deviant(v: Verdict, min_spins: float, z_open: float, min_deviation_points: float) -> bool:
    return v.spins >= min_spins and v.z <= -z_open and v.deviation_points >= min_deviation_points


def has_recovered(v: Verdict, z_resolve: float) -> bool:
    return v.z > -z_resolve
