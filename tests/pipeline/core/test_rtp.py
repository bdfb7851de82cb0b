"""The slot RTP test: the mixture e-process, alpha spent over restarts, and its state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.core.rtp import LIVE_TESTS, MachineWindow, is_deviant, level_of, log_evidence, log_phi
from pipeline.tools.rtp_power import CERTIFIED, M2, buckets

ALPHA, MIXTURE = 0.05, 20_000.0


def test_log_evidence_is_the_half_normal_mixture_of_the_exponential_supermartingales() -> None:
    # Integrate exp(l S - l^2 V / 2) against the half-normal of precision rho numerically.
    s, v, rho = 3.0, 2.0, 0.5
    step = 1e-4
    lam = np.arange(step / 2, 20, step)
    density = 2 * np.sqrt(rho / (2 * np.pi)) * np.exp(-rho * lam**2 / 2)
    numeric = float(np.sum(np.exp(lam * s - lam**2 * v / 2) * density) * step)
    assert log_evidence(s, v, rho) == pytest.approx(math.log(numeric), rel=1e-6)
    # No shortfall is no evidence; paying more than certified is less than none.
    assert log_evidence(0.0, v, rho) < 0 and log_evidence(-50.0, v, rho) < log_evidence(0.0, v, rho)
    assert math.isfinite(log_evidence(-1e6, v, rho))  # far left tail: no log(0)
    assert log_phi(-29.9999) == pytest.approx(log_phi(-30.0001), rel=1e-4)  # the tail formula joins on


def test_the_restarted_tests_levels_add_up_to_alpha() -> None:
    assert level_of(1, ALPHA) == ALPHA / 2
    assert sum(level_of(j, ALPHA) for j in range(1, 100_001)) == pytest.approx(ALPHA, rel=1e-4)
    assert sum(level_of(j, ALPHA) for j in range(1, 100_001)) < ALPHA


def test_a_long_test_two_epoch_tests_and_a_fresh_start_after_a_resolved_alert() -> None:
    w = MachineWindow()
    bucket = [1_000.0, 100_000.0, 94_000.0, 6e6, 1e7]
    for _ in range(35):
        w.close(list(bucket), 10_000, epoch_spins=10_000)
    assert w.started == 4 and len(w.tests) == 1 + LIVE_TESTS
    assert [(t.index, t.sums[0]) for t in w.tests] == [(1, 35_000), (3, 15_000), (4, 5_000)]
    again = MachineWindow.from_json(w.to_json())
    assert again.to_json() == w.to_json()
    w.reset()
    assert [t.index for t in w.tests] == [5] and w.epoch == 0
    old = MachineWindow.from_json({"b": [[10.0, 1000.0, 900.0, 1e5]], "c": [0.0, 0.0, 0.0, 0.0]})
    assert old.closed == [[10.0, 1000.0, 900.0, 1e5, 1e5]] and old.tests == []  # even stakes assumed


def first_alert(rtp_before: float, before: int, rtp_after: float, after: int, seed: int) -> int | None:
    """Buckets of 10,000 spins: ``before`` at ``rtp_before`` then ``after``; the spins of the first alert."""
    rng = np.random.default_rng(seed)
    bs = np.vstack([buckets(rng, rtp_before, before, 10_000), buckets(rng, rtp_after, after, 10_000)])
    w = MachineWindow()
    for i, b in enumerate(bs.tolist(), start=1):
        w.close(b, 100_000, 250_000)
        if is_deviant(w.verdict(CERTIFIED, M2, ALPHA, MIXTURE), 20_000, 1.0):
            return i * 10_000
    return None


def test_honest_machines_stay_quiet_and_shortfalls_are_found_early_or_late() -> None:
    honest = [first_alert(CERTIFIED, 300, CERTIFIED, 0, seed) for seed in range(40)]  # 3 M spins each
    assert sum(h is not None for h in honest) <= 2  # alpha 5 % bounds the expectation at 2
    rigged = [first_alert(CERTIFIED - 0.03, 20, CERTIFIED, 0, 100 + seed) for seed in range(20)]
    assert sum(h is not None and h <= 100_000 for h in rigged) >= 12  # power about 80 % at 100,000
    # 2.62 M honest spins (120,000 into an epoch), then 5 points less: restarts keep the history short.
    late = sorted(first_alert(CERTIFIED, 262, CERTIFIED - 0.05, 40, 200 + s) or 10**9 for s in range(10))
    assert 2_620_000 < late[0] and late[4] <= 2_620_000 + 120_000 and late[-1] <= 2_620_000 + 200_000
