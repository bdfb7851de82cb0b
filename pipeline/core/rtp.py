"""Slot RTP control: a sequential test of a machine's payouts against its certification.

An honest machine must not alarm whatever its volume, and looks are taken every bucket of
spins for the machine's whole life, so a fixed z threshold is not enough: its false alarms
add up with the looks. The test is an always-valid one (a mixture sequential probability
ratio test, as an e-process):

- Per spin with stake ``s`` and payout ``w >= 0``, under certification ``E[w] >= RTP x s``
  and ``E[w^2] <= m2 x s^2``, with ``m2`` the game's certified second moment of the payout
  per unit stake (its variance plus its squared mean). Because ``e^-x <= 1 - x + x^2/2`` for
  ``x >= 0``, the lower tail of a non-negative payout is sub-Gaussian with variance proxy
  ``E[w^2]`` (Maurer 2003), so for every ``lambda >= 0``
  ``exp(lambda x S - lambda^2 x V / 2)`` is a supermartingale for an honest machine, with
  ``S = RTP x stakes - paid`` (the shortfall) and ``V = m2 x sum s^2``.
- Mixing ``lambda`` over a half-normal of precision ``rho`` gives the e-process
  ``E = 2 sqrt(rho / (V + rho)) exp(S^2 / (2 (V + rho))) Phi(S / sqrt(V + rho))``
  (the one-sided normal mixture, Robbins 1970; Howard, Ramdas, McAuliffe and Sekhon 2021).
  By Ville's inequality an honest machine's ``E`` ever reaches ``1 / alpha`` with
  probability at most ``alpha``, however many looks and spins.
- Evidence from long ago dilutes a deviation that starts late, so tests are restarted: a new
  one every ``epoch_spins`` spins, the ``j``-th of a machine's life at level
  ``alpha / (j (j + 1))``, which sum to ``alpha`` (alpha spending). Two epoch tests live at a
  time, so a deviation is tested from at most one epoch of honest history before it; beside
  them the machine's long test (since its first spin, or its last resolved alert, when all
  restart) accumulates everything, for small deviations that need millions of spins.

``rho`` is chosen so that the test is sharpest near ``mixture_spins`` spins (fixed from the
stakes of a test's first bucket, not from its payouts). A game without a certified second
moment uses the observed ``sum w^2`` instead (a plug-in: the bound is then asymptotic).

The rolling window (``window_spins`` in buckets of ``bucket_spins``) gives the figures an
alert carries (observed RTP, z) and the resolution: an open alert resolves when the window's
``z = (W - RTP x S) / sqrt(sum w^2) > -z_resolve``, and the tests restart. The window's
observed RTP must also be at least ``min_deviation_points`` below certification over at least
``min_spins`` for an alert to open: a guard against alarming on a negligible shortfall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# A bucket: [spins, stakes, paid, paid squared, stakes squared] (kopecks; squares in float).
Bucket = list[float]
LIVE_TESTS = 2  # epoch tests, beside the long one


def _empty() -> Bucket:
    return [0.0, 0.0, 0.0, 0.0, 0.0]


def _bucket(b: list[float]) -> Bucket:
    """A stored bucket; one from before stakes squared were kept gets the even-stake estimate."""
    return list(b) if len(b) == 5 else [*b, b[1] * b[1] / b[0] if b[0] else 0.0]


def log_phi(x: float) -> float:
    """Log of the standard normal distribution function, without underflow in the far left tail."""
    if x > -30:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2)))
    return -x * x / 2 - math.log(-x) - 0.5 * math.log(2 * math.pi)  # Mills' ratio


def log_evidence(shortfall: float, variance: float, rho: float) -> float:
    """Log of the one-sided normal-mixture e-process at ``shortfall`` and intrinsic time ``variance``."""
    total = variance + rho
    return (math.log(2) + 0.5 * math.log(rho / total) + shortfall * shortfall / (2 * total)
            + log_phi(shortfall / math.sqrt(total)))


def level_of(index: int, alpha: float) -> float:
    """The level of a machine's ``index``-th test (1-based): the levels sum to ``alpha``."""
    return alpha / (index * (index + 1))


@dataclass
class SequentialTest:
    """One always-valid test, from its start: sums since then and its mixture's ``rho``."""

    index: int
    sums: Bucket = field(default_factory=_empty)
    rho: float = 0.0

    def add(self, b: Bucket) -> None:
        self.sums = [x + y for x, y in zip(self.sums, b, strict=True)]

    def log_e(self, rtp: float, m2: float | None, mixture_spins: float) -> float:
        spins, stakes, paid, paid_sq, stake_sq = self.sums
        variance = m2 * stake_sq if m2 is not None else paid_sq
        if spins <= 0 or variance <= 0:
            return 0.0 if spins <= 0 or paid >= rtp * stakes else math.inf
        if self.rho <= 0:  # fixed at the first look, from the stakes (and m2) only when m2 is known
            self.rho = variance / spins * mixture_spins
        return log_evidence(rtp * stakes - paid, variance, self.rho)

    def to_json(self) -> list[float]:
        return [self.index, self.rho, *self.sums]

    @classmethod
    def from_json(cls, doc: list[float]) -> SequentialTest:
        return cls(int(doc[0]), _bucket(doc[2:]), doc[1])


@dataclass
class Verdict:
    spins: int
    stakes: int
    paid: int
    observed_rtp: float
    certified_rtp: float
    z: float  # the window's
    log_e: float = 0.0  # the strongest live test's evidence
    log_threshold: float = math.inf  # log(1 / level) of that test
    test_spins: int = 0

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
    """One machine and game: the rolling window (closed buckets plus the one filling) and its tests."""

    closed: list[Bucket] = field(default_factory=list)
    current: Bucket = field(default_factory=_empty)
    tests: list[SequentialTest] = field(default_factory=list)
    started: int = 0  # tests started over the machine's life
    epoch: float = 0  # spins since the last test started

    def bet(self, stake: int) -> None:
        self.current[0] += 1
        self.current[1] += stake
        self.current[4] += float(stake) * stake

    def refund(self, amount: int) -> None:
        """A refunded stake was not played: it leaves the window (its square stays: conservative)."""
        self.current[1] -= amount

    def win(self, amount: int) -> None:
        self.current[2] += amount
        self.current[3] += float(amount) * amount

    def roll(self, bucket_spins: int, window_spins: int, epoch_spins: float = math.inf) -> bool:
        """Close the current bucket if full (keeping ``window_spins`` worth); True if one closed."""
        if self.current[0] < bucket_spins:
            return False
        self.close(self.current, window_spins, epoch_spins)
        self.current = _empty()
        return True

    def close(self, b: Bucket, window_spins: int, epoch_spins: float = math.inf) -> None:
        """Take a full bucket into the window and the live tests, starting a test each epoch."""
        if not self.tests:
            self.reset()
        elif self.epoch >= epoch_spins:
            self._start()
        for t in self.tests:
            t.add(b)
        self.epoch += b[0]
        self.closed.append(b)
        keep = max(int(window_spins // max(b[0], 1)), 1)
        del self.closed[:-keep]

    def reset(self) -> None:
        """Test afresh (first spins, or a resolved alert): one long test, on every spin from now."""
        self.tests = []
        self._start()

    def _start(self) -> None:
        """A new epoch's test; the long one stays, and the epoch tests beyond the live ones end."""
        self.started += 1
        new = SequentialTest(self.started)
        self.tests = [new] if not self.tests else [self.tests[0], *[*self.tests[1:], new][-LIVE_TESTS:]]
        self.epoch = 0

    def verdict(self, rtp: float, m2: float | None = None, alpha: float = 0.05,
                mixture_spins: float = 20_000) -> Verdict:
        spins = sum(b[0] for b in self.closed)
        stakes = sum(b[1] for b in self.closed)
        paid = sum(b[2] for b in self.closed)
        paid_sq = sum(b[3] for b in self.closed)
        observed = paid / stakes if stakes > 0 else 0.0
        v = Verdict(int(spins), int(stakes), int(paid), observed, rtp, z_score(stakes, paid, paid_sq, rtp))
        for t in self.tests:
            log_e = t.log_e(rtp, m2, mixture_spins)
            threshold = -math.log(level_of(t.index, alpha))
            if log_e - threshold >= v.log_e - v.log_threshold:
                v.log_e, v.log_threshold, v.test_spins = log_e, threshold, int(t.sums[0])
        return v

    def to_json(self) -> dict[str, Any]:
        return {"b": self.closed, "c": self.current, "t": [t.to_json() for t in self.tests],
                "n": self.started, "e": self.epoch}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MachineWindow:
        return cls([_bucket(b) for b in doc["b"]], _bucket(doc["c"]),
                   [SequentialTest.from_json(t) for t in doc.get("t", [])], doc.get("n", 0), doc.get("e", 0))


def is_deviant(v: Verdict, min_spins: float, min_deviation_points: float) -> bool:
    """The sequential test rejects certification, on a window of enough spins and a real shortfall."""
    return (v.spins >= min_spins and v.log_e >= v.log_threshold
            and v.deviation_points >= min_deviation_points)


def has_recovered(v: Verdict, z_resolve: float) -> bool:
    return v.z > -z_resolve
