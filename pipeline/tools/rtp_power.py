"""Slot RTP control: spins needed to detect a shortfall, power and false alarms, by simulation.

``python -m pipeline.tools.rtp_power [trials]`` plays the simulator's slot game (odds 2, 3 or
5 with exponential payouts: a win pays stake x odds x Exp(1), with probability RTP / odds) on
machines certified at 94 % that pay 1, 3 or 5 points less, and on honest ones, and applies the
alerts agent's own test (:mod:`pipeline.core.rtp`: its window, buckets, z and thresholds from
the rules file) at every bucket close. It prints, per deviation, the spins the test needs
(analytic, no window: 50 % and 80 % power), the share of machines alerted by 100,000, 200,000
and 500,000 spins, and the honest machines' false alarms. docs/alerts.md quotes its figures.
Only the spins are drawn with numpy; the decision is the core's.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from pipeline.core.alert_rules import AlertRules
from pipeline.core.rtp import MachineWindow, is_deviant
from pipeline.settings import AlertSettings

CERTIFIED = 0.94
ODDS = np.array([2.0, 3.0, 5.0])
STAKE = 100  # kopecks: the test is scale-free


def buckets(rng: np.random.Generator, rtp: float, spins: int, size: int) -> list[list[float]]:
    """``spins`` spins at ``rtp`` as the window's buckets: [spins, stakes, paid, paid squared]."""
    odds = ODDS[rng.integers(0, 3, spins)]
    won = rng.random(spins) < rtp / odds
    paid = np.where(won, np.maximum(1, np.rint(STAKE * odds * rng.exponential(1.0, spins))), 0.0)
    return [[float(size), float(size * STAKE), float(b.sum()), float((b * b).sum())]
            for b in paid.reshape(-1, size)]


def first_alert(rng: np.random.Generator, rtp: float, horizon: int, rules: AlertRules) -> int | None:
    """The spins after which the agent's test first alerts (None: not within ``horizon``)."""
    p = rules.at("rtp_deviation", 0)
    size, window = int(p["bucket_spins"]), int(p["window_spins"])
    w = MachineWindow()
    for i, b in enumerate(buckets(rng, rtp, horizon, size), start=1):
        w.closed.append(b)
        del w.closed[: -max(window // size, 1)]
        if is_deviant(w.verdict(CERTIFIED), p["min_spins"], p["z_open"], p["min_deviation_points"]):
            return i * size
    return None


def needed(points: float, z: float) -> int:
    """Spins for the mean z to reach ``z`` (no window): (z x sqrt(E[w^2]) / shortfall)^2, stake 1."""
    rtp = CERTIFIED - points / 100
    second_moment = 2 * rtp * float(ODDS.mean())  # E[w^2] = sum over odds of (rtp/o)(o^2)(2) / 3
    return math.ceil((z * math.sqrt(second_moment) / (points / 100)) ** 2)


def main(trials: int = 400) -> None:
    rules = AlertRules.load(AlertSettings().rules_path)
    p = rules.at("rtp_deviation", 0)
    rng = np.random.default_rng(17)
    z80 = p["z_open"] + 0.8416
    print(f"test: z <= -{p['z_open']:g} and >= {p['min_deviation_points']:g} point below, window "
          f"{p['window_spins']:,.0f} spins in buckets of {p['bucket_spins']:,.0f}, "
          f"from {p['min_spins']:,.0f}; {trials} machines each")
    horizons = (100_000, 200_000, 500_000)
    for points in (1, 3, 5):
        hits = [first_alert(rng, CERTIFIED - points / 100, horizons[-1], rules) for _ in range(trials)]
        shares = ", ".join(f"{sum(1 for h in hits if h is not None and h <= n) / trials:.1%} by {n:,}"
                           for n in horizons)
        print(f"{points} points below: needs {needed(points, p['z_open']):,} spins (50 %), "
              f"{needed(points, z80):,} (80 %) without a window; alerted {shares}")
    honest = [first_alert(rng, CERTIFIED, 1_000_000, rules) for _ in range(trials)]
    looks = trials * (1_000_000 // int(p["bucket_spins"]) - 1)
    false = sum(1 for h in honest if h is not None)
    print(f"honest: {false} of {trials} machines alerted within 1,000,000 spins ({looks:,} looks)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
