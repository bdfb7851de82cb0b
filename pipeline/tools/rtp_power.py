"""Slot RTP control: false alarms at any volume and spins needed to detect a shortfall, by simulation.

``python -m pipeline.tools.rtp_power [machines]`` plays the simulator's slot game (odds 2, 3
or 5 with exponential payouts: a win pays stake x odds x Exp(1) with probability RTP / odds;
certified 94 %, second moment 2 x RTP x mean odds = 6.27 stake^2) bucket by bucket and applies
the alerts agent's own decision (:mod:`pipeline.core.rtp`, params from the rules file) at
every bucket close. It prints:

- honest machines: the share that ever alerted by 100,000 spins, 1, 3 and 10 million;
- machines paying 1, 3 and 5 points less from their first spin: the share alerted by 100,000
  spins and the spins to the first alert (median, 80th percentile);
- machines honest for 5.5 million spins, then paying 3 or 5 points less: spins after the change.

A bucket is drawn exactly, not spin by spin: per odds, the spins are multinomial, the wins
binomial and their payouts' sum a Gamma (a sum of exponentials); only the squares of the
payouts (which the window's z for resolving uses, not the test) are drawn from their normal
approximation. docs/alerts.md quotes the figures.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from pipeline.core.alert_rules import AlertRules, Params
from pipeline.core.rtp import MachineWindow, is_deviant
from pipeline.settings import Settings

CERTIFIED = 0.94
ODDS = np.array([2.0, 3.0, 5.0])
M2 = 2 * CERTIFIED * float(ODDS.mean())  # the certified E[w^2] / stake^2
STAKE = 100  # kopecks: the test is scale-free


def buckets(rng: np.random.Generator, rtp: float, n: int, size: int) -> np.ndarray:
    """``n`` buckets of ``size`` spins at ``rtp``: rows [spins, stakes, paid, paid^2, stakes^2]."""
    per_odds = rng.multinomial(size, [1 / 3] * 3, n)  # (n, 3)
    wins = rng.binomial(per_odds, rtp / ODDS)
    unit = ODDS * STAKE
    paid = (rng.gamma(wins.astype(float)) * unit).sum(axis=1)
    sq = np.maximum(rng.normal(2 * wins, np.sqrt(20 * wins)), 0) * unit * unit  # sum Exp^2: mean 2k, var 20k
    out = np.empty((n, 5))
    out[:, 0], out[:, 1], out[:, 2], out[:, 3], out[:, 4] = (
        size,
        size * STAKE,
        paid,
        sq.sum(axis=1),
        size * STAKE**2,
    )
    return out


def first_alert(bs: np.ndarray, p: Params, start: int = 0) -> int | None:
    """The spins (after bucket ``start``) at which the agent's decision first alerts; None: never."""
    w = MachineWindow()
    window, epoch = int(p["window_spins"]), p["epoch_spins"]
    for i, b in enumerate(bs.tolist()):
        w.close(b, window, epoch)
        v = w.verdict(CERTIFIED, M2, p["alpha"], p["mixture_spins"])
        if is_deviant(v, p["min_spins"], p["min_deviation_points"]):
            return int((i + 1 - start) * b[0])
    return None


def share(hits: list[int | None], by: int) -> float:
    return sum(1 for h in hits if h is not None and h <= by) / len(hits)


def quantile(hits: list[int | None], q: float) -> str:
    ordered = sorted(math.inf if h is None else h for h in hits)
    x = ordered[min(int(q * len(ordered)), len(ordered) - 1)]
    return "never" if x == math.inf else f"{x:,.0f}"


def wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    p = k / n
    return (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def main(machines: int = 400, honest_spins: int = 10_000_000) -> None:
    started = time.process_time()
    p = AlertRules.load(Settings().alerts.rules_path).at("rtp_deviation", 0)
    size = int(p["bucket_spins"])
    rng = np.random.default_rng(17)
    print(
        f"test: mixture SPRT, alpha {p['alpha']:g} per machine's life, sharpest near "
        f"{p['mixture_spins']:,.0f} spins, restarted every {p['epoch_spins']:,.0f}; looks every "
        f"{size:,} spins; window {p['window_spins']:,.0f} spins (>= {p['min_spins']:,.0f}, "
        f">= {p['min_deviation_points']:g} point below); {machines} machines each"
    )
    n = honest_spins // size
    honest = [first_alert(buckets(rng, CERTIFIED, n, size), p) for _ in range(machines)]
    for by in (100_000, 1_000_000, 3_000_000, honest_spins):
        k = round(share(honest, by) * machines)
        print(
            f"honest: {k} of {machines} alerted by {by:,} spins ({k / machines:.2%}, "
            f"95 % upper bound {wilson_upper(k, machines):.2%})"
        )
    for points in (1, 3, 5):
        rtp = CERTIFIED - points / 100
        horizon = 2_000_000 if points > 1 else 10_000_000
        hits = [first_alert(buckets(rng, rtp, horizon // size, size), p) for _ in range(machines)]
        print(
            f"{points} points below from the start: {share(hits, 100_000):.1%} alerted by 100,000 spins, "
            f"{share(hits, 200_000):.1%} by 200,000; spins to alert: median {quantile(hits, 0.5)}, "
            f"80 % {quantile(hits, 0.8)} (horizon {horizon:,})"
        )
    before = 5_500_000 // size  # mid-epoch: half an epoch of honest history in the newest test
    for points in (3, 5):
        rtp = CERTIFIED - points / 100
        hits = [
            first_alert(
                np.vstack(
                    [buckets(rng, CERTIFIED, before, size), buckets(rng, rtp, 2_000_000 // size, size)]
                ),
                p,
                before,
            )
            for _ in range(machines // 4)
        ]
        print(
            f"{points} points below after 5,500,000 honest spins: spins after the change to alert: "
            f"median {quantile(hits, 0.5)}, 80 % {quantile(hits, 0.8)} ({machines // 4} machines)"
        )
    print(f"CPU {time.process_time() - started:.0f} s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
