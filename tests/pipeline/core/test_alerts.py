"""The alerts core: rules as dated data, the alert lifecycle, the RTP test and the watches' findings."""

from __future__ import annotations

import math
import random
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.core.alert_rules import AlertRules
from pipeline.core.alerts import AlertBook, Finding, Subject
from pipeline.core.rtp import MachineWindow, is_deviant
from pipeline.core.tax import TaxRates, apply_rate, kyiv_midnight_us
from pipeline.core.watch import ArchiveWatch, ReceiptWatch
from pipeline.settings import REPO_ROOT

RULES_PATH = REPO_ROOT / "pipeline" / "data" / "alert_rules.json"
RULES = AlertRules.load(RULES_PATH)
RATES = TaxRates.load(REPO_ROOT / "pipeline" / "data" / "tax_rates.json")
T0 = kyiv_midnight_us(date(2025, 3, 10)) + 10 * 3600 * 1_000_000  # 10:00 Kyiv
MIN = 60_000_000
UAH = 100
OP = "op-slot-hall-1"


def ev(kind: str, amount: int, t: int, player: str = "p_PLAYER0001", **extra: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "kind": kind,
        "amount": amount,
        "occurred_at_us": t,
        "player_ref": player,
        "licence_kind": "SLOT_HALL",
        "licence_id": "LIC-1",
        "equipment_id": None,
        "game_type": None,
        "tax_withheld_pit": None,
        "tax_withheld_military": None,
    }
    if kind == "WIN":
        e.update(
            tax_withheld_pit=apply_rate(amount, 180_000), tax_withheld_military=apply_rate(amount, 50_000)
        )
    e.update(extra)
    return e


def watch(**kw: Any) -> ArchiveWatch:
    return ArchiveWatch(b"t|0|", RULES, rates=RATES, **kw)


def test_rules_apply_by_date_and_licence_kind(tmp_path: Path) -> None:
    doc = orjson.loads(RULES_PATH.read_bytes())
    doc["rules"]["aml_single"].append(
        {
            "from": "2026-01-01",
            "severity": "CRITICAL",
            "params": {"threshold_kopecks": 4_000_000},
            "source": "test",
        }
    )
    path = tmp_path / "rules.json"
    path.write_bytes(orjson.dumps(doc))
    rules = AlertRules.load(path)
    before = rules.at("aml_single", kyiv_midnight_us(date(2026, 1, 1)) - 1)
    after = rules.at("aml_single", kyiv_midnight_us(date(2026, 1, 1)))
    assert (before["threshold_kopecks"], before.version) == (5_500_000, "2000-01-01")
    assert (after["threshold_kopecks"], after.version, after.severity) == (
        4_000_000,
        "2026-01-01",
        "CRITICAL",
    )
    assert rules.at("source_silent", T0, "SLOT_HALL")["minutes"] == 60
    assert rules.at("source_silent", T0, "ONLINE_CASINO")["minutes"] == 30
    del doc["rules"]["rtp_deviation"][0]["params"]["alpha"]
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(ValueError, match="alpha"):
        AlertRules.load(path)


def test_one_open_alert_per_rule_and_subject_through_its_lifecycle() -> None:
    book = AlertBook(min_update_us=MIN)
    params = RULES.at("aml_daily_total", T0)
    subject = Subject("PLAYER", f"{OP}|p1", OP)
    opened = book.observe(Finding(params, subject, True, amounts={"day_total": 1}), T0)
    assert opened is not None and opened["state"] == "OPENED"
    assert (
        book.observe(Finding(params, subject, True, amounts={"day_total": 1}), T0 + 2 * MIN) is None
    )  # same
    assert book.observe(Finding(params, subject, True, amounts={"day_total": 2}), T0 + 1) is None  # too soon
    updated = book.observe(Finding(params, subject, True, amounts={"day_total": 3}), T0 + 2 * MIN)
    assert updated is not None and updated["state"] == "UPDATED"
    assert updated["alert_id"] == opened["alert_id"] and updated["opened_at_us"] == T0
    resolved = book.observe(Finding(params, subject, False), T0 + 3 * MIN)
    assert (
        resolved is not None
        and resolved["state"] == "RESOLVED"
        and resolved["alert_id"] == opened["alert_id"]
    )
    assert book.observe(Finding(params, subject, False), T0 + 4 * MIN) is None
    again = book.observe(Finding(params, subject, True), T0 + 5 * MIN)
    assert again is not None and again["state"] == "OPENED" and again["alert_id"] != opened["alert_id"]


def test_aml_single_and_structured_deposits_raise_their_alerts_and_resolve_when_the_day_ends() -> None:
    w = watch()
    w.record(OP, "s1", T0, [ev("DEPOSIT", 54_000 * UAH, T0 - MIN, player="p_BIG00001")], T0)
    assert w.drain()[0] == []  # under the threshold
    w.record(OP, "s1", T0, [ev("DEPOSIT", 55_000 * UAH, T0 - MIN, player="p_BIG00002")], T0)
    out, _ = w.drain()
    assert [(a["rule"], a["state"]) for a in out] == [("aml_single", "OPENED"), ("aml_daily_total", "OPENED")]
    assert {a["severity"] for a in out} == {"INFO"}  # threshold reports, not suspicions
    # An honest high roller: two large deposits, one far under the threshold, is a report only.
    honest = [ev("DEPOSIT", amount, T0 + i * MIN, player="p_HIGH0001") for i, amount in
              enumerate((50_000 * UAH, 20_000 * UAH))]
    w.record(OP, "s1", T0 + 2 * MIN, honest, T0 + 2 * MIN)
    assert [(a["rule"], a["state"]) for a in w.drain()[0]] == [("aml_daily_total", "OPENED")]
    structured = [ev("DEPOSIT", 49_000 * UAH, T0 + i * MIN, player="p_SMURF001") for i in range(2)]
    w.record(OP, "s1", T0 + 2 * MIN, structured, T0 + 2 * MIN)
    out, _ = w.drain()
    assert [(a["rule"], a["state"], a["subject"], a["severity"]) for a in out] == [
        ("aml_structuring", "OPENED", f"{OP}|p_SMURF001", "WARNING"),
        ("aml_daily_total", "OPENED", f"{OP}|p_SMURF001", "INFO"),
    ]
    assert out[0]["measures"]["near_threshold_operations"] == 2
    end_of_day = kyiv_midnight_us(date(2025, 3, 11)) + 3600 * 1_000_000
    w.sweep(end_of_day)
    out, _ = w.drain()
    assert sorted((a["rule"], a["state"]) for a in out if a["rule"] != "source_silent") == [
        ("aml_daily_total", "RESOLVED"),
        ("aml_daily_total", "RESOLVED"),
        ("aml_daily_total", "RESOLVED"),
        ("aml_single", "RESOLVED"),
        ("aml_structuring", "RESOLVED"),
    ]


def test_loss_chasing_raises_a_responsible_gambling_alert() -> None:
    w = watch()
    events = []
    t = T0
    for i in range(4):  # deposit, lose it all, deposit more within minutes: 3 steps of a chase
        events.append(ev("DEPOSIT", (2_000 + 500 * i) * UAH, t, player="p_CHASER01"))
        events.append(ev("BET", (2_000 + 500 * i) * UAH, t + MIN, player="p_CHASER01", game_type="slots"))
        t += 5 * MIN
    w.record(OP, "s1", t, events, t)
    out, _ = w.drain()
    assert [(a["rule"], a["state"]) for a in out] == [("rg_score", "OPENED")]
    assert out[0]["measures"]["marker_loss_chasing"] == 3
    w.sweep(kyiv_midnight_us(date(2025, 3, 11)) + 2 * 3600 * 1_000_000)
    assert [(a["rule"], a["state"]) for a in w.drain()[0] if a["rule"] != "source_silent"] == [
        ("rg_score", "RESOLVED")
    ]


def test_withdrawals_cancelled_and_lost_raise_a_responsible_gambling_alert() -> None:
    """Three withdrawals taken back and the money lost: the reversal marker weighs 3, an alert."""
    w = watch()
    player, t, events = "p_REVERSE01", T0, []
    events.append(ev("DEPOSIT", 2_000 * UAH, t, player=player))
    for _ in range(3):
        t += 10 * MIN
        events += [ev("WITHDRAWAL", 1_000 * UAH, t, player=player),
                   ev("WITHDRAWAL_CANCELLED", 1_000 * UAH, t + MIN, player=player),
                   ev("BET", 1_000 * UAH, t + 2 * MIN, player=player, game_type="slots")]
    w.record(OP, "s1", t, events[:-4], t)
    assert w.drain()[0] == []  # two reversals: no marker yet
    w.record(OP, "s1", t + 3 * MIN, events[-4:], t + 3 * MIN)
    out, _ = w.drain()
    assert [(a["rule"], a["state"]) for a in out] == [("rg_score", "OPENED")]
    assert out[0]["measures"]["marker_cancelled_withdrawals"] == 3
    assert out[0]["measures"]["cancelled_withdrawals"] == 3
    assert "cancelled_withdrawals" in out[0]["summary"]


def test_withdrawals_cancelled_without_the_loss_weigh_one() -> None:
    """A player who cancels cash-outs but does not lose the money: a marker of 1, no alert alone."""
    w = watch()
    player, t = "p_UNDECID01", T0
    events = [ev("DEPOSIT", 2_000 * UAH, T0, player=player)]
    for _ in range(4):
        t += 10 * MIN
        events += [ev("WITHDRAWAL", 1_000 * UAH, t, player=player),
                   ev("WITHDRAWAL_CANCELLED", 1_000 * UAH, t + MIN, player=player)]
    w.record(OP, "s1", t, events, t)
    assert w.drain()[0] == []
    day = w.players[f"{OP}|{player}"]
    assert (day["cancelled"], day["cancelled_amount"]) == (4, 4_000 * UAH)
    assert day["total"] == 6_000 * UAH  # AML sums the deposit and the withdrawals as reported


def test_a_player_who_wins_between_deposits_is_not_chasing() -> None:
    w = watch()
    events, t = [], T0
    for _ in range(6):
        events += [
            ev("DEPOSIT", 500 * UAH, t, player="p_LUCKY001"),
            ev("BET", 100 * UAH, t + MIN, player="p_LUCKY001", game_type="slots"),
            ev("WIN", 300 * UAH, t + 2 * MIN, player="p_LUCKY001", game_type="slots"),
        ]
        t += 5 * MIN
    w.record(OP, "s1", t, events, t)
    assert w.drain()[0] == []


@pytest.mark.parametrize(
    ("amounts", "lost_share", "gap_min"),
    [
        ((2_000, 1_500, 1_000, 500), 1.0, 5),  # deposits shrinking: winding down, not chasing
        ((2_000, 2_000, 2_000, 2_000), 0.5, 5),  # topping up before most of the last was lost
        ((2_000, 2_000, 2_000, 2_000), 1.0, 45),  # each after a break longer than the chase gap
    ],
)
def test_re_deposits_that_are_not_a_chase(amounts: tuple[int, ...], lost_share: float, gap_min: int) -> None:
    w = watch()
    events, t = [], T0
    for amount in amounts:
        events.append(ev("DEPOSIT", amount * UAH, t, player="p_TOPUP001"))
        lost = int(amount * UAH * lost_share)
        events.append(ev("BET", lost, t + MIN, player="p_TOPUP001", game_type="slots"))
        t += gap_min * MIN
    w.record(OP, "s1", t, events, t)
    assert w.drain()[0] == []
    assert w.players[f"{OP}|p_TOPUP001"]["streak_max"] < RULES.at("rg_score", T0)["chase_streak"]


def spins(rng: random.Random, n: int, rtp: float, stake: int = 100) -> MachineWindow:
    """``n`` spins of the simulator's slot game (odds 2, 3 or 5; exponential payouts) at ``rtp``."""
    w = MachineWindow()
    for _ in range(n):
        w.bet(stake)
        odds = rng.choice((2.0, 3.0, 5.0))
        if rng.random() < rtp / odds:
            w.win(max(1, round(stake * odds * rng.expovariate(1.0))))
        w.roll(10_000, 100_000)
    return w


def test_the_rtp_test_flags_a_machine_paying_far_below_certification_and_not_an_honest_one() -> None:
    params = RULES.at("rtp_deviation", T0)
    args = (params["min_spins"], params["min_deviation_points"])
    test = (RULES.certified_rtp.second_moment_by_game["slots"], params["alpha"], params["mixture_spins"])
    rng = random.Random(7)
    rigged = spins(rng, 100_000, 0.945 - 0.05).verdict(0.945, *test)
    honest = spins(rng, 100_000, 0.945).verdict(0.945, *test)
    assert rigged.spins == 100_000 and rigged.z < -3 and is_deviant(rigged, *args)
    assert rigged.log_e > rigged.log_threshold == pytest.approx(math.log(2 / params["alpha"]))
    assert not is_deviant(honest, *args) and abs(honest.observed_rtp - 0.945) < 0.03


def test_a_rigged_machine_alerts_through_the_watch_and_resolves_when_fixed(tmp_path: Path) -> None:
    doc = orjson.loads(RULES_PATH.read_bytes())
    doc["rules"]["rtp_deviation"][0]["params"].update(
        window_spins=2000, bucket_spins=500, min_spins=1000, mixture_spins=1000
    )
    path = tmp_path / "rules.json"
    path.write_bytes(orjson.dumps(doc))
    w = ArchiveWatch(b"t|0|", AlertRules.load(path), rates=RATES)
    rng = random.Random(3)
    machine = dict(equipment_id="hall-01-slot-001", game_type="slots")

    def play(n: int, rtp: float, t: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            out.append(ev("BET", 100 * UAH, t, **machine))
            odds = rng.choice((2.0, 3.0, 5.0))
            if rng.random() < rtp / odds:
                out.append(ev("WIN", max(1, round(100 * UAH * odds * rng.expovariate(1.0))), t, **machine))
        return out

    w.record(OP, "s1", T0, play(2000, 0.40, T0), T0)
    out, entries = w.drain()
    out = [a for a in out if a["rule"] == "rtp_deviation"]  # the one player's payouts also pass AML's
    assert [a["state"] for a in out] == ["OPENED"]
    assert out[0]["subject"] == f"{OP}|hall-01-slot-001|slots" and out[0]["measures"]["z"] < -3
    restored = ArchiveWatch(b"t|0|", AlertRules.load(path), rates=RATES)
    for key, value in entries:
        restored.apply(key, value)
    assert restored.book.open.keys() == w.book.open.keys()
    assert (
        restored.machines[f"{OP}|hall-01-slot-001|slots"].to_json()
        == w.machines[f"{OP}|hall-01-slot-001|slots"].to_json()
    )
    w.record(OP, "s1", T0, play(3000, 0.945, T0), T0)
    assert [a["state"] for a in w.drain()[0] if a["rule"] == "rtp_deviation"][-1] == "RESOLVED"


def test_silent_source_late_data_tax_and_unregistered_assets() -> None:
    w = watch(
        licence_active=lambda op, lic, t: True,
        unregistered=lambda op, e: [("equipment", e["equipment_id"])] if e["equipment_id"] == "X" else [],
    )
    late = T0 - 80 * 3600 * 1_000_000
    win = ev("WIN", 1_000 * UAH, T0, tax_withheld_pit=0, tax_withheld_military=0)
    w.record(
        OP, "s1", T0, [ev("DEPOSIT", 100 * UAH, late), win, ev("DEPOSIT", 100, T0, equipment_id="X")], T0
    )
    out, _ = w.drain()
    assert sorted(a["rule"] for a in out) == ["late_data", "tax_discrepancy", "unregistered_asset"]
    w.sweep(T0 + 61 * MIN)  # a slot hall's source: 60 minutes; every quiet rule resolves after 60
    out, _ = w.drain()
    assert sorted((a["rule"], a["state"]) for a in out) == [
        ("late_data", "RESOLVED"),
        ("source_silent", "OPENED"),
        ("tax_discrepancy", "RESOLVED"),
        ("unregistered_asset", "RESOLVED"),
    ]
    w.record(OP, "s1", T0 + 62 * MIN, [ev("DEPOSIT", 100 * UAH, T0 + 62 * MIN)], T0 + 62 * MIN)
    assert [(a["rule"], a["state"]) for a in w.drain()[0]] == [("source_silent", "RESOLVED")]


def receipts(seqs: list[int], rejected: int = 0, reason: str = "missing_field") -> list[dict[str, Any]]:
    return [
        {
            "seq": s,
            "status": "REJECTED" if i < rejected else "ACCEPTED",
            "reason": reason if i < rejected else None,
            "occurred_at_us": T0,
        }
        for i, s in enumerate(seqs)
    ]


def test_receipts_give_rejection_rate_sequence_gaps_and_unlicensed_activity() -> None:
    w = ReceiptWatch(b"r|0|", RULES)
    w.record(OP, "s1", receipts(list(range(1, 101)), rejected=10), T0)
    assert [(a["rule"], a["state"]) for a in w.drain()[0]] == [("rejection_rate", "OPENED")]
    w.record(OP, "s1", receipts(list(range(110, 120))), T0 + MIN)  # 101..109 missing
    assert [(a["state"], a["measures"]["operations"]) for a in w.drain()[0]] == [("UPDATED", 110)]
    w.sweep(T0 + 12 * MIN)
    assert [(a["rule"], a["state"]) for a in w.drain()[0]] == [("sequence_gap", "OPENED")]
    w.record(OP, "s1", receipts(list(range(101, 110))), T0 + 16 * MIN)  # filled; the 10 % rolled out
    assert sorted((a["rule"], a["state"]) for a in w.drain()[0]) == [
        ("rejection_rate", "RESOLVED"),
        ("sequence_gap", "RESOLVED"),
    ]
    w.record(OP, "s2", receipts([1], rejected=1, reason="unknown_licence"), T0 + 17 * MIN)
    assert [(a["rule"], a["state"]) for a in w.drain()[0]] == [("unlicensed_activity", "OPENED")]
