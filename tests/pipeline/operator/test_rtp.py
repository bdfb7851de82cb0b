"""Return to player and win shapes of long runs, per licence kind."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pytest

from pipeline.core.model import LicenceKind
from pipeline.operator.fleet import PROFILES, SPORTS_ODDS, UAH, Profile
from pipeline.operator.simulator import OperatorSimulator
from tests.pipeline.operator.conftest import NOW, REGISTRY

SETTLED = 1_500  # a bet this many seqs before the source's last is settled (settle_after <= 600)


@dataclass
class Run:
    profile: Profile
    stakes: list[tuple[str, int, int, int]] = field(default_factory=list)  # game, stake, refund, win
    bets: int = 0


def long_run(kind: LicenceKind, batches: int = 300) -> Run:
    op = next(o for o in REGISTRY.operators if o.licences[0].kind == kind)
    sim = OperatorSimulator(op, PROFILES[kind], seed=f"rtp/{kind}", batch_size=200, bad_share=0,
                            duplicate_share=0, late_share=0)
    bets: dict[tuple[str, str], tuple[int, str, int]] = {}
    wins: dict[tuple[str, str], int] = {}
    refunds: dict[tuple[str, str], int] = {}
    last: Counter[str] = Counter()
    for _ in range(batches):
        batch = sim.next_batch(NOW)
        for ev in batch.events:
            key = (batch.source_id, ev["bet_ref"])
            last[batch.source_id] = max(last[batch.source_id], ev["seq"])
            if ev["kind"] == "BET":
                bets[key] = (ev["seq"], ev["game_type"], ev["amount"])
            elif ev["kind"] == "WIN":
                wins[key] = ev["amount"]
            elif ev["kind"] == "REFUND":
                refunds[key] = ev["amount"]
    run = Run(PROFILES[kind], bets=len(bets))
    for key, (seq, game, stake) in bets.items():
        if seq <= last[key[0]] - SETTLED:
            run.stakes.append((game, stake, refunds.get(key, 0), wins.get(key, 0)))
    return run


@pytest.fixture(scope="module", params=list(LicenceKind))
def run(request: pytest.FixtureRequest) -> Run:
    return long_run(request.param)


def test_return_to_player_of_a_long_run_is_in_the_profile_range(run: Run) -> None:
    rtp_of = {g.name: g.rtp for g in run.profile.games}
    net = sum(stake - refund for _, stake, refund, _ in run.stakes)
    paid = sum(win for *_, win in run.stakes)
    realised = paid / net
    # Standard error of a ratio estimate: each bet's payout against its game's expected return.
    deviations = ((win - rtp_of[g] * (stake - refund)) ** 2 for g, stake, refund, win in run.stakes)
    se = math.sqrt(sum(deviations)) / net
    expected = sum(rtp_of[g] * (stake - refund) for g, stake, refund, _ in run.stakes) / net
    lo, hi = run.profile.rtp_range
    assert lo <= expected <= hi
    assert se < 0.03, "the run is too short to say anything"
    assert abs(realised - expected) <= 4 * se, (realised, expected, se)
    assert lo - 4 * se <= realised <= hi + 4 * se


def test_bets_win_and_are_refunded_as_often_as_the_profile_says(run: Run) -> None:
    by_game: dict[str, list[tuple[int, int, int]]] = {}
    for g, stake, refund, win in run.stakes:
        by_game.setdefault(g, []).append((stake, refund, win))
    refunded = sum(1 for _, _, refund, _ in run.stakes if refund)
    n = len(run.stakes)
    share = run.profile.refund_share
    assert abs(refunded / n - share) <= 4 * math.sqrt(share * (1 - share) / n) + 1e-9
    for game in run.profile.games:
        played = [(s, w) for s, r, w in by_game[game.name] if not r]
        p = game.win_probability
        won = sum(1 for _, w in played if w)
        assert abs(won / len(played) - p) <= 4 * math.sqrt(p * (1 - p) / len(played)), game.name


def test_stakes_are_realistic(run: Run) -> None:
    p = run.profile
    stakes = sorted(stake for _, stake, _, _ in run.stakes)
    assert all(stake % 50 == 0 and stake >= p.stake_min for stake in stakes)
    above = sum(1 for s in stakes if s > p.stake_max)
    assert above <= 10 * p.jumbo_share * len(stakes) + 3 and stakes[-1] <= p.jumbo_max
    median = stakes[len(stakes) // 2]
    assert 0.7 * p.stake_median <= median <= 1.3 * p.stake_median


def test_sports_bets_pay_stake_times_odds() -> None:
    run = long_run(LicenceKind.BOOKMAKING, batches=60)
    multiples = {round(win / stake, 2) for g, stake, refund, win in run.stakes if win and g == "sports"}
    assert multiples and all(min(abs(m - o) for o in SPORTS_ODDS) < 0.01 for m in multiples)


def test_the_brief_stake_ranges() -> None:
    assert (PROFILES[LicenceKind.ONLINE_CASINO].stake_min, PROFILES[LicenceKind.ONLINE_CASINO].stake_max) == (
        5 * UAH, 500 * UAH)
    assert (PROFILES[LicenceKind.BOOKMAKING].stake_min, PROFILES[LicenceKind.BOOKMAKING].stake_max) == (
        50 * UAH, 5_000 * UAH)
