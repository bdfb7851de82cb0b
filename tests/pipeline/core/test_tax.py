"""Hand-computed GGR and tax cases (rates: PIT 18 %, military levy 1.5 % then 5 % from
2024-12-01 Kyiv time, GGR tax 10 % placeholder — pipeline/data/tax_rates.json)."""

from datetime import date
from typing import Any

import pytest

from pipeline.core.processor import RecordProcessor
from pipeline.core.state import PartitionState
from pipeline.core.statements import StatementBook
from pipeline.core.tax import PayoutTax, TaxRates, apply_rate, kyiv_midnight_us, payout_tax, tax_period
from pipeline.core.taxation import TaxProcessor, TaxState
from pipeline.settings import HOUR_US, TaxSettings, TopicSettings, ValidationSettings
from schemas import EVENT_BATCH, default_codec
from tests.pipeline.core.test_validation import REGISTRY

RATES = TaxRates.load(TaxSettings().rates_path)
DEC_2024 = kyiv_midnight_us(date(2024, 12, 1))
T = kyiv_midnight_us(date(2026, 11, 10)) + 10 * HOUR_US  # a Tuesday morning in Kyiv


def ev(kind: str, amount: int, t: int = T, pit: int | None = None, mil: int | None = None,
       bet: str = "b1") -> dict[str, Any]:
    if kind == "WIN" and pit is None:
        pit, mil = apply_rate(amount, 180_000), apply_rate(amount, 50_000 if t >= DEC_2024 else 15_000)
    return {"kind": kind, "amount": amount, "occurred_at_us": t, "tax_withheld_pit": pit,
            "tax_withheld_military": mil, "bet_ref": bet, "licence_id": "LIC-OC-1",
            "licence_kind": "ONLINE_CASINO", "player_ref": "p_ABCDEFGH"}


def archive(*events: dict[str, Any]) -> dict[str, Any]:
    return {"operator_id": "op-a", "chain_id": "c/0", "ingest_offset": 7,
            "events": [{"receipt_id": f"r{i}", "event": e} for i, e in enumerate(events)]}


def statement_of(*events: dict[str, Any], period: str = "month") -> dict[str, Any]:
    settings = TaxSettings(period=period)
    state = TaxState("dsom.archive", 0, settings)
    TaxProcessor(RATES, settings).process(state, archive(*events))
    records, _ = TaxProcessor(RATES, settings).due(state, T + 1)
    assert len(records) == 1
    return records[0]


def test_bet_refunded_in_full_is_no_revenue() -> None:
    st = statement_of(ev("BET", 10_000), ev("REFUND", 10_000))
    got = (st["stakes"], st["refunds"], st["winnings"], st["ggr"], st["ggr_tax_due"])
    assert got == (10_000, 10_000, 0, 0, 0)


def test_partial_refund() -> None:
    st = statement_of(ev("BET", 10_000), ev("REFUND", 4_000))
    assert (st["ggr"], st["ggr_tax_due"]) == (6_000, 600)


def test_win_larger_than_stake_taxes_the_whole_payout() -> None:
    st = statement_of(ev("BET", 1_000), ev("WIN", 5_000))
    assert st["ggr"] == -4_000 and st["ggr_tax_due"] == 0  # no GGR tax on a loss
    assert (st["pit_due"], st["military_due"]) == (900, 250)  # 18 % and 5 % of 5,000, not of 4,000


def test_several_payouts_in_one_period() -> None:
    st = statement_of(ev("BET", 20_000), ev("WIN", 10_000, bet="b1"), ev("WIN", 3_333, bet="b2"))
    # 3,333 x 18 % = 599.94 -> 600; x 5 % = 166.65 -> 167
    assert (st["payouts"], st["winnings"], st["pit_due"], st["military_due"]) == (2, 13_333, 2_400, 667)
    assert (st["ggr"], st["ggr_tax_due"]) == (6_667, 667)  # 666.7 -> 667


def win_tax(e: dict[str, Any], tolerance: int = 1) -> PayoutTax:
    return payout_tax("r", e["amount"], e["occurred_at_us"], e["tax_withheld_pit"],
                      e["tax_withheld_military"], RATES, tolerance)


def test_payout_exactly_at_a_rate_change() -> None:
    at = win_tax(ev("WIN", 10_000, t=DEC_2024))
    before = win_tax(ev("WIN", 10_000, t=DEC_2024 - 1))
    assert (at.military_rate_ppm, at.military_due) == (50_000, 500)
    assert (before.military_rate_ppm, before.military_due) == (15_000, 150)
    assert at.pit_due == before.pit_due == 1_800


@pytest.mark.parametrize(("amount", "ppm", "due"), [
    (10, 50_000, 1),     # 0.5 kopeck rounds up
    (25, 180_000, 5),    # 4.5 -> 5
    (9, 50_000, 0),      # 0.45 -> 0
    (30, 50_000, 2),     # 1.5 -> 2
    (1, 180_000, 0),     # 0.18 -> 0
])
def test_rounding_half_up_to_the_kopeck(amount: int, ppm: int, due: int) -> None:
    assert apply_rate(amount, ppm) == due


def test_discrepancy_beyond_the_tolerance_only() -> None:
    assert win_tax(ev("WIN", 10_000, pit=1_700, mil=500)).discrepancy
    assert not win_tax(ev("WIN", 10_000, pit=1_799, mil=501)).discrepancy
    out = TaxProcessor(RATES, TaxSettings()).process(TaxState("a", 0, TaxSettings()),
                                                      archive(ev("WIN", 10_000, pit=0, mil=0)))
    assert [(d["pit_due"], d["pit_withheld"]) for d in out.discrepancies] == [(1_800, 0)]


def test_late_event_after_its_day_closed_revises_the_statement() -> None:
    settings = TaxSettings(period="day", statement_interval_s=10, close_grace_s=3600)
    state, proc = TaxState("dsom.archive", 0, settings), TaxProcessor(RATES, settings)
    proc.process(state, archive(ev("BET", 10_000), ev("WIN", 2_000)))
    first, _ = proc.due(state, T + 1)
    assert [(s["revision"], s["status"], s["ggr"]) for s in first] == [(1, "OPEN", 8_000)]
    day_end = tax_period(T, "day").end_us
    assert proc.due(state, day_end + 3599 * 10**6) == ([], [])  # still within the grace time
    closed, changes = proc.due(state, day_end + 3600 * 10**6)
    assert [(s["revision"], s["status"], s["ggr"]) for s in closed] == [(2, "CLOSED", 8_000)]
    assert len(changes) == 1
    proc.process(state, archive(ev("BET", 5_000, t=T + HOUR_US)))  # two days late, same day
    revised, _ = proc.due(state, day_end + 2 * 86_400 * 10**6)
    assert [(s["revision"], s["status"], s["ggr"], s["period"]) for s in revised] == [
        (3, "CLOSED", 13_000, "2026-11-10")]
    assert proc.due(state, day_end + 3 * 86_400 * 10**6) == ([], [])  # nothing new, no revision


def test_open_statements_are_reissued_at_most_once_per_interval() -> None:
    settings = TaxSettings(statement_interval_s=10)
    state, proc = TaxState("dsom.archive", 0, settings), TaxProcessor(RATES, settings)
    proc.process(state, archive(ev("BET", 100)))
    assert len(proc.due(state, T)[0]) == 1
    proc.process(state, archive(ev("BET", 100)))
    assert proc.due(state, T + 5 * 10**6) == ([], [])
    assert [s["stakes"] for s in proc.due(state, T + 10 * 10**6)[0]] == [200]


def test_state_survives_a_restart_through_the_changelog() -> None:
    settings = TaxSettings()
    state, proc = TaxState("dsom.archive", 0, settings), TaxProcessor(RATES, settings)
    log: dict[bytes, bytes | None] = {}
    log.update(proc.process(state, archive(ev("BET", 700), ev("WIN", 100))).changelog)
    log.update(proc.due(state, T)[1])
    restored = TaxState("dsom.archive", 0, settings)
    for key, value in log.items():
        restored.apply(key, value)
    assert restored.book.statements == state.book.statements


def test_a_duplicate_payout_is_taxed_once() -> None:
    """A retried WIN never reaches the archive twice, so it is never taxed twice."""
    codec = default_codec()
    vproc = RecordProcessor(REGISTRY, ValidationSettings(), TopicSettings(), codec)
    pstate = PartitionState("dsom.ingest.op-a", 0)
    base = {"operator_ref": "t", "licence_id": "LIC-OC-1", "licence_kind": "ONLINE_CASINO",
            "channel": "SITE", "establishment_id": None, "equipment_id": None, "site_id": "a.ua",
            "app_id": None, "game_type": "slots", "round_ref": None, "bet_ref": "b1",
            "player_ref": "p_ABCDEFGH", "currency": "UAH", "occurred_at_us": T}
    bet = {**base, "seq": 1, "kind": "BET", "amount": 1_000, "tax_withheld_pit": None,
           "tax_withheld_military": None}
    win = {**base, "seq": 2, "kind": "WIN", "amount": 5_000, "tax_withheld_pit": 900,
           "tax_withheld_military": 250}
    settings = TaxSettings()
    tstate, tproc = TaxState("dsom.archive", 0, settings), TaxProcessor(RATES, settings)
    payouts = 0
    for offset, events in enumerate([[bet, win], [win], [bet, win]]):
        value = codec.encode(EVENT_BATCH, {"operator_id": "op-a", "source_id": "s1", "sent_at_us": T,
                                           "events": events})
        out = vproc.process(pstate, offset, b"s1", value, T + 1)
        if out.archive_value:
            payouts += tproc.process(tstate, codec.decode(out.archive_value)[1]).payout_count
    assert payouts == 1
    st = tproc.due(tstate, T + 2)[0][0]
    assert (st["winnings"], st["pit_due"], st["military_due"]) == (5_000, 900, 250)


def test_statement_book_rejects_unknown_granularity() -> None:
    with pytest.raises(ValueError):
        StatementBook("week", 1, 1).add("op", "BET", 1, T, None)


@pytest.mark.parametrize("granularity", ["day", "month"])
def test_statements_across_period_boundaries_match_tax_period(granularity: str) -> None:
    """The book reuses the operator's last statement while events stay in its period: events
    hopping back and forth over boundaries (to the microsecond) still land where tax_period says."""
    edge = kyiv_midnight_us(date(2026, 12, 1))
    times = [edge - 1, edge, edge - 1, edge + 1, T, edge, edge - 2, edge + 3 * 86_400_000_000, edge - 1]
    book = StatementBook(granularity, 0, 0)
    for i, t in enumerate(times):
        st = book.add("op-a" if i % 3 else "op-b", "BET", 1, t, None)
        assert st.period == tax_period(t, granularity).label
        assert st.period_start_us <= t < st.period_end_us
    assert sum(st.bets for st in book.statements.values()) == len(times)
