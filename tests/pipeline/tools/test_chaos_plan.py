"""The chaos harness's pure parts: its fault schedule, the outcome check, recovery times."""

from __future__ import annotations

import math

import pytest

from pipeline.operator.simulator import SimBatch
from pipeline.tools.chaos_plan import (
    FREEZE_BROKER,
    KILL_BROKER,
    KILL_SINK_AFTER_INSERT,
    RESTART_DURING_REBALANCE,
    Expected,
    Plan,
    compare,
    recovery_times,
    schedule,
    summary,
    worker_sigkills,
)


def test_the_schedule_has_every_fault_asked_for_on_valid_targets() -> None:
    plan = Plan(workers=3)
    faults = schedule(plan, seed=1)
    kinds = [f.kind for f in faults]
    assert worker_sigkills(faults) == 20
    assert kinds.count(KILL_BROKER) == kinds.count(FREEZE_BROKER) == 1
    assert kinds.count(RESTART_DURING_REBALANCE) == 1
    assert kinds.count(KILL_SINK_AFTER_INSERT) == 2
    assert all(plan.min_gap_s <= f.after_s <= plan.max_gap_s for f in faults)
    assert len({f.after_s for f in faults}) > 10  # random moments, not a fixed beat
    for f in faults:
        if f.kind in (KILL_BROKER, FREEZE_BROKER):
            assert 1 <= f.target <= 3 and f.hold_s in (plan.broker_down_s, plan.freeze_s)
        else:
            assert 0 <= f.target < 3 and f.hold_s == 0


def test_the_schedule_is_random_but_repeatable() -> None:
    plan = Plan(workers=2, worker_kills=4, sink_after_insert=1, agent_before_commit=0)
    assert schedule(plan, 7) == schedule(plan, 7)
    assert schedule(plan, 7) != schedule(plan, 8)


def test_impossible_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="crash-point"):
        schedule(Plan(workers=2, worker_kills=2), seed=1)
    with pytest.raises(ValueError, match="two workers"):
        schedule(Plan(workers=1), seed=1)


def _batch(source: str, seqs: range, bad: int | None = None, duplicates: int = 0) -> SimBatch:
    expected = {(source, s): (("REJECTED", "amount_out_of_range") if s == bad else ("ACCEPTED", None))
                for s in seqs}
    return SimBatch(source, [], expected=expected, duplicates=duplicates)


def test_the_comparison_finds_lost_doubled_and_wrong_events() -> None:
    exp = Expected()
    assert exp.add("op", _batch("s", range(1, 4), bad=3, duplicates=1)) == [("op", "s", 1), ("op", "s", 2),
                                                                            ("op", "s", 3)]
    with pytest.raises(ValueError):
        exp.add("op", _batch("s", range(3, 4)))
    acc = {("op", "s", 1): 1, ("op", "s", 2): 1}
    outcomes = {k: v for k, v in exp.events.items()}
    perfect = compare(exp, {k: 1 for k in exp.events}, outcomes, {}, acc, acc)
    assert perfect.ok and perfect.lost == perfect.doubled == 0 and perfect.accepted == 2

    bad = compare(exp, {("op", "s", 1): 2, ("op", "s", 3): 1, ("op", "x", 9): 1},
                  {**outcomes, ("op", "s", 3): ("ACCEPTED", None)}, {("op", "too_big"): 1},
                  {("op", "s", 1): 1}, {("op", "s", 1): 1, ("op", "s", 2): 3})
    assert not bad.ok
    assert (bad.no_receipt, bad.extra_receipts, bad.unexpected_receipts, bad.wrong_outcome) == (1, 1, 1, 1)
    assert bad.record_level_diff == 1 and bad.archive_missing == 1 and bad.clickhouse_doubled == 2
    assert bad.lost == 1 and bad.doubled == 2


def test_recovery_is_until_the_last_late_event_around_the_fault_was_done() -> None:
    k = [("op", "s", i) for i in range(6)]
    sent = {k[0]: 0.0, k[1]: 9.5, k[2]: 11.0, k[3]: 12.0, k[4]: 31.0, k[5]: 40.0}
    done = {k[0]: 0.5, k[1]: 18.0, k[2]: 16.0, k[3]: 12.5, k[4]: 31.5}
    # fault at 10: k1 (sent just before) and k2 late, k3 not; k1 done last, 8 s after the fault.
    # fault at 30: nothing late. fault at 35: k5 never done.
    assert recovery_times([30.0, 10.0, 35.0], sent, done, bound_s=2.0) == [8.0, 0.0, None]
    s = summary([8.0, 0.0, None, 2.0])
    assert s["n"] == 3 and s["p50_s"] == 2.0 and s["max_s"] == 8.0 and s["unknown"] == 1
    assert math.isnan(summary([])["max_s"])


def test_the_make_chaos_and_make_test_plans_hold_what_the_issue_asks() -> None:
    from pipeline.tools.chaos_plan import FULL, SHORT

    full = schedule(FULL, seed=1)
    assert worker_sigkills(full) >= 20 and {f.kind for f in full} >= {KILL_BROKER, FREEZE_BROKER}
    short = schedule(SHORT, seed=1)
    assert 3 <= worker_sigkills(short) <= 5 and {f.kind for f in short} >= {KILL_BROKER, FREEZE_BROKER}
    assert all(f.hold_s > 10.0 for f in short if f.kind == FREEZE_BROKER)  # beyond the session timeout


def test_caught_up_compares_what_was_sent_long_enough_ago() -> None:
    from pipeline.tools.chaos_plan import caught_up

    progress = [(10.0, 100, 90), (11.0, 200, 180), (12.0, 300, 270)]
    assert caught_up(progress, 0, 0, now=14.0, bound_s=5.0)  # nothing sent before 9.0
    assert not caught_up(progress, 199, 180, now=16.5, bound_s=5.0)  # 200 sent by 11.0
    assert not caught_up(progress, 200, 179, now=16.5, bound_s=5.0)
    assert caught_up(progress, 200, 180, now=16.5, bound_s=5.0)
    assert caught_up(progress, 300, 270, now=100.0, bound_s=5.0)


def test_duplicate_receipts_answer_re_sends_and_are_not_decisions() -> None:
    exp = Expected()
    exp.events = {("op", "s", 1): ("ACCEPTED", None), ("op", "s", 2): ("ACCEPTED", None)}
    exp.duplicates_sent = 2
    acc = {k: 1 for k in exp.events}
    outcomes = dict(exp.events)
    answered = compare(exp, acc, outcomes, {}, acc, acc, {("op", "s", 1): 1, ("op", "s", 2): 1})
    assert answered.ok and answered.doubled == 0
    unanswered = compare(exp, acc, outcomes, {}, acc, acc, {("op", "s", 1): 1})
    assert not unanswered.ok and unanswered.unanswered_duplicates == 1
    stray = compare(exp, acc, outcomes, {}, acc, acc,
                    {("op", "s", 1): 1, ("op", "s", 2): 1, ("op", "x", 9): 1})
    assert not stray.ok and stray.unexpected_receipts == 1
